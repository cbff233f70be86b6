"""ArtFID = (1 + LPIPS) x (1 + FID) (Wright & Ommer 2022), from the role's FID and LPIPS; the `artfid` metric."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from .intervals import MetricValue, centred_ci
from .lpips import lpips_identity
from .registry import Metric, register_metric

if TYPE_CHECKING:
    from .inputs import MetricInputs

ARTFID_NOTE = (
    "ArtFID = (1 + LPIPS) x (1 + FID) (Wright & Ommer 2022). The original uses an Inception fine-tuned on "
    "art (WikiArt) for FID; this value uses the ImageNet-trained FID Inception, so it is not numerically "
    "comparable with published ArtFID values."
)


def artfid(lpips_value: float, fid_value: float) -> float:
    """ArtFID = (1 + LPIPS) × (1 + FID) (Wright & Ommer 2022); lower is better."""
    return (1.0 + lpips_value) * (1.0 + fid_value)


def _artfid_rows(inputs: MetricInputs) -> list[dict[str, Any]]:
    fid, lp = inputs.values.get("fid"), inputs.values.get("lpips")
    if fid is None or lp is None:  # e.g. the real-target floor: no source images, no LPIPS
        return []
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
    extractor = inputs.evaluation.extractor
    lpips_name, lpips_sha = lpips_identity(inputs.evaluation.lpips_net)
    return [
        inputs.row(
            "artfid",
            m,
            network=f"{extractor.name} + {lpips_name}",
            weights_sha=f"{extractor.weights_sha256[:16]}+{lpips_sha[:16]}",
        )
    ]


ARTFID = register_metric(
    Metric(
        name="artfid",
        direction="lower",
        description="(1 + LPIPS) x (1 + FID): style and content in one number (ImageNet FID Inception)",
        needs=("fid", "lpips"),
        compute=_artfid_rows,
        section="distances",
    )
)
