"""Checkpoint files of a run: atomic writes with a sha256 sidecar, fallback to the previous intact one,
the `best` checkpoint (lowest FID during training), and the global RNG states they carry.

Layout: `checkpoints/step_XXXXXXXX.pt` (+ `.sha256`), newest first by step; `checkpoints/best.pt`
(+ `.sha256`) with `best.json` saying which step it is and its FID.
"""

from __future__ import annotations

import json
import logging
import random
import warnings
from pathlib import Path

import numpy as np
import torch

from ..cache import atomic_path, atomic_write_text, sha256_file

log = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoints"
CHECKPOINT_FORMAT = 1
BEST_NAME = "best.pt"
BEST_INFO = "best.json"
LAST_ALIASES = ("last", "latest")


class CheckpointError(RuntimeError):
    """No intact checkpoint could be loaded."""


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
# files


def checkpoint_path(run_dir: str | Path, step: int) -> Path:
    return Path(run_dir) / CHECKPOINT_DIR / f"step_{step:08d}.pt"


def best_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / CHECKPOINT_DIR / BEST_NAME


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Step checkpoint files of a run, newest (highest step) first (`best.pt` is not among them)."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    return sorted(folder.glob("step_*.pt"), reverse=True) if folder.exists() else []


def sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def save_checkpoint(state: dict, path: Path) -> Path:
    """Write `state` atomically (temp file + rename), then its sha256 sidecar (also atomic)."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
        digest = sha256_file(tmp)
    atomic_write_text(sidecar(path), f"{digest}  {path.name}\n")
    return path


def remove_checkpoint(path: Path) -> None:
    path.unlink(missing_ok=True)
    sidecar(path).unlink(missing_ok=True)


def verify(path: Path) -> str | None:
    """None if `path` matches its sidecar, else the reason it is not trustworthy."""
    side = sidecar(path)
    if not side.exists():
        return "its .sha256 sidecar is missing"
    text = side.read_text()
    expected = text.split()[0] if text.strip() else ""
    actual = sha256_file(path)
    if actual != expected:
        return f"sha256 {actual[:12]}... does not match the sidecar {expected[:12]}..."
    return None


def read_best_info(run_dir: str | Path) -> dict | None:
    """The `best.json` of a run (step, fid, kid, ...), or None when the run has no best checkpoint."""
    path = Path(run_dir) / CHECKPOINT_DIR / BEST_INFO
    if not path.exists():
        return None
    return json.loads(path.read_text())


def write_best_info(run_dir: str | Path, info: dict) -> None:
    atomic_write_text(Path(run_dir) / CHECKPOINT_DIR / BEST_INFO, json.dumps(info, indent=2) + "\n")


def _candidates(run_dir: str | Path, checkpoint: str | int | Path) -> list[Path]:
    if isinstance(checkpoint, str) and checkpoint in LAST_ALIASES:
        candidates = list_checkpoints(run_dir)
        if not candidates:
            raise CheckpointError(f"no checkpoints in {Path(run_dir) / CHECKPOINT_DIR}")
        return candidates
    if checkpoint == "best":
        path = best_path(run_dir)
        if not path.exists():
            raise CheckpointError(
                f"run {run_dir} has no best checkpoint ({path}): it is written by evaluation during "
                "training (eval_every > 0, needs the inception-fid weights); use --checkpoint last"
            )
        return [path]
    if isinstance(checkpoint, int) or (isinstance(checkpoint, str) and checkpoint.isdigit()):
        return [checkpoint_path(run_dir, int(checkpoint))]
    if isinstance(checkpoint, str) and not Path(checkpoint).suffix:
        raise CheckpointError(f"unknown checkpoint {checkpoint!r}: use best, last or a step number")
    return [Path(checkpoint)]


def load_checkpoint(run_dir: str | Path, checkpoint: str | int | Path = "last") -> tuple[dict, Path]:
    """Load a checkpoint of a run: "last"/"latest" (the newest intact one), "best", a step, or a file path.

    With "last", a checkpoint whose sha256 does not match its sidecar, or that fails to load, is skipped
    with a warning and the previous one is used. Any other choice must itself be intact.
    """
    problems = []
    for path in _candidates(run_dir, checkpoint):
        if not path.exists():
            problems.append(f"{path}: does not exist")
            continue
        reason = verify(path)
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
