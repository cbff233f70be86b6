"""Culture attribution as a registered metric: conformal culture sets in Gram style space, per role.

The style space and its conformal sets (`culturalstyle.attribution.CultureAttribution`) are fitted once per
evaluation, on the corpus's training split, the first time a role needs them; every role is then scored in
the same space with one shared random generator (seed + 1), so the rows do not depend on which other
metrics are enabled. The real-target row scores the target's images of the evaluation split (never seen in
calibration), not the FID floor's other split, which for split=test is the calibration split itself.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from ..attribution import CultureAttribution, attribution_rows, centroid_shift  # noqa: F401 (re-exported)
from .registry import IDENTITY, REAL_TARGET, TRANSLATION, Metric, Output, register_metric

if TYPE_CHECKING:
    from .inputs import MetricInputs


def _attribution_rows(inputs: MetricInputs) -> list[dict[str, Any]]:
    ev = inputs.evaluation
    if ev.source is None:
        if inputs.kind == TRANSLATION:
            warnings.warn(
                "no culture attribution: the source culture is unknown (give source=... for a plain folder)",
                stacklevel=3,
            )
        return []
    images = inputs.images
    if inputs.kind in (IDENTITY, REAL_TARGET):
        if ev.sources is None:  # baselines of attribution only where the sources are known
            return []
        if inputs.kind == REAL_TARGET:
            images = ev.corpus.filter(culture=ev.target, split=ev.split)
    if "attribution" not in ev.state:
        model = CultureAttribution(
            ev.corpus,
            source=ev.source,
            target=ev.target,
            split=ev.split,
            size=ev.size,
            config=ev.config,
            model=ev.attribution_model,
            device=ev.device,
        )
        ev.state["attribution"] = (model, np.random.default_rng(ev.config.seed + 1))
    model, rng = ev.state["attribution"]
    return model.rows(images, method=inputs.method, run=inputs.run, role=inputs.role, rng=rng)


ATTRIBUTION = register_metric(
    Metric(
        name="attribution",
        direction="none",
        description="conformal culture sets and centroid shift in Gram style space (VGG19, training split)",
        needs=("style_space",),
        compute=_attribution_rows,
        section="attribution",
        outputs=(
            Output(
                "culture_share_target",
                "higher",
                "share whose conformal culture set is exactly {target}; should rise towards the "
                "real-target baseline (Wilson 95% CI)",
            ),
            Output(
                "culture_share_unknown",
                "none",
                "share whose set is empty (none of the known cultures): what noise should get",
            ),
            Output(
                "gram_shift",
                "higher",
                "mean projection on the source -> target centroid axis (0 = source centroid, 1 = target "
                "centroid); should rise towards the real-target baseline",
            ),
        ),
        switch=lambda config: config.attribution,
    )
)
