"""What a registered metric's `compute` receives: one role's inputs, and the evaluation they belong to.

`Evaluation` holds what all roles share (config, corpus, target reference, the translations' sources and
their bootstrap resamples, the networks); expensive parts are computed on first use, so a metric that is not
enabled costs nothing. `MetricInputs` is one role: the image set scored, its labels, its Inception features
(on first use) and the values earlier metrics computed for it (ArtFID reads FID's and LPIPS's).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from ..cache import content_sha256
from . import fidelity
from .intervals import MetricValue
from .registry import IDENTITY, NEEDS

if TYPE_CHECKING:
    from ..corpus import Corpus
    from .evaluate import EvaluationConfig


@dataclass
class Evaluation:
    """Shared by every role of one `evaluate` call."""

    config: EvaluationConfig
    corpus: Corpus
    translations: Corpus
    source: str | None
    target: str
    size: int
    sources: pd.DataFrame | None  # corpus rows of each translation's source image, in translation order
    bootstrap: np.ndarray | None  # resamples of the translations' indices, shared by the paired roles
    given_extractor: fidelity.FeatureExtractor | None = None
    lpips_net: Any = None
    attribution_model: Any = None
    device: str | torch.device | None = None
    state: dict[str, Any] = field(default_factory=dict)  # per-metric state fitted once (e.g. culture sets)

    @property
    def split(self) -> str:
        return self.config.split

    @property
    def n(self) -> int:
        return len(self.translations)

    @property
    def has_identity(self) -> bool:
        """Whether the untranslated sources are a role (baselines on, sources known)."""
        return self.config.baselines and self.sources is not None

    @cached_property
    def source_paths(self) -> list:
        """Absolute path of each translation's source image, in translation order."""
        if self.sources is None:
            raise ValueError("the translations' source images are unknown")
        return [self.corpus.abspath(row) for _, row in self.sources.iterrows()]

    @cached_property
    def extractor(self) -> fidelity.FeatureExtractor:
        return self.given_extractor or fidelity.inception_extractor(self.device)

    @cached_property
    def reference(self) -> fidelity.ReferenceStats:
        """Cached Inception statistics of the target culture's images of the evaluation split."""
        return fidelity.culture_reference(
            self.corpus, self.target, self.split, size=self.size, extractor=self.extractor
        )

    @cached_property
    def identity_features(self) -> np.ndarray:
        """Inception features of each translation's source image (cached reference statistics, reordered)."""
        from ..corpus import Corpus

        source_corpus = Corpus(self.sources.drop_duplicates("image_id"), self.corpus.root)
        stats = fidelity.reference_stats(source_corpus, size=self.size, extractor=self.extractor)
        row_of = {h: i for i, h in enumerate(stats.image_sha256)}
        return stats.features[[row_of[content_sha256(p)] for p in self.source_paths]]

    def features_of(self, images: Any) -> np.ndarray:
        """Inception features of a set of generated images (not cached: they change with every run)."""
        return fidelity.inception_features(
            images, size=self.size, extractor=self.extractor, batch_size=self.config.batch_size
        )


@dataclass
class MetricInputs:
    """One role of one evaluation: the image set a metric scores, how it is labelled in the table."""

    evaluation: Evaluation
    method: str
    run: str
    role: str  # the table's role column: translation | baseline | negative-control
    kind: str  # TRANSLATION, IDENTITY, REAL_TARGET or a negative-control kind
    images: Any  # a Corpus of the scored images, or None when the role has none for image metrics
    paired: bool = False  # images[i] comes from (or stands in for) the source image evaluation.sources[i]
    bootstrap: np.ndarray | None = None  # resamples shared by this role's metrics (None: each draws its own)
    note: str = ""  # prefixed to the details of rows about `images` (e.g. how the floor was subsampled)
    load_features: Callable[[], np.ndarray] | None = None  # None: Inception of `images`
    values: dict[str, MetricValue] = field(default_factory=dict)

    @cached_property
    def features(self) -> np.ndarray:
        """Inception features of `images`, computed (or read from the cache) on first use."""
        if self.load_features is not None:
            return self.load_features()
        return self.evaluation.features_of(self.images)

    @property
    def label(self) -> dict[str, str]:
        return {"method": self.method, "run": self.run, "role": self.role}

    def has(self, need: str) -> bool:
        """Whether this role has the input `need` (a key of registry.NEEDS; other metrics are not inputs)."""
        ev = self.evaluation
        if need not in NEEDS:
            return True
        if need in ("images", "inception"):
            return self.images is not None
        if need == "source_pairs":
            return self.paired
        if need == "identity":
            return ev.has_identity and self.paired and self.kind != IDENTITY
        return True  # style_space (the metric fits it, and says why not), target_images: always there

    def row(
        self, metric: str, value: MetricValue, *, network: str, weights_sha: str, about_images: bool = False
    ) -> dict[str, Any]:
        """One table row (the columns evaluate adds for all rows come later); keeps `value` for later metrics.

        `about_images`: the value describes `images` (so the role's note, e.g. the floor's subsampling, is
        prefixed to its details)."""
        self.values[metric] = value
        details = f"{self.note}; {value.details}" if about_images and self.note else value.details
        return rows_for(metric, value, network=network, weights_sha=weights_sha, **self.label) | {
            "details": details
        }


def rows_for(
    metric: str, m: MetricValue, *, method: str, run: str, role: str, network: str, weights_sha: str
) -> dict[str, Any]:
    """One table row of `metric` for one labelled image set (the columns of registry.RESULT_COLUMNS that vary)."""
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
