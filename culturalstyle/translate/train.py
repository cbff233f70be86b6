"""The CycleGAN training loop: seeded, resumable bit-for-bit on CPU, DDP-ready, logged to a run directory.

A run directory holds `config.yaml`, `run_record.json` (seed, versions, corpus manifest hash),
`losses.csv` (one row per step), TensorBoard events (`tb/`), sample grids (`samples/`) and checkpoints
(`checkpoints/step_XXXXXXXX.pt` with a `.sha256` sidecar). Runs are never overwritten: `train` refuses a
non-empty directory and `resume` continues one from its newest intact checkpoint.

Why resume is exact: nothing in the loop draws from hidden state. Each step's batch (shuffled order,
crop offsets, flips) is a pure function of (seed, step, rank), the history pools draw from their own
generators, and a checkpoint holds those generators, the pools, both optimisers, both schedulers, the AMP
scaler and the global RNG states.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import math
import os
import random
import signal
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import __version__, runs
from ..cache import atomic_path, atomic_write_text, cache_dir, sha256_file, stable_hash
from ..device import default_device
from . import losses as L
from .config import TrainConfig
from .networks import PatchDiscriminator, ResnetGenerator, to_unit

log = logging.getLogger(__name__)

CONFIG_NAME = "config.yaml"
LOSSES_NAME = "losses.csv"
CHECKPOINT_DIR = "checkpoints"
SAMPLES_DIR = "samples"
CHECKPOINT_FORMAT = 1
LOSS_NAMES = (
    "G_gan_AB",
    "G_gan_BA",
    "cycle_A",
    "cycle_B",
    "identity_A",
    "identity_B",
    "gram",
    "content",
    "tv",
    "G_total",
    "D_A",
    "D_B",
)


class CheckpointError(RuntimeError):
    """No intact checkpoint could be loaded."""


# ----------------------------------------------------------------------------------------------------------
# data: a stateless unpaired batch sampler over images decoded once (ImageCache) and kept in memory


def _seed_from(*parts: Any) -> int:
    return int(stable_hash(list(parts), length=15), 16)


class UnpairedBatches:
    """Batches of random crops from two cultures; batch `step` depends only on (seed, step, rank).

    One epoch is max(n_A, n_B) images per culture (as in CycleGAN's unaligned dataset); each epoch visits
    both cultures in a fresh seeded permutation, and the smaller culture wraps around. Under DDP each rank
    takes its own slice of the permutation. Images are decoded once, resized so the shorter side is
    `load_size` (cached on disk by `images.ImageCache`) and kept as uint8 tensors in memory.
    """

    def __init__(
        self,
        images_a: list[torch.Tensor],
        images_b: list[torch.Tensor],
        *,
        size: int,
        batch_size: int,
        flip: bool = True,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.images = (images_a, images_b)
        self.size, self.batch_size, self.flip, self.seed = size, batch_size, flip, seed
        self.rank, self.world_size = rank, world_size
        per_step = batch_size * world_size
        self.steps_per_epoch = max(1, max(len(images_a), len(images_b)) // per_step)
        self._perm_epoch = -1
        self._perms: tuple[torch.Tensor, torch.Tensor] | None = None

    def _permutations(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        if epoch != self._perm_epoch:
            self._perms = tuple(  # type: ignore[assignment]
                torch.randperm(
                    len(imgs),
                    generator=torch.Generator().manual_seed(_seed_from(self.seed, "perm", epoch, side)),
                )
                for side, imgs in zip("AB", self.images)
            )
            self._perm_epoch = epoch
        return self._perms  # type: ignore[return-value]

    def indices(self, step: int) -> tuple[list[int], list[int]]:
        epoch, within = divmod(step, self.steps_per_epoch)
        start = (within * self.world_size + self.rank) * self.batch_size
        out = []
        for perm in self._permutations(epoch):
            out.append([int(perm[(start + j) % len(perm)]) for j in range(self.batch_size)])
        return out[0], out[1]

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 tensors (batch x 3 x size x size) for culture A and culture B at `step`."""
        generator = torch.Generator().manual_seed(_seed_from(self.seed, "augment", step, self.rank))
        result = []
        for side, idx in zip(self.images, self.indices(step)):
            crops = []
            for i in idx:
                img = side[i]
                h, w = img.shape[-2:]
                top = int(torch.randint(0, h - self.size + 1, (1,), generator=generator))
                left = int(torch.randint(0, w - self.size + 1, (1,), generator=generator))
                crop = img[:, top : top + self.size, left : left + self.size]
                if self.flip and bool(torch.rand(1, generator=generator) < 0.5):
                    crop = crop.flip(-1)
                crops.append(crop)
            result.append(torch.stack(crops))
        return result[0], result[1]


def load_culture_images(
    corpus: Any, culture: str, split: str, load_size: int
) -> tuple[list[torch.Tensor], list[str]]:
    """uint8 CHW tensors (shorter side `load_size`) of one culture's images in `split`, sorted by image_id."""
    from ..images import ImageCache

    subset = corpus.filter(culture=culture, split=split).df.sort_values("image_id")
    cache = ImageCache()
    tensors = [cache.get(corpus.abspath(row), row["sha256"], load_size) for _, row in subset.iterrows()]
    return tensors, subset["image_id"].tolist()


def _check_counts(corpus: Any, config: TrainConfig, world_size: int) -> dict[str, int]:
    needed = config.batch_size * world_size
    counts = {}
    for culture in (config.source, config.target):
        if culture not in corpus.cultures:
            raise ValueError(
                f"culture {culture!r} is not in the corpus at {corpus.root}; it has: {', '.join(corpus.cultures)}"
            )
        n = len(corpus.filter(culture=culture, split=config.split))
        if n < needed:
            raise ValueError(
                f"culture {culture!r} has {n} image(s) in split {config.split!r} of the corpus at {corpus.root}, "
                f"but batch_size={config.batch_size} x {world_size} process(es) needs at least {needed}; "
                "lower batch_size or add images"
            )
        counts[culture] = n
    return counts


# ----------------------------------------------------------------------------------------------------------
# history pool


class ImagePool:
    """History of up to `size` generated images (Shrivastava et al.): the discriminator sees a 50/50 mix of
    the newest fakes and older ones, which stabilises training. Draws from its own generator."""

    def __init__(self, size: int, seed: int = 0) -> None:
        self.size = size
        self.images: list[torch.Tensor] = []
        self.generator = torch.Generator().manual_seed(seed)

    def query(self, batch: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return batch
        out = []
        for image in batch.detach():
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif bool(torch.rand(1, generator=self.generator) > 0.5):
                k = int(torch.randint(0, self.size, (1,), generator=self.generator))
                out.append(self.images[k].clone())
                self.images[k] = image.clone()
            else:
                out.append(image)
        return torch.stack(out)

    def state_dict(self) -> dict:
        return {
            "size": self.size,
            "images": [img.cpu() for img in self.images],
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict, device: torch.device) -> None:
        self.size = int(state["size"])
        self.images = [img.to(device) for img in state["images"]]
        self.generator.set_state(state["generator"])


# ----------------------------------------------------------------------------------------------------------
# RNG state


def rng_state() -> dict:
    """Python, NumPy and torch (CPU and CUDA) global RNG states, in a form `torch.load(weights_only=True)` reads."""
    np_state = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# ----------------------------------------------------------------------------------------------------------
# checkpoints


def checkpoint_path(run_dir: str | Path, step: int) -> Path:
    return Path(run_dir) / CHECKPOINT_DIR / f"step_{step:08d}.pt"


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Checkpoint files of a run, newest (highest step) first."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    return sorted(folder.glob("step_*.pt"), reverse=True) if folder.exists() else []


def save_checkpoint(state: dict, path: Path) -> Path:
    """Write `state` atomically (temp file + rename), then its sha256 sidecar (also atomic)."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
        digest = sha256_file(tmp)
    atomic_write_text(path.with_name(path.name + ".sha256"), f"{digest}  {path.name}\n")
    return path


def _verify(path: Path) -> str | None:
    """None if `path` matches its sidecar, else the reason it is not trustworthy."""
    sidecar = path.with_name(path.name + ".sha256")
    if not sidecar.exists():
        return "its .sha256 sidecar is missing"
    expected = sidecar.read_text().split()[0] if sidecar.read_text().strip() else ""
    actual = sha256_file(path)
    if actual != expected:
        return f"sha256 {actual[:12]}... does not match the sidecar {expected[:12]}..."
    return None


def load_checkpoint(run_dir: str | Path, checkpoint: str | int | Path = "latest") -> tuple[dict, Path]:
    """Load a checkpoint of a run: "latest" (the newest intact one), a step number, or a file path.

    With "latest", a checkpoint whose sha256 does not match its sidecar, or that fails to load, is skipped
    with a warning and the previous one is used.
    """
    if checkpoint == "latest":
        candidates = list_checkpoints(run_dir)
        if not candidates:
            raise CheckpointError(f"no checkpoints in {Path(run_dir) / CHECKPOINT_DIR}")
    elif isinstance(checkpoint, int) or (isinstance(checkpoint, str) and checkpoint.isdigit()):
        candidates = [checkpoint_path(run_dir, int(checkpoint))]
    else:
        candidates = [Path(checkpoint)]
    problems = []
    for path in candidates:
        if not path.exists():
            problems.append(f"{path}: does not exist")
            continue
        reason = _verify(path)
        if reason is None:
            try:
                state = torch.load(path, map_location="cpu", weights_only=True)
                if state.get("format") != CHECKPOINT_FORMAT:
                    raise ValueError(f"unknown checkpoint format {state.get('format')!r}")
                if problems:
                    warnings.warn(
                        f"skipped corrupted checkpoint(s) ({'; '.join(problems)}); using {path}",
                        RuntimeWarning,
                        stacklevel=2,
                    )
                return state, path
            except Exception as error:  # noqa: BLE001 - any load failure means "corrupted"
                reason = f"cannot be loaded ({type(error).__name__}: {error})"
        problems.append(f"{path} {reason}")
        log.warning("checkpoint %s is not usable: %s", path, reason)
    raise CheckpointError("no intact checkpoint: " + "; ".join(problems))


# ----------------------------------------------------------------------------------------------------------
# distributed helpers


def _dist(device_type: str = "cpu") -> tuple[int, int]:
    """(rank, world size); initialises the process group (NCCL for CUDA, else gloo) under torchrun."""
    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def choose_run_dir(runs_dir: str | Path, name: str | None, config: TrainConfig) -> Path:
    """A new run directory under `runs_dir` (rank 0 picks it, other ranks receive it).

    With `name` the directory must not exist yet (never overwrite); without, the name is
    `<source>2<target>-<timestamp>`, suffixed to stay unique.
    """
    import torch.distributed as dist

    rank, world = _dist(default_device(config.device).type)
    chosen: list[Any] = [None]
    if rank == 0:
        if name:
            path = Path(runs_dir) / name
            if path.exists() and any(path.iterdir()):
                raise runs.OutputExistsError(
                    f"run {path} already exists; choose another --name, or continue it with --resume {path}"
                )
            path.mkdir(parents=True, exist_ok=True)
        else:
            path = runs.unique_dir(runs_dir, f"{config.source}2{config.target}-{runs.timestamp()}")
        chosen[0] = str(path)
    if world > 1:
        dist.broadcast_object_list(chosen, src=0)
    return Path(chosen[0])


# ----------------------------------------------------------------------------------------------------------
# the trainer


def _lr_factor(total: int, decay: int) -> Callable[[int], float]:
    """Constant learning rate, then linear decay to zero over the last `decay` steps."""

    def factor(step: int) -> float:
        if decay <= 0 or step < total - decay:
            return 1.0
        return max(0.0, (total - step) / decay)

    return factor


class Trainer:
    """Holds the networks, optimisers, pools and data of one run; `run()` trains to the configured step.

    `features` (optional) is the VGG feature extractor for the seed losses; by default
    `features.VGGFeatures` with the store's VGG19 is built when a Gram or content weight is non-zero.
    """

    def __init__(
        self,
        config: TrainConfig,
        corpus: Any,
        run_dir: str | Path,
        *,
        features_module: nn.Sequential | None = None,
    ) -> None:
        self.config = config.validate()
        self.corpus = corpus
        self.run_dir = Path(run_dir)
        self.device = default_device(config.device)
        self.rank, self.world_size = _dist(self.device.type)
        if self.world_size > 1 and self.device.type == "cuda":
            self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", self.rank)))
            torch.cuda.set_device(self.device)
        self.use_amp = bool(config.amp and self.device.type == "cuda")
        self.counts = _check_counts(corpus, config, self.world_size)

        seed_everything(config.seed)
        self.G_AB = ResnetGenerator(config.ngf, config.n_blocks).to(self.device)
        self.G_BA = ResnetGenerator(config.ngf, config.n_blocks).to(self.device)
        self.D_A = PatchDiscriminator(config.ndf, config.d_layers).to(self.device)
        self.D_B = PatchDiscriminator(config.ndf, config.d_layers).to(self.device)
        self.memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
        for net in self.nets.values():
            net.to(memory_format=self.memory_format)
        self.opt_G = torch.optim.Adam(
            list(self.G_AB.parameters()) + list(self.G_BA.parameters()),
            lr=config.lr,
            betas=(config.beta1, config.beta2),
        )
        self.opt_D = torch.optim.Adam(
            list(self.D_A.parameters()) + list(self.D_B.parameters()),
            lr=config.lr,
            betas=(config.beta1, config.beta2),
        )
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
        factor = _lr_factor(self.total_steps, self.decay_steps)
        self.sched_G = torch.optim.lr_scheduler.LambdaLR(self.opt_G, factor)
        self.sched_D = torch.optim.lr_scheduler.LambdaLR(self.opt_D, factor)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.phase_times: dict[str, float] | None = None  # set to {} to time the phases (benchmarks)
        self._phase_start = 0.0
        self.pool_A = ImagePool(config.pool_size, seed=_seed_from(config.seed, "pool_A", self.rank))
        self.pool_B = ImagePool(config.pool_size, seed=_seed_from(config.seed, "pool_B", self.rank))
        self.step = 0

        # DDP wraps the modules whose gradients are synchronised; the discriminators are called unwrapped
        # in the generator step (their parameters take no gradient there).
        self.train_G_AB, self.train_G_BA, self.train_D_A, self.train_D_B = (
            self.G_AB,
            self.G_BA,
            self.D_A,
            self.D_B,
        )
        if self.world_size > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.train_G_AB, self.train_G_BA, self.train_D_A, self.train_D_B = (
                DDP(net, device_ids=ids) for net in (self.G_AB, self.G_BA, self.D_A, self.D_B)
            )

        self.gram_A = self.gram_B = None
        self.features = None
        self.features_sha256: str | None = None
        if config.lambda_gram > 0 or config.lambda_content > 0:
            self._setup_seed_losses(features_module)

    @property
    def nets(self) -> dict[str, nn.Module]:
        return {"G_AB": self.G_AB, "G_BA": self.G_BA, "D_A": self.D_A, "D_B": self.D_B}

    # -- seed losses ------------------------------------------------------------------------------------
    def _setup_seed_losses(self, features_module: nn.Sequential | None) -> None:
        from ..features import VGGFeatures

        cfg = self.config
        layers = tuple(cfg.style_layers) + ((cfg.content_layer,) if cfg.lambda_content > 0 else ())
        self.features = VGGFeatures(
            layers, device=self.device, weights_module=features_module, channels_last=cfg.channels_last
        )
        self.features_sha256 = self.features.weights_sha256
        if cfg.lambda_gram > 0:
            style = VGGFeatures(cfg.style_layers, device=self.device, weights_module=features_module)
            self.gram_A = L.GramStyleLoss(
                culture_gram_targets(self.corpus, cfg.source, cfg, style), self.features
            )
            self.gram_B = L.GramStyleLoss(
                culture_gram_targets(self.corpus, cfg.target, cfg, style), self.features
            )
            self.gram_A.to(self.device)
            self.gram_B.to(self.device)

    # -- one step ---------------------------------------------------------------------------------------
    def _prepare(self, batch: torch.Tensor) -> torch.Tensor:
        x = batch.to(self.device, non_blocking=True).float().div_(127.5).sub_(1.0)
        return x.contiguous(memory_format=self.memory_format)

    def _mark(self, phase: str | None) -> None:
        """Benchmark hook: add the time since the previous mark to `phase` (no-op unless phase_times is set)."""
        if self.phase_times is None:
            return
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        now = time.perf_counter()
        if phase is not None:
            self.phase_times[phase] = self.phase_times.get(phase, 0.0) + now - self._phase_start
        self._phase_start = now

    def train_step(self, real_A: torch.Tensor, real_B: torch.Tensor) -> torch.Tensor:
        """One CycleGAN update of both generators then both discriminators; returns detached loss values."""
        self._mark(None)
        cfg = self.config
        n = real_A.shape[0]
        lam = cfg.lambda_cycle
        lam_idt = cfg.lambda_identity * cfg.lambda_cycle
        zero = torch.zeros((), device=self.device)
        autocast = torch.autocast(device_type=self.device.type, dtype=torch.float16, enabled=self.use_amp)

        for net in (self.D_A, self.D_B):
            net.requires_grad_(False)
        with autocast:
            if lam_idt > 0:  # one batched pass per generator gives the translation and the identity mapping
                fake_B, same_B = self.train_G_AB(torch.cat([real_A, real_B]), normalized=True).split(n)
                fake_A, same_A = self.train_G_BA(torch.cat([real_B, real_A]), normalized=True).split(n)
            else:
                fake_B = self.train_G_AB(real_A, normalized=True)
                fake_A = self.train_G_BA(real_B, normalized=True)
            rec_A = self.train_G_BA(fake_B, normalized=True)
            rec_B = self.train_G_AB(fake_A, normalized=True)
            g_gan_AB = L.adversarial_loss(
                self.D_B(fake_B, normalized=True), True, cfg.gan_mode, generator=True
            )
            g_gan_BA = L.adversarial_loss(
                self.D_A(fake_A, normalized=True), True, cfg.gan_mode, generator=True
            )
            cycle_A = lam * L.l1(rec_A, real_A)
            cycle_B = lam * L.l1(rec_B, real_B)
            if lam_idt > 0:
                idt_A = lam_idt * L.l1(same_A, real_A)
                idt_B = lam_idt * L.l1(same_B, real_B)
            else:
                idt_A = idt_B = zero
            gram = content = tv = zero
            if self.features is not None or cfg.lambda_tv > 0:
                gram, content, tv = self._seed_losses(real_A, real_B, fake_A, fake_B)
            loss_G = g_gan_AB + g_gan_BA + cycle_A + cycle_B + idt_A + idt_B + gram + content + tv
        self.opt_G.zero_grad(set_to_none=True)
        self.scaler.scale(loss_G).backward()
        self._mark("generators")
        self.scaler.step(self.opt_G)
        self._mark("optimiser")

        for net in (self.D_A, self.D_B):
            net.requires_grad_(True)
        pooled_B = self.pool_B.query(fake_B.detach())
        pooled_A = self.pool_A.query(fake_A.detach())
        with autocast:
            pred_real_B, pred_fake_B = self.train_D_B(
                torch.cat([real_B, pooled_B.to(real_B.dtype)]), normalized=True
            ).split(n)
            pred_real_A, pred_fake_A = self.train_D_A(
                torch.cat([real_A, pooled_A.to(real_A.dtype)]), normalized=True
            ).split(n)
            loss_D_B = 0.5 * (
                L.adversarial_loss(pred_real_B, True, cfg.gan_mode)
                + L.adversarial_loss(pred_fake_B, False, cfg.gan_mode)
            )
            loss_D_A = 0.5 * (
                L.adversarial_loss(pred_real_A, True, cfg.gan_mode)
                + L.adversarial_loss(pred_fake_A, False, cfg.gan_mode)
            )
        self.opt_D.zero_grad(set_to_none=True)
        self.scaler.scale(loss_D_A + loss_D_B).backward()
        self._mark("discriminators")
        self.scaler.step(self.opt_D)
        self.scaler.update()
        self.sched_G.step()
        self.sched_D.step()
        self._mark("optimiser")
        return (
            torch.stack(
                [
                    g_gan_AB,
                    g_gan_BA,
                    cycle_A,
                    cycle_B,
                    idt_A,
                    idt_B,
                    gram,
                    content,
                    tv,
                    loss_G,
                    loss_D_A,
                    loss_D_B,
                ]
            )
            .detach()
            .float()
        )

    def _seed_losses(self, real_A, real_B, fake_A, fake_B) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        cfg = self.config
        zero = torch.zeros((), device=self.device)
        fakes = to_unit(torch.cat([fake_B, fake_A])).float()  # VGG expects [0, 1]
        gram = content = zero
        tv = cfg.lambda_tv * L.total_variation(fakes) if cfg.lambda_tv > 0 else zero
        if self.features is not None:
            with torch.autocast(device_type=self.device.type, enabled=False):
                acts = self.features(fakes)
                if cfg.lambda_gram > 0:
                    n = fake_B.shape[0]
                    acts_B = {k: v[:n] for k, v in acts.items()}
                    acts_A = {k: v[n:] for k, v in acts.items()}
                    gram = cfg.lambda_gram * (
                        self.gram_B.from_activations(acts_B) + self.gram_A.from_activations(acts_A)
                    )
                if cfg.lambda_content > 0:
                    with torch.no_grad():
                        source = self.features(to_unit(torch.cat([real_A, real_B])).float())[
                            cfg.content_layer
                        ]
                    content = cfg.lambda_content * L.content_loss(acts[cfg.content_layer], source)
        return gram, content, tv

    # -- state ------------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything needed to continue bit-for-bit (per-rank pools and RNG states gathered from all ranks)."""
        rank_state = {
            "pool_A": self.pool_A.state_dict(),
            "pool_B": self.pool_B.state_dict(),
            "rng": rng_state(),
        }
        ranks = [rank_state]
        if self.world_size > 1:
            import torch.distributed as dist

            ranks = [None] * self.world_size
            dist.all_gather_object(ranks, rank_state)
        return {
            "format": CHECKPOINT_FORMAT,
            "step": self.step,
            "total_steps": self.total_steps,
            "config": dataclasses.asdict(self.config) | {"style_layers": list(self.config.style_layers)},
            "package_version": __version__,
            "models": {name: net.state_dict() for name, net in self.nets.items()},
            "optimizers": {"G": self.opt_G.state_dict(), "D": self.opt_D.state_dict()},
            "schedulers": {"G": self.sched_G.state_dict(), "D": self.sched_D.state_dict()},
            "scaler": self.scaler.state_dict(),
            "data": {
                "seed": self.data.seed,
                "steps_per_epoch": self.data.steps_per_epoch,
                "next_step": self.step,
            },
            "ranks": ranks,
            "world_size": self.world_size,
        }

    def load_state_dict(self, state: dict) -> None:
        for name, net in self.nets.items():
            net.load_state_dict(state["models"][name])
        self.opt_G.load_state_dict(state["optimizers"]["G"])
        self.opt_D.load_state_dict(state["optimizers"]["D"])
        self.sched_G.load_state_dict(state["schedulers"]["G"])
        self.sched_D.load_state_dict(state["schedulers"]["D"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        ranks = state["ranks"]
        if len(ranks) != self.world_size:
            warnings.warn(
                f"checkpoint was written by {len(ranks)} process(es), resuming with {self.world_size}: "
                "history pools and RNG states restart, so the run is not an exact continuation",
                RuntimeWarning,
                stacklevel=2,
            )
            return
        mine = ranks[self.rank]
        self.pool_A.load_state_dict(mine["pool_A"], self.device)
        self.pool_B.load_state_dict(mine["pool_B"], self.device)
        set_rng_state(mine["rng"])

    # -- outputs ----------------------------------------------------------------------------------------
    def _sample_sets(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Fixed images for the sample grids: the first `n_samples` of each culture's test split (else train)."""
        from ..images import ImageCache

        cache = ImageCache()
        out = []
        for culture in (self.config.source, self.config.target):
            sub = self.corpus.filter(culture=culture, split="test")
            if len(sub) == 0:
                sub = self.corpus.filter(culture=culture, split=self.config.split)
            rows = sub.df.sort_values("image_id").head(self.config.n_samples)
            imgs = []
            for _, row in rows.iterrows():
                img = cache.get(sub.abspath(row), row["sha256"], self.config.size)
                h, w = img.shape[-2:]
                top, left = (h - self.config.size) // 2, (w - self.config.size) // 2
                imgs.append(img[:, top : top + self.config.size, left : left + self.config.size])
            out.append(torch.stack(imgs))
        return out[0], out[1]

    @torch.no_grad()
    def write_samples(self, fixed: tuple[torch.Tensor, torch.Tensor], writer: Any = None) -> None:
        """Grids with one row per fixed image: source | translation | reconstruction, for each direction."""
        from torchvision.utils import make_grid

        from ..images import save_image

        folder = self.run_dir / SAMPLES_DIR
        for direction, batch, forward, backward in (
            ("A2B", fixed[0], self.G_AB, self.G_BA),
            ("B2A", fixed[1], self.G_BA, self.G_AB),
        ):
            x = self._prepare(batch)
            y = forward(x, normalized=True)
            z = backward(y, normalized=True)
            rows = torch.stack([x, y, z], dim=1).flatten(0, 1).float()
            grid = make_grid(to_unit(rows).clamp(0, 1).cpu(), nrow=3, padding=2, pad_value=1.0)
            save_image(grid, folder / f"step_{self.step:08d}_{direction}.png")
            if writer is not None:
                writer.add_image(f"samples/{direction}", grid, self.step)

    def save(self) -> Path:
        state = self.state_dict()  # every rank takes part in the gather
        path = checkpoint_path(self.run_dir, self.step)
        if self.rank == 0:
            save_checkpoint(state, path)
            keep = self.config.keep_checkpoints
            if keep > 0:
                for old in list_checkpoints(self.run_dir)[max(keep, 2) :]:
                    old.unlink(missing_ok=True)
                    old.with_name(old.name + ".sha256").unlink(missing_ok=True)
        self._barrier()
        return path

    def _barrier(self) -> None:
        if self.world_size > 1:
            import torch.distributed as dist

            dist.barrier()

    # -- the loop ---------------------------------------------------------------------------------------
    def run(self, stop_after: int | None = None) -> int:
        """Train from `self.step` to the configured total; returns the last completed step.

        `stop_after` ends the session after that global step without a final checkpoint, as a crash would
        (tests use it to check resume). Ctrl-C finishes the current step, saves a checkpoint and stops.
        """
        cfg = self.config
        main = self.rank == 0
        writer = None
        csv_handle = None
        if main:
            (self.run_dir / SAMPLES_DIR).mkdir(parents=True, exist_ok=True)
            csv_handle = _open_losses_csv(self.run_dir / LOSSES_NAME, self.step)
            if cfg.tensorboard:
                from torch.utils.tensorboard import SummaryWriter

                writer = SummaryWriter(
                    str(self.run_dir / "tb"), purge_step=self.step + 1 if self.step else None
                )
        fixed = self._sample_sets() if main else None
        interrupted = {"flag": False}
        previous_handler = None
        if self.world_size == 1 and _in_main_thread():
            previous_handler = signal.signal(signal.SIGINT, lambda *_: interrupted.__setitem__("flag", True))

        from tqdm.auto import tqdm

        bar = tqdm(
            total=self.total_steps,
            initial=self.step,
            disable=not (main and cfg.progress),
            desc=f"{cfg.source}<->{cfg.target}",
            unit="step",
            dynamic_ncols=True,
        )
        pending: list[torch.Tensor] = []
        pending_steps: list[int] = []
        pending_lr: list[float] = []
        tick, tick_step = time.perf_counter(), self.step
        for net in self.nets.values():
            net.train()
        try:
            while self.step < self.total_steps:
                a, b = self.data.batch(self.step)
                pending_lr.append(self.opt_G.param_groups[0]["lr"])  # the rate this step uses
                values = self.train_step(self._prepare(a), self._prepare(b))
                self.step += 1
                pending.append(values)
                pending_steps.append(self.step)
                bar.update(1)
                last = self.step == self.total_steps
                if main and (self.step % cfg.log_every == 0 or last or interrupted["flag"]):
                    now = time.perf_counter()
                    rate = (
                        2 * cfg.batch_size * self.world_size * (self.step - tick_step) / max(now - tick, 1e-9)
                    )
                    tick, tick_step = now, self.step
                    rows = torch.stack(pending).cpu().tolist()  # one device sync per log interval
                    _log_rows(csv_handle, writer, pending_steps, rows, pending_lr, rate)
                    mean = np.mean(rows, axis=0)
                    bar.set_postfix(
                        G=f"{mean[LOSS_NAMES.index('G_total')]:.3f}",
                        cyc=f"{mean[2] + mean[3]:.3f}",
                        D=f"{mean[10] + mean[11]:.3f}",
                        img_s=f"{rate:.1f}",
                    )
                    for buffer in (pending, pending_steps, pending_lr):
                        buffer.clear()
                elif not main:
                    for buffer in (pending, pending_steps, pending_lr):
                        buffer.clear()
                if main and (self.step % cfg.sample_every == 0 or last):
                    self.write_samples(fixed, writer)
                if self.step % cfg.checkpoint_every == 0 or last or interrupted["flag"]:
                    self.save()
                if interrupted["flag"]:
                    log.warning("interrupted at step %d; checkpoint saved in %s", self.step, self.run_dir)
                    break
                if stop_after is not None and self.step >= stop_after:
                    break
        finally:
            bar.close()
            if previous_handler is not None:
                signal.signal(signal.SIGINT, previous_handler)
            if csv_handle is not None:
                csv_handle.close()
            if writer is not None:
                writer.close()
        if interrupted["flag"]:
            raise KeyboardInterrupt(
                f"training interrupted at step {self.step}; resume with: culturalstyle train --resume {self.run_dir}"
            )
        return self.step


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _open_losses_csv(path: Path, resume_step: int):
    """Open losses.csv for appending; on resume, rows after the checkpoint's step (lost work) are dropped."""
    header = ["step", *LOSS_NAMES, "lr", "images_per_s"]
    if path.exists() and resume_step > 0:
        with open(path, newline="") as handle:
            rows = list(csv.reader(handle))
        kept = [rows[0]] + [r for r in rows[1:] if r and int(r[0]) <= resume_step]
        with atomic_path(path) as tmp, open(tmp, "w", newline="") as out:
            csv.writer(out).writerows(kept)
    elif path.exists() and path.stat().st_size > 0:
        raise runs.OutputExistsError(f"{path} already exists; refusing to overwrite a run's losses")
    new = not path.exists()
    handle = open(path, "a", newline="")  # noqa: SIM115 - closed by the training loop
    if new:
        csv.writer(handle).writerow(header)
    return handle


def _log_rows(
    handle, writer, steps: list[int], rows: list[list[float]], lrs: list[float], rate: float
) -> None:
    out = csv.writer(handle)
    for step, row, lr in zip(steps, rows, lrs):
        out.writerow(
            [step, *(f"{v:.6g}" for v in row), f"{lr:.6g}", f"{rate:.3f}" if step == steps[-1] else ""]
        )
        if writer is not None:
            for name, value in zip(LOSS_NAMES, row):
                writer.add_scalar(f"loss/{name}", value, step)
            writer.add_scalar("lr", lr, step)
    handle.flush()
    if writer is not None:
        writer.add_scalar("images_per_s", rate, steps[-1])
    bad = [LOSS_NAMES[i] for i, v in enumerate(rows[-1]) if not math.isfinite(v)]
    if bad:
        raise FloatingPointError(f"non-finite loss(es) {bad} at step {steps[-1]}")


# ----------------------------------------------------------------------------------------------------------
# Gram targets per culture (cached)


def culture_gram_targets(
    corpus: Any, culture: str, config: TrainConfig, features: nn.Module
) -> dict[str, torch.Tensor]:
    """Mean Gram matrix per style layer over a culture's training images (centre crops at `config.size`).

    Computed once and cached under `cache_dir("targets")`, keyed by the images' sha256, the size, the
    layers and the feature weights' sha256 (never by paths).
    """
    from ..images import ImageCache

    sub = corpus.filter(culture=culture, split=config.split).df.sort_values("sha256")
    key = stable_hash(
        {
            "kind": "gram-targets",
            "images": sub["sha256"].tolist(),
            "size": config.size,
            "layers": list(config.style_layers),
            "weights": features.weights_sha256,
            "normalize": "positions",
        }
    )
    path = cache_dir("targets") / f"gram-{key}.pt"
    if path.exists():
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001 - an unreadable cache entry is rebuilt
            pass
    cache = ImageCache()
    size = config.size

    def batches():
        chunk = []
        for _, row in sub.iterrows():
            img = cache.get(corpus.abspath(row), row["sha256"], size)
            h, w = img.shape[-2:]
            top, left = (h - size) // 2, (w - size) // 2
            chunk.append(img[:, top : top + size, left : left + size].float() / 255.0)
            if len(chunk) == 8:
                yield torch.stack(chunk).to(features.device)
                chunk = []
        if chunk:
            yield torch.stack(chunk).to(features.device)

    targets = L.mean_gram(batches(), features, list(config.style_layers))
    with atomic_path(path) as tmp:
        torch.save(targets, tmp)
    return targets


# ----------------------------------------------------------------------------------------------------------
# public entry points


def _corpus_inputs(corpus: Any, counts: dict[str, int]) -> dict[str, Any]:
    return {
        "corpus": str(Path(corpus.root).resolve()),
        "corpus_manifest_hash": corpus.manifest_hash(),
        "training_images": counts,
    }


def train(
    config: TrainConfig,
    corpus: Any,
    run_dir: str | Path,
    *,
    stop_after: int | None = None,
    features_module: nn.Sequential | None = None,
) -> Path:
    """Train a translator source (A) <-> target (B) on `corpus` into the new directory `run_dir`.

    `corpus` is a Corpus or the path of one. `run_dir` must not exist or be empty (runs are never
    overwritten; use `resume` to continue one). Returns `run_dir`. Works unchanged under `torchrun`
    (DistributedDataParallel, one process per device).
    """
    if isinstance(corpus, (str, os.PathLike)):
        from ..corpus import Corpus

        corpus = Corpus.load(corpus)
    config = config.validate()
    rank, world = _dist(default_device(config.device).type)
    run_dir = Path(run_dir)
    if rank == 0:
        if run_dir.exists() and any(run_dir.iterdir()):
            raise runs.OutputExistsError(
                f"run directory {run_dir} already exists and is not empty; choose a new name, or continue it "
                f"with resume({str(run_dir)!r}) / culturalstyle train --resume {run_dir}"
            )
    trainer = Trainer(config, corpus, run_dir, features_module=features_module)
    if rank == 0:
        runs.new_output_dir(run_dir)
        config.save(run_dir / CONFIG_NAME)
        runs.write_record(
            run_dir,
            kind="translator-training",
            config=config,
            seed=config.seed,
            inputs=_corpus_inputs(corpus, trainer.counts),
            weights={trainer.features.weights_name: trainer.features_sha256}
            if trainer.features is not None
            else {},
            extra={
                "package_version": __version__,
                "world_size": world,
                "device": str(trainer.device),
                "amp": trainer.use_amp,
                "total_steps": trainer.total_steps,
                "decay_steps": trainer.decay_steps,
                "steps_per_epoch": trainer.data.steps_per_epoch,
            },
        )
    trainer._barrier()
    trainer.run(stop_after=stop_after)
    return run_dir


def resume(
    run_dir: str | Path,
    *,
    corpus: Any = None,
    checkpoint: str | int = "latest",
    stop_after: int | None = None,
    features_module: nn.Sequential | None = None,
) -> Path:
    """Continue an interrupted run from its newest intact checkpoint (or `checkpoint`) to its last step.

    The corpus is reloaded from the path in the run record unless given; its manifest hash must match.
    """
    from ..corpus import Corpus

    run_dir = Path(run_dir)
    if not (run_dir / CONFIG_NAME).exists():
        raise FileNotFoundError(f"{run_dir} is not a training run (no {CONFIG_NAME})")
    config = TrainConfig.load(run_dir / CONFIG_NAME)
    record = runs.read_record(run_dir)
    if corpus is None:
        corpus = Corpus.load(record["inputs"]["corpus"])
    expected = record["inputs"].get("corpus_manifest_hash")
    if expected and corpus.manifest_hash() != expected:
        raise ValueError(
            f"the corpus at {corpus.root} changed since run {run_dir} started (manifest hash "
            f"{corpus.manifest_hash()[:12]} != {expected[:12]}); resuming would not continue the same run"
        )
    trainer = Trainer(config, corpus, run_dir, features_module=features_module)
    state, path = load_checkpoint(run_dir, checkpoint)
    trainer.load_state_dict(state)
    if trainer.rank == 0:
        runs.write_record(
            run_dir,
            kind="translator-resume",
            config=config,
            seed=config.seed,
            inputs=_corpus_inputs(corpus, trainer.counts),
            extra={"checkpoint": path.name, "from_step": trainer.step, "world_size": trainer.world_size},
            name=f"resume_{trainer.step:08d}_{runs.timestamp()}.json",
        )
    if trainer.step >= trainer.total_steps:
        log.info("run %s is already complete (step %d)", run_dir, trainer.step)
        return run_dir
    trainer.run(stop_after=stop_after)
    return run_dir
