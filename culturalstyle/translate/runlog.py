"""The run's tables: `losses.csv` (one row per step, columns from the model's loss names) and `metrics.csv`
(one row per evaluation during training), mirrored to TensorBoard.

Losses are accumulated on the device and brought to the host once per `log_every` steps; `flush()` writes
the pending rows and fsyncs the file, and the engine calls it before every checkpoint, so a kill -9 after a
checkpoint never leaves a gap: resume drops the rows after the checkpoint's step and writes them again.
"""

from __future__ import annotations

import csv
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from .. import runs
from ..cache import atomic_path

LOSSES_NAME = "losses.csv"
METRICS_NAME = "metrics.csv"
METRIC_COLUMNS = (
    "step",
    "fid",
    "kid",
    "kid_ci_low",
    "kid_ci_high",
    "n_generated",
    "n_reference",
    "best",
    "seconds",
)


def open_table(path: Path, header: Sequence[str], resume_step: int):
    """Open a per-step CSV for appending; on resume, rows after `resume_step` (lost work) are dropped.

    A fresh run refuses an existing non-empty file; a resumed one refuses a file whose header differs (the
    run's method or its loss names changed).
    """
    header = list(header)
    if path.exists() and resume_step > 0:
        with open(path, newline="") as handle:
            rows = list(csv.reader(handle))
        if rows and rows[0] != header:
            raise ValueError(
                f"{path} has columns {rows[0]} but this run logs {header}; it belongs to another method "
                "or version, refusing to mix them"
            )
        kept = [header] + [r for r in rows[1:] if r and int(r[0]) <= resume_step]
        with atomic_path(path) as tmp, open(tmp, "w", newline="") as out:
            csv.writer(out).writerows(kept)
    elif path.exists() and path.stat().st_size > 0:
        raise runs.OutputExistsError(f"{path} already exists; refusing to overwrite a run's log")
    new = not path.exists()
    handle = open(path, "a", newline="")  # noqa: SIM115 - closed by LossLog / MetricsLog
    if new:
        csv.writer(handle).writerow(header)
        handle.flush()
    return handle


def _sync(handle) -> None:
    handle.flush()
    os.fsync(handle.fileno())


class LossLog:
    """Pending per-step losses, written to losses.csv (and TensorBoard) at each log interval and checkpoint."""

    def __init__(
        self, run_dir: Path, loss_names: Sequence[str], resume_step: int, writer: Any = None
    ) -> None:
        self.names = list(loss_names)
        self.handle = open_table(
            run_dir / LOSSES_NAME, ["step", *self.names, "lr", "images_per_s"], resume_step
        )
        self.writer = writer
        self.values: list[torch.Tensor] = []
        self.steps: list[int] = []
        self.lrs: list[float] = []
        self.tick, self.tick_step = time.perf_counter(), resume_step

    def add(self, step: int, values: torch.Tensor, lr: float) -> None:
        self.values.append(values)
        self.steps.append(step)
        self.lrs.append(lr)

    def flush(self, images_per_step: int) -> dict[str, float] | None:
        """Write the pending rows, fsync; returns the mean of each loss over them (None when none pending)."""
        if not self.steps:
            return None
        now = time.perf_counter()
        rate = images_per_step * (self.steps[-1] - self.tick_step) / max(now - self.tick, 1e-9)
        self.tick, self.tick_step = now, self.steps[-1]
        rows = torch.stack(self.values).cpu().tolist()  # one device sync per flush
        out = csv.writer(self.handle)
        for step, row, lr in zip(self.steps, rows, self.lrs):
            out.writerow(
                [
                    step,
                    *(f"{v:.6g}" for v in row),
                    f"{lr:.6g}",
                    f"{rate:.3f}" if step == self.steps[-1] else "",
                ]
            )
            if self.writer is not None:
                for name, value in zip(self.names, row):
                    self.writer.add_scalar(f"loss/{name}", value, step)
                self.writer.add_scalar("lr", lr, step)
        _sync(self.handle)
        if self.writer is not None:
            self.writer.add_scalar("images_per_s", rate, self.steps[-1])
        last_step = self.steps[-1]
        self.values, self.steps, self.lrs = [], [], []
        bad = [self.names[i] for i, v in enumerate(rows[-1]) if not math.isfinite(v)]
        if bad:
            raise FloatingPointError(f"non-finite loss(es) {bad} at step {last_step}")
        means = [sum(col) / len(col) for col in zip(*rows)]
        return dict(zip(self.names, means)) | {"images_per_s": rate}

    def drop(self) -> None:
        """Forget the pending rows (non-zero ranks, which do not write)."""
        self.values, self.steps, self.lrs = [], [], []

    def close(self) -> None:
        self.handle.close()


class MetricsLog:
    """metrics.csv: step, FID, KID (with its interval), set sizes, whether it is the best so far, seconds."""

    def __init__(self, run_dir: Path, resume_step: int, writer: Any = None) -> None:
        self.handle = open_table(run_dir / METRICS_NAME, METRIC_COLUMNS, resume_step)
        self.writer = writer

    def write(self, step: int, result: dict[str, float], best: bool) -> None:
        row = [step] + [f"{result[k]:.6g}" for k in ("fid", "kid", "kid_ci_low", "kid_ci_high")]
        row += [int(result["n_generated"]), int(result["n_reference"]), int(best), f"{result['seconds']:.2f}"]
        csv.writer(self.handle).writerow(row)
        _sync(self.handle)
        if self.writer is not None:
            self.writer.add_scalar("eval/fid", result["fid"], step)
            self.writer.add_scalar("eval/kid", result["kid"], step)

    def close(self) -> None:
        self.handle.close()
