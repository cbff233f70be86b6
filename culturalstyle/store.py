"""On-disk feature store: one memory-mappable array per statistic, a row index of image sha256, shards.

Why: at WikiArt scale features must not live in memory, nor be written twice. A store holds the statistics of
one corpus (rows in corpus order) under one extraction config and one network's weights:

    layout.json          fields {name: width, dtype}, n_rows, shard size, the config and its key
    index.parquet        row, image_id, sha256 (what each row is)
    fields/<name>.npy    n_rows x width (float16 by default), allocated once, filled in place by row
    shards/<id>.json     written atomically when every row of shard <id> is on disk (+ its problems)
    shards/<id>.npz      per-field `Moments` of that shard's valid rows (merged later, exactly)
    complete.json        the merged statistics exist (stats.npz, problems.csv, valid.npy)

Rows are written with positioned writes (no memory map is held while filling, so memory stays flat), each
shard's files are fsynced before its marker is written, so after a crash (kill -9) exactly the shards without
a marker are recomputed. Under torchrun every rank writes its shards' rows into the same files (disjoint
regions) and rank 0 merges markers, statistics and problems. Readers get float32 chunks (`read`, `chunks`) or
a read-only memory map (`memmap`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .cache import atomic_path, atomic_write_text, cache_dir, stable_hash
from .streaming import Moments

STORE_VERSION = 1
PROBLEM_COLUMNS = ["row", "image_id", "path", "kind", "reason"]


class StoreError(RuntimeError):
    """A store directory that is missing, incomplete or does not match what is asked of it."""


@dataclass(frozen=True)
class Field:
    width: int
    dtype: str = "float16"


def store_key(image_sha256: Sequence[str], config: Mapping[str, Any]) -> str:
    """Content key of a store: its images' sha256 in row order and everything that shaped the statistics."""
    return stable_hash({"version": STORE_VERSION, "images": list(image_sha256), "config": dict(config)}, 32)


def default_root() -> Path:
    """`$CULTURALSTYLE_STORE` (e.g. a large scratch disk) or the cache's `store` directory."""
    override = os.environ.get("CULTURALSTYLE_STORE")
    if override:
        path = Path(override)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return cache_dir("store")


def _npy_offset(path: Path) -> int:
    with open(path, "rb") as handle:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            np.lib.format.read_array_header_1_0(handle)
        else:
            np.lib.format.read_array_header_2_0(handle)
        return handle.tell()


class FeatureStore:
    """A store directory opened for reading and (while incomplete) for writing shards."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        layout_file = self.path / "layout.json"
        if not layout_file.exists():
            raise StoreError(f"{self.path} is not a feature store (no layout.json)")
        self.layout = json.loads(layout_file.read_text())
        if self.layout.get("version") != STORE_VERSION:
            raise StoreError(f"{self.path}: store version {self.layout.get('version')} != {STORE_VERSION}")
        self.fields = {name: Field(**spec) for name, spec in self.layout["fields"].items()}
        self.n_rows = int(self.layout["n_rows"])
        self.shard_size = int(self.layout["shard_size"])
        self.config = self.layout["config"]
        self.key = self.layout["key"]
        self._offsets = {name: _npy_offset(self.field_path(name)) for name in self.fields}
        self._index: pd.DataFrame | None = None

    # ---------------------------------------------------------------------------------------------------------
    # creation

    @classmethod
    def create(
        cls,
        path: str | os.PathLike,
        index: pd.DataFrame,
        fields: Mapping[str, int | Field],
        config: Mapping[str, Any],
        *,
        shard_size: int = 1024,
        key: str | None = None,
    ) -> FeatureStore:
        """Allocate a new store at `path` (refused if one is there) for the rows of `index` (image_id, sha256)."""
        path = Path(path)
        if (path / "layout.json").exists():
            raise StoreError(f"a feature store already exists at {path}")
        missing = {"image_id", "sha256"} - set(index.columns)
        if missing:
            raise ValueError(f"the store index needs columns image_id and sha256 (missing {sorted(missing)})")
        if shard_size < 1:
            raise ValueError(f"shard_size must be >= 1, got {shard_size}")
        if len(index) == 0:
            raise ValueError("a feature store needs at least one row")
        specs = {name: spec if isinstance(spec, Field) else Field(int(spec)) for name, spec in fields.items()}
        if not specs:
            raise ValueError("a feature store needs at least one field")
        (path / "fields").mkdir(parents=True, exist_ok=True)
        (path / "shards").mkdir(exist_ok=True)
        n = len(index)
        for name, spec in specs.items():
            # open_memmap writes the header and extends the file without touching its pages (a sparse file)
            array = np.lib.format.open_memmap(
                path / "fields" / f"{name}.npy", mode="w+", dtype=spec.dtype, shape=(n, spec.width)
            )
            del array
        frame = index[["image_id", "sha256"]].reset_index(drop=True).copy()
        frame.insert(0, "row", np.arange(n))
        with atomic_path(path / "index.parquet") as tmp:
            frame.astype({"image_id": str, "sha256": str}).to_parquet(tmp, index=False)
        layout = {
            "version": STORE_VERSION,
            "n_rows": n,
            "shard_size": int(shard_size),
            "fields": {name: {"width": s.width, "dtype": s.dtype} for name, s in specs.items()},
            "config": dict(config),
            "key": key or store_key(frame["sha256"].tolist(), config),
        }
        atomic_write_text(
            path / "layout.json", json.dumps(layout, indent=2, default=str)
        )  # last: marks it usable
        return cls(path)

    # ---------------------------------------------------------------------------------------------------------
    # geometry

    @property
    def n_shards(self) -> int:
        return -(-self.n_rows // self.shard_size)

    def shard_rows(self, shard: int) -> np.ndarray:
        return np.arange(shard * self.shard_size, min((shard + 1) * self.shard_size, self.n_rows))

    def field_path(self, name: str) -> Path:
        return self.path / "fields" / f"{name}.npy"

    @property
    def bytes_per_row(self) -> int:
        return int(sum(s.width * np.dtype(s.dtype).itemsize for s in self.fields.values()))

    @property
    def index(self) -> pd.DataFrame:
        if self._index is None:
            self._index = pd.read_parquet(self.path / "index.parquet")
        return self._index

    # ---------------------------------------------------------------------------------------------------------
    # writing

    def write_rows(self, rows: np.ndarray, values: Mapping[str, np.ndarray]) -> None:
        """Write `values[field]` (len(rows) x width) at `rows`, one positioned write per run of consecutive rows."""
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) == 0:
            return
        if rows.min() < 0 or rows.max() >= self.n_rows:
            raise IndexError(f"rows outside 0..{self.n_rows - 1}")
        unknown = set(values) - set(self.fields)
        if unknown:
            raise KeyError(f"unknown store field(s) {sorted(unknown)}; the store has {sorted(self.fields)}")
        order = np.argsort(rows, kind="stable")
        rows = rows[order]
        breaks = np.flatnonzero(np.diff(rows) != 1) + 1
        for name, array in values.items():
            spec = self.fields[name]
            array = np.asarray(array)
            if array.shape != (len(rows), spec.width):
                raise ValueError(
                    f"field {name}: expected {(len(rows), spec.width)} values, got {array.shape}"
                )
            array = np.ascontiguousarray(array[order], dtype=spec.dtype)
            row_bytes = spec.width * array.itemsize
            fd = os.open(self.field_path(name), os.O_WRONLY)
            try:
                for run in np.split(np.arange(len(rows)), breaks):
                    os.pwrite(fd, array[run].tobytes(), self._offsets[name] + int(rows[run[0]]) * row_bytes)
            finally:
                os.close(fd)

    def sync(self) -> None:
        for name in self.fields:
            fd = os.open(self.field_path(name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def _marker(self, shard: str) -> Path:
        return self.path / "shards" / f"{shard}.json"

    def mark_done(
        self,
        shard: str,
        rows: np.ndarray,
        moments: Mapping[str, Moments],
        problems: Sequence[Mapping[str, Any]] = (),
        **info: Any,
    ) -> None:
        """Record shard `shard` as complete: fsync the fields, save its moments, then write its marker."""
        self.sync()
        arrays: dict[str, np.ndarray] = {"rows": np.asarray(rows, dtype=np.int64)}
        for name, m in moments.items():
            arrays.update(m.to_arrays(f"{name}."))
        with atomic_path(self.path / "shards" / f"{shard}.npz") as tmp, open(tmp, "wb") as handle:
            np.savez(handle, **arrays)
        marker = {"shard": shard, "n_rows": int(len(rows)), "problems": list(problems), **info}
        atomic_write_text(self._marker(shard), json.dumps(marker, default=str))

    def is_done(self, shard: str) -> bool:
        return self._marker(shard).exists() and (self.path / "shards" / f"{shard}.npz").exists()

    def done_shards(self) -> list[str]:
        return sorted(p.stem for p in (self.path / "shards").glob("*.json") if self.is_done(p.stem))

    # ---------------------------------------------------------------------------------------------------------
    # finishing (rank 0)

    def finalize(self) -> None:
        """Merge every shard's moments and problems into stats.npz / problems.csv / valid.npy (rank 0)."""
        covered = np.zeros(self.n_rows, dtype=bool)
        merged = {name: Moments(spec.width) for name, spec in self.fields.items()}
        problems = []
        for shard in self.done_shards():
            with np.load(self.path / "shards" / f"{shard}.npz") as data:
                arrays = {k: data[k] for k in data.files}
            covered[arrays["rows"]] = True
            for name in self.fields:
                merged[name].merge(Moments.from_arrays(arrays, f"{name}."))
            problems += json.loads(self._marker(shard).read_text())["problems"]
        if not covered.all():
            missing = np.flatnonzero(~covered)
            raise StoreError(
                f"{self.path}: {len(missing)} rows belong to no finished shard (first: {missing[:5]})"
            )
        table = pd.DataFrame(problems, columns=PROBLEM_COLUMNS).sort_values("row", kind="stable")
        valid = np.ones(self.n_rows, dtype=bool)
        valid[table["row"].to_numpy(dtype=int)] = False
        arrays = {}
        for name, m in merged.items():
            arrays.update(m.to_arrays(f"{name}."))
        with atomic_path(self.path / "stats.npz") as tmp, open(tmp, "wb") as handle:
            np.savez(handle, **arrays)
        with atomic_path(self.path / "valid.npy") as tmp, open(tmp, "wb") as handle:
            np.save(handle, valid)
        with atomic_path(self.path / "problems.csv") as tmp:
            table.to_csv(tmp, index=False)
        atomic_write_text(
            self.path / "complete.json",
            json.dumps({"n_rows": self.n_rows, "n_valid": int(valid.sum()), "n_problems": len(table)}),
        )

    # ---------------------------------------------------------------------------------------------------------
    # reading

    @property
    def complete(self) -> bool:
        return (self.path / "complete.json").exists()

    def _require_complete(self) -> None:
        if not self.complete:
            done = len(self.done_shards())
            raise StoreError(
                f"feature store {self.path} is incomplete ({done} shards done); rerun the same embed "
                "command to finish it (only unfinished shards are computed)"
            )

    @property
    def valid(self) -> np.ndarray:
        self._require_complete()
        return np.load(self.path / "valid.npy")

    @property
    def problems(self) -> pd.DataFrame:
        self._require_complete()
        return pd.read_csv(self.path / "problems.csv", dtype={"image_id": str, "path": str})

    def moments(self, name: str) -> Moments:
        """Merged moments of field `name` over the valid rows."""
        self._require_complete()
        with np.load(self.path / "stats.npz") as data:
            return Moments.from_arrays(
                {k: data[k] for k in data.files if k.startswith(f"{name}.")}, f"{name}."
            )

    def memmap(self, name: str) -> np.memmap:
        """Read-only memory map of a field (n_rows x width, the stored dtype)."""
        return np.load(self.field_path(name), mmap_mode="r")

    def read(self, name: str, rows: np.ndarray | slice | None = None) -> np.ndarray:
        """Rows of a field as float32 (by positioned reads: nothing stays mapped afterwards)."""
        spec = self.fields[name]
        itemsize = np.dtype(spec.dtype).itemsize
        if rows is None:
            rows = slice(0, self.n_rows)
        with open(self.field_path(name), "rb") as handle:
            if isinstance(rows, slice):
                start, stop, step = rows.indices(self.n_rows)
                handle.seek(self._offsets[name] + start * spec.width * itemsize)
                count = max(stop - start, 0) * spec.width
                block = np.fromfile(handle, dtype=spec.dtype, count=count).reshape(-1, spec.width)
                return block[::step].astype(np.float32)
            rows = np.asarray(rows, dtype=np.int64)
            out = np.empty((len(rows), spec.width), dtype=np.float32)
            for i, row in enumerate(rows):
                handle.seek(self._offsets[name] + int(row) * spec.width * itemsize)
                out[i] = np.fromfile(handle, dtype=spec.dtype, count=spec.width)
            return out

    def chunks(
        self, names: Sequence[str], rows: np.ndarray | None = None, size: int = 2048
    ) -> Iterator[tuple[np.ndarray, dict[str, np.ndarray]]]:
        """(rows, {field: float32 block}) for consecutive chunks of `rows` (default: all rows)."""
        rows = np.arange(self.n_rows) if rows is None else np.asarray(rows, dtype=np.int64)
        for start in range(0, len(rows), size):
            chunk = rows[start : start + size]
            if len(chunk) and chunk[-1] - chunk[0] == len(chunk) - 1:  # contiguous: one read per field
                block = slice(int(chunk[0]), int(chunk[-1]) + 1)
                yield chunk, {name: self.read(name, block) for name in names}
            else:
                yield chunk, {name: self._gather(name, chunk) for name in names}

    def _gather(self, name: str, rows: np.ndarray) -> np.ndarray:
        """Scattered rows: read the spanned range in pieces and pick (cheaper than one seek per row)."""
        order = np.argsort(rows, kind="stable")
        if np.any(order != np.arange(len(rows))):
            out = np.empty((len(rows), self.fields[name].width), dtype=np.float32)
            out[order] = self._gather(name, rows[order])
            return out
        out = np.empty((len(rows), self.fields[name].width), dtype=np.float32)
        span = 4096
        position = 0
        while position < len(rows):
            first = int(rows[position])
            last = np.searchsorted(rows, first + span, side="left")
            block = self.read(name, slice(first, int(rows[last - 1]) + 1))
            out[position:last] = block[rows[position:last] - first]
            position = last
        return out

    def disk_bytes(self) -> int:
        """Bytes actually allocated on disk by the store (sparse regions not counted)."""
        total = 0
        for path in self.path.rglob("*"):
            if path.is_file():
                total += path.stat().st_blocks * 512
        return total


def open_or_create(
    path: str | os.PathLike,
    index: pd.DataFrame,
    fields: Mapping[str, int | Field],
    config: Mapping[str, Any],
    *,
    shard_size: int = 1024,
) -> FeatureStore:
    """Open the store at `path` if it holds these rows under this config, else create it (single process)."""
    path = Path(path)
    if (path / "layout.json").exists():
        store = FeatureStore(path)
        expected = store_key(index["sha256"].astype(str).tolist(), config)
        if store.key != expected:
            raise StoreError(
                f"{path} holds a different corpus or config (key {store.key}, expected {expected})"
            )
        return store
    return FeatureStore.create(path, index, fields, config, shard_size=shard_size)
