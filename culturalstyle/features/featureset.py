"""What feature extraction over a corpus shares: the corpus's items, image loading by resize policy,
decoded batches, the per-image feature cache and the `FeatureSet` every extractor returns.

The cache holds one `.npz` of named statistic vectors per image (`features/<key[:2]>/<key>.npz`), keyed by
content (image sha256, size, resize policy, layers or backbone settings, weights sha256), never by paths. A
damaged entry, or one whose names and shapes differ from the other entries of the same extraction, is a miss
that is recomputed and replaced.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..cache import NPZ, ContentCache, content_sha256

RESIZE_POLICIES = ("shorter", "longer", "native")
CACHE_VERSION = 1  # bump when the stored statistics change meaning


@dataclass(frozen=True)
class _Item:
    image_id: str
    path: Path
    sha256: str


class FeatureSet(dict):
    """`{layer: ndarray}` plus the row order (`image_ids`) and the settings that produced it (`config`).

    For `statistic="gram"` each array is N x C x C; for `"meanstd"` it is N x 2C (means, then stds).
    `cache_hits` / `network_images` say how many images came from the cache vs. the network.
    """

    def __init__(self, data: dict[str, np.ndarray], image_ids: list[str], config: dict[str, Any]) -> None:
        super().__init__(data)
        self.image_ids = list(image_ids)
        self.config = dict(config)
        self.cache_hits = 0
        self.network_images = 0

    @property
    def layers(self) -> list[str]:
        return list(self.keys())

    def subset(self, indices: Sequence[int] | np.ndarray) -> FeatureSet:
        """Rows `indices` of every layer (e.g. one split), keeping config."""
        indices = np.asarray(indices)
        out = FeatureSet(
            {k: v[indices] for k, v in self.items()}, [self.image_ids[i] for i in indices], self.config
        )
        return out


def _items(corpus: Any) -> list[_Item]:
    """(image_id, absolute path, sha256) for a Corpus or a sequence of image paths.

    A Corpus's hashes are verified against its files (`Corpus.verified_hashes`): the cache is keyed on them.
    """
    if hasattr(corpus, "df") and hasattr(corpus, "abspath"):
        hashes = corpus.verified_hashes()
        return [
            _Item(str(image_id), Path(path), digest)
            for image_id, path, digest in zip(corpus.df["image_id"], corpus.paths(), hashes, strict=True)
        ]
    if isinstance(corpus, (str, Path)):
        raise TypeError(
            "extract expects a Corpus or a list of image paths; load a manifest with Corpus.load(path)"
        )
    return [_Item(Path(p).stem, Path(p), content_sha256(p)) for p in corpus]


def check_settings(size: int | None, resize_policy: str, batch_size: int, *, why_16: str = "") -> None:
    """The extraction settings every extractor refuses the same way (`why_16`: why 16 px is the minimum)."""
    if resize_policy not in RESIZE_POLICIES:
        raise ValueError(f"unknown resize policy {resize_policy!r}; choose one of {RESIZE_POLICIES}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if size is not None and size < 16:
        raise ValueError(f"size must be at least 16 px{why_16}, got {size}")


def load_for_features(path: str | Path, size: int | None, resize_policy: str = "shorter") -> torch.Tensor:
    """Decode `path` robustly and apply the resize policy; returns 3 x H x W float32 in [0, 1].

    shorter: shorter side to `size`, then centre crop size x size (all images share a shape: batches well).
    longer:  longer side to `size`, aspect kept, no padding (constant padding would enter the Gram matrix);
             `extract` batches images of equal shape together.
    native:  unchanged apart from the loader's cap on huge images.
    """
    from .. import images

    if resize_policy not in RESIZE_POLICIES:
        raise ValueError(f"unknown resize policy {resize_policy!r}; choose one of {RESIZE_POLICIES}")
    if resize_policy == "native" or size is None:
        return images.to_tensor(images.load_image(path))
    img = images.load_image(path, max_side=max(4 * size, 1024))
    if resize_policy == "shorter":
        img = images.center_crop(images.resize_shorter(img, size), size)
    else:
        img = images.resize_longer(img, size)
    return images.to_tensor(img)


FEATURE_CACHE = ContentCache("features", NPZ, what="feature-cache entry", version=CACHE_VERSION, fan_out=True)


def feature_cache_key(
    image_sha256: str,
    size: int | None,
    layers: Iterable[str],
    resize_policy: str,
    weights_sha256: str,
    normalize: str,
) -> str:
    """Cache key of one image's VGG statistics: content hashes and settings, never paths."""
    return FEATURE_CACHE.key(
        {
            "image": image_sha256,
            "size": size,
            "layers": sorted(layers),
            "resize": resize_policy,
            "weights": weights_sha256,
            "normalize": normalize,
        }
    )


def _stats_problem(stats: dict[str, np.ndarray], channels: dict[str, int]) -> str | None:
    """Why a cached entry is not one image's statistics for these layers (None when it is)."""
    for layer, c in channels.items():
        for suffix, shape in ((".gram", (c * (c + 1) // 2,)), (".mean", (c,)), (".std", (c,))):
            array = stats.get(layer + suffix)
            if array is None:
                return f"no {layer}{suffix}"
            if array.shape != shape or not np.isfinite(array).all():
                return f"{layer}{suffix} has shape {array.shape} (expected {shape}) or non-finite values"
    return None


def _vectors_problem(stats: dict[str, np.ndarray]) -> str | None:
    """Why a generic (backbone) entry is not a set of named statistic vectors (None when it is)."""
    for name, array in stats.items():
        if array.ndim != 1 or array.size == 0 or not np.isfinite(array).all():
            return f"{name} has shape {array.shape} or non-finite values (expected a vector)"
    return None if stats else "no statistics"


def _read_cache(key: str, channels: dict[str, int] | None = None) -> dict[str, np.ndarray] | None:
    """A cached entry, or None when absent or damaged (truncated, wrong shapes: recomputed and replaced).

    `channels` ({layer: C}) checks a VGG entry exactly; without it an entry must be named finite vectors.
    """
    return FEATURE_CACHE.read(
        key, lambda stats: _vectors_problem(stats) if channels is None else _stats_problem(stats, channels)
    )


def _drop_inconsistent(
    results: list[dict[str, np.ndarray] | None], keys: Sequence[str]
) -> list[dict[str, np.ndarray] | None]:
    """Cached entries of one extraction must agree in names and shapes: the minority are damaged (misses)."""
    signatures = [
        tuple((k, v.shape) for k, v in sorted(r.items())) if r is not None else None for r in results
    ]
    present = [s for s in signatures if s is not None]
    if len(set(present)) <= 1:
        return results
    common = max(set(present), key=lambda s: (present.count(s), str(s)))
    out = list(results)
    for i, signature in enumerate(signatures):
        if signature is not None and signature != common:
            warnings.warn(
                f"damaged feature-cache entry {FEATURE_CACHE.path(keys[i])} (statistics {signature} differ from the "
                f"other entries' {common}); recomputing and replacing it",
                stacklevel=2,
            )
            out[i] = None
    return out


def _to_uint8(image: torch.Tensor) -> torch.Tensor:
    return image.mul(255.0).round_().to(torch.uint8)


def _batches(order: list[int], shapes: dict[int, tuple[int, int]], batch_size: int) -> Iterator[list[int]]:
    """Group image indices of equal shape into batches, keeping corpus order within each shape."""
    groups: dict[tuple[int, int], list[int]] = {}
    for i in order:
        groups.setdefault(shapes[i], []).append(i)
    for members in groups.values():
        for start in range(0, len(members), batch_size):
            yield members[start : start + batch_size]


def decoded_batches(
    paths: Sequence[Path],
    size: int | None,
    resize_policy: str = "shorter",
    batch_size: int = 8,
    *,
    progress: bool = False,
    desc: str = "images",
) -> Iterator[tuple[list[int], torch.Tensor]]:
    """Decode `paths` (robustly, with the resize policy) into float batches N x 3 x H x W in [0, 1].

    Yields (positions in `paths`, batch). With "shorter" every image is size x size and is decoded batch by
    batch (memory stays one batch); otherwise images are decoded first (kept as uint8) and equal shapes are
    batched together. Shared by every backbone, so all see identically prepared images.
    """
    order = list(range(len(paths)))
    if resize_policy == "shorter" and size is not None:
        batches = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
        pending: dict[int, torch.Tensor] = {}
    else:
        pending = {i: _to_uint8(load_for_features(paths[i], size, resize_policy)) for i in order}
        batches = list(_batches(order, {i: tuple(t.shape[1:]) for i, t in pending.items()}, batch_size))
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc=desc, unit="batch")
    for batch in batches:
        images = [
            pending.pop(i).float().div_(255.0) if i in pending else load_for_features(paths[i], size)
            for i in batch
        ]
        yield batch, torch.stack(images)
