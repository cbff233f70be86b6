"""What a translator model is to the engine: networks, optimisers, loss names and one `step(batch)`.

The engine (translate.engine) owns everything that does not depend on the method: data, schedulers,
checkpoints, resume, DDP process groups, logging, evaluation. A model owns its networks and how one
training step uses them. It never sees the run directory; the engine never names a network.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from ..config import TrainConfig
from ..networks import PatchDiscriminator, ResnetGenerator


@dataclass
class Batch:
    """One training step's input: source (A) and target (B) images in [-1, 1], and the global step."""

    real_A: torch.Tensor
    real_B: torch.Tensor
    step: int


@dataclass
class ModelContext:
    """What the engine gives a model: where to compute, which process it is, and the seed losses."""

    device: torch.device
    rank: int = 0
    world_size: int = 1
    use_amp: bool = False
    memory_format: torch.memory_format = torch.contiguous_format
    seed_losses: Any = None  # seed_losses.SeedLosses, or None when all seed weights are zero


class Translator:
    """Base class of the registered translator models (see `register_translator`).

    Subclasses set `name`, `loss_names` (the losses.csv columns, in the order `step` returns them),
    `generators` (direction -> network name, e.g. {"A2B": "G_AB"}), `progress` (progress-bar label -> loss
    names summed), and build `self.networks` and `self.optimizers` in `__init__`. Per-process state that
    must survive a resume (history pools, ...) goes through `rank_state` / `load_rank_state`.
    """

    name: ClassVar[str] = ""
    loss_names: ClassVar[tuple[str, ...]] = ()
    generators: ClassVar[dict[str, str]] = {}
    progress: ClassVar[dict[str, tuple[str, ...]]] = {}

    def __init__(self, config: TrainConfig, context: ModelContext) -> None:
        self.config, self.context = config, context
        self.device = context.device
        self.networks: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.scaler = torch.amp.GradScaler("cuda", enabled=context.use_amp)
        self.phase_times: dict[str, float] | None = None  # set to {} to time the phases (benchmarks)
        self._phase_start = 0.0

    # -- for subclasses ---------------------------------------------------------------------------------
    @classmethod
    def check_config(cls, config: TrainConfig) -> list[str]:
        """Problems with `config` for this method (empty when fine)."""
        return []

    def hyperparameters(self) -> dict[str, Any]:
        """The effective method-specific settings (defaults resolved), for the run record."""
        return {}

    def new_generator(self) -> ResnetGenerator:
        return ResnetGenerator(self.config.ngf, self.config.n_blocks, upsample=self.config.upsample)

    def new_discriminator(self) -> PatchDiscriminator:
        return PatchDiscriminator(self.config.ndf, self.config.d_layers)

    def add_network(self, name: str, net: nn.Module) -> nn.Module:
        net = net.to(self.device).to(memory_format=self.context.memory_format)
        self.networks[name] = net
        return net

    def adam(self, modules: Sequence[nn.Module]) -> torch.optim.Adam:
        cfg = self.config
        params = [p for m in modules for p in m.parameters()]
        return torch.optim.Adam(params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))

    def wrap(self, net: nn.Module) -> nn.Module:
        """`net` wrapped in DistributedDataParallel under torchrun (gradients averaged over processes)."""
        if self.context.world_size <= 1:
            return net
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DDP(net, device_ids=ids)

    def autocast(self) -> torch.autocast:
        return torch.autocast(device_type=self.device.type, dtype=torch.float16, enabled=self.context.use_amp)

    def optimise(self, loss: torch.Tensor, optimizers: Sequence[torch.optim.Optimizer], phase: str) -> None:
        """zero_grad, (scaled) backward, optimiser steps; the engine calls `scaler.update()` after `step`."""
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.mark(phase)
        for opt in optimizers:
            self.scaler.step(opt)
        self.mark("optimiser")

    def mark(self, phase: str | None) -> None:
        """Benchmark hook: add the time since the previous mark to `phase` (no-op unless phase_times is set)."""
        if self.phase_times is None:
            return
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        now = time.perf_counter()
        if phase is not None:
            self.phase_times[phase] = self.phase_times.get(phase, 0.0) + now - self._phase_start
        self._phase_start = now

    def pack(self, values: dict[str, torch.Tensor]) -> torch.Tensor:
        """The step's losses as one detached float vector in `loss_names` order (no host sync)."""
        missing = [n for n in self.loss_names if n not in values]
        if missing:
            raise KeyError(f"{self.name} step did not compute loss(es) {missing}")
        return torch.stack([values[n].float() for n in self.loss_names]).detach()

    # -- the interface the engine uses -------------------------------------------------------------------
    def step(self, batch: Batch) -> torch.Tensor:
        """One training update; returns the detached losses in `loss_names` order."""
        raise NotImplementedError

    def generator(self, direction: str) -> nn.Module:
        """The (unwrapped) generator of `direction` ("A2B" or "B2A")."""
        if direction not in self.generators:
            raise ValueError(
                f"a {self.name} translator has direction(s) {', '.join(self.generators)} only, not {direction!r}"
            )
        return self.networks[self.generators[direction]]

    @torch.no_grad()
    def sample_columns(self, direction: str, x: torch.Tensor) -> list[torch.Tensor]:
        """Images for one sample-grid row per input ([-1, 1]): source | translation (| reconstruction)."""
        return [x, self.generator(direction)(x, normalized=True)]

    def rank_state(self) -> dict[str, Any]:
        return {}

    def load_rank_state(self, state: dict[str, Any]) -> None:
        pass

    def train(self) -> None:
        for net in self.networks.values():
            net.train()
