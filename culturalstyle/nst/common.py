"""Small image operations shared by Gatys and AdaIN: colour preservation, padding, content loading."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

# NTSC YIQ: Y is luminance, I and Q carry the colour. Rows map RGB to Y, I, Q.
_RGB_TO_YIQ = torch.tensor(
    [
        [0.299, 0.587, 0.114],
        [0.595716, -0.274453, -0.321263],
        [0.211456, -0.522591, 0.311135],
    ]
)


def rgb_to_yiq(x: torch.Tensor) -> torch.Tensor:
    """B x 3 x H x W RGB to YIQ (linear, invertible)."""
    return torch.einsum("ij,bjhw->bihw", _RGB_TO_YIQ.to(x), x)


def yiq_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Inverse of `rgb_to_yiq`."""
    return torch.einsum("ij,bjhw->bihw", torch.linalg.inv(_RGB_TO_YIQ.double()).to(x), x)


def preserve_colour(stylised: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Luminance-only transfer: the stylised image's luminance (Y) with the content's chrominance (I, Q).

    Keeps the photo's colours while the style changes only brightness structure (Gatys et al. 2016,
    "Preserving color in neural artistic style transfer"). `content` is resized to `stylised` if needed.
    """
    if content.shape[-2:] != stylised.shape[-2:]:
        content = F.interpolate(content, size=stylised.shape[-2:], mode="bilinear", align_corners=False)
    yiq_s, yiq_c = rgb_to_yiq(stylised), rgb_to_yiq(content.to(stylised))
    return yiq_to_rgb(torch.cat([yiq_s[:, :1], yiq_c[:, 1:]], dim=1)).clamp(0, 1)


def pad_to_multiple(x: torch.Tensor, multiple: int = 8) -> tuple[torch.Tensor, tuple[int, int]]:
    """Reflection-pad the bottom/right of `x` so H and W are multiples of `multiple`; returns (x, (H, W))."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (h, w)


def load_content(path: str | Path, size: int | None) -> torch.Tensor:
    """Content image as 1 x 3 x H x W in [0, 1], longer side `size` (None: as decoded)."""
    from ..features import load_for_features

    return load_for_features(path, size, "longer" if size else "native").unsqueeze(0)
