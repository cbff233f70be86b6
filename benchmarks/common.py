"""Helpers shared by the benchmark scripts."""

from __future__ import annotations

import time

import torch


def sync(device: torch.device) -> None:
    """Wait for queued GPU work so wall-clock timings are honest (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize()


def matmul_peak(
    device: torch.device | None = None, n: int = 2048, repeats: int = 5, warmup: int = 3
) -> float:
    """Best GFLOP/s of an n x n fp32 matmul (2 n^3 FLOPs): the yardstick for "close to the FLOP cost".

    A few warm-up calls first: the first matmuls of a process start the thread pool and are slow.
    """
    device = device or torch.device("cpu")
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    for _ in range(warmup):
        torch.matmul(a, b)
    best = 0.0
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        torch.matmul(a, b)
        sync(device)
        best = max(best, 2 * n**3 / (time.perf_counter() - start) / 1e9)
    return best
