"""CycleGAN networks: the ResNet encoder-decoder generator and the 70x70 PatchGAN discriminator.

Both follow Zhu et al. (2017), appendix 7.2: reflection padding, instance normalisation without affine
parameters (so convolutions keep their bias), Normal(0, 0.02) initialisation. The networks compute in
[-1, 1] as in the paper; `forward` takes and returns the package convention, [0, 1] RGB NCHW, unless the
caller passes `normalized=True` (the training loop does, to avoid converting the same tensor twice).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def to_signed(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] -> [-1, 1]."""
    return x * 2.0 - 1.0


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1]."""
    return (x + 1.0) * 0.5


def init_weights(module: nn.Module, std: float = 0.02) -> nn.Module:
    """Normal(0, std) weights and zero biases for every convolution, as in the CycleGAN paper."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(layer.weight, 0.0, std)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
    return module


def _norm(channels: int) -> nn.InstanceNorm2d:
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


class ResnetBlock(nn.Module):
    """Two 3x3 convolutions with reflection padding and instance norm, plus the identity shortcut."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            _norm(channels),
            nn.ReLU(inplace=True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            _norm(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def generator_layer_index(name: str, n_blocks: int) -> int:
    """Index in `ResnetGenerator.model` of a named encoder layer, whose output is a PatchNCE feature map.

    `input`: the reflection-padded input (index 0); `stem`: the first c7s1 block's ReLU (3); `down1`,
    `down2`: the two stride-2 convolutions before their norm (4, 7); `resK`: the K-th residual block
    (9 + K). CUT's layers 0, 4, 8, 12, 16 of its (antialiased) ResNet-9 are input, down1, down2, res1, res5.
    """
    fixed = {"input": 0, "stem": 3, "down1": 4, "down2": 7}
    if name in fixed:
        return fixed[name]
    if name.startswith("res") and name[3:].isdigit() and 1 <= int(name[3:]) <= n_blocks:
        return 9 + int(name[3:])
    raise ValueError(
        f"unknown generator layer {name!r}: use input, stem, down1, down2 or res1..res{n_blocks}"
    )


UPSAMPLING = ("transpose", "resize")


class ResizeConv(nn.Module):
    """x2 bilinear upsampling, then a reflection-padded 3x3 convolution (Odena et al. 2016).

    A stride-2 transposed convolution overlaps its kernel unevenly, which prints a checkerboard into the
    output until training has learned to cancel it; resize-then-convolve has no such pattern from the start.
    CUT's reference generator avoids the same artefact with its anti-aliased (blurred) upsampling.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.pad = nn.ReflectionPad2d(1)
        self.conv = nn.Conv2d(in_channels, out_channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.pad(self.up(x)))


def _upsampling(kind: str, in_channels: int, out_channels: int) -> nn.Module:
    if kind == "transpose":
        return nn.ConvTranspose2d(in_channels, out_channels, 3, stride=2, padding=1, output_padding=1)
    if kind == "resize":
        return ResizeConv(in_channels, out_channels)
    raise ValueError(f"unknown upsampling {kind!r}; choose one of {', '.join(UPSAMPLING)}")


class ResnetGenerator(nn.Module):
    """c7s1-ngf, d(2 ngf), d(4 ngf), n_blocks x R(4 ngf), u(2 ngf), u(ngf), c7s1-3 + tanh.

    `n_blocks=9` is the paper's 256 px generator (about 11.4 M parameters at ngf=64), 6 blocks its 128 px one.
    The spatial size must be a multiple of 4 (two stride-2 downsamplings). `upsample` picks the decoder's
    u-layers: "transpose" (the paper's stride-2 transposed convolutions) or "resize" (`ResizeConv`); the
    encoder, hence every `layer_index`, is the same for both.
    """

    def __init__(
        self, ngf: int = 64, n_blocks: int = 9, channels: int = 3, upsample: str = "transpose"
    ) -> None:
        super().__init__()
        if ngf < 1 or n_blocks < 0:
            raise ValueError(f"ngf must be >= 1 and n_blocks >= 0, got ngf={ngf}, n_blocks={n_blocks}")
        self.ngf, self.n_blocks, self.upsample = ngf, n_blocks, upsample
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(channels, ngf, 7),
            _norm(ngf),
            nn.ReLU(inplace=True),
        ]
        width = ngf
        for _ in range(2):  # downsampling
            layers += [
                nn.Conv2d(width, width * 2, 3, stride=2, padding=1),
                _norm(width * 2),
                nn.ReLU(inplace=True),
            ]
            width *= 2
        layers += [ResnetBlock(width) for _ in range(n_blocks)]
        for _ in range(2):  # upsampling
            layers += [
                _upsampling(upsample, width, width // 2),
                _norm(width // 2),
                nn.ReLU(inplace=True),
            ]
            width //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(width, channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        init_weights(self)

    def layer_index(self, name: str) -> int:
        """Index in `self.model` of a named encoder layer (see `generator_layer_index`)."""
        return generator_layer_index(name, self.n_blocks)

    def forward(
        self,
        x: torch.Tensor,
        normalized: bool = False,
        layers: Sequence[int] | None = None,
        encode_only: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]] | list[torch.Tensor]:
        """Translate `x` ([0, 1], or [-1, 1] when `normalized`); the output uses the same range as the input.

        With `layers` (indices into `self.model`, see `layer_index`) it also returns those layers' outputs:
        `(output, features)`, or only the features with `encode_only` (the network stops after the last).
        """
        if x.shape[-1] % 4 or x.shape[-2] % 4:
            raise ValueError(
                f"generator input height and width must be multiples of 4, got {tuple(x.shape[-2:])}"
            )
        h = x if normalized else to_signed(x)
        if layers is None:
            out = self.model(h)
            return out if normalized else to_unit(out)
        wanted, last = set(layers), max(layers)
        features: dict[int, torch.Tensor] = {}
        for index, layer in enumerate(self.model):
            h = layer(h)
            if index in wanted:
                features[index] = h
            if encode_only and index == last:
                break
        ordered = [features[i] for i in layers]
        if encode_only:
            return ordered
        return (h if normalized else to_unit(h)), ordered


class PatchDiscriminator(nn.Module):
    """PatchGAN: C64 (no norm) - C128 - C256 - C512 (stride 1) - 1-channel map, LeakyReLU(0.2).

    With `n_layers=3` each output value sees a 70x70 input patch (about 2.8 M parameters at ndf=64).
    The output is a map of logits/scores, one per patch.
    """

    def __init__(self, ndf: int = 64, n_layers: int = 3, channels: int = 3) -> None:
        super().__init__()
        if ndf < 1 or n_layers < 1:
            raise ValueError(f"ndf and n_layers must be >= 1, got ndf={ndf}, n_layers={n_layers}")
        self.ndf, self.n_layers = ndf, n_layers
        layers: list[nn.Module] = [nn.Conv2d(channels, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        width = ndf
        for n in range(1, n_layers + 1):
            out = ndf * min(2**n, 8)
            stride = 2 if n < n_layers else 1
            layers += [
                nn.Conv2d(width, out, 4, stride=stride, padding=1),
                _norm(out),
                nn.LeakyReLU(0.2, True),
            ]
            width = out
        layers += [nn.Conv2d(width, 1, 4, stride=1, padding=1)]
        self.model = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: torch.Tensor, normalized: bool = False) -> torch.Tensor:
        """Patch scores for `x` ([0, 1], or [-1, 1] when `normalized`)."""
        return self.model(x if normalized else to_signed(x))


def receptive_field(n_layers: int = 3) -> int:
    """Receptive field (pixels) of one PatchDiscriminator output: 70 for the default three layers."""
    # (kernel, stride) of each conv from input to output.
    convs = [(4, 2)] * n_layers + [(4, 1), (4, 1)]
    field = 1
    for kernel, stride in reversed(convs):
        field = (field - 1) * stride + kernel
    return field


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
