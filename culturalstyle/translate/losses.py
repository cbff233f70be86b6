"""CycleGAN losses and the optional seed losses (Gram style, perceptual content; total variation is
`culturalstyle.losses.tv_l1_mean`).

Adversarial, cycle and identity losses follow Zhu et al. (2017): LSGAN by default, cycle L1 weighted by
lambda per direction, identity L1 weighted by 0.5 lambda. They are computed in the generators' [-1, 1] range,
as in the paper. The seed losses act on [0, 1] images (what VGG19-Gatys expects) and are off by default.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..features import gram

log = logging.getLogger(__name__)

GAN_MODES = ("lsgan", "vanilla", "hinge")


def adversarial_loss(
    pred: torch.Tensor, target_real: bool, mode: str = "lsgan", *, generator: bool = False
) -> torch.Tensor:
    """Adversarial loss of a map of discriminator outputs.

    lsgan: mean (pred - 1)^2 for real, mean pred^2 for fake; vanilla: binary cross-entropy on logits;
    hinge: the discriminator uses mean relu(1 - pred) / mean relu(1 + pred), the generator -mean pred.
    `generator=True` marks the generator's term (it always wants its fakes judged real).
    """
    if mode not in GAN_MODES:
        raise ValueError(f"unknown GAN loss {mode!r}; choose one of {', '.join(GAN_MODES)}")
    pred = pred.float()
    if mode == "lsgan":
        target = 1.0 if target_real else 0.0
        return ((pred - target) ** 2).mean()
    if mode == "vanilla":
        target = torch.full_like(pred, 1.0 if target_real else 0.0)
        return F.binary_cross_entropy_with_logits(pred, target)
    if generator:
        if not target_real:
            raise ValueError("the hinge generator loss is only defined for target_real=True")
        return -pred.mean()
    return F.relu(1.0 - pred).mean() if target_real else F.relu(1.0 + pred).mean()


def l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference (the cycle and identity losses)."""
    return (a.float() - b.float()).abs().mean()


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """B x C x C Gram matrices of B x C x H x W activations (float32), divided by the positions H*W.

    `culturalstyle.features.gram`, the package's one Gram definition.
    """
    return gram(features.float(), normalize="positions")


class GramStyleLoss(nn.Module):
    """Mean over style layers of the squared error between a batch's Gram matrices and a culture's mean Gram.

    `targets` maps layer -> C x C mean Gram matrix of the target culture (see `culture_gram_targets`);
    `features` maps a [0, 1] batch to a dict layer -> activation (e.g. `features.VGGFeatures`).
    """

    def __init__(self, targets: dict[str, torch.Tensor], features: Callable[[torch.Tensor], dict]) -> None:
        super().__init__()
        if not targets:
            raise ValueError("GramStyleLoss needs at least one style layer target")
        self.layers = list(targets)
        for i, layer in enumerate(self.layers):
            self.register_buffer(f"target_{i}", targets[layer].float())
        self.features = features

    def target(self, layer: str) -> torch.Tensor:
        return getattr(self, f"target_{self.layers.index(layer)}")

    def from_activations(self, activations: dict[str, torch.Tensor]) -> torch.Tensor:
        terms = []
        for layer in self.layers:
            grams = gram_matrix(activations[layer])
            terms.append(((grams - self.target(layer).unsqueeze(0)) ** 2).mean())
        return torch.stack(terms).mean()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.from_activations(self.features(images))


def content_loss(features_x: torch.Tensor, features_source: torch.Tensor) -> torch.Tensor:
    """Perceptual content loss: mean squared error between activations (VGG19 relu4_2 by default)."""
    return ((features_x.float() - features_source.detach().float()) ** 2).mean()
