"""Backbones from local network files: for networks that cannot ship offline (CLIP, DINOv2, CSD, ...).

A user exports the image encoder once (`torch.export.save(torch.export.export(net, (x,), dynamic_shapes=...),
"net.pt2")`, or TorchScript with `torch.jit.save`) and registers the file under a name; from then on it is a
backbone like the built-ins: cached by the file's sha256, compared in `culturalstyle compare --backbones`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..cache import sha256_file
from .backbones import Backbone, register_backbone
from .vgg import channel_stats, gram, triu_vector

# Input normalisations a local network may expect (mean, std per RGB channel after scaling to [0, 1]).
INPUT_NORMALISATIONS: dict[str, tuple[tuple[float, ...], tuple[float, ...]] | None] = {
    "unit": None,  # RGB in [0, 1], unchanged
    "symmetric": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),  # [-1, 1]
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "clip": ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)),
}
LOCAL_STATISTICS = ("auto", "meanstd", "gram", "mean")


def _statistic_of(tensor: torch.Tensor, statistic: str) -> np.ndarray:
    """A network output as N x D: maps (N x C x H x W) by mean/std, Gram or mean; tokens (N x L x D) averaged."""
    t = tensor.detach().float()
    if t.dim() == 4:
        if statistic in ("auto", "meanstd"):
            mean, std = channel_stats(t)
            t = torch.cat([mean, std], dim=1)
        elif statistic == "gram":
            return triu_vector(gram(t)).astype(np.float32)
        else:
            t = t.mean(dim=(2, 3))
    elif t.dim() == 3:
        t = t.mean(dim=1)
    elif t.dim() != 2:
        raise ValueError(f"a backbone output must be N x D, N x L x D or N x C x H x W, got {tuple(t.shape)}")
    return t.cpu().numpy().astype(np.float32)


class LocalBackbone(Backbone):
    """A network from a local file (`torch.export` .pt2 or TorchScript): for models that cannot ship (CLIP, ...).

    The module receives the batch normalised as `input` expects (unit, symmetric, imagenet, clip) and
    returns a tensor, a tuple of tensors or a dict of tensors; each output becomes one named statistic
    (`features`, `out0`, ... or the dict's keys). Feature maps are summarised by `statistic`: `meanstd`
    (default for maps), `gram` or `mean`; token sequences are averaged; vectors are used as they are. The
    file's sha256 is the weights identity, so editing the file invalidates its cached features.
    """

    family = "custom"

    def __init__(
        self,
        path: str | Path,
        *,
        statistic: str = "auto",
        input: str = "unit",
        device: str | torch.device | None = None,
    ) -> None:
        super().__init__(device)
        path = Path(path)
        if statistic not in LOCAL_STATISTICS:
            raise ValueError(f"unknown statistic {statistic!r} for {path}; choose one of {LOCAL_STATISTICS}")
        if input not in INPUT_NORMALISATIONS:
            raise ValueError(
                f"unknown input normalisation {input!r} for {path}; choose one of {list(INPUT_NORMALISATIONS)}"
            )
        if not path.is_file():
            raise FileNotFoundError(f"backbone weights file {path} does not exist")
        module = load_network_file(path, self.device)
        self.module = module
        self.path, self.statistic, self.input = path, statistic, input
        self.weights_name, self.weights_sha256 = f"file:{path.name}", sha256_file(path)
        self.normalization = "signed_sqrt" if statistic == "gram" else "none"

    def settings(self) -> dict[str, Any]:
        return {"statistic": self.statistic, "input": self.input}

    def compute(self, images: torch.Tensor) -> dict[str, np.ndarray]:
        x = images.to(self.device, torch.float32)
        stats = INPUT_NORMALISATIONS[self.input]
        if stats is not None:
            mean = torch.tensor(stats[0], device=self.device).view(1, 3, 1, 1)
            std = torch.tensor(stats[1], device=self.device).view(1, 3, 1, 1)
            x = (x - mean) / std
        out = self.module(x)
        if isinstance(out, dict):
            named = dict(out)
        elif isinstance(out, (tuple, list)):
            named = {f"out{i}": t for i, t in enumerate(out)}
        else:
            named = {"features": out}
        return {name: _statistic_of(t, self.statistic) for name, t in named.items()}


def load_network_file(path: Path, device: torch.device) -> Any:
    """A callable network from a `torch.export` archive (`.pt2`) or a TorchScript file (anything else)."""
    import warnings

    try:
        if path.suffix == ".pt2":
            return torch.export.load(str(path)).module()
        with warnings.catch_warnings():  # TorchScript is deprecated in recent torch but still loads
            warnings.simplefilter("ignore", FutureWarning)
            return torch.jit.load(str(path), map_location=device).eval()
    except (RuntimeError, ValueError, OSError) as error:
        raise ValueError(
            f"{path} is not a torch.export archive (.pt2) or a TorchScript file: save the network with "
            f"torch.export.save(torch.export.export(net, ...), 'net.pt2') or torch.jit.save: {error}"
        ) from error


def register_local_backbone(
    name: str,
    path: str | Path,
    *,
    statistic: str = "auto",
    input: str = "unit",
    overwrite: bool = False,
) -> Callable[..., Backbone]:
    """Register the network file `path` (.pt2 export or TorchScript) as backbone `name` (see `LocalBackbone`).

    The file must exist now (a clear error names it); it is loaded when the backbone is made.
    """
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise FileNotFoundError(f"backbone weights file {path} does not exist")

    def factory(device: str | torch.device | None = None) -> Backbone:
        return LocalBackbone(path, statistic=statistic, input=input, device=device)

    return register_backbone(name, factory, overwrite=overwrite)


def parse_backbone_file(spec: str) -> tuple[str, Path, dict[str, str]]:
    """`NAME=PATH[,statistic=S][,input=I]` (the CLI's --backbone-file) -> (name, path, options)."""
    if "=" not in spec:
        raise ValueError(f"--backbone-file expects NAME=PATH[,statistic=...][,input=...], got {spec!r}")
    name, rest = spec.split("=", 1)
    parts = rest.split(",")
    options = {}
    for part in parts[1:]:
        key, _, value = part.partition("=")
        if key not in ("statistic", "input") or not value:
            raise ValueError(f"--backbone-file option {part!r} in {spec!r}: use statistic=... or input=...")
        options[key] = value
    return name.strip(), Path(parts[0]), options
