"""The store on disk: where each artifact's files live, how they are verified, and the errors when not.

Files live under `cache_dir("weights")/<artifact>/<source id><suffix>` and are hashed again every time they
are used (once per process while their bytes on disk are unchanged): a file whose bytes differ from the expected
hash is refused, never loaded. Sources that publish only a sha256 prefix get the full hash of the downloaded
file recorded beside it (`<file>.sha256`), so later loads check all of it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from ..cache import cache_dir, sha256_file
from .registry import Source, artifact, artifact_names

if TYPE_CHECKING:
    import pandas as pd


class WeightsError(RuntimeError):
    """Base class for weights-store problems."""


class WeightsMissingError(WeightsError, FileNotFoundError):
    """The artifact is not in the store; the message gives the commands that put it there."""

    def __init__(self, name: str, detail: str = "") -> None:
        self.name = name
        extra = f" ({detail})" if detail else ""
        super().__init__(
            f"pretrained weights '{name}' are not in the weights store {artifact_dir(name)}{extra}. "
            f"Fetch them with `culturalstyle weights fetch {name}`, or, offline, install a file you already have "
            f"with `culturalstyle weights import {name} FILE`."
        )


class WeightsHashError(WeightsError, ValueError):
    """A file's sha256 differs from the one its source promises; the file is refused."""

    def __init__(
        self, name: str, file: str | os.PathLike, expected: str | Iterable[str], actual: str
    ) -> None:
        self.name, self.file, self.actual = name, Path(file), actual
        # several sources may promise the same file: name each expected hash once
        self.expected = [expected] if isinstance(expected, str) else list(dict.fromkeys(expected))
        wanted = " or ".join(self.expected)
        super().__init__(
            f"refusing weights '{name}' from {file}: sha256 mismatch: expected {wanted}, actual {actual}"
        )


class WeightsCorruptError(WeightsHashError):
    """A cached file no longer has the hash it was installed with (bit rot, truncation, tampering)."""

    def __init__(self, name: str, file: str | os.PathLike, expected: str, actual: str) -> None:
        super().__init__(name, file, expected, actual)
        self.args = (
            f"{self.args[0]}. The cached file is corrupted and will not be used; "
            f"re-fetch it with `culturalstyle weights fetch {name}` "
            f"(or `culturalstyle weights import {name} FILE`).",
        )


class SourceError(WeightsError):
    """One source could not deliver (offline, HTTP error, pip failure); the next source is tried."""


def artifact_dir(name: str) -> Path:
    return cache_dir("weights") / name


def source_file(name: str, source: Source) -> Path:
    """Where the file delivered by `source` is installed."""
    return artifact_dir(name) / f"{source.id}{source.suffix}"


def _recorded_sha_file(file: Path) -> Path:
    return file.with_name(file.name + ".sha256")


def _expected_full_sha(file: Path, source: Source) -> str | None:
    """The full sha256 a cached file must have: the source's own, or the one recorded at install."""
    if not source.sha256_is_prefix:
        return source.sha256
    record = _recorded_sha_file(file)
    if record.exists():
        return record.read_text().strip()
    return None


# Verified files in this process, keyed by identity of the bytes on disk (path, inode, size, mtime).
_VERIFIED: dict[tuple[str, int, int, int], str] = {}


def _stat_key(file: Path) -> tuple[str, int, int, int]:
    st = file.stat()
    return (str(file), st.st_ino, st.st_size, st.st_mtime_ns)


def verify_file(name: str, source: Source, file: Path) -> str:
    """Hash a cached file and compare with what it must be; returns the sha256 or raises WeightsCorruptError."""
    key = _stat_key(file)
    if key in _VERIFIED:
        return _VERIFIED[key]
    actual = sha256_file(file)
    expected = _expected_full_sha(file, source)
    if expected is not None and actual != expected:
        raise WeightsCorruptError(name, file, expected, actual)
    if not source.hash_matches(actual):
        raise WeightsCorruptError(name, file, source.sha256, actual)
    _VERIFIED[key] = actual
    return actual


def _installed(name: str) -> list[tuple[Source, Path]]:
    art = artifact(name)
    return [(src, source_file(name, src)) for src in art.sources if source_file(name, src).exists()]


def _resolve(name: str) -> tuple[Source, Path, str]:
    """The first installed source file, verified. Missing -> WeightsMissingError; corrupt -> WeightsCorruptError."""
    installed = _installed(name)
    if not installed:
        raise WeightsMissingError(name)
    source, file = installed[0]
    return source, file, verify_file(name, source, file)


def path(name: str) -> Path:
    """The verified file of artifact `name` in the store (raises WeightsMissingError / WeightsCorruptError)."""
    return _resolve(name)[1]


def sha256(name: str) -> str:
    """The sha256 of the installed, verified file of `name` (for run records)."""
    return _resolve(name)[2]


def status() -> pd.DataFrame:
    """One row per artifact: name, status (verified / missing / corrupt), source, path, sha256, size."""
    import pandas as pd

    rows = []
    for name in artifact_names():
        installed = _installed(name)
        if not installed:
            rows.append(dict(name=name, status="missing", source="", path="", sha256="", size=0))
            continue
        source, file = installed[0]
        try:
            digest, state = verify_file(name, source, file), "verified"
        except WeightsCorruptError as error:
            digest, state = error.actual, "corrupt"
        rows.append(
            dict(
                name=name,
                status=state,
                source=source.id,
                path=str(file),
                sha256=digest,
                size=file.stat().st_size,
            )
        )
    return pd.DataFrame(rows, columns=["name", "status", "source", "path", "sha256", "size"])


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
