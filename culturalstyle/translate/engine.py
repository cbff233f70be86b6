"""The method-agnostic training engine: data, schedules, checkpoints, resume, DDP, logging, samples,
evaluation during training (best checkpoint) and the time budget. The translator model
(`translate.models`, chosen by `TrainConfig.method`) only declares networks, optimisers, loss names and
`step(batch)`.

Why resume is exact: nothing in the loop draws from hidden state. Each step's batch (order, crops, flips)
is a pure function of (seed, step, rank), models draw from their own seeded generators, and a checkpoint
holds every network, optimiser, scheduler, the AMP scaler, per-process model state (pools) and the global
RNG states of every process.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import __version__
from ..device import default_device
from . import checkpoints as C
from .config import TrainConfig
from .models import Batch, ModelContext, translator_class
from .networks import to_unit
from .runlog import LossLog, MetricsLog
from .sampling import UnpairedBatches, center_crops, check_counts, load_culture_images

log = logging.getLogger(__name__)
SAMPLES_DIR = "samples"


def dist_info(device_type: str = "cpu") -> tuple[int, int]:
    """(rank, world size); initialises the process group (NCCL for CUDA, else gloo) under torchrun."""
    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def lr_factor(total: int, decay: int) -> Callable[[int], float]:
    """Constant learning rate, then linear decay to zero over the last `decay` steps."""

    def factor(step: int) -> float:
        if decay <= 0 or step < total - decay:
            return 1.0
        return max(0.0, (total - step) / decay)

    return factor


class Engine:
    """One run: the model, its data, schedules and outputs; `run()` trains to the configured step.

    `features_module` replaces the store's VGG19 for the seed losses (tests); `eval_extractor` replaces
    the FID Inception for evaluation during training (tests).
    """

    def __init__(
        self,
        config: TrainConfig,
        corpus: Any,
        run_dir: str | Path,
        *,
        features_module: nn.Sequential | None = None,
        eval_extractor: Any = None,
    ) -> None:
        from .seed_losses import SeedLosses

        self.config = config = config.validate()
        self.corpus, self.run_dir = corpus, Path(run_dir)
        self.device = default_device(config.device)
        self.rank, self.world_size = dist_info(self.device.type)
        if self.world_size > 1 and self.device.type == "cuda":
            self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", self.rank)))
            torch.cuda.set_device(self.device)
        self.use_amp = bool(config.amp and self.device.type == "cuda")
        needed = config.batch_size * self.world_size
        what = f"batch_size={config.batch_size} x {self.world_size} process(es)"
        self.counts = check_counts(corpus, (config.source, config.target), config.split, needed, what)

        # Seeded before the seed losses' networks are built (their construction draws from the global RNG,
        # so initial weights depend on whether they are on); kept so that runs reproduce across versions.
        C.seed_everything(config.seed)
        self.memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
        seed_losses = SeedLosses(config, corpus, self.device, features_module)
        self.seed_losses = seed_losses if seed_losses.enabled else None
        context = ModelContext(
            self.device, self.rank, self.world_size, self.use_amp, self.memory_format, self.seed_losses
        )
        self.model = translator_class(config.method)(config, context)

        images_a, self.ids_a = load_culture_images(corpus, config.source, config.split, config.load_size)
        images_b, self.ids_b = load_culture_images(corpus, config.target, config.split, config.load_size)
        for culture, imgs in ((config.source, images_a), (config.target, images_b)):
            small = [tuple(t.shape[-2:]) for t in imgs if min(t.shape[-2:]) < config.size]
            if small:
                raise ValueError(
                    f"culture {culture!r}: images smaller than the crop size {config.size}: {small[:3]}"
                )
        self.data = UnpairedBatches(
            images_a,
            images_b,
            size=config.size,
            batch_size=config.batch_size,
            flip=config.flip,
            seed=config.seed,
            rank=self.rank,
            world_size=self.world_size,
        )
        self.total_steps, self.decay_steps = config.schedule(self.data.steps_per_epoch)
        factor = lr_factor(self.total_steps, self.decay_steps)
        self.schedulers = {
            name: torch.optim.lr_scheduler.LambdaLR(opt, factor)
            for name, opt in self.model.optimizers.items()
        }
        self.step = 0
        self.best: dict[str, float] | None = None  # {"step", "fid", ...} of the best evaluation so far
        self.eval_extractor = eval_extractor
        self.evaluator = None
        self.stop_reason: str | None = None

    @property
    def nets(self) -> dict[str, nn.Module]:
        return self.model.networks

    @property
    def weights_record(self) -> dict[str, str]:
        if self.seed_losses is None or self.seed_losses.features is None:
            return {}
        return {self.seed_losses.weights_name: self.seed_losses.weights_sha256}

    def prepare(self, batch: torch.Tensor) -> torch.Tensor:
        x = batch.to(self.device, non_blocking=True).float().div_(127.5).sub_(1.0)
        return x.contiguous(memory_format=self.memory_format)

    def train_step(self, step: int) -> torch.Tensor:
        """One model update on the batch of `step`, then the shared AMP scaler and the schedulers."""
        a, b = self.data.batch(step)
        values = self.model.step(Batch(self.prepare(a), self.prepare(b), step))
        self.model.scaler.update()
        for scheduler in self.schedulers.values():
            scheduler.step()
        return values

    # -- state ------------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything needed to continue bit-for-bit (per-rank model state and RNG states from all ranks)."""
        rank_state = {**self.model.rank_state(), "rng": C.rng_state()}
        ranks = [rank_state]
        if self.world_size > 1:
            import torch.distributed as dist

            ranks = [None] * self.world_size
            dist.all_gather_object(ranks, rank_state)
        return {
            "format": C.CHECKPOINT_FORMAT,
            "method": self.config.method,
            "step": self.step,
            "total_steps": self.total_steps,
            "config": dataclasses.asdict(self.config)
            | {"style_layers": list(self.config.style_layers), "nce_layers": list(self.config.nce_layers)},
            "package_version": __version__,
            "models": {name: net.state_dict() for name, net in self.nets.items()},
            "optimizers": {name: opt.state_dict() for name, opt in self.model.optimizers.items()},
            "schedulers": {name: s.state_dict() for name, s in self.schedulers.items()},
            "scaler": self.model.scaler.state_dict(),
            "data": {
                "seed": self.data.seed,
                "steps_per_epoch": self.data.steps_per_epoch,
                "next_step": self.step,
            },
            "eval": {"best": self.best},
            "ranks": ranks,
            "world_size": self.world_size,
        }

    def load_state_dict(self, state: dict) -> None:
        method = state.get("method", "cyclegan")  # checkpoints before the model registry were CycleGAN
        if method != self.config.method:
            raise C.CheckpointError(f"checkpoint is a {method!r} run, the config says {self.config.method!r}")
        for name, net in self.nets.items():
            net.load_state_dict(state["models"][name])
        for name, opt in self.model.optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
        for name, scheduler in self.schedulers.items():
            scheduler.load_state_dict(state["schedulers"][name])
        if state.get("scaler"):
            self.model.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        self.best = (state.get("eval") or {}).get("best")
        ranks = state["ranks"]
        if len(ranks) != self.world_size:
            warnings.warn(
                f"checkpoint was written by {len(ranks)} process(es), resuming with {self.world_size}: "
                "per-process state (history pools, RNG) restarts, so the run is not an exact continuation",
                RuntimeWarning,
                stacklevel=2,
            )
            return
        mine = ranks[self.rank]
        self.model.load_rank_state(mine)
        C.set_rng_state(mine["rng"])

    # -- outputs ----------------------------------------------------------------------------------------
    def sample_sets(self) -> dict[str, torch.Tensor]:
        """Fixed images per direction for the sample grids: the first `n_samples` of the test split (else train)."""
        cfg = self.config
        out = {}
        for direction in self.model.generators:
            culture = cfg.source if direction == "A2B" else cfg.target
            split = "test" if len(self.corpus.filter(culture=culture, split="test")) else cfg.split
            out[direction] = center_crops(self.corpus, culture, split, cfg.size, cfg.n_samples)
        return out

    @torch.no_grad()
    def write_samples(self, fixed: dict[str, torch.Tensor], writer: Any = None) -> None:
        """Grids with one row per fixed image: source | translation (| reconstruction for CycleGAN)."""
        from torchvision.utils import make_grid

        from ..images import save_image

        for direction, batch in fixed.items():
            columns = self.model.sample_columns(direction, self.prepare(batch))
            rows = torch.stack(columns, dim=1).flatten(0, 1).float()
            grid = make_grid(to_unit(rows).clamp(0, 1).cpu(), nrow=len(columns), padding=2, pad_value=1.0)
            save_image(grid, self.run_dir / SAMPLES_DIR / f"step_{self.step:08d}_{direction}.png")
            if writer is not None:
                writer.add_image(f"samples/{direction}", grid, self.step)

    def save(self) -> Path:
        state = self.state_dict()  # every rank takes part in the gather
        path = C.checkpoint_path(self.run_dir, self.step)
        if self.rank == 0:
            C.save_checkpoint(state, path)
            keep = self.config.keep_checkpoints
            if keep > 0:
                for old in C.list_checkpoints(self.run_dir)[max(keep, 2) :]:
                    C.remove_checkpoint(old)
        self.barrier()
        return path

    def barrier(self) -> None:
        if self.world_size > 1:
            import torch.distributed as dist

            dist.barrier()

    def _any_rank(self, flag: bool) -> bool:
        if self.world_size <= 1:
            return flag
        import torch.distributed as dist

        value = torch.tensor([int(flag)], device=self.device if self.device.type == "cuda" else "cpu")
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def evaluate(self, metrics_log: MetricsLog | None) -> None:
        """Rank 0 scores the held-out translations; every rank joins in writing best.pt when FID improved."""
        improved = False
        if self.rank == 0 and self.evaluator is not None:
            result = self.evaluator.evaluate(self.model.generator("A2B"))
            improved = self.best is None or result["fid"] < self.best["fid"]
            log.info(
                "step %d: FID %.3f, KID %.5f%s",
                self.step,
                result["fid"],
                result["kid"],
                " (best)" if improved else "",
            )
            if metrics_log is not None:
                metrics_log.write(self.step, result, improved)
            if improved:
                self.best = {"step": self.step, **result}
        if self._any_rank(improved):
            state = self.state_dict()
            if self.rank == 0:
                C.save_checkpoint(state, C.best_path(self.run_dir))
                info = dict(
                    self.best,
                    checkpoint=C.BEST_NAME,
                    eval_size=self.evaluator.size,
                    eval_split="test",
                    source=self.config.source,
                    target=self.config.target,
                )
                C.write_best_info(self.run_dir, info)
            self.barrier()

    def _setup_evaluation(self) -> None:
        from .evaluation import TrainingEvaluator

        if self.config.eval_every <= 0:
            return
        evaluator = TrainingEvaluator(self.config, self.corpus, self.device, self.eval_extractor)
        if evaluator.prepare():
            self.evaluator = evaluator
        info = C.read_best_info(self.run_dir)
        if info is not None and int(info["step"]) > self.step:  # a best from work lost in a crash
            for path in (C.best_path(self.run_dir), C.sidecar(C.best_path(self.run_dir))):
                if path.exists():
                    path.rename(path.with_name(f"orphaned-step_{int(info['step']):08d}-{path.name}"))
            (self.run_dir / C.CHECKPOINT_DIR / C.BEST_INFO).unlink()
            warnings.warn(
                f"best checkpoint of step {info['step']} is newer than the resumed step {self.step}; "
                "moved aside as orphaned-*",
                RuntimeWarning,
                stacklevel=3,
            )

    # -- the loop ---------------------------------------------------------------------------------------
    def run(self, stop_after: int | None = None) -> int:
        """Train from `self.step` to the configured total; returns the last completed step.

        `stop_after` ends the session after that global step without flushing or checkpointing, as a crash
        would (tests use it to check resume). Ctrl-C, or the time budget running out, finishes the current
        step, saves a checkpoint and stops.
        """
        from tqdm.auto import tqdm

        cfg = self.config
        main = self.rank == 0
        writer = losses = metrics_log = None
        if main:
            (self.run_dir / SAMPLES_DIR).mkdir(parents=True, exist_ok=True)
            if cfg.tensorboard:
                from torch.utils.tensorboard import SummaryWriter

                writer = SummaryWriter(
                    str(self.run_dir / "tb"), purge_step=self.step + 1 if self.step else None
                )
            losses = LossLog(self.run_dir, self.model.loss_names, self.step, writer)
            self._setup_evaluation()
            if self.evaluator is not None:
                metrics_log = MetricsLog(self.run_dir, self.step, writer)
        if self.world_size > 1 and cfg.eval_every > 0:  # every rank must know whether rank 0 evaluates
            self.evaluating = self._any_rank(self.evaluator is not None)
        else:
            self.evaluating = self.evaluator is not None
        fixed = self.sample_sets() if main else None
        interrupted = {"flag": False}
        previous_handler = None
        if self.world_size == 1 and threading.current_thread() is threading.main_thread():
            previous_handler = signal.signal(signal.SIGINT, lambda *_: interrupted.__setitem__("flag", True))
        clock = time.process_time if cfg.time_budget_clock == "cpu" else time.perf_counter
        started = clock()
        images_per_step = 2 * cfg.batch_size * self.world_size
        bar = tqdm(
            total=self.total_steps,
            initial=self.step,
            disable=not (main and cfg.progress),
            desc=f"{cfg.method} {cfg.source}->{cfg.target}",
            unit="step",
            dynamic_ncols=True,
        )
        self.model.train()
        try:
            while self.step < self.total_steps:
                lr = next(iter(self.model.optimizers.values())).param_groups[0][
                    "lr"
                ]  # the rate this step uses
                values = self.train_step(self.step)
                self.step += 1
                bar.update(1)
                if main:
                    losses.add(self.step, values, lr)
                last = self.step == self.total_steps
                if cfg.time_budget_s is not None and not last:
                    over = clock() - started > cfg.time_budget_s
                    if self._any_rank(over):
                        self.stop_reason = (
                            f"time budget of {cfg.time_budget_s:g} s ({cfg.time_budget_clock}) used"
                        )
                stop = interrupted["flag"] or self.stop_reason is not None
                checkpoint = self.step % cfg.checkpoint_every == 0 or last or stop
                if main and (self.step % cfg.log_every == 0 or last or checkpoint):
                    means = losses.flush(images_per_step)  # before every checkpoint: no gap after kill -9
                    bar.set_postfix(
                        {k: f"{sum(means[n] for n in names):.3f}" for k, names in self.model.progress.items()}
                        | {"img_s": f"{means['images_per_s']:.1f}"}
                    )
                if main and (self.step % cfg.sample_every == 0 or last):
                    self.write_samples(fixed, writer)
                if self.evaluating and (self.step % cfg.eval_every == 0 or last or self.stop_reason):
                    self.evaluate(metrics_log)
                if checkpoint:
                    self.save()
                if stop:
                    log.warning(
                        "stopped at step %d (%s); checkpoint saved in %s",
                        self.step,
                        self.stop_reason or "interrupted",
                        self.run_dir,
                    )
                    break
                if stop_after is not None and self.step >= stop_after:
                    break
        finally:
            bar.close()
            if previous_handler is not None:
                signal.signal(signal.SIGINT, previous_handler)
            for handle in (losses, metrics_log, writer):
                if handle is not None:
                    handle.close()
        if interrupted["flag"]:
            raise KeyboardInterrupt(
                f"training interrupted at step {self.step}; resume with: culturalstyle train --resume {self.run_dir}"
            )
        return self.step
