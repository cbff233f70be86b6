"""Loading: the verified, converted weights as eval-mode modules with gradients off; never downloads."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..cache import atomic_path, sha256_file
from .converters import StateDict
from .registry import artifact
from .store import _VERIFIED, _log, _recorded_sha_file, _resolve, _stat_key, artifact_dir

if TYPE_CHECKING:
    import torch
    from torch import nn


def _freeze(module: nn.Module, device: str | torch.device | None) -> nn.Module:
    from ..device import default_device

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
