"""The seed losses every translator method can add: Gram style to the target culture's mean Gram matrices,
VGG19 relu4_2 content to the source, and total variation (all off by default).

They act on [0, 1] images (what VGG19-Gatys expects); the translators compute in [-1, 1], so fakes and
sources are converted here. The culture targets are `nst.targets.gram_target` over the culture's training
split (centre crops), computed once and cached under `cache_dir("targets")`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..losses import tv_l1_mean
from . import losses as L
from .config import TrainConfig
from .networks import to_unit


def culture_gram_targets(
    corpus: Any, culture: str, config: TrainConfig, features: nn.Module
) -> dict[str, torch.Tensor]:
    """Mean Gram matrix per style layer over a culture's training images (centre crops at `config.size`).

    The one culture-target function, `nst.targets.gram_target`, with the translators' preparation (shorter
    side to `config.size`, centre crop, batches of 8), cached under `cache_dir("targets")` by the images'
    sha256s, the size, the layers and the feature weights' sha256 (never by paths).
    """
    from ..nst.targets import CROP, gram_target, style_culture

    source = style_culture(corpus, culture, split=config.split)
    return gram_target(source, features, config.size, config.style_layers, resize=CROP, batch_size=8).grams


class SeedLosses:
    """Gram / content / TV terms for a list of translations, with one VGG pass over all of them.

    `require(cultures)` computes (or reads) the mean Gram targets of the cultures a model translates into.
    `enabled` is False when all three weights are zero (then a model skips the call entirely).
    """

    def __init__(
        self,
        config: TrainConfig,
        corpus: Any,
        device: torch.device,
        features_module: nn.Sequential | None = None,
    ) -> None:
        self.config, self.corpus, self.device = config, corpus, device
        self.features_module = features_module
        self.features = None
        self.weights_name: str | None = None
        self.weights_sha256: str | None = None
        self.gram: dict[str, L.GramStyleLoss] = {}
        if config.lambda_gram > 0 or config.lambda_content > 0:
            from ..features import VGGFeatures

            layers = tuple(config.style_layers) + (
                (config.content_layer,) if config.lambda_content > 0 else ()
            )
            self.features = VGGFeatures(
                layers, device=device, weights_module=features_module, channels_last=config.channels_last
            )
            self.weights_name, self.weights_sha256 = self.features.weights_name, self.features.weights_sha256

    @property
    def enabled(self) -> bool:
        cfg = self.config
        return cfg.lambda_gram > 0 or cfg.lambda_content > 0 or cfg.lambda_tv > 0

    def require(self, cultures: Sequence[str]) -> None:
        if self.config.lambda_gram <= 0:
            return
        from ..features import VGGFeatures

        style = VGGFeatures(self.config.style_layers, device=self.device, weights_module=self.features_module)
        for culture in cultures:
            if culture not in self.gram:
                targets = culture_gram_targets(self.corpus, culture, self.config, style)
                self.gram[culture] = L.GramStyleLoss(targets, self.features).to(self.device)

    def __call__(
        self, fakes: Sequence[torch.Tensor], sources: Sequence[torch.Tensor], cultures: Sequence[str]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(gram, content, tv), weighted, for translations `fakes` ([-1, 1]) of `sources` into `cultures`."""
        cfg = self.config
        zero = torch.zeros((), device=self.device)
        images = to_unit(torch.cat(list(fakes))).float()  # VGG expects [0, 1]
        gram = content = zero
        tv = cfg.lambda_tv * tv_l1_mean(images) if cfg.lambda_tv > 0 else zero
        if self.features is None:
            return gram, content, tv
        with torch.autocast(device_type=self.device.type, enabled=False):
            acts = self.features(images)
            if cfg.lambda_gram > 0:
                terms, start = [], 0
                for fake, culture in zip(fakes, cultures):
                    end = start + fake.shape[0]
                    part = {k: v[start:end] for k, v in acts.items()}
                    terms.append(self.gram[culture].from_activations(part))
                    start = end
                gram = cfg.lambda_gram * torch.stack(terms).sum()
            if cfg.lambda_content > 0:
                with torch.no_grad():
                    source = self.features(to_unit(torch.cat(list(sources))).float())[cfg.content_layer]
                content = cfg.lambda_content * L.content_loss(acts[cfg.content_layer], source)
        return gram, content, tv
