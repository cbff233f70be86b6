"""The one cache root, content hashing, damage-tolerant cache reads and atomic writes shared by every module.

Caches are keyed by content hashes, never by paths, so renaming or moving a corpus keeps them valid. Three
rules keep them honest: a file's hash is recomputed whenever the file changes (`content_sha256`), a damaged
entry is a miss that is recomputed and replaced (`read_entry`), and a write either lands completely or not at
all, with a one-line reason when the filesystem refuses it (`atomic_path`, `WriteError`).

`ContentCache` puts the three together: one object per kind of cached result (features, decoded images, style
targets, ...) that makes the key, the entry's path, the verified read and the atomic write, so a cache is a
few lines in the module that owns the computation.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

_CHUNK = 1 << 20
T = TypeVar("T")


def cache_root() -> Path:
    """`$CULTURALSTYLE_CACHE` or `~/.cache/culturalstyle` (created on first use)."""
    root = Path(os.environ.get("CULTURALSTYLE_CACHE") or Path.home() / ".cache" / "culturalstyle")
    root.mkdir(parents=True, exist_ok=True)
    return root


def cache_dir(kind: str) -> Path:
    """A sub-directory of the cache root for one kind of cached object (weights, features, images, ...)."""
    path = cache_root() / kind
    path.mkdir(parents=True, exist_ok=True)
    return path


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


# sha256 of files hashed in this process, keyed by what changes when the bytes change: a replaced file has a new
# inode or ctime, an edited one a new size, mtime or ctime (ctime cannot be set back by `touch` or `cp -p`).
_CONTENT_MEMO: dict[tuple[str, int, int, int, int], str] = {}


def content_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes, hashed once per process while the file is unchanged (re-hashed on change)."""
    st = os.stat(path)
    key = (os.fspath(path), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    digest = _CONTENT_MEMO.get(key)
    if digest is None:
        digest = _CONTENT_MEMO[key] = sha256_file(path)
    return digest


def stable_hash(obj: Any, length: int = 16) -> str:
    """Short hash of a JSON-serialisable object (keys sorted), for cache keys built from several parts."""
    text = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def code_fingerprint(*modules: str) -> str:
    """Hash of the source files of package modules/sub-packages (e.g. "stats", "metrics"): part of the key
    of cached *results*, so that a change in the code that computes them recomputes them (the package
    version alone does not change between commits)."""
    root = Path(__file__).resolve().parent
    files = []
    for module in modules:
        path = root / module.replace(".", "/")
        if path.is_dir():
            files += sorted(path.rglob("*.py"))
        elif path.with_suffix(".py").is_file():  # a module split into a package later is hashed as such
            files.append(path.with_suffix(".py"))
    return stable_hash({str(f.relative_to(root)): content_sha256(f) for f in files}, length=32)


# --------------------------------------------------------------------------------------------------------------
# reading cache entries

_WARNED: set[str] = set()


def read_entry(
    path: str | os.PathLike,
    load: Callable[[Path], T],
    *,
    check: Callable[[T], str | None] | None = None,
    what: str = "cache entry",
    stacklevel: int = 2,
) -> T | None:
    """A cache entry loaded with `load`, or None when it is absent or damaged.

    Damaged means anything at all goes wrong while loading (truncated zip, zero bytes, bad pickle, ...) or
    `check` returns a reason (wrong keys, shapes, non-finite values). A damaged entry is a miss: the caller
    recomputes it and its atomic write replaces the entry. Each damaged entry is warned about once per process.
    """
    path = Path(path)
    if not path.exists():
        return None
    try:
        value = load(path)
        reason = check(value) if check is not None else None
    except Exception as error:  # noqa: BLE001 - whatever a damaged file raises, it must not break a run
        value, reason = None, f"{type(error).__name__}: {error}"
    if reason is None:
        return value
    if str(path) not in _WARNED:
        _WARNED.add(str(path))
        warnings.warn(
            f"damaged {what} {path} ({reason}); recomputing and replacing it", stacklevel=stacklevel
        )
    return None


# --------------------------------------------------------------------------------------------------------------
# writing

# errno -> why a write was refused, in words
_WRITE_REASONS = {
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large for the file system",
}
# what torch's zip writer says when its underlying write fails (it reports no errno)
_TORCH_WRITE_FAILURES = ("unexpected pos", "PytorchStreamWriter failed", "file write failed")


class WriteError(OSError):
    """A file could not be written: one line naming the file, the reason and, for a full disk, the sizes."""

    def __init__(self, target: str | os.PathLike, reason: str, code: int | None = None) -> None:
        super().__init__(f"could not write {target}: {reason}")
        self.target = Path(target)
        self.reason = reason
        self.errno = code


def format_bytes(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def _free_bytes(folder: Path) -> int | None:
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            try:
                return shutil.disk_usage(candidate).free
            except OSError:
                return None
    return None


def write_failure(
    target: str | os.PathLike, error: BaseException, *, written: int | None = None, needed: int | None = None
) -> WriteError | None:
    """`error` raised while writing `target` as a WriteError with a clear reason, or None if it is not a
    filesystem refusal (then the original error should propagate). `needed`: the bytes the write needs when
    known; `written`: how many it had written when it failed."""
    if isinstance(error, WriteError):
        return error
    target = Path(target)
    code = getattr(error, "errno", None) if isinstance(error, OSError) else None
    torch_failure = isinstance(error, RuntimeError) and any(m in str(error) for m in _TORCH_WRITE_FAILURES)
    if code not in _WRITE_REASONS and not torch_failure:
        return None
    free = _free_bytes(target.parent)
    if torch_failure:
        low = free is not None and free < max(needed or 0, written or 0, 1 << 20)
        if not low:
            return WriteError(target, f"the writer failed ({str(error).strip()})")
        code = errno.ENOSPC
    reason = _WRITE_REASONS[code]
    if code in (errno.ENOSPC, errno.EDQUOT):
        sizes = [f"{format_bytes(free)} free" if free is not None else "free space unknown"]
        if needed is not None:
            sizes.append(f"{format_bytes(needed)} needed")
        elif written:
            sizes.append(f"{format_bytes(written)} written before it ran out")
        reason += f" ({', '.join(sizes)})"
    elif code in (errno.EACCES, errno.EPERM) and getattr(error, "filename", None):
        reason += f" on {error.filename}"
    return WriteError(target, reason, code)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, *, size: int | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it onto `target` only if the block succeeds.

    A reader therefore sees either the old file or the complete new one, never a half-written file; a failed
    block leaves no temporary file. A filesystem refusal (read-only, permission, full disk, also when torch's
    writer reports it) becomes a `WriteError` naming `target`; `size` (bytes, when known) goes into its message.
    """
    target = Path(target)
    tmp: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; results are meant to be shared
        os.replace(tmp, target)
    except Exception as error:
        written = tmp.stat().st_size if tmp is not None and tmp.exists() else None
        failure = write_failure(target, error, written=written, needed=size)
        if failure is None or failure is error:
            raise
        raise failure from error
    finally:
        if tmp is not None and tmp.exists():
            tmp.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(target: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(target, size=len(data)) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def atomic_write_text(target: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(target, text.encode("utf-8"))


# --------------------------------------------------------------------------------------------------------------
# one content-keyed cache


@dataclass(frozen=True)
class Codec:
    """How one kind of entry becomes bytes (`dump`) and is read back from its file (`load`)."""

    suffix: str
    dump: Callable[[Any], bytes]
    load: Callable[[Path], Any]


def _npy_bytes(array: Any) -> bytes:
    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _npy_load(path: Path) -> Any:
    import numpy as np

    return np.load(path, allow_pickle=False)


def _npz_bytes(arrays: Mapping[str, Any]) -> bytes:
    import numpy as np

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _npz_load(path: Path) -> dict[str, Any]:
    import numpy as np

    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def _torch_bytes(payload: Any) -> bytes:
    import torch

    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def _torch_load(path: Path) -> Any:
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)


def _png_bytes(array: Any) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _png_load(path: Path) -> Any:
    import numpy as np
    from PIL import Image

    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


NPY = Codec(".npy", _npy_bytes, _npy_load)  # one array, no pickles
NPZ = Codec(".npz", _npz_bytes, _npz_load)  # a dict of named arrays
TORCH = Codec(".pt", _torch_bytes, _torch_load)  # tensors / dicts of tensors, read with weights_only
PNG = Codec(".png", _png_bytes, _png_load)  # an H x W x 3 uint8 image, read back as an array


def _pickle_bytes(value: Any) -> bytes:
    import pickle

    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def _pickle_load(path: Path) -> Any:
    import pickle

    with open(path, "rb") as handle:
        return pickle.load(handle)


# The package's own result objects (tables with mixed columns, classification results), written and read back
# only by it, in the user's own cache; their keys include a fingerprint of the code that made them.
PICKLE = Codec(".pkl", _pickle_bytes, _pickle_load)


class ContentCache:
    """One kind of content-keyed cache entry: key, path, verified read, atomic write.

    kind:    sub-directory of the cache root (`cache_dir(kind)`), resolved at each use so `$CULTURALSTYLE_CACHE`
             set later (tests, notebooks) is honoured; `root` replaces it with a fixed folder.
    codec:   how entries are stored (`NPY`, `NPZ`, `TORCH`, `PNG`).
    version: entered into every key as `{version_field: version}`; bump it when entries change meaning. None
             (or version_field None) leaves it out.
    fan_out: entries go into `<key[:2]>/` sub-folders (for caches with one entry per image).
    prefix:  prepended to the file name (kinds sharing one folder, e.g. "gram-" and "adain-" targets).
    what:    the entry's name in the damaged-entry warning.
    """

    def __init__(
        self,
        kind: str,
        codec: Codec,
        *,
        what: str,
        version: int | None = None,
        version_field: str | None = "v",
        key_length: int = 32,
        fan_out: bool = False,
        prefix: str = "",
        root: str | os.PathLike | None = None,
    ) -> None:
        self.kind, self.codec, self.what = kind, codec, what
        self.version, self.version_field, self.key_length = version, version_field, key_length
        self.fan_out, self.prefix = fan_out, prefix
        self.root = Path(root) if root is not None else None

    @property
    def folder(self) -> Path:
        return self.root if self.root is not None else cache_dir(self.kind)

    def key(self, parts: Mapping[str, Any]) -> str:
        """Stable hash of `parts` (content hashes and settings, never paths) plus this cache's version."""
        versioned = dict(parts)
        if self.version is not None and self.version_field is not None:
            versioned = {self.version_field: self.version, **versioned}
        return stable_hash(versioned, length=self.key_length)

    def path(self, key: str) -> Path:
        name = f"{self.prefix}{key}{self.codec.suffix}"
        return self.folder / key[:2] / name if self.fan_out else self.folder / name

    def read(
        self, key: str, check: Callable[[Any], str | None] | None = None, *, stacklevel: int = 3
    ) -> Any | None:
        """The entry, or None when absent or damaged (warned once, at the caller's line; the caller recomputes
        and writes it)."""
        return read_entry(self.path(key), self.codec.load, check=check, what=self.what, stacklevel=stacklevel)

    def write(self, key: str, value: Any) -> Path:
        """Store `value` atomically (a reader sees the old entry or the complete new one)."""
        return atomic_write_bytes(self.path(key), self.codec.dump(value))

    def get_or_compute(
        self,
        key: str,
        compute: Callable[[], T],
        *,
        check: Callable[[Any], str | None] | None = None,
        enabled: bool = True,
    ) -> tuple[T, bool]:
        """(value, hit): the verified entry, or `compute()` written atomically. `enabled=False`: no cache."""
        if enabled:
            value = self.read(key, check, stacklevel=4)
            if value is not None:
                return value, True
        value = compute()
        if enabled:
            self.write(key, value)
        return value, False
