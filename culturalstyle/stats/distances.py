"""Distances between cultures and spread within them, with permutation p-values and bootstrap CIs.

The distance statistics are all quadratic forms w' M w of one precomputed N x N matrix (pairwise distances or
a kernel) with w = (indicator of A)/n_A - (indicator of B)/n_B, so thousands of permutations and bootstrap
resamples cost matrix products rather than recomputing distances. All randomness comes from `seed`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..significance import holm_floor, permutations_for_holm
from .common import _as_matrix, _labels

DISTANCES = ("energy", "mmd", "mean")


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
