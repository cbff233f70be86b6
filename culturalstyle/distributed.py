"""torchrun in one place: which rank am I, the process group, and the few collectives the store needs.

`torchrun --nproc_per_node=N culturalstyle embed ...` sets RANK / WORLD_SIZE / LOCAL_RANK (and the rendezvous
across nodes); without them everything here is a no-op for a single process. The backend is NCCL when the
process uses CUDA, gloo otherwise (the 2-process CPU test).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class RankInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def rank_info() -> RankInfo:
    """This process's rank from an initialised process group, else from torchrun's environment variables."""
    import torch.distributed as dist

    local = int(os.environ.get("LOCAL_RANK", "0"))
    if dist.is_available() and dist.is_initialized():
        return RankInfo(dist.get_rank(), dist.get_world_size(), local)
    return RankInfo(int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1")), local)


def init(device: str | torch.device | None = None) -> RankInfo:
    """Join the process group when launched by torchrun (idempotent); returns this process's RankInfo."""
    import torch.distributed as dist

    info = rank_info()
    if info.distributed and not dist.is_initialized():
        use_cuda = torch.cuda.is_available() and (device is None or torch.device(device).type == "cuda")
        if use_cuda:
            torch.cuda.set_device(info.local_rank)
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
        info = rank_info()
    return info


def device_for(info: RankInfo, requested: str | torch.device | None) -> torch.device:
    """The device of this rank: its own GPU (LOCAL_RANK) under torchrun on CUDA, else `default_device`."""
    from .device import default_device

    device = default_device(requested)
    if device.type == "cuda" and info.distributed and device.index is None:
        return torch.device("cuda", info.local_rank)
    return device


def _active() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def barrier() -> None:
    import torch.distributed as dist

    if _active():
        dist.barrier()


def all_gather_object(obj: Any) -> list[Any]:
    """Every rank's `obj`, in rank order (a one-element list without a process group)."""
    import torch.distributed as dist

    if not _active():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, src: int = 0) -> Any:
    import torch.distributed as dist

    if not _active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]
