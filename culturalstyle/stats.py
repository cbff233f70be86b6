"""Cross-culture statistics in style space; every function returns tidy pandas DataFrames with `n` columns.

- cluster quality of the culture labels (silhouette, Davies-Bouldin, ARI/NMI of k-means vs cultures);
- leave-artist-out culture classification (grouped by artist, so a classifier cannot win by recognising an
  artist it saw in training) with artist-bootstrap confidence intervals and confusion matrices;
- between-culture distances (energy distance, MMD, distance between means / mean Gram matrices) with
  permutation-test p-values and bootstrap CIs; within-culture spread; nearest-neighbour retrieval.

The distance statistics are all quadratic forms w' M w of one precomputed N x N matrix (pairwise distances or
a kernel) with w = (indicator of A)/n_A - (indicator of B)/n_B, so thousands of permutations and bootstrap
resamples cost matrix products rather than recomputing distances. All randomness comes from `seed`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .significance import holm_floor, paired_accuracy_tests, permutations_for_holm

METHODS = ("logreg", "knn")
DISTANCES = ("energy", "mmd", "mean")


def _labels(values: Sequence[Any], name: str, n: int) -> np.ndarray:
    array = np.asarray(values, dtype=object)
    if array.shape != (n,):
        raise ValueError(f"{name} must have one entry per row of X ({n}), got shape {array.shape}")
    return array.astype(str)


def _as_matrix(x: Any) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"expected an N x D embedding matrix, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("the embedding contains NaN or infinite values")
    return x


def artist_groups(artists: Sequence[Any], image_ids: Sequence[Any] | None = None) -> np.ndarray:
    """Group labels for artist-disjoint splits; images of unknown artist become singleton groups.

    Treating every anonymous image as its own artist is the conservative choice available: it keeps known
    artists disjoint without inventing a shared "unknown" artist that would leak nothing but also split nothing.
    """
    from .corpus import artist_known  # one definition of "unknown artist" for splits and statistics

    artists = pd.Series(list(artists), dtype=object)
    ids = pd.Series(range(len(artists)) if image_ids is None else list(image_ids), dtype=object).astype(str)
    unknown = artists.isna() | ~artists.map(artist_known).astype(bool)
    # the same normalisation as corpus.split_groups: "Hokusai" and "hokusai " are one artist
    groups = artists.astype(str).str.strip().str.lower().where(~unknown, "unknown:" + ids)
    return groups.to_numpy(dtype=str)


# --------------------------------------------------------------------------------------------------------------
# Cluster quality


def cluster_quality(
    x: Any, cultures: Sequence[str], *, seed: int = 0, n_init: int = 10, feature: str = "embedding"
) -> pd.DataFrame:
    """How well culture labels form clusters: silhouette and Davies-Bouldin of the labels, ARI/NMI of k-means.

    k-means uses k = number of cultures. Silhouette is in [-1, 1] (higher = better separated); Davies-Bouldin
    is >= 0 (lower = better); ARI/NMI compare the unsupervised clusters with the cultures.
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import (
        adjusted_rand_score,
        davies_bouldin_score,
        normalized_mutual_info_score,
        silhouette_score,
    )

    x = _as_matrix(x)
    labels = _labels(cultures, "cultures", len(x))
    k = len(np.unique(labels))
    if k < 2 or k >= len(x):
        raise ValueError(
            f"cluster quality needs 2 <= cultures < images; got {k} cultures and {len(x)} images"
        )
    clusters = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit_predict(x)
    counts = pd.Series(labels).value_counts()
    return pd.DataFrame(
        [
            {
                "feature": feature,
                "n": len(x),
                "n_cultures": k,
                "n_min_culture": int(counts.min()),
                "silhouette": float(silhouette_score(x, labels)),
                "davies_bouldin": float(davies_bouldin_score(x, labels)),
                "kmeans_ari": float(adjusted_rand_score(labels, clusters)),
                "kmeans_nmi": float(normalized_mutual_info_score(labels, clusters)),
                "seed": seed,
            }
        ]
    )


# --------------------------------------------------------------------------------------------------------------
# Classification


class CultureClassifier:
    """A culture classifier on style embeddings: standardise -> (PCA) -> logistic regression or k-NN.

    Fit it on embeddings of real art (e.g. the train split), then `predict` / `predict_proba` on embeddings
    of new images (e.g. translations) to ask which culture they look like. `predict_proba` columns follow
    `classes_` (scikit-learn convention); `predict_proba_frame` returns them labelled.
    """

    def __init__(
        self,
        method: str = "logreg",
        *,
        C: float = 1.0,
        n_neighbors: int = 5,
        pca_components: int | None = None,
        standardize: bool = True,
        seed: int = 0,
    ) -> None:
        if method not in METHODS:
            raise ValueError(f"unknown classifier {method!r}; choose one of {METHODS}")
        self.method, self.C, self.n_neighbors = method, C, n_neighbors
        self.pca_components, self.standardize, self.seed = pca_components, standardize, seed
        self.pipeline_: Any = None

    def _build(self, n_train: int, n_features: int) -> Any:
        from sklearn.decomposition import PCA
        from sklearn.linear_model import LogisticRegression
        from sklearn.neighbors import KNeighborsClassifier
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        steps: list[Any] = []
        if self.standardize:
            steps.append(StandardScaler())
        if self.pca_components:
            n_components = min(self.pca_components, n_train - 1, n_features)
            steps.append(PCA(n_components=n_components, random_state=self.seed))
        if self.method == "logreg":
            steps.append(LogisticRegression(C=self.C, max_iter=5000, random_state=self.seed))
        else:
            steps.append(KNeighborsClassifier(n_neighbors=min(self.n_neighbors, n_train)))
        return make_pipeline(*steps)

    def fit(self, x: Any, cultures: Sequence[str]) -> CultureClassifier:
        x = _as_matrix(x)
        y = _labels(cultures, "cultures", len(x))
        if len(np.unique(y)) < 2:
            raise ValueError("a culture classifier needs at least two cultures in its training data")
        self.pipeline_ = self._build(*x.shape).fit(x, y)
        return self

    @property
    def classes_(self) -> np.ndarray:
        self._check()
        return self.pipeline_.classes_

    def _check(self) -> None:
        if self.pipeline_ is None:
            raise RuntimeError("CultureClassifier is not fitted; call fit(embeddings, cultures) first")

    def predict(self, x: Any) -> np.ndarray:
        self._check()
        return self.pipeline_.predict(_as_matrix(x))

    def predict_proba(self, x: Any) -> np.ndarray:
        self._check()
        return self.pipeline_.predict_proba(_as_matrix(x))

    def predict_proba_frame(self, x: Any, index: Sequence[Any] | None = None) -> pd.DataFrame:
        return pd.DataFrame(self.predict_proba(x), columns=list(self.classes_), index=index)

    def score(self, x: Any, cultures: Sequence[str]) -> float:
        y = _labels(cultures, "cultures", len(np.asarray(x)))
        return float(np.mean(self.predict(x) == y))


@dataclass
class ClassificationResult:
    """`table`: one row per (feature, classifier); `confusion[(feature, classifier)]`: counts, true x predicted;
    `predictions`: out-of-fold predictions per image."""

    table: pd.DataFrame
    confusion: dict[tuple[str, str], pd.DataFrame] = field(default_factory=dict)
    predictions: pd.DataFrame = field(default_factory=pd.DataFrame)

    def confusion_long(self) -> pd.DataFrame:
        """All confusion matrices as one tidy table (feature, classifier, true, predicted, count, n_true)."""
        rows = []
        for (feature, method), matrix in self.confusion.items():
            for true in matrix.index:
                for predicted in matrix.columns:
                    rows.append(
                        {
                            "feature": feature,
                            "classifier": method,
                            "true": true,
                            "predicted": predicted,
                            "count": int(matrix.loc[true, predicted]),
                            "n_true": int(matrix.loc[true].sum()),
                        }
                    )
        return pd.DataFrame(rows)


def _artist_bootstrap_ci(
    correct: np.ndarray, groups: np.ndarray, n_bootstrap: int, seed: int, level: float
) -> tuple[float, float]:
    """Percentile CI of accuracy resampling artists (clusters) with replacement: images of one artist are
    not independent, so resampling images would give intervals that are too narrow."""
    codes, group_index = np.unique(groups, return_inverse=True)
    hits = np.bincount(group_index, weights=correct.astype(float), minlength=len(codes))
    sizes = np.bincount(group_index, minlength=len(codes)).astype(float)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(codes), size=(n_bootstrap, len(codes)))
    accuracy = hits[draws].sum(1) / sizes[draws].sum(1)
    alpha = (1 - level) / 2
    return float(np.quantile(accuracy, alpha)), float(np.quantile(accuracy, 1 - alpha))


def leave_artist_out(
    x: Any,
    cultures: Sequence[str],
    artists: Sequence[Any],
    *,
    methods: Sequence[str] = METHODS,
    n_splits: int = 5,
    seed: int = 0,
    n_bootstrap: int = 2000,
    level: float = 0.95,
    feature: str = "embedding",
    image_ids: Sequence[Any] | None = None,
    classifier_kwargs: dict[str, Any] | None = None,
) -> ClassificationResult:
    """Culture accuracy with artist-disjoint cross-validation (StratifiedGroupKFold, groups = artists).

    Reports pooled out-of-fold accuracy with an artist-bootstrap CI, balanced accuracy, the majority-class
    baseline and the confusion matrix. Folds are capped at the number of artists.
    """
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import StratifiedGroupKFold

    x = _as_matrix(x)
    y = _labels(cultures, "cultures", len(x))
    groups = artist_groups(artists, image_ids)
    if len(groups) != len(x):
        raise ValueError(f"artists must have one entry per row of X ({len(x)}), got {len(groups)}")
    n_groups = len(np.unique(groups))
    classes = sorted(np.unique(y))
    if len(classes) < 2:
        raise ValueError("classification needs at least two cultures")
    folds = min(n_splits, n_groups)
    if folds < 2:
        raise ValueError(f"leave-artist-out needs at least 2 artists, got {n_groups}")
    ids = np.asarray(list(image_ids) if image_ids is not None else range(len(x))).astype(str)
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*least populated class.*")
        splits = list(splitter.split(x, y, groups))
    rows, confusion, predictions = [], {}, []
    majority = float(pd.Series(y).value_counts(normalize=True).max())
    for method in methods:
        predicted = np.empty(len(x), dtype=object)
        fold_of = np.empty(len(x), dtype=int)
        for fold, (train, test) in enumerate(splits):
            model = CultureClassifier(method, seed=seed, **(classifier_kwargs or {})).fit(x[train], y[train])
            predicted[test] = model.predict(x[test])
            fold_of[test] = fold
        predicted = predicted.astype(str)
        correct = predicted == y
        low, high = _artist_bootstrap_ci(correct, groups, n_bootstrap, seed, level)
        rows.append(
            {
                "feature": feature,
                "classifier": method,
                "n": len(x),
                "n_artists": n_groups,
                "n_cultures": len(classes),
                "n_folds": folds,
                "accuracy": float(correct.mean()),
                "ci_low": low,
                "ci_high": high,
                "ci_level": level,
                "ci_method": f"artist bootstrap ({n_bootstrap})",
                "balanced_accuracy": float(balanced_accuracy_score(y, predicted)),
                "majority_baseline": majority,
                "seed": seed,
            }
        )
        matrix = pd.crosstab(pd.Categorical(y, classes), pd.Categorical(predicted, classes), dropna=False)
        matrix.index.name, matrix.columns.name = "true", "predicted"
        confusion[(feature, method)] = matrix
        predictions.append(
            pd.DataFrame(
                {
                    "feature": feature,
                    "classifier": method,
                    "image_id": ids,
                    "culture": y,
                    "artist": groups,
                    "fold": fold_of,
                    "predicted": predicted,
                }
            )
        )
    return ClassificationResult(pd.DataFrame(rows), confusion, pd.concat(predictions, ignore_index=True))


def classify_by_layer(
    blocks: dict[str, Any],
    cultures: Sequence[str],
    artists: Sequence[Any],
    *,
    concat: bool = True,
    **kwargs: Any,
) -> ClassificationResult:
    """`leave_artist_out` for each layer's block and (if `concat`) their concatenation, in one result.

    The same folds (same seed) are used for every layer, so the rows are directly comparable.
    """
    named = dict(blocks)
    if concat and len(named) > 1:
        named["concat"] = np.concatenate([np.asarray(v) for v in blocks.values()], axis=1)
    results = [leave_artist_out(v, cultures, artists, feature=name, **kwargs) for name, v in named.items()]
    return combine_results(results)


def combine_results(results: Sequence[ClassificationResult]) -> ClassificationResult:
    """Stack several classification results (e.g. Gram embedding and colour baseline) into one."""
    confusion: dict[tuple[str, str], pd.DataFrame] = {}
    for result in results:
        confusion.update(result.confusion)
    return ClassificationResult(
        pd.concat([r.table for r in results], ignore_index=True),
        confusion,
        pd.concat([r.predictions for r in results], ignore_index=True),
    )


# --------------------------------------------------------------------------------------------------------------
# Distances between cultures


def linear_kernel(x: Any) -> np.ndarray:
    """N x N inner products X X' in float64 (the only pass over a wide feature matrix that is needed)."""
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"expected an N x D matrix, got shape {x.shape}")
    x = x.astype(np.float64, copy=False)
    return x @ x.T


def coordinates_from_kernel(kernel: np.ndarray, rtol: float = 1e-10) -> np.ndarray:
    """N x r coordinates Z with Z Z' = kernel (r <= N): an exact isometry of the original N x D vectors.

    Euclidean distances, inner products, distances between means, k-means, k-NN and L2-penalised linear models
    (whose solution lies in the span of the data) are all unchanged, but cost O(N^2 r) instead of O(N^2 D).
    """
    kernel = np.asarray(kernel, dtype=np.float64)
    values, vectors = np.linalg.eigh((kernel + kernel.T) / 2)
    keep = values > rtol * max(values.max(), 1e-300)
    order = np.argsort(values[keep])[::-1]
    z = vectors[:, keep][:, order] * np.sqrt(values[keep][order])
    return z if z.shape[1] else np.zeros((len(kernel), 1))


def isometric_coordinates(x: Any) -> np.ndarray:
    """`coordinates_from_kernel(linear_kernel(x))`: exact N-dimensional stand-in for wide N x D data."""
    return coordinates_from_kernel(linear_kernel(x))


def euclidean_distances(x: Any) -> np.ndarray:
    """N x N Euclidean distance matrix (float64, exact zeros on the diagonal)."""
    x = _as_matrix(x)
    sq = np.einsum("ij,ij->i", x, x)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * (x @ x.T), 0.0)
    np.fill_diagonal(d2, 0.0)
    return np.sqrt(d2)


def median_bandwidth(distances: np.ndarray) -> float:
    """Median heuristic for the RBF kernel: the median of the off-diagonal pairwise distances."""
    upper = distances[np.triu_indices_from(distances, k=1)]
    positive = upper[upper > 0]
    return float(np.median(positive)) if positive.size else 1.0


def _quadratic(matrix: np.ndarray, weights: np.ndarray, chunk: int = 256) -> np.ndarray:
    """Rows of `weights` (P x n): w' M w for each, in chunks to bound memory."""
    out = np.empty(len(weights))
    for start in range(0, len(weights), chunk):
        w = weights[start : start + chunk]
        out[start : start + chunk] = np.einsum("pi,pi->p", w @ matrix, w)
    return out


def _statistic_matrix(
    x: np.ndarray, metric: str, bandwidth: float | None
) -> tuple[np.ndarray, float, float | None]:
    """(M, sign, bandwidth) with statistic = sign * w' M w for the chosen distance."""
    if metric == "energy":
        return euclidean_distances(x), -1.0, None
    if metric == "mmd":
        d = euclidean_distances(x)
        bandwidth = bandwidth or median_bandwidth(d)
        return np.exp(-(d**2) / (2.0 * bandwidth**2)), 1.0, bandwidth
    if metric == "mean":
        return x @ x.T, 1.0, None
    raise ValueError(f"unknown distance {metric!r}; choose one of {DISTANCES}")


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (family-wise error control over the culture pairs)."""
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p)
    adjusted = np.empty_like(p)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, (len(p) - rank) * p[i])
        adjusted[i] = min(1.0, running)
    return adjusted


def between_culture_distances(
    x: Any,
    cultures: Sequence[str],
    *,
    metric: str = "energy",
    n_permutations: int | None = 999,
    n_bootstrap: int = 500,
    level: float = 0.95,
    seed: int = 0,
    bandwidth: float | None = None,
    feature: str = "embedding",
) -> pd.DataFrame:
    """Distance between every pair of cultures with a permutation p-value and a bootstrap CI.

    metric: "energy" (energy distance, V-statistic), "mmd" (squared MMD, RBF kernel, median-heuristic bandwidth
    over all images unless given), "mean" (Euclidean distance between the cultures' mean embeddings). The
    p-value is (1 + #{permuted >= observed}) / (1 + n_permutations), permuting culture labels within the pair;
    the CI is a percentile bootstrap resampling images within each culture. `p_holm` adjusts over pairs;
    `p_floor` and `p_holm_floor` are the smallest values they can take with this many permutations
    (`n_permutations=None`: enough for the Holm-adjusted p to reach < 0.05, see `significance`).
    """
    x = _as_matrix(x)
    y = _labels(cultures, "cultures", len(x))
    names = sorted(np.unique(y))
    if len(names) < 2:
        raise ValueError("between-culture distances need at least two cultures")
    if n_permutations is None:
        n_permutations = permutations_for_holm(len(names) * (len(names) - 1) // 2)
    if n_permutations < 1 or n_bootstrap < 1:
        raise ValueError("n_permutations and n_bootstrap must be >= 1")
    matrix, sign, bandwidth = _statistic_matrix(x, metric, bandwidth)
    rng = np.random.default_rng(seed)
    alpha = (1 - level) / 2
    rows = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            ia, ib = np.flatnonzero(y == a), np.flatnonzero(y == b)
            na, nb = len(ia), len(ib)
            pooled = np.concatenate([ia, ib])
            sub = matrix[np.ix_(pooled, pooled)]
            w = np.concatenate([np.full(na, 1.0 / na), np.full(nb, -1.0 / nb)])
            observed = sign * float(w @ sub @ w)
            perms = np.stack([rng.permutation(w) for _ in range(n_permutations)])
            null = sign * _quadratic(sub, perms)
            exceed = int(np.sum(null >= observed - 1e-12 * max(1.0, abs(observed))))
            p_value = (1 + exceed) / (1 + n_permutations)
            counts_a = np.stack(
                [np.bincount(rng.integers(0, na, na), minlength=na) for _ in range(n_bootstrap)]
            )
            counts_b = np.stack(
                [np.bincount(rng.integers(0, nb, nb), minlength=nb) for _ in range(n_bootstrap)]
            )
            boot = sign * _quadratic(sub, np.concatenate([counts_a / na, -counts_b / nb], axis=1))
            value, boot_values = observed, boot
            if metric == "mean":  # report the distance itself, not its square
                value, boot_values = np.sqrt(max(observed, 0.0)), np.sqrt(np.maximum(boot, 0.0))
            rows.append(
                {
                    "feature": feature,
                    "metric": metric,
                    "culture_a": a,
                    "culture_b": b,
                    "n_a": na,
                    "n_b": nb,
                    "distance": float(value),
                    "ci_low": float(np.quantile(boot_values, alpha)),
                    "ci_high": float(np.quantile(boot_values, 1 - alpha)),
                    "ci_level": level,
                    "n_bootstrap": n_bootstrap,
                    "p_value": p_value,
                    "n_permutations": n_permutations,
                    "bandwidth": bandwidth,
                    "seed": seed,
                }
            )
    table = pd.DataFrame(rows)
    table["p_holm"] = holm(table["p_value"])
    # the resolution limit beside every p-value: the smallest raw and Holm-adjusted p these permutations allow
    table["p_floor"] = 1.0 / (n_permutations + 1)
    table["p_holm_floor"] = holm_floor(len(table), n_permutations)
    return table


def gram_frobenius_vectors(grams: np.ndarray) -> np.ndarray:
    """Gram matrices (N x C x C, or their N x C(C+1)/2 upper triangles) as vectors whose Euclidean distances
    equal Frobenius distances: off-diagonal entries scaled by sqrt 2 — half the memory of full matrices."""
    grams = np.asarray(grams, dtype=np.float64)
    if grams.ndim == 3:
        c = grams.shape[-1]
        rows, cols = np.triu_indices(c)
        grams = grams[:, rows, cols]
    elif grams.ndim == 2:
        c = int(round((np.sqrt(8 * grams.shape[1] + 1) - 1) / 2))
        if c * (c + 1) // 2 != grams.shape[1]:
            raise ValueError(f"{grams.shape[1]} columns are not the upper triangle of a square Gram matrix")
        rows, cols = np.triu_indices(c)
    else:
        raise ValueError(
            f"expected N x C x C Gram matrices or their upper triangles, got shape {grams.shape}"
        )
    scale = np.where(rows == cols, 1.0, np.sqrt(2.0))
    return grams * scale


def mean_gram_distances(
    features: dict[str, np.ndarray],
    cultures: Sequence[str],
    layers: Sequence[str] | None = None,
    *,
    frobenius_vectors: bool = False,
    **kwargs: Any,
) -> pd.DataFrame:
    """Per layer: Frobenius distance between the cultures' mean Gram matrices (permutation p, bootstrap CI).

    `features` maps layer -> N x C x C Gram matrices or their upper-triangle vectors (as `extract` / the
    embedding directory store them), or, with `frobenius_vectors=True`, vectors whose Euclidean geometry is
    already the Frobenius one (`gram_frobenius_vectors`, or isometric coordinates of them).

    `relative_distance` divides by the Frobenius norm of the overall mean Gram, so layers are comparable.
    """
    tables = []
    for layer in layers or list(features):
        vectors = (
            np.asarray(features[layer]) if frobenius_vectors else gram_frobenius_vectors(features[layer])
        )
        table = between_culture_distances(vectors, cultures, metric="mean", feature=layer, **kwargs)
        norm = float(np.linalg.norm(vectors.mean(axis=0)))
        table.insert(1, "layer", layer)
        table["relative_distance"] = table["distance"] / norm if norm > 0 else np.nan
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


def distance_matrix(table: pd.DataFrame, value: str = "distance") -> pd.DataFrame:
    """Square culture x culture matrix of `value` from a pairwise table (diagonal 0 for distances, 1 for p)."""
    names = sorted(set(table["culture_a"]) | set(table["culture_b"]))
    fill = 1.0 if value.startswith("p_") else 0.0
    square = pd.DataFrame(fill, index=names, columns=names, dtype=float)
    for row in table.itertuples(index=False):
        square.loc[row.culture_a, row.culture_b] = getattr(row, value)
        square.loc[row.culture_b, row.culture_a] = getattr(row, value)
    return square


def within_culture_spread(
    x: Any,
    cultures: Sequence[str],
    *,
    n_bootstrap: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    feature: str = "embedding",
) -> pd.DataFrame:
    """Per culture: mean pairwise distance between distinct images (bootstrap CI) and RMS distance to centroid.

    The bootstrap resamples images; pairs of a resampled image with itself are excluded, so duplicates do not
    pull the spread towards zero.
    """
    x = _as_matrix(x)
    y = _labels(cultures, "cultures", len(x))
    rng = np.random.default_rng(seed)
    alpha = (1 - level) / 2
    rows = []
    for name in sorted(np.unique(y)):
        members = np.flatnonzero(y == name)
        n = len(members)
        d = euclidean_distances(x[members])
        centroid = x[members].mean(axis=0)
        rms = float(np.sqrt(np.mean(np.sum((x[members] - centroid) ** 2, axis=1))))
        row = {"feature": feature, "culture": name, "n": n, "rms_to_centroid": rms}
        if n >= 2:
            mean_pairwise = float(d.sum() / (n * (n - 1)))
            weights = np.stack(
                [np.bincount(rng.integers(0, n, n), minlength=n) / n for _ in range(n_bootstrap)]
            )
            boot = _quadratic(d, weights) / np.maximum(1.0 - np.sum(weights**2, axis=1), 1e-12)
            row.update(
                mean_pairwise_distance=mean_pairwise,
                ci_low=float(np.quantile(boot, alpha)),
                ci_high=float(np.quantile(boot, 1 - alpha)),
            )
        else:
            row.update(mean_pairwise_distance=np.nan, ci_low=np.nan, ci_high=np.nan)
        row.update(ci_level=level, n_bootstrap=n_bootstrap, seed=seed)
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------------------
# Retrieval


def nearest_neighbours(
    x: Any,
    image_ids: Sequence[Any],
    cultures: Sequence[str],
    *,
    artists: Sequence[Any] | None = None,
    queries: Sequence[Any] | None = None,
    k: int = 5,
    exclude_same_artist: bool = True,
    other_cultures_only: bool = False,
) -> pd.DataFrame:
    """The k most similar images (Euclidean in style space) for each query image id (default: all images).

    Same-artist neighbours are excluded by default: otherwise retrieval mostly finds the artist, not the style.
    `other_cultures_only` restricts neighbours to other cultures ("what looks like this elsewhere?").
    """
    x = _as_matrix(x)
    ids = _labels(image_ids, "image_ids", len(x))
    y = _labels(cultures, "cultures", len(x))
    groups = artist_groups(artists, ids) if artists is not None else ids
    position = {image_id: i for i, image_id in enumerate(ids)}
    query_ids = list(ids) if queries is None else [str(q) for q in queries]
    unknown = [q for q in query_ids if q not in position]
    if unknown:
        raise KeyError(f"unknown query image id(s): {unknown[:5]}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    rows = []
    sq = np.einsum("ij,ij->i", x, x)
    for q in query_ids:
        i = position[q]
        d = np.sqrt(np.maximum(sq + sq[i] - 2.0 * (x @ x[i]), 0.0))
        allowed = np.ones(len(x), dtype=bool)
        allowed[i] = False
        if exclude_same_artist and artists is not None:
            allowed &= groups != groups[i]
        if other_cultures_only:
            allowed &= y != y[i]
        candidates = np.flatnonzero(allowed)
        order = candidates[np.lexsort((ids[candidates], d[candidates]))][
            :k
        ]  # ties broken by id: deterministic
        for rank, j in enumerate(order, start=1):
            rows.append(
                {
                    "query_id": q,
                    "query_culture": y[i],
                    "rank": rank,
                    "neighbour_id": ids[j],
                    "neighbour_culture": y[j],
                    "distance": float(d[j]),
                    "n_candidates": len(candidates),
                }
            )
    return pd.DataFrame(rows)


def neighbour_culture_rates(neighbours: pd.DataFrame) -> pd.DataFrame:
    """From `nearest_neighbours`: for each query culture, the share of neighbours from each culture."""
    counts = neighbours.groupby(["query_culture", "neighbour_culture"]).size().rename("count").reset_index()
    totals = neighbours.groupby("query_culture").size().rename("n_neighbours")
    queries = neighbours.groupby("query_culture")["query_id"].nunique().rename("n_queries")
    out = counts.join(totals, on="query_culture").join(queries, on="query_culture")
    out["rate"] = out["count"] / out["n_neighbours"]
    return out


# --------------------------------------------------------------------------------------------------------------
# The whole comparison in one call (used by `culturalstyle compare` and the notebooks)


@dataclass
class StyleSpaceComparison:
    """Tidy tables of a style-space comparison, plus the classification result (for confusion figures)."""

    tables: dict[str, pd.DataFrame]
    classification: ClassificationResult


def compare_style_space(
    blocks: dict[str, np.ndarray],
    meta: pd.DataFrame,
    *,
    baseline: np.ndarray | None = None,
    grams: dict[str, np.ndarray] | None = None,
    seed: int = 0,
    n_permutations: int | None = 999,
    n_bootstrap: int = 1000,
    n_splits: int = 5,
    k: int = 5,
    methods: Sequence[str] = METHODS,
) -> StyleSpaceComparison:
    """All cross-culture statistics for per-layer embedding blocks (StyleEmbedding.transform_layers).

    `meta` needs image_id, culture and artist columns in the row order of the blocks. The concatenation of the
    blocks is "concat"; the optional colour/texture `baseline` (standardised) is compared in the same tables;
    `grams` (layer -> Gram matrices or upper triangles) adds distances between mean Gram matrices. The blocks
    are already standardised and weighted, so the classifiers do not re-standardise (that would undo the
    layer weights). With a baseline, `paired_tests` answers "better than colour alone?" on the same folds and
    images (McNemar and a paired artist bootstrap of the accuracy difference concat - colour_baseline).
    `n_permutations=None` chooses enough permutations for Holm over the culture pairs to reach p < 0.05.
    """
    cultures = meta["culture"].astype(str).to_numpy()
    artists = meta["artist"].to_numpy()
    ids = meta["image_id"].astype(str).to_numpy()
    # Gram blocks have up to 131k columns but only N rows: replace each by exact N-dim isometric coordinates
    # (same distances and inner products), which makes every statistic below orders of magnitude cheaper.
    kernels = {name: linear_kernel(v) for name, v in blocks.items()}
    blocks = {name: coordinates_from_kernel(k) for name, k in kernels.items()}
    concat = coordinates_from_kernel(sum(kernels.values()))
    spaces = {"concat": concat}
    if baseline is not None:
        spaces["colour_baseline"] = np.asarray(baseline, dtype=np.float64)
    common = {"seed": seed, "n_bootstrap": n_bootstrap}
    classify = {**common, "n_splits": n_splits, "methods": methods, "image_ids": ids}
    classify["classifier_kwargs"] = {"standardize": False}
    results = [classify_by_layer(blocks, cultures, artists, concat=False, **classify)]
    results.append(leave_artist_out(concat, cultures, artists, feature="concat", **classify))
    if baseline is not None:
        results.append(
            leave_artist_out(
                spaces["colour_baseline"], cultures, artists, feature="colour_baseline", **classify
            )
        )
    classification = combine_results(results)

    quality, distances, spread = [], [], []
    for name, x in spaces.items():
        quality.append(cluster_quality(x, cultures, seed=seed, feature=name))
        for metric in ("energy", "mmd"):
            distances.append(
                between_culture_distances(
                    x, cultures, metric=metric, n_permutations=n_permutations, feature=name, **common
                )
            )
        spread.append(within_culture_spread(x, cultures, feature=name, **common))
    tables = {
        "cluster_quality": pd.concat(quality, ignore_index=True),
        "classification": classification.table,
        "confusion": classification.confusion_long(),
        "predictions": classification.predictions,
        "distances": pd.concat(distances, ignore_index=True),
        "spread": pd.concat(spread, ignore_index=True),
    }
    if baseline is not None:
        tables["paired_tests"] = pd.concat(
            [
                paired_accuracy_tests(
                    classification.predictions,
                    "colour_baseline",
                    ["concat"],
                    classifier=method,
                    n_bootstrap=n_bootstrap,
                    seed=seed,
                )
                for method in methods
            ],
            ignore_index=True,
        )
    if grams:
        frobenius = {layer: isometric_coordinates(gram_frobenius_vectors(v)) for layer, v in grams.items()}
        tables["mean_gram_distances"] = mean_gram_distances(
            frobenius, cultures, n_permutations=n_permutations, frobenius_vectors=True, **common
        )
    neighbours = nearest_neighbours(concat, ids, cultures, artists=artists, k=k)
    tables["neighbours"] = neighbours
    tables["neighbour_rates"] = neighbour_culture_rates(neighbours)
    return StyleSpaceComparison(tables, classification)
