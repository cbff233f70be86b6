"""Leave-artist-out culture classification in style space.

A classifier grouped by artist cannot win by recognising an artist it saw in training; accuracies come with
artist-bootstrap confidence intervals (images of one artist are not independent) and confusion matrices.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .common import _as_matrix, _labels, artist_groups

METHODS = ("logreg", "knn")


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
