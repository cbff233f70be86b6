"""LPIPS between each translation and its source image (content preservation); the `lpips` metric."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .intervals import MetricValue, mean_with_ci
from .registry import IDENTITY, TRANSLATION, Metric, register_metric

if TYPE_CHECKING:
    from .inputs import MetricInputs

LPIPS_NETWORK = "alexnet-lpips"
LPIPS_MIN_SIZE = 64  # AlexNet's five stages need some room; smaller translations are upsampled for LPIPS


def _lpips_pair(source: Path, translation: Path, size: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    from ..images import center_crop, load_image, resize_shorter, to_tensor

    trans = load_image(translation, min_side=16)
    side = size or max(LPIPS_MIN_SIZE, min(trans.size))
    src = load_image(source, min_side=16)
    out = []
    for img in (src, trans):
        if img.size != (side, side):
            img = center_crop(resize_shorter(img, side), side)
        out.append(to_tensor(img))
    return out[0], out[1]


def lpips_distances(
    pairs: Sequence[tuple[str | os.PathLike, str | os.PathLike]],
    *,
    net: Any = None,
    size: int | None = None,
    batch_size: int = 16,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """LPIPS (v0.1, AlexNet trunk from the store) of each (source, translation) pair.

    Both images are brought to the same square resolution: `size`, or the translation's shorter side but at
    least 64 px. `net` defaults to `weights.lpips_network("alex")`; any callable `net(a, b, normalize=True)`
    on [0, 1] batches works (tests pass a small one).
    """
    from ..device import default_device

    if not pairs:
        raise ValueError("LPIPS needs at least one (source, translation) pair")
    dev = default_device(device)
    if net is None:
        from .. import weights

        net = weights.lpips_network("alex", device=dev)
    out: list[np.ndarray] = []
    for start in range(0, len(pairs), batch_size):
        chunk = [_lpips_pair(Path(s), Path(t), size) for s, t in pairs[start : start + batch_size]]
        shapes = {tuple(a.shape) for a, _ in chunk}
        groups = [chunk] if len(shapes) == 1 else [[c] for c in chunk]  # mixed sizes: one pair at a time
        for group in groups:
            a = torch.stack([g[0] for g in group]).to(dev)
            b = torch.stack([g[1] for g in group]).to(dev)
            with torch.inference_mode():
                d = net(a, b, normalize=True)
            out.append(d.reshape(len(group)).float().cpu().numpy())
    return np.concatenate(out).astype(np.float64)


def lpips_identity(net: Any) -> tuple[str, str]:
    """Network name and weights sha256 recorded in LPIPS rows."""
    if net is not None:
        return getattr(net, "name", type(net).__name__), getattr(net, "weights_sha256", "")
    from .. import weights

    return "lpips v0.1 (alexnet-lpips trunk)", weights.sha256(LPIPS_NETWORK)


def _lpips_rows(inputs: MetricInputs) -> list[dict[str, Any]]:
    ev = inputs.evaluation
    n_sources = len(set(ev.sources["image_id"]))  # the source images the translations are compared with
    if inputs.kind == IDENTITY:
        value = MetricValue(
            0.0, 0.0, 0.0, ev.n, n_sources, "identity: the source itself, LPIPS = 0 by definition"
        )
    else:
        distances = lpips_distances(
            list(zip(ev.source_paths, inputs.images.paths())),
            net=ev.lpips_net,
            size=ev.config.lpips_size,
            device=ev.device,
        )
        what = "translation" if inputs.kind == TRANSLATION else "control"
        value = mean_with_ci(
            distances, inputs.bootstrap, f"mean over source/{what} pairs; 95% percentile bootstrap"
        )
        value.n_reference = n_sources
    name, sha = lpips_identity(ev.lpips_net)
    return [inputs.row("lpips", value, network=name, weights_sha=sha)]


LPIPS = register_metric(
    Metric(
        name="lpips",
        direction="lower",
        description=(
            "LPIPS (v0.1, AlexNet) between each image and its source image: lower keeps more of the "
            "source's content (identity = 0 by definition)"
        ),
        needs=("images", "source_pairs"),
        compute=_lpips_rows,
        section="distances",
    )
)
