"""Output directories and run records: every run writes its config, seed, versions and input hashes.

Results are never silently overwritten: `new_output_dir` refuses an existing directory holding files unless
the caller passes `force=True` (or `resume=True` to continue a run in place). Directories a failed command
created but never wrote a file into are removed again (`discard_empty_outputs`, called by the CLI), so an early
failure leaves nothing behind; a leftover empty directory is reused silently.
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


# directories created by this process for outputs (outermost new ancestor first), see `discard_empty_outputs`
_CREATED: list[Path] = []


def has_files(path: str | Path) -> bool:
    """Whether a directory holds any file (at any depth); one with only empty sub-directories holds none."""
    return any(not p.is_dir() or p.is_symlink() for p in Path(path).rglob("*"))


def _make_dir(path: Path, *, exist_ok: bool) -> None:
    """mkdir -p, remembering every directory it creates."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(parents=True, exist_ok=exist_ok)
    _CREATED.extend(reversed(missing))


def new_output_dir(path: str | Path, *, force: bool = False, resume: bool = False, hint: str = "") -> Path:
    """Create `path` for a new run. An existing directory holding files is an error unless force/resume.

    The error says only what every caller can offer (another directory); `hint` adds the caller's own way
    out, e.g. "; or pass --force to replace it" from a command that has `--force`.
    """
    path = Path(path)
    if path.exists() and has_files(path) and not (force or resume):
        raise OutputExistsError(
            f"{path} already exists and holds results, which are never overwritten; choose another output "
            f"directory{hint}"
        )
    _make_dir(path, exist_ok=True)
    return path


def unique_dir(parent: str | Path, name: str | None = None) -> Path:
    """A fresh directory under `parent` named `name` or a timestamp, suffixed -2, -3 ... if taken."""
    parent = Path(parent)
    base = name or timestamp()
    candidate, n = parent / base, 1
    while candidate.exists():
        n += 1
        candidate = parent / f"{base}-{n}"
    _make_dir(candidate, exist_ok=False)
    return candidate


def discard_empty_outputs() -> list[Path]:
    """Remove the directories this process created that still hold no file (after a failure); returns them.

    Only directories made by `new_output_dir` / `unique_dir` here are touched, and only when empty, so nothing
    that was computed, and nothing that existed before, is ever removed.
    """
    removed = []
    for path in reversed(_CREATED):  # innermost first
        try:
            if path.is_dir() and not path.is_symlink() and not has_files(path):
                for sub in sorted((p for p in path.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
                    sub.rmdir()
                path.rmdir()
                removed.append(path)
        except OSError:  # not ours to force: leave it
            continue
    _CREATED.clear()
    return removed


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


def write_json(path: str | Path, payload: Any) -> Path:
    """Small JSON side outputs (e.g. a run's pointer) written atomically."""
    return atomic_write_text(path, json.dumps(payload, indent=2, default=str))
