"""The canonical modules the artifacts load into, built untrained (the store fills in their weights)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # heavy imports stay inside functions so `culturalstyle --help` is fast
    from torch import nn


# AdaIN-layout VGG19: 0 = 1x1 input conv, then (pad, conv, relu) per conv and a max-pool after each block.
_VGG19_BLOCKS = (2, 2, 4, 4, 4)
_VGG19_WIDTHS = (64, 128, 256, 512, 512)


def _vgg19_layer_index() -> dict[str, int]:
    index: dict[str, int] = {}
    position = 1  # after the 1x1 input conv
    for block, (count, _) in enumerate(zip(_VGG19_BLOCKS, _VGG19_WIDTHS), start=1):
        for layer in range(1, count + 1):
            index[f"conv{block}_{layer}"] = position + 1  # position is the reflection pad
            index[f"relu{block}_{layer}"] = position + 2
            position += 3
        if block < len(_VGG19_BLOCKS):
            index[f"pool{block}"] = position
            position += 1
    return index


VGG19_LAYER_INDEX: dict[str, int] = _vgg19_layer_index()
"""`conv1_1`, `relu1_1`, ..., `relu5_4` (and `pool1`..`pool4`) -> index in `load("vgg19-gatys")`."""


def build_vgg19_gatys() -> nn.Sequential:
    """The AdaIN-layout normalised VGG19 (untrained): 1x1 input conv, reflection-padded 3x3 convs, ceil max-pools."""
    from torch import nn

    layers: list[nn.Module] = [nn.Conv2d(3, 3, kernel_size=1)]
    channels = 3
    for block, (count, width) in enumerate(zip(_VGG19_BLOCKS, _VGG19_WIDTHS), start=1):
        for _ in range(count):
            layers += [nn.ReflectionPad2d(1), nn.Conv2d(channels, width, kernel_size=3), nn.ReLU()]
            channels = width
        if block < len(_VGG19_BLOCKS):
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=True))
    return nn.Sequential(*layers)


def build_adain_decoder() -> nn.Sequential:
    """The AdaIN decoder (untrained): relu4_1 features (512 ch) back to an RGB image, mirroring the encoder."""
    from torch import nn

    def conv(cin: int, cout: int, relu: bool = True) -> list[nn.Module]:
        return [nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, kernel_size=3)] + ([nn.ReLU()] if relu else [])

    up = nn.Upsample(scale_factor=2, mode="nearest")
    layers = conv(512, 256) + [up]
    layers += conv(256, 256) + conv(256, 256) + conv(256, 256) + conv(256, 128) + [up]
    layers += conv(128, 128) + conv(128, 64) + [up]
    layers += conv(64, 64) + conv(64, 3, relu=False)
    return nn.Sequential(*layers)


def build_alexnet_features() -> nn.Sequential:
    import torchvision

    return torchvision.models.alexnet(weights=None).features


def build_vgg16_features() -> nn.Sequential:
    import torchvision

    return torchvision.models.vgg16(weights=None).features


def build_inception_fid() -> nn.Module:
    """torch-fidelity's InceptionV3 feature extractor with the store's weights (never downloads)."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    from .loading import fidelity_inception_path  # the converted file is made from the verified store file

    return FeatureExtractorInceptionV3(
        "inception-v3-compat", ["2048"], feature_extractor_weights_path=str(fidelity_inception_path())
    )
