"""Evaluation during training: FID and KID of a fixed held-out set's translations against the target culture.

The held-out set is the source culture's test split (the first `eval_images` by image_id, 0 = all),
brought to `eval_size` px the way `metrics.fidelity` brings reference images (shorter side + centre crop); the
translations are quantised to 8 bits like saved images and go through the FID Inception. The target
culture's test-split statistics are `metrics.fidelity`'s cached reference statistics: computed once, then read
from the cache (no reference pass after the first). Without the inception-fid weights, evaluation is
skipped with one warning and training goes on.
"""

from __future__ import annotations

import logging
import time
import warnings
from typing import Any

import torch

from .config import TrainConfig

log = logging.getLogger(__name__)
EVAL_SPLIT = "test"


class EvaluationSkipped(UserWarning):
    """Evaluation during training cannot run (missing weights or too few held-out images)."""


class TrainingEvaluator:
    """Translate the held-out source images with a generator and score them against the target culture."""

    def __init__(
        self,
        config: TrainConfig,
        corpus: Any,
        device: torch.device,
        extractor: Any = None,
        batch_size: int = 8,
    ) -> None:
        self.config, self.corpus, self.device = config, corpus, device
        self.size = int(config.eval_size or config.size)
        self.batch_size = batch_size
        self.extractor = extractor
        self.reference = None
        self.sources: torch.Tensor | None = None
        self.source_ids: list[str] = []
        self.reason: str | None = None  # why evaluation is off, when it is

    def prepare(self) -> bool:
        """Load the held-out set, the extractor and the reference statistics; False (and a warning) if impossible."""
        from .. import metrics, weights

        cfg = self.config
        rows = self.corpus.filter(culture=cfg.source, split=EVAL_SPLIT).df.sort_values("image_id")
        if cfg.eval_images:
            rows = rows.head(cfg.eval_images)
        n_target = len(self.corpus.filter(culture=cfg.target, split=EVAL_SPLIT))
        if len(rows) < metrics.KID_MIN_IMAGES or n_target < metrics.KID_MIN_IMAGES:
            return self._skip(
                f"needs at least {metrics.KID_MIN_IMAGES} {EVAL_SPLIT!r} images of {cfg.source!r} and of "
                f"{cfg.target!r}, the corpus has {len(rows)} and {n_target}"
            )
        if self.extractor is None:
            try:
                self.extractor = metrics.inception_extractor(self.device)
            except weights.WeightsMissingError as error:
                return self._skip(f"the FID Inception weights are missing ({error})")
        self.reference = metrics.culture_reference(
            self.corpus, cfg.target, EVAL_SPLIT, size=self.size, extractor=self.extractor
        )
        self.sources = torch.stack(
            [metrics.load_uint8(self.corpus.abspath(r), self.size) for _, r in rows.iterrows()]
        )
        self.source_ids = rows["image_id"].tolist()
        return True

    def _skip(self, reason: str) -> bool:
        self.reason = reason
        warnings.warn(f"evaluation during training is skipped: {reason}", EvaluationSkipped, stacklevel=3)
        return False

    @torch.no_grad()
    def translations(self, generator: torch.nn.Module) -> torch.Tensor:
        """uint8 translations of the held-out set (generator in eval mode during the call)."""
        was_training = generator.training
        generator.eval()
        out = []
        try:
            for start in range(0, len(self.sources), self.batch_size):
                x = self.sources[start : start + self.batch_size].to(self.device).float().div(127.5).sub(1.0)
                y = generator(x, normalized=True).float()
                out.append(((y + 1.0) * 127.5).clamp(0, 255).round().to(torch.uint8).cpu())
        finally:
            generator.train(was_training)
        return torch.cat(out)

    def evaluate(self, generator: torch.nn.Module) -> dict[str, float]:
        """FID (no bootstrap) and KID (mean +- 1.96 SD over subsets) of the translations to the reference."""
        from .. import metrics

        start = time.perf_counter()
        images = self.translations(generator)
        features = torch.cat(
            [self.extractor(images[i : i + self.batch_size]) for i in range(0, len(images), self.batch_size)]
        ).numpy()
        fid = metrics.fid_with_ci(features, self.reference, n_bootstrap=0)
        kid = metrics.kid_with_ci(features, self.reference, subsets=self.config.eval_kid_subsets, seed=0)
        return {
            "fid": float(fid.value),
            "kid": float(kid.value),
            "kid_ci_low": float(kid.ci_low),
            "kid_ci_high": float(kid.ci_high),
            "n_generated": int(len(features)),
            "n_reference": int(self.reference.n),
            "seconds": time.perf_counter() - start,
        }
