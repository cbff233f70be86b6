"""Paired differences of FID and KID between two image sets scored against the same reference.

"Is the translator better than doing nothing?" is a question about a difference, and the two sets it
compares are paired: translation i and identity image i come from the same source image, and both are
scored against the same reference images. Two separate confidence intervals ignore that pairing and
overlap far more often than the difference is uncertain. Here every bootstrap replicate draws one resample
of the source indices (used for both sets) and one resample of the reference, and takes the difference.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from .fid import fid_from_features, fid_from_stats, isometric_projection
from .fidelity import fid_statistics
from .intervals import MetricValue, bootstrap_indices, percentile_ci
from .kid import KID_MIN_IMAGES
from .registry import Metric, register_metric

if TYPE_CHECKING:
    from .inputs import MetricInputs


def fid_difference(
    a: np.ndarray, b: np.ndarray, reference: np.ndarray, *, n_bootstrap: int = 500, seed: int = 0
) -> MetricValue:
    """FID(a, ref) - FID(b, ref) with a paired bootstrap CI (a[i] and b[i] come from the same source image).

    Negative values mean `a` is closer to the reference than `b`. The interval is the percentile interval of
    the replicate differences; resampling inflates both FIDs of a replicate alike, so the difference needs
    no centring.
    """
    a, b, reference = (np.asarray(x, dtype=np.float64) for x in (a, b, reference))
    if a.shape != b.shape:
        raise ValueError(f"paired sets must have the same shape, got {a.shape} and {b.shape}")
    if min(len(a), len(reference)) < 2:
        raise ValueError("a FID difference needs at least 2 images per set")
    value = fid_from_features(a, reference) - fid_from_features(b, reference)
    rng = np.random.default_rng(seed)
    # projected onto the pooled span (exact FIDs, far fewer dimensions) when there are fewer rows than features
    pa, pb, pr = (
        (a, b, reference)
        if len(a) * 2 + len(reference) - 1 >= a.shape[1]
        else isometric_projection(a, b, reference)
    )
    idx_g = bootstrap_indices(len(a), n_bootstrap, rng)
    idx_r = bootstrap_indices(len(reference), n_bootstrap, rng)
    reps = np.empty(n_bootstrap)
    for i in range(n_bootstrap):
        ref_stats = fid_statistics(pr[idx_r[i]])
        reps[i] = fid_from_stats(fid_statistics(pa[idx_g[i]]), ref_stats) - fid_from_stats(
            fid_statistics(pb[idx_g[i]]), ref_stats
        )
    lo, hi = percentile_ci(reps)
    share_below = float(np.mean(reps < 0))
    details = (
        f"paired bootstrap: {n_bootstrap} resamples of the source images (shared by both sets) and of the "
        f"reference (seed {seed}); 95% percentile interval; {share_below:.1%} of replicates below 0"
    )
    return MetricValue(float(value), lo, hi, len(a), len(reference), details, reps)


def polynomial_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² with KID's kernel k(u, v) = (u·v / d + 1)³ (Binkowski et al. 2018)."""
    d = x.shape[1]
    kxx = (x @ x.T / d + 1) ** 3
    kyy = (y @ y.T / d + 1) ** 3
    kxy = (x @ y.T / d + 1) ** 3
    m, n = len(x), len(y)
    sum_xx = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    sum_yy = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(sum_xx + sum_yy - 2 * kxy.mean())


def kid_difference(
    a: np.ndarray,
    b: np.ndarray,
    reference: np.ndarray,
    *,
    subsets: int = 500,
    subset_size: int | None = None,
    seed: int = 0,
) -> MetricValue:
    """KID(a, ref) - KID(b, ref) over shared subsets: each subset draws the same source indices for a and b.

    Subsets are drawn without replacement (as torch-fidelity's KID does), so each estimate is unbiased; the
    value is the mean difference and the interval the 2.5/97.5 percentiles of the subset differences (a
    conservative interval: the spread of single-subset estimates, not of their mean).
    """
    a, b, reference = (np.asarray(x, dtype=np.float64) for x in (a, b, reference))
    if a.shape != b.shape:
        raise ValueError(f"paired sets must have the same shape, got {a.shape} and {b.shape}")
    smaller = min(len(a), len(reference))
    if smaller < 4:
        raise ValueError(
            f"a KID difference needs at least 4 images per set, got {len(a)} and {len(reference)}"
        )
    size = subset_size or max(2, smaller // 2)
    rng = np.random.default_rng(seed)
    diffs = np.empty(subsets)
    for i in range(subsets):
        g = rng.choice(len(a), size, replace=False)
        r = rng.choice(len(reference), size, replace=False)
        diffs[i] = polynomial_mmd2(a[g], reference[r]) - polynomial_mmd2(b[g], reference[r])
    lo, hi = percentile_ci(diffs)
    details = (
        f"paired subsets: {subsets} subsets of {size} source images (shared by both sets) and {size} reference "
        f"images, without replacement (seed {seed}); interval = 2.5/97.5 percentiles of subset differences"
    )
    value = float(diffs.mean()) if subsets else math.nan
    return MetricValue(value, lo, hi, len(a), len(reference), details, diffs)


PAIRED_SEED_OFFSET = 7  # the paired resamples' seed is config.seed + 7 (independent of the CIs' resamples)


def _difference_rows(inputs: MetricInputs, name: str) -> list[dict[str, Any]]:
    ev, config = inputs.evaluation, inputs.evaluation.config
    reference = ev.reference
    seed = config.seed + PAIRED_SEED_OFFSET
    if name == "fid_minus_identity":
        diff = fid_difference(
            inputs.features,
            ev.identity_features,
            reference.features,
            n_bootstrap=config.paired_bootstrap,
            seed=seed,
        )
    elif min(ev.n, reference.n) >= KID_MIN_IMAGES:
        diff = kid_difference(
            inputs.features,
            ev.identity_features,
            reference.features,
            subsets=config.paired_bootstrap,
            seed=seed,
        )
    else:
        return []
    extractor = ev.extractor
    return [inputs.row(name, diff, network=extractor.name, weights_sha=extractor.weights_sha256)]


def _paired_switch(config: Any) -> bool:
    return config.paired_bootstrap > 0  # the older flag: paired_bootstrap=0 turns the differences off


FID_MINUS_IDENTITY = register_metric(
    Metric(
        name="fid_minus_identity",
        direction="lower",
        description=(
            "FID(images) - FID(untranslated sources), paired bootstrap over shared source and reference "
            "resamples: below 0 = closer to the target than doing nothing"
        ),
        needs=("images", "inception", "identity"),
        compute=lambda inputs: _difference_rows(inputs, "fid_minus_identity"),
        section="paired",
        switch=_paired_switch,
    )
)
KID_MINUS_IDENTITY = register_metric(
    Metric(
        name="kid_minus_identity",
        direction="lower",
        description="KID(images) - KID(untranslated sources) over shared subsets: below 0 = better than nothing",
        needs=("images", "inception", "identity"),
        compute=lambda inputs: _difference_rows(inputs, "kid_minus_identity"),
        section="paired",
        switch=_paired_switch,
    )
)

__all__ = ["fid_difference", "kid_difference", "polynomial_mmd2"]
