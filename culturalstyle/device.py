"""Device choice: CUDA when present, else CPU; never required."""

from __future__ import annotations

import torch


def default_device(requested: str | torch.device | None = None) -> torch.device:
    """`requested` if given ("cpu", "cuda", "cuda:1", "auto"), else CUDA when available, else CPU."""
    if requested is None or str(requested) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("CUDA was requested but no CUDA device is available; use --device cpu")
    return device
