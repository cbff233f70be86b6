"""Public entry points of translator training: `train(config, corpus, run_dir)` and `resume(run_dir)`.

A run directory holds `config.yaml`, `run_record.json` (seed, versions, corpus manifest hash), `losses.csv`
(one row per step, one column per loss of the model), `metrics.csv` (evaluation during training),
TensorBoard events (`tb/`), sample grids (`samples/`) and checkpoints (`checkpoints/step_XXXXXXXX.pt` and
`checkpoints/best.pt`, each with a `.sha256` sidecar). Runs are never overwritten: `train` refuses a
non-empty directory and `resume` continues one from its newest intact checkpoint. The loop itself is
`engine.Engine`; the methods are `models.TRANSLATORS`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from torch import nn

from .. import __version__, runs
from ..cache import sha256_file
from ..device import default_device
from .checkpoints import (
    CHECKPOINT_DIR,
    CHECKPOINT_FORMAT,
    CheckpointError,
    best_path,
    checkpoint_path,
    list_checkpoints,
    load_checkpoint,
    read_best_info,
    save_checkpoint,
)
from .config import TrainConfig
from .engine import SAMPLES_DIR, Engine, dist_info
from .models import TRANSLATORS
from .runlog import LOSSES_NAME, METRICS_NAME
from .sampling import ImagePool, UnpairedBatches
from .seed_losses import culture_gram_targets

log = logging.getLogger(__name__)

CONFIG_NAME = "config.yaml"


def loss_names(method: str) -> tuple[str, ...]:
    """The losses.csv columns (after `step`) of a method, before `lr` and `images_per_s`."""
    return TRANSLATORS[method].loss_names


def choose_run_dir(runs_dir: str | Path, name: str | None, config: TrainConfig) -> Path:
    """A new run directory under `runs_dir` (rank 0 picks it, other ranks receive it).

    With `name` the directory must not exist yet (never overwrite); without, the name is
    `<source>2<target>-<timestamp>`, suffixed to stay unique.
    """
    import torch.distributed as dist

    rank, world = dist_info(default_device(config.device).type)
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
    eval_extractor: Any = None,
) -> Path:
    """Train a translator source (A) -> target (B) (both ways for CycleGAN) on `corpus` into `run_dir`.

    `corpus` is a Corpus or the path of one. `run_dir` must not exist or be empty (runs are never
    overwritten; use `resume` to continue one). Returns `run_dir`. Works unchanged under `torchrun`
    (DistributedDataParallel, one process per device).
    """
    if isinstance(corpus, (str, os.PathLike)):
        from ..corpus import Corpus

        corpus = Corpus.load(corpus)
    config = config.validate()
    rank, world = dist_info(default_device(config.device).type)
    run_dir = Path(run_dir)
    if rank == 0 and run_dir.exists() and any(run_dir.iterdir()):
        raise runs.OutputExistsError(
            f"run directory {run_dir} already exists and is not empty; choose a new name, or continue it "
            f"with resume({str(run_dir)!r}) / culturalstyle train --resume {run_dir}"
        )
    engine = Engine(config, corpus, run_dir, features_module=features_module, eval_extractor=eval_extractor)
    if rank == 0:
        runs.new_output_dir(run_dir)
        config.save(run_dir / CONFIG_NAME)
        runs.write_record(
            run_dir,
            kind="translator-training",
            config=config,
            seed=config.seed,
            inputs=_corpus_inputs(corpus, engine.counts),
            weights=engine.weights_record,
            extra={
                "package_version": __version__,
                "method": config.method,
                "method_settings": engine.model.hyperparameters(),
                "world_size": world,
                "device": str(engine.device),
                "amp": engine.use_amp,
                "total_steps": engine.total_steps,
                "decay_steps": engine.decay_steps,
                "steps_per_epoch": engine.data.steps_per_epoch,
            },
        )
    engine.barrier()
    engine.run(stop_after=stop_after)
    _record_stop(engine)
    return run_dir


def _record_stop(engine: Engine) -> None:
    if engine.stop_reason and engine.rank == 0:
        runs.write_record(
            engine.run_dir,
            kind="translator-stop",
            config=engine.config,
            seed=engine.config.seed,
            extra={"step": engine.step, "reason": engine.stop_reason, "total_steps": engine.total_steps},
            name=f"stopped_{engine.step:08d}_{runs.timestamp()}.json",
        )


def resume(
    run_dir: str | Path,
    *,
    corpus: Any = None,
    checkpoint: str | int = "last",
    stop_after: int | None = None,
    features_module: nn.Sequential | None = None,
    eval_extractor: Any = None,
    time_budget_s: float | None = None,
) -> Path:
    """Continue an interrupted run from its newest intact checkpoint (or `checkpoint`) to its last step.

    The corpus is reloaded from the path in the run record unless given; its manifest hash must match.
    `time_budget_s` gives this session a budget (the saved config's clock; default: the saved budget).
    """
    import dataclasses

    from ..corpus import Corpus

    run_dir = Path(run_dir)
    if not (run_dir / CONFIG_NAME).exists():
        raise FileNotFoundError(f"{run_dir} is not a training run (no {CONFIG_NAME})")
    config = TrainConfig.load(run_dir / CONFIG_NAME)
    if time_budget_s is not None:
        config = dataclasses.replace(config, time_budget_s=time_budget_s).validate()
    record = runs.read_record(run_dir)
    if corpus is None:
        corpus = Corpus.load(record["inputs"]["corpus"])
    expected = record["inputs"].get("corpus_manifest_hash")
    if expected and corpus.manifest_hash() != expected:
        raise ValueError(
            f"the corpus at {corpus.root} changed since run {run_dir} started (manifest hash "
            f"{corpus.manifest_hash()[:12]} != {expected[:12]}); resuming would not continue the same run"
        )
    engine = Engine(config, corpus, run_dir, features_module=features_module, eval_extractor=eval_extractor)
    state, path = load_checkpoint(run_dir, checkpoint)
    engine.load_state_dict(state)
    if engine.rank == 0:
        runs.write_record(
            run_dir,
            kind="translator-resume",
            config=config,
            seed=config.seed,
            inputs=_corpus_inputs(corpus, engine.counts),
            extra={"checkpoint": path.name, "from_step": engine.step, "world_size": engine.world_size},
            name=f"resume_{engine.step:08d}_{runs.timestamp()}.json",
        )
    if engine.step >= engine.total_steps:
        log.info("run %s is already complete (step %d)", run_dir, engine.step)
        return run_dir
    engine.run(stop_after=stop_after)
    _record_stop(engine)
    return run_dir


__all__ = [
    "CHECKPOINT_DIR",
    "CHECKPOINT_FORMAT",
    "CONFIG_NAME",
    "LOSSES_NAME",
    "METRICS_NAME",
    "SAMPLES_DIR",
    "CheckpointError",
    "Engine",
    "ImagePool",
    "TrainConfig",
    "UnpairedBatches",
    "best_path",
    "checkpoint_path",
    "choose_run_dir",
    "culture_gram_targets",
    "list_checkpoints",
    "load_checkpoint",
    "loss_names",
    "read_best_info",
    "resume",
    "save_checkpoint",
    "sha256_file",
    "train",
]
