"""AdaIN feed-forward style transfer (Huang & Belongie 2017) with the store's VGG19 encoder and decoder.

    output = decoder((1 - alpha) * f_c + alpha * AdaIN(f_c, target)),   f_c = encoder(content) at relu4_1
    AdaIN(f, target) = target.std * (f - mean(f)) / std(f) + target.mean        (per channel)

The encoder is `features.VGGFeatures(("relu4_1",))` on `vgg19-gatys` (the normalised VGG19 the decoder was
trained to invert); the decoder is the store's `adain-decoder`. Inputs of any size are reflection-padded to a
multiple of 8 (three 2x poolings) and the output is cropped back. The style target is a relu4_1 mean/std from
`targets.adain_target` (one image, several averaged, or a culture), so it is computed once, not per content.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..features import channel_stats
from .common import pad_to_multiple, preserve_colour
from .targets import AdaINTarget, StyleSource, adain_target, mix_adain

ENCODER_LAYER = "relu4_1"
DECODER_NAME = "adain-decoder"


@dataclass
class AdaINConfig:
    """Settings of an AdaIN run (recorded in every output's provenance)."""

    size: int = 512  # longer side of the output, px
    style_size: int | None = None  # longer side of style images for their statistics (None: `size`)
    alpha: float = 1.0  # 0 = content reconstruction, 1 = full style statistics
    preserve_colour: bool = False
    eps: float = 1e-5
    batch_size: int = 4

    def validate(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {self.alpha}")
        if self.size < 32:
            raise ValueError(f"size must be at least 32 px, got {self.size}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")


def adain(features: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Re-normalise B x C x H x W `features` per channel to the target `mean`/`std` (C or B x C)."""
    f_mean, f_std = channel_stats(features, eps=eps)
    mean = mean.to(features).reshape(-1, features.shape[1], 1, 1)
    std = std.to(features).reshape(-1, features.shape[1], 1, 1)
    normalised = (features - f_mean[..., None, None]) / f_std[..., None, None]
    return normalised * std + mean


def random_decoder(in_channels: int = 16, widths: Sequence[int] = (8, 8, 4), seed: int = 0) -> nn.Sequential:
    """A random decoder in the AdaIN layout (3 nearest x2 upsamplings) for tests without the real weights."""
    generator = torch.Generator().manual_seed(seed)
    modules: list[nn.Module] = []
    channels = in_channels
    for width in widths:
        modules += [
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, width, 3),
            nn.ReLU(),
            nn.Upsample(scale_factor=2),
        ]
        channels = width
    modules += [nn.ReflectionPad2d(1), nn.Conv2d(channels, 3, 3)]
    with torch.no_grad():
        for module in modules:
            if isinstance(module, nn.Conv2d):
                fan_in = module.in_channels * 9
                module.weight.copy_(
                    torch.randn(module.weight.shape, generator=generator) * (2.0 / fan_in) ** 0.5
                )
                module.bias.zero_()
    return nn.Sequential(*modules).eval()


class AdaIN:
    """Encoder + decoder pair; `stylize` maps content batches and one target to stylised batches."""

    def __init__(
        self,
        encoder: Any = None,
        decoder: nn.Module | None = None,
        device: str | torch.device | None = None,
        config: AdaINConfig | None = None,
    ):
        from ..features import VGGFeatures, parameters_sha256

        self.config = config or AdaINConfig()
        self.config.validate()
        if encoder is None:
            encoder = VGGFeatures((ENCODER_LAYER,), device=device)
        if ENCODER_LAYER not in encoder.layers:
            raise ValueError(f"the AdaIN encoder must compute {ENCODER_LAYER}, it computes {encoder.layers}")
        self.encoder = encoder
        self.device = encoder.device
        if decoder is None:
            from .. import weights

            decoder = weights.load(DECODER_NAME)
            self.decoder_sha256 = weights.sha256(DECODER_NAME)
        else:
            self.decoder_sha256 = parameters_sha256(decoder)
        decoder = decoder.to(self.device).eval()
        for parameter in decoder.parameters():
            parameter.requires_grad_(False)
        self.channels_last = getattr(encoder, "channels_last", False)
        self.decoder = decoder.to(memory_format=torch.channels_last) if self.channels_last else decoder

    def target(
        self,
        styles: StyleSource | Sequence[StyleSource],
        mix: Sequence[float] | None = None,
        progress: bool = False,
    ) -> AdaINTarget:
        """relu4_1 statistics of one style source or a weighted mix of several (cached on disk)."""
        styles = [styles] if isinstance(styles, StyleSource) else list(styles)
        size = self.config.style_size or self.config.size
        computed = [
            adain_target(s, self.encoder, size, layer=ENCODER_LAYER, eps=self.config.eps, progress=progress)
            for s in styles
        ]
        return mix_adain(computed, mix)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)[ENCODER_LAYER]

    def decode(self, features: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            features = features.contiguous(memory_format=torch.channels_last)
        return self.decoder(features)

    @torch.inference_mode()
    def stylize(self, content: torch.Tensor, target: AdaINTarget, alpha: float | None = None) -> torch.Tensor:
        """Stylise a B x 3 x H x W batch in [0, 1] (any H, W) towards `target`; returns the same shape, CPU."""
        if content.dim() != 4 or content.shape[1] != 3:
            raise ValueError(f"content must be B x 3 x H x W, got shape {tuple(content.shape)}")
        alpha = self.config.alpha if alpha is None else alpha
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        x = content.to(self.device, torch.float32)
        padded, (h, w) = pad_to_multiple(x, 8)
        f_c = self.encode(padded)
        f = adain(f_c, target.mean, target.std, self.config.eps)
        if alpha < 1.0:
            f = alpha * f + (1 - alpha) * f_c
        out = self.decode(f)[..., :h, :w].clamp(0, 1)
        if self.config.preserve_colour:
            out = preserve_colour(out, x)
        return out.float().cpu()

    @torch.inference_mode()
    def reconstruct(self, content: torch.Tensor) -> torch.Tensor:
        """decoder(encoder(content)): the decoder's reconstruction (what alpha = 0 gives)."""
        x = content.to(self.device, torch.float32)
        padded, (h, w) = pad_to_multiple(x, 8)
        return self.decode(self.encode(padded))[..., :h, :w].clamp(0, 1).float().cpu()
