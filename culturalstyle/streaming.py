"""Mergeable streaming statistics: moments of a stream of vectors, and PCA over data read in chunks.

Why: at WikiArt scale no N x D matrix is held in memory, and with torchrun every rank sees only its shard.
`Moments` keeps the count, the float64 mean and the centred second moments (per feature, or the full D x D
matrix for FID covariances). Two partial `Moments` merge exactly (Chan, Golub & LeVeque's pairwise update,
algebraically the same as adding sums and sums of outer products, numerically stabler), so per-shard or
per-rank statistics merged equal one pass over all rows up to float64 rounding.

`randomized_pca` is the Halko-Martinsson-Tropp randomized SVD with power iterations, written as passes over
chunks of rows: memory O(N k + D k), time linear in N.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from .pca import orient


class Moments:
    """Count, mean and centred second moments (M2) of rows seen so far; `full=True` keeps the D x D matrix."""

    def __init__(self, dim: int, full: bool = False) -> None:
        if dim < 1:
            raise ValueError(f"Moments needs dim >= 1, got {dim}")
        self.dim, self.full = int(dim), bool(full)
        self.n = 0
        self.mean = np.zeros(self.dim)
        self.m2 = np.zeros((self.dim, self.dim) if self.full else self.dim)

    @classmethod
    def of(cls, rows: np.ndarray, full: bool = False) -> Moments:
        rows = np.atleast_2d(np.asarray(rows))
        return cls(rows.shape[1], full).update(rows)

    def update(self, rows: np.ndarray) -> Moments:
        """Add a batch of rows (N x dim; any float dtype, accumulated in float64)."""
        if hasattr(rows, "detach"):
            rows = rows.detach().cpu().numpy()
        rows = np.asarray(rows, dtype=np.float64)
        if rows.ndim != 2 or rows.shape[1] != self.dim:
            raise ValueError(f"expected rows of {self.dim} values, got shape {rows.shape}")
        if len(rows) == 0:
            return self
        batch = Moments(self.dim, self.full)
        batch.n = len(rows)
        batch.mean = rows.mean(axis=0)
        centred = rows - batch.mean
        batch.m2 = centred.T @ centred if self.full else np.einsum("ij,ij->j", centred, centred)
        return self.merge(batch)

    def merge(self, other: Moments) -> Moments:
        """Fold `other` into self (in place) and return self."""
        if other.dim != self.dim or other.full != self.full:
            raise ValueError(
                f"cannot merge moments of dim {other.dim} (full={other.full}) into dim {self.dim} (full={self.full})"
            )
        if other.n == 0:
            return self
        if self.n == 0:
            self.n, self.mean, self.m2 = other.n, other.mean.copy(), other.m2.copy()
            return self
        n = self.n + other.n
        delta = other.mean - self.mean
        self.mean = self.mean + delta * (other.n / n)
        correction = np.outer(delta, delta) if self.full else delta * delta
        self.m2 = self.m2 + other.m2 + correction * (self.n * other.n / n)
        self.n = n
        return self

    @staticmethod
    def merged(parts: Iterable[Moments]) -> Moments:
        parts = list(parts)
        if not parts:
            raise ValueError("nothing to merge")
        out = Moments(parts[0].dim, parts[0].full)
        for part in parts:
            out.merge(part)
        return out

    def variance(self, ddof: int = 0) -> np.ndarray:
        """Per-feature variance (population for ddof=0)."""
        if self.n - ddof <= 0:
            raise ValueError(f"variance with ddof={ddof} needs more than {ddof} rows, have {self.n}")
        diagonal = np.diag(self.m2) if self.full else self.m2
        return diagonal / (self.n - ddof)

    def covariance(self, ddof: int = 1) -> np.ndarray:
        """D x D covariance (ddof=1 as numpy.cov, which torch-fidelity's FID statistics use)."""
        if not self.full:
            raise ValueError("covariance needs Moments(full=True)")
        if self.n - ddof <= 0:
            raise ValueError(f"covariance with ddof={ddof} needs more than {ddof} rows, have {self.n}")
        return self.m2 / (self.n - ddof)

    def fid_statistics(self) -> dict[str, np.ndarray]:
        """torch-fidelity's {"mu", "sigma"} of the rows seen."""
        return {"mu": self.mean.copy(), "sigma": self.covariance(ddof=1)}

    def to_arrays(self, prefix: str = "") -> dict[str, np.ndarray]:
        return {
            f"{prefix}n": np.array(self.n),
            f"{prefix}mean": self.mean,
            f"{prefix}m2": self.m2,
        }

    @classmethod
    def from_arrays(cls, arrays: dict, prefix: str = "") -> Moments:
        mean = np.asarray(arrays[f"{prefix}mean"], dtype=np.float64)
        m2 = np.asarray(arrays[f"{prefix}m2"], dtype=np.float64)
        out = cls(len(mean), full=m2.ndim == 2)
        out.n, out.mean, out.m2 = int(arrays[f"{prefix}n"]), mean, m2
        return out

    def all_reduce(self) -> Moments:
        """Merge this rank's moments with every other rank's (torch.distributed); all ranks get the result.

        Parts are gathered and merged in rank order, so every rank computes bit-identical statistics.
        """
        from . import distributed

        parts = distributed.all_gather_object(self.to_arrays())
        return Moments.merged(Moments.from_arrays(p) for p in parts)


@dataclass
class PCAResult:
    """Scores (N x k), components (k x D), per-component variance and its share of the total variance."""

    scores: np.ndarray
    components: np.ndarray
    explained_variance: np.ndarray
    explained_variance_ratio: np.ndarray


ChunkSource = Callable[[], Iterable[np.ndarray]]


def randomized_pca(
    chunks: ChunkSource,
    n_rows: int,
    dim: int,
    n_components: int,
    *,
    total_variance: float | None = None,
    oversample: int = 10,
    power_iterations: int = 2,
    seed: int = 0,
    mean: np.ndarray | None = None,
) -> PCAResult:
    """PCA of an N x D matrix available as a fresh iterator of row chunks (`chunks()`, same order each call).

    Rows are centred by `mean` (None: they are already centred). Passes over the data: 2 + 2 * power_iterations.
    `total_variance` (the sum of per-feature variances, ddof=1, e.g. from `Moments`) turns variances into
    ratios; without it the ratio is relative to the variance the components found.
    Component signs are fixed as everywhere (`pca.orient`): each one's largest-magnitude loading is positive.
    """
    k = min(n_components, n_rows, dim)
    if k < 1:
        raise ValueError(
            f"randomized_pca needs n_components, rows and dims >= 1, got {n_components}, {n_rows}, {dim}"
        )
    width = min(k + oversample, n_rows, dim)
    rng = np.random.default_rng(seed)
    omega = rng.standard_normal((dim, width))
    shift = None if mean is None else np.asarray(mean, dtype=np.float64)

    def right(matrix: np.ndarray) -> np.ndarray:  # (X - mean) @ matrix, N x width
        parts, seen = [], 0
        offset = 0.0 if shift is None else shift @ matrix
        for chunk in chunks():
            chunk = np.asarray(chunk, dtype=np.float64)
            parts.append(chunk @ matrix - offset)
            seen += len(chunk)
        if seen != n_rows:
            raise ValueError(f"the chunk source gave {seen} rows, expected {n_rows}")
        return np.concatenate(parts)

    def left(q: np.ndarray) -> np.ndarray:  # (X - mean)' @ q, D x width
        out, start = np.zeros((dim, q.shape[1])), 0
        for chunk in chunks():
            chunk = np.asarray(chunk, dtype=np.float64)
            block = q[start : start + len(chunk)]
            out += chunk.T @ block
            start += len(chunk)
        if shift is not None:
            out -= np.outer(shift, q.sum(axis=0))
        return out

    q, _ = np.linalg.qr(right(omega))
    for _ in range(power_iterations):
        z, _ = np.linalg.qr(left(q))
        q, _ = np.linalg.qr(right(z))
    b = left(q).T  # width x D = Q' (X - mean)
    u, singular, vt = np.linalg.svd(b, full_matrices=False)
    scores = (q @ u)[:, :k] * singular[:k]
    scores, components = orient(scores, vt[:k].T)
    components = components.T
    variance = singular[:k] ** 2 / max(n_rows - 1, 1)
    total = float(total_variance) if total_variance is not None else float(variance.sum())
    return PCAResult(scores, components, variance, variance / total if total > 0 else np.zeros(k))


def array_chunks(array: np.ndarray, size: int = 4096) -> ChunkSource:
    """A chunk source over an in-memory (or memory-mapped) array."""

    def source() -> Iterable[np.ndarray]:
        for start in range(0, len(array), size):
            yield array[start : start + size]

    return source


def stratified_indices(labels: Sequence[str], per_group: int, seed: int = 0) -> np.ndarray:
    """Sorted row indices of a seeded sample of at most `per_group` rows of every label (all rows of smaller groups)."""
    labels = np.asarray(labels).astype(str)
    rng = np.random.default_rng(seed)
    chosen = []
    for name in sorted(np.unique(labels)):
        members = np.flatnonzero(labels == name)
        if len(members) > per_group:
            members = rng.choice(members, size=per_group, replace=False)
        chosen.append(members)
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=int)
