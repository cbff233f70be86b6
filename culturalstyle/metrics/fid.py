"""FID: torch-fidelity's Fréchet distance of Inception features, with a bootstrap interval; the `fid` metric.

- The distance is torch-fidelity's own `fid_statistics_to_metric` applied to features extracted (and
  cached) by `fidelity`, so reference statistics are computed once.
- Art test sets are small, so FID is biased and noisy: rows carry both sample sizes and a bootstrap CI
  centred on the estimate (`intervals.centred_ci`).
- When n1 + n2 - 1 < 2048 (every art test set here), FID and its bootstrap replicates are computed after an
  exact isometry onto the span of the pooled, centred features. FID is invariant under this map (tested
  against the unprojected torch-fidelity value and scipy's sqrtm), the eigenvalues of the rank-deficient
  2048-d covariance product no longer contribute rounding noise (FID(X, X) = 1e-13 instead of -2e-4), and
  torch-fidelity's eigen-decomposition costs milliseconds instead of seconds per replicate.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from .fidelity import (
    FeatureExtractor,
    ReferenceStats,
    fid_statistics,
    inception_extractor,
    inception_features,
    reference_stats,
)
from .intervals import MetricValue, bootstrap_indices, centred_ci, percentile_ci
from .registry import Metric, register_metric

if TYPE_CHECKING:
    from .inputs import MetricInputs


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


def _fid_rows(inputs: MetricInputs) -> list[dict[str, Any]]:
    ev, config = inputs.evaluation, inputs.evaluation.config
    value = fid_with_ci(
        inputs.features,
        ev.reference,
        n_bootstrap=config.n_bootstrap,
        seed=config.seed,
        idx_generated=inputs.bootstrap,
    )
    extractor = ev.extractor
    return [
        inputs.row(
            "fid", value, network=extractor.name, weights_sha=extractor.weights_sha256, about_images=True
        )
    ]


FID = register_metric(
    Metric(
        name="fid",
        direction="lower",
        description=(
            "Fréchet Inception distance to the target culture's reference split (torch-fidelity); "
            "biased upwards at small N, so compare at equal N and with the real-target floor"
        ),
        needs=("images", "inception"),
        compute=_fid_rows,
        section="distances",
    )
)
