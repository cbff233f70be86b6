"""Image-smoothness losses shared by style transfer and translators, one function per formula.

Two total-variation losses are in use and they are not interchangeable:
- `tv_l1_mean` (anisotropic, absolute differences): the translators' seed loss; robust to edges.
- `tv_l2_mean` (squared differences): Gatys' regulariser; smooth, so L-BFGS handles it well.
Both are means over all neighbouring pairs of a B x C x H x W batch: vertical term + horizontal term.
"""

from __future__ import annotations

import torch


def _differences(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(vertical, horizontal) differences of neighbouring pixels."""
    return x[..., 1:, :] - x[..., :-1, :], x[..., :, 1:] - x[..., :, :-1]


def tv_l1_mean(x: torch.Tensor) -> torch.Tensor:
    """mean |vertical differences| + mean |horizontal differences|, computed in float32."""
    vertical, horizontal = _differences(x.float())
    return vertical.abs().mean() + horizontal.abs().mean()


def tv_l2_mean(x: torch.Tensor) -> torch.Tensor:
    """mean (vertical differences)^2 + mean (horizontal differences)^2, in the input's dtype."""
    vertical, horizontal = _differences(x)
    return vertical.pow(2).mean() + horizontal.pow(2).mean()


__all__ = ["tv_l1_mean", "tv_l2_mean"]
