"""Export a trained translator as a small self-contained directory that `translate` can apply.

    <out>/translator.json        method, cultures, directions -> weight files + sha256, which checkpoint
                                 (name, step, its FID/KID when evaluated), dtype
    <out>/generator_A2B.pt       generator state_dict (fp16 with `fp16=True`) + .sha256 sidecar
                                 (CycleGAN also generator_B2A.pt)
    <out>/config.yaml            the run's TrainConfig
    <out>/run_record.json        the export's record (the training run's record is kept as training_record.json)
    <out>/losses.csv, metrics.csv, training_curves.png, COMMAND.md (the command that trains it again)
    <out>/samples/step_*.png     the run's sample grids over training

Only generator weights are exported: no discriminator, optimiser or training state.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import torch

from .. import runs
from ..cache import atomic_path, atomic_write_text, sha256_file
from .checkpoints import load_checkpoint, read_best_info
from .config import TrainConfig
from .models import translator_class

EXPORT_INFO = "translator.json"
EXPORT_FORMAT = 1


def is_exported(path: str | Path) -> bool:
    return (Path(path) / EXPORT_INFO).exists()


def read_export_info(path: str | Path) -> dict:
    return json.loads((Path(path) / EXPORT_INFO).read_text())


def _evaluation_at(run_dir: Path, step: int) -> dict[str, Any] | None:
    """The metrics.csv row of `step` (FID/KID during training), if that step was evaluated."""
    path = run_dir / "metrics.csv"
    if not path.exists():
        return None
    for row in csv.DictReader(open(path, newline="")):
        if int(row["step"]) == step:
            return {k: float(row[k]) for k in ("fid", "kid", "kid_ci_low", "kid_ci_high")} | {
                "n_generated": int(row["n_generated"]),
                "n_reference": int(row["n_reference"]),
            }
    return None


def training_curves(run_dir: Path, path: Path, smooth: int = 50) -> Path:
    """A PNG of the run's losses (rolling means) and, when evaluated, FID/KID over steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    losses = pd.read_csv(run_dir / "losses.csv")
    metrics = pd.read_csv(run_dir / "metrics.csv") if (run_dir / "metrics.csv").exists() else None
    columns = [
        c for c in losses.columns if c not in ("step", "lr", "images_per_s") and losses[c].abs().sum() > 0
    ]
    panels = 1 + (metrics is not None and len(metrics) > 0)
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 3.6), squeeze=False)
    ax = axes[0][0]
    window = max(1, min(smooth, len(losses) // 10 or 1))
    for c in columns:
        ax.plot(losses["step"], losses[c].rolling(window, min_periods=1).mean(), label=c, lw=1)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_title(f"losses (rolling mean over {window} steps)")
    ax.legend(fontsize=7, ncol=2)
    if panels == 2:
        ax = axes[0][1]
        ax.plot(metrics["step"], metrics["fid"], "o-", label="FID", color="C0")
        ax.set_xlabel("step")
        ax.set_ylabel("FID (held-out test split)")
        best = metrics.loc[metrics["fid"].idxmin()]
        ax.axvline(best["step"], color="grey", ls=":", label=f"best: step {int(best['step'])}")
        twin = ax.twinx()
        twin.plot(metrics["step"], metrics["kid"], "s--", color="C1", label="KID")
        twin.set_ylabel("KID")
        handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
        ax.legend(handles=handles, loc="upper right", fontsize=7)
        ax.set_title("evaluation during training")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path


def _cli_command(command: str) -> str:
    first, _, rest = command.partition(" ")
    if first.endswith(("culturalstyle", "__main__.py")):
        first = "culturalstyle"
    return f"{first} {rest}".strip()


def _shown_path(path: str) -> str:
    """`path` relative to the working directory when it lies inside it (repository-relative commands)."""
    try:
        return Path(path).resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path


def _command_md(run_dir: Path, config: TrainConfig, record: dict, name: str, info: dict) -> str:
    resumes = sorted(run_dir.glob("resume_*.json"))
    lines = [
        f"# How `{name}` was made",
        "",
        f"A {config.method} translator {config.source} -> {config.target}, checkpoint `{info['checkpoint']}` "
        f"(step {info['step']} of {record.get('total_steps')}).",
        "",
        "The training command as it was run:",
        "",
        "```bash",
        _cli_command(record.get("command", "")),
        *(_cli_command(json.loads(p.read_text()).get("command", "")) for p in resumes),
        "```",
        "",
        "The same training from this directory's config.yaml (every setting, including the seed):",
        "",
        "```bash",
        f"culturalstyle train --corpus {_shown_path(record['inputs'].get('corpus', 'CORPUS'))} --source {config.source} "
        f"--target {config.target} --config config.yaml --name {name}",
        f"culturalstyle export-translator runs/{name} --out {name} --checkpoint {info['choice']}"
        + (" --fp16" if info["dtype"] == "float16" else ""),
        "```",
        "",
        f"The corpus must have manifest hash `{record['inputs'].get('corpus_manifest_hash', '?')}`. On a CPU, with "
        "the library versions of training_record.json, the same command gives bit-identical weights (also when "
        "interrupted and resumed); on CUDA only as far as its kernels are deterministic.",
        "",
    ]
    return "\n".join(lines)


def export_translator(
    run_dir: str | Path, out_dir: str | Path, *, checkpoint: str | int = "best", fp16: bool = False
) -> Path:
    """Write the self-contained translator directory `out_dir` (new or empty) from a training run."""
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    if not (run_dir / "config.yaml").exists():
        raise FileNotFoundError(f"{run_dir} is not a translator run (no config.yaml)")
    config = TrainConfig.load(run_dir / "config.yaml")
    record = runs.read_record(run_dir)
    state, path = load_checkpoint(run_dir, checkpoint)
    step = int(state["step"])
    model = translator_class(config.method)
    runs.new_output_dir(out_dir)
    dtype = torch.float16 if fp16 else torch.float32
    directions = {}
    for direction, network in model.generators.items():
        weights = {
            k: v.to(dtype) if v.is_floating_point() else v for k, v in state["models"][network].items()
        }
        target = out_dir / f"generator_{direction}.pt"
        with atomic_path(target) as tmp:
            torch.save(weights, tmp)
        digest = sha256_file(target)
        atomic_write_text(target.with_name(target.name + ".sha256"), f"{digest}  {target.name}\n")
        directions[direction] = {"file": target.name, "sha256": digest, "bytes": target.stat().st_size}
    evaluation = _evaluation_at(run_dir, step)
    best = read_best_info(run_dir)
    info = {
        "format": EXPORT_FORMAT,
        "method": config.method,
        "source": config.source,
        "target": config.target,
        "size": config.size,
        "directions": directions,
        "dtype": "float16" if fp16 else "float32",
        "checkpoint": path.name,
        "choice": str(checkpoint),
        "step": step,
        "total_steps": record.get("total_steps"),
        "evaluation": evaluation,
        "best_step": best["step"] if best else None,
        "checkpoint_sha256": sha256_file(path),
        "run": str(run_dir.resolve()),
    }
    atomic_write_text(out_dir / EXPORT_INFO, json.dumps(info, indent=2) + "\n")
    config.save(out_dir / "config.yaml")
    for name in ("losses.csv", "metrics.csv"):
        if (run_dir / name).exists():
            shutil.copyfile(run_dir / name, out_dir / name)
    grids = sorted((run_dir / "samples").glob("step_*.png"))  # training progress, for the study's report
    if grids:
        (out_dir / "samples").mkdir()
        for grid in grids:
            shutil.copyfile(grid, out_dir / "samples" / grid.name)
    shutil.copyfile(run_dir / runs.RECORD_NAME, out_dir / "training_record.json")
    training_curves(run_dir, out_dir / "training_curves.png")
    atomic_write_text(out_dir / "COMMAND.md", _command_md(run_dir, config, record, out_dir.name, info))
    runs.write_record(
        out_dir,
        kind="translator-export",
        config=config,
        seed=config.seed,
        inputs={
            "run": str(run_dir.resolve()),
            "checkpoint": path.name,
            "checkpoint_sha256": info["checkpoint_sha256"],
        }
        | {
            k: record["inputs"][k]
            for k in ("corpus", "corpus_manifest_hash")
            if k in record.get("inputs", {})
        },
        weights={d["file"]: d["sha256"] for d in directions.values()},
        extra={"translator": info},
    )
    return out_dir


def load_exported_generator(folder: str | Path, direction: str, checkpoint: str | int | None = None):
    """(float32 generator state_dict, config, weights path, info) of an exported translator; sha256 verified."""
    folder = Path(folder)
    info = read_export_info(folder)
    if info.get("format") != EXPORT_FORMAT:
        raise ValueError(f"{folder / EXPORT_INFO}: unknown export format {info.get('format')!r}")
    allowed = {None, "last", "latest", info["checkpoint"], info["choice"], str(info["step"])}
    if checkpoint is not None and str(checkpoint) not in {str(a) for a in allowed}:
        raise ValueError(
            f"{folder} is an exported translator holding only checkpoint {info['checkpoint']} (step "
            f"{info['step']}); it has no checkpoint {checkpoint!r}"
        )
    if direction not in info["directions"]:
        raise ValueError(
            f"{folder} is a {info['method']} translator {info['source']} -> {info['target']} with direction(s) "
            f"{', '.join(info['directions'])} only, not {direction}"
        )
    entry = info["directions"][direction]
    path = folder / entry["file"]
    actual = sha256_file(path)
    if actual != entry["sha256"]:
        raise ValueError(
            f"{path}: sha256 {actual} does not match {entry['sha256']} in {EXPORT_INFO}; the file is damaged"
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    config = TrainConfig.load(folder / "config.yaml")
    return state, config, path, info
