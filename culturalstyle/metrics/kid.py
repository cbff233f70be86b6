"""KID: torch-fidelity's kernel Inception distance, subset size adapted to small art sets; the `kid` metric."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .fid import _check_pair
from .fidelity import ReferenceStats
from .intervals import Z_95, MetricValue
from .registry import Metric, register_metric

if TYPE_CHECKING:
    from .inputs import MetricInputs

KID_MAX_SUBSET = 1000  # torch-fidelity's default subset size
KID_MIN_IMAGES = 4


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


def _kid_rows(inputs: MetricInputs) -> list[dict[str, Any]]:
    ev, config = inputs.evaluation, inputs.evaluation.config
    value = kid_with_ci(
        inputs.features,
        ev.reference,
        subsets=config.kid_subsets,
        subset_size=config.kid_subset_size,
        seed=config.seed,
    )
    extractor = ev.extractor
    return [
        inputs.row(
            "kid", value, network=extractor.name, weights_sha=extractor.weights_sha256, about_images=True
        )
    ]


KID = register_metric(
    Metric(
        name="kid",
        direction="lower",
        description=(
            "kernel Inception distance (unbiased MMD², cubic kernel) to the reference split; CI = mean ± "
            "1.96 SD of subset estimates (conservative)"
        ),
        needs=("images", "inception"),
        compute=_kid_rows,
        section="distances",
    )
)
