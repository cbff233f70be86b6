"""Confidence intervals shared by the metrics: bootstrap resamples, percentile and centred intervals, Wilson.

Art test sets are small, so every metric value carries an interval and the sample sizes it was computed
from (`MetricValue`); metrics of the same image set share their bootstrap resamples (`bootstrap_indices`)
so that derived values (ArtFID from FID and LPIPS) get consistent intervals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..attribution import wilson_interval  # noqa: F401 (the proportions' interval, re-exported here)

Z_95 = 1.959963984540054


def bootstrap_indices(n: int, n_bootstrap: int, rng: np.random.Generator) -> np.ndarray:
    """`n_bootstrap` × n row indices drawn with replacement."""
    return rng.integers(0, n, size=(n_bootstrap, n))


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


def mean_with_ci(values: np.ndarray, idx: np.ndarray | None, details: str = "") -> MetricValue:
    """Mean with a percentile bootstrap CI over the given resample indices."""
    values = np.asarray(values, dtype=np.float64)
    reps = values[idx].mean(axis=1) if idx is not None and len(idx) else None
    lo, hi = percentile_ci(reps) if reps is not None else (math.nan, math.nan)
    return MetricValue(float(values.mean()), lo, hi, len(values), 0, details, reps)
