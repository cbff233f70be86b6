"""A style descriptor without any network: Lab colour histograms and simple texture statistics.

Results in style space can then always be compared with "just colour". Descriptors are cached per image in
the content cache `features/colour_texture` (keyed by the image's sha256 and the settings).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from .cache import NPY, ContentCache


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB in [0, 1] (B x 3 x H x W) to CIE Lab (D65): L in [0, 100], a/b roughly [-128, 127]."""
    linear = torch.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    matrix = torch.tensor(
        [
            [0.4124564, 0.3575761, 0.1804375],
            [0.2126729, 0.7151522, 0.0721750],
            [0.0193339, 0.1191920, 0.9503041],
        ],
        dtype=rgb.dtype,
    )
    xyz = torch.einsum("ij,bjhw->bihw", matrix, linear)
    white = torch.tensor([0.95047, 1.0, 1.08883], dtype=rgb.dtype).view(1, 3, 1, 1)
    t = xyz / white
    delta = 6.0 / 29.0
    f = torch.where(t > delta**3, t.clamp_min(1e-12) ** (1.0 / 3.0), t / (3 * delta**2) + 4.0 / 29.0)
    lightness = 116.0 * f[:, 1] - 16.0
    a = 500.0 * (f[:, 0] - f[:, 1])
    b = 200.0 * (f[:, 1] - f[:, 2])
    return torch.stack([lightness, a, b], dim=1)


def _histogram(
    values: torch.Tensor, bins: int, low: float, high: float, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Per-image normalised histograms (B x bins) of B x P values, by index counting (batched)."""
    index = ((values - low) / (high - low) * bins).floor().clamp(0, bins - 1).long()
    w = torch.ones_like(values) if weights is None else weights
    hist = torch.zeros(values.shape[0], bins, dtype=values.dtype).scatter_add_(1, index, w)
    return hist / hist.sum(dim=1, keepdim=True).clamp_min(1e-12)


class ColourTextureBaseline:
    """Lab colour histograms + gradient/contrast texture statistics: a style descriptor without any network.

    `describe(images)` gives raw descriptors of a B x 3 x H x W batch in [0, 1]; `features(corpus)` loads and
    describes a corpus; `fit`/`transform` standardise raw descriptors (learnt on one corpus, applied to
    another), mirroring StyleEmbedding.
    """

    def __init__(self, bins: int = 16, size: int = 256, resize_policy: str = "shorter") -> None:
        if bins < 2:
            raise ValueError(f"bins must be >= 2, got {bins}")
        self.bins, self.size, self.resize_policy = bins, size, resize_policy
        self.mean_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None

    def feature_names(self) -> list[str]:
        b = self.bins
        half = max(2, b // 2)
        names = (
            [f"L_hist{i}" for i in range(b)]
            + [f"a_hist{i}" for i in range(b)]
            + [f"b_hist{i}" for i in range(b)]
        )
        names += [f"ab_joint{i}_{j}" for i in range(half) for j in range(half)]
        names += ["L_mean", "L_std", "a_mean", "a_std", "b_mean", "b_std", "chroma_mean", "chroma_std"]
        names += [f"grad_mag_hist{i}" for i in range(8)] + [f"grad_orient_hist{i}" for i in range(8)]
        names += ["grad_mag_mean", "edge_density", "local_contrast_mean", "local_contrast_std"]
        return names

    def describe(self, images: torch.Tensor) -> np.ndarray:
        """Raw descriptors (B x D, see `feature_names`) of RGB images in [0, 1]."""
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"describe expects B x 3 x H x W RGB in [0, 1], got shape {tuple(images.shape)}")
        x = images.detach().float().cpu().clamp(0, 1)  # float32: ample for histograms, half the time
        lab = rgb_to_lab(x)
        b = x.shape[0]
        lightness, a, bb = (lab[:, i].reshape(b, -1) for i in range(3))
        half = max(2, self.bins // 2)
        parts = [
            _histogram(lightness, self.bins, 0.0, 100.0),
            _histogram(a, self.bins, -100.0, 100.0),
            _histogram(bb, self.bins, -100.0, 100.0),
        ]
        ia = ((a + 100.0) / 200.0 * half).floor().clamp(0, half - 1)
        ib = ((bb + 100.0) / 200.0 * half).floor().clamp(0, half - 1)
        parts.append(_histogram(ia * half + ib, half * half, 0.0, float(half * half)))
        chroma = torch.sqrt(a**2 + bb**2)
        moments = [
            torch.stack([v.mean(1), v.std(1, unbiased=False)], dim=1) / scale
            for v, scale in ((lightness, 100.0), (a, 100.0), (bb, 100.0), (chroma, 100.0))
        ]
        parts += moments
        # Texture on lightness in [0, 1]: central-difference gradients, magnitude and orientation histograms.
        grey = lab[:, :1] / 100.0
        gx = grey[..., 1:-1, 2:] - grey[..., 1:-1, :-2]
        gy = grey[..., 2:, 1:-1] - grey[..., :-2, 1:-1]
        magnitude = torch.sqrt(gx**2 + gy**2).reshape(b, -1)
        orientation = torch.remainder(torch.atan2(gy, gx), torch.pi).reshape(b, -1)  # undirected edges
        parts.append(_histogram(torch.log10(magnitude + 1e-4), 8, -4.0, 0.5))
        parts.append(_histogram(orientation, 8, 0.0, float(np.pi), weights=magnitude))
        edge_density = (magnitude > 0.1).float().mean(1, keepdim=True)
        # Local contrast: std of lightness in non-overlapping 8x8 windows.
        local = torch.nn.functional.avg_pool2d(grey, 8, 8)
        local_sq = torch.nn.functional.avg_pool2d(grey**2, 8, 8)
        contrast = torch.sqrt((local_sq - local**2).clamp_min(0)).reshape(b, -1)
        parts.append(
            torch.stack(
                [magnitude.mean(1), edge_density[:, 0], contrast.mean(1), contrast.std(1, unbiased=False)], 1
            )
        )
        return torch.cat(parts, dim=1).numpy().astype(np.float64)

    VERSION = 1  # bump when the descriptors change, so cached ones are not reused
    CACHE = ContentCache(
        "features/colour_texture",
        NPY,
        what="colour-baseline cache entry",
        version=VERSION,
        version_field="baseline",
        fan_out=True,
    )

    def _cache_key(self, image_sha256: str) -> str:
        parts = {"image": image_sha256, "size": self.size, "resize": self.resize_policy, "bins": self.bins}
        return self.CACHE.key(parts)

    def _cache_file(self, image_sha256: str) -> Path:
        return self.CACHE.path(self._cache_key(image_sha256))

    def features(self, corpus: Any, batch_size: int = 16, cache: bool = True) -> np.ndarray:
        """Raw descriptors of every image of a Corpus (or list of paths), in row order.

        Cached on disk like the VGG features (keyed by image sha256, size, policy, bins), so a repeated study
        decodes no image at all.
        """
        from .features import _items, load_for_features

        items = _items(corpus)  # hashes verified against the files: the cache is keyed on them
        keys = [self._cache_key(item.sha256) for item in items]
        rows: list[np.ndarray | None] = [None] * len(items)
        if cache:
            width = len(self.feature_names())

            def check(a: np.ndarray) -> str | None:
                if a.shape == (width,) and np.isfinite(a).all():
                    return None
                return f"shape {a.shape} (expected ({width},)) or non-finite values"

            rows = [self.CACHE.read(key, check) for key in keys]
        todo = [i for i, row in enumerate(rows) if row is None]
        for start in range(0, len(todo), batch_size):
            chunk = todo[start : start + batch_size]
            batch = [load_for_features(items[i].path, self.size, self.resize_policy) for i in chunk]
            if self.resize_policy == "shorter":  # equal shapes: one batched call
                described = self.describe(torch.stack(batch))
            else:
                described = np.concatenate([self.describe(t[None]) for t in batch])
            for i, row in zip(chunk, described):
                rows[i] = row
                if cache:
                    self.CACHE.write(keys[i], row)
        self.cache_hits = len(items) - len(todo)
        return np.stack(rows)

    def fit(self, x: np.ndarray, y: Any = None) -> ColourTextureBaseline:
        x = np.asarray(x, dtype=np.float64)
        self.mean_ = x.mean(axis=0)
        std = x.std(axis=0)
        std[std < 1e-12] = 1.0
        self.scale_ = std
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        if self.mean_ is None:
            raise RuntimeError("ColourTextureBaseline is not fitted; call fit(descriptors) first")
        x = np.asarray(x, dtype=np.float64)
        if x.shape[1] != self.mean_.shape[0]:
            raise ValueError(f"expected {self.mean_.shape[0]} descriptor columns, got {x.shape[1]}")
        return ((x - self.mean_) / self.scale_).astype(np.float32)

    def fit_transform(self, x: np.ndarray, y: Any = None) -> np.ndarray:
        return self.fit(x).transform(x)


__all__ = ["ColourTextureBaseline", "rgb_to_lab"]
