"""Output directories and run records: every run writes its config, seed, versions and input hashes.

Results are never silently overwritten: `new_output_dir` refuses an existing, non-empty directory unless the
caller passes `force=True` (or `resume=True` to continue a run in place).
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
import sys
from pathlib import Path
from typing import Any

from . import __version__
from .cache import atomic_write_text
from .configs import to_dict

RECORD_NAME = "run_record.json"


class OutputExistsError(FileExistsError):
    """Raised instead of overwriting results that already exist."""


def timestamp() -> str:
    return _dt.datetime.now().strftime("%Y%m%d-%H%M%S")


def new_output_dir(path: str | Path, *, force: bool = False, resume: bool = False) -> Path:
    """Create `path` for a new run. An existing non-empty directory is an error unless force/resume."""
    path = Path(path)
    if path.exists() and any(path.iterdir()) and not (force or resume):
        raise OutputExistsError(
            f"{path} already exists and is not empty; choose a new name, or pass --force "
            "(overwrite) / --resume (continue) explicitly"
        )
    path.mkdir(parents=True, exist_ok=True)
    return path


def unique_dir(parent: str | Path, name: str | None = None) -> Path:
    """A fresh directory under `parent` named `name` or a timestamp, suffixed -2, -3 ... if taken."""
    parent = Path(parent)
    base = name or timestamp()
    candidate, n = parent / base, 1
    while candidate.exists():
        n += 1
        candidate = parent / f"{base}-{n}"
    candidate.mkdir(parents=True)
    return candidate


def environment_versions() -> dict[str, str]:
    """Versions of the interpreter and the libraries that change numbers (read from metadata, no imports)."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {
        "culturalstyle": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }
    for dist in (
        "torch",
        "torchvision",
        "numpy",
        "pandas",
        "scikit-learn",
        "torch-fidelity",
        "lpips",
        "pillow",
    ):
        try:
            versions[dist] = version(dist)
        except PackageNotFoundError:
            versions[dist] = "not installed"
    return versions


def write_record(
    out_dir: str | Path,
    *,
    kind: str,
    config: Any = None,
    seed: int | None = None,
    inputs: dict[str, Any] | None = None,
    weights: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
    name: str = RECORD_NAME,
) -> Path:
    """Write `run_record.json` next to a run's outputs (config, seed, versions, input and weight hashes)."""
    record = {
        "kind": kind,
        "created": _dt.datetime.now().isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
        "seed": seed,
        "config": to_dict(config) if config is not None else None,
        "inputs": inputs or {},
        "weights": weights or {},
        "versions": environment_versions(),
    }
    if extra:
        record.update(extra)
    path = Path(out_dir) / name
    atomic_write_text(path, json.dumps(record, indent=2, default=str))
    return path


def read_record(out_dir: str | Path, name: str = RECORD_NAME) -> dict:
    with open(Path(out_dir) / name, encoding="utf-8") as handle:
        return json.load(handle)
