"""Exact PCA of wide data (N x D with D >> N) through the N x N kernel, with one sign convention everywhere.

A principal component is defined only up to its sign. Every PCA of the package (the embed directory's
`embedding_pca.npy`, the notebooks' maps, the store path's randomized PCA) fixes it as scikit-learn does
(`svd_flip` on the components): the largest-magnitude loading of each component is positive. So the same
data give the same map whichever path computed it, and maps drawn by earlier releases (scikit-learn's PCA)
keep their orientation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_CHUNK = 16384  # columns per block when wide data is centred (bounds the float64 copies)


def orient(scores: np.ndarray, components: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`scores` (N x k) and `components` (D x k) with each component's largest-magnitude loading positive."""
    k = components.shape[1]
    signs = np.sign(components[np.abs(components).argmax(axis=0), np.arange(k)])
    signs[signs == 0] = 1.0
    return scores * signs, components * signs


@dataclass
class PCAMap:
    """Principal components of wide N x D data through the N x N kernel, with `transform` for new rows.

    `components` (D x k) are the principal axes, so `transform(x)` reproduces `scores` on the fitted rows and
    places other rows in the same coordinates. Equal to scikit-learn's full-SVD PCA, signs included.
    """

    mean: np.ndarray
    components: np.ndarray
    scores: np.ndarray
    explained_variance_ratio: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray, n_components: int = 2) -> PCAMap:
        from .stats import coordinates_from_kernel

        x = np.asarray(x)
        mean = x.mean(axis=0, dtype=np.float64)
        kernel = np.zeros((len(x), len(x)))
        for start in range(0, x.shape[1], _CHUNK):
            block = x[:, start : start + _CHUNK] - mean[start : start + _CHUNK]
            kernel += block @ block.T
        z = coordinates_from_kernel(kernel)
        variances = (z**2).sum(axis=0)
        k = min(n_components, z.shape[1])
        z = z[:, :k]
        components = np.empty((x.shape[1], k))
        for start in range(0, x.shape[1], _CHUNK):
            block = x[:, start : start + _CHUNK] - mean[start : start + _CHUNK]
            components[start : start + _CHUNK] = block.T @ z / variances[:k]
        z, components = orient(z, components)
        return cls(mean, components, z, variances[:k] / variances.sum())

    def transform(self, x: np.ndarray, n_components: int | None = None) -> np.ndarray:
        """Coordinates of rows `x` (any N x D of the fitted width) on the first `n_components` axes."""
        components = self.components if n_components is None else self.components[:, :n_components]
        return (np.asarray(x, dtype=np.float64) - self.mean) @ components


def pca_scores(x: np.ndarray, n_components: int) -> tuple[np.ndarray, np.ndarray]:
    """PCA scores (N x k) and explained variance ratios of wide data, at O(N^2 D) instead of an N x D SVD."""
    fitted = PCAMap.fit(np.asarray(x, dtype=np.float64), n_components)
    return fitted.scores, fitted.explained_variance_ratio
