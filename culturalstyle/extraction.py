"""Streaming, resumable, sharded extraction of a corpus into a `FeatureStore`.

Decoding runs in a torch DataLoader (`workers` processes; pinned memory when the device is CUDA), batches
never straddle shards, and a shard is marked done only when all its rows are on disk, so a rerun after any
crash computes only unfinished shards. Bad images are skipped and recorded (row, image, path, kind, reason)
in the store's problems, never abort the run. Under torchrun every rank takes shards `rank, rank + world, ...`
and rank 0 merges (`FeatureStore.finalize`).

What is computed comes from a *source* (`sources`). Sources that need calibration (Gram sketches) get a
phase 1 first: exact statistics of a seeded calibration sample, parked on disk, moments merged across ranks,
then sketched, so no image goes through the network twice.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import distributed
from .store import FeatureStore
from .streaming import Moments

CALIBRATION = "calibration"


@dataclass(frozen=True)
class Item:
    """One image to extract: its store row, id, file and content hash."""

    row: int
    image_id: str
    path: Path
    sha256: str


def corpus_items(corpus: Any) -> list[Item]:
    """Items of a Corpus in row order (sha256 from the manifest; hashed from the file where missing).

    Column-wise, not row by row: an 81k-row WikiArt manifest takes seconds.
    """
    from .cache import sha256_file

    paths = corpus.paths()
    ids = corpus.df["image_id"].astype(str).tolist()
    items = []
    for row, (image_id, path, digest) in enumerate(zip(ids, paths, corpus.df["sha256"].tolist())):
        path = Path(path)
        if not isinstance(digest, str) or len(digest) != 64:
            digest = sha256_file(path)
        items.append(Item(row, image_id, path, digest))
    return items


# ------------------------------------------------------------------------------------------------------------
# Decoding


class DecodeDataset(torch.utils.data.Dataset):
    """Row -> (row, uint8 3 x H x W image or None, (kind, reason) or None), decoded with the features' policy."""

    def __init__(self, items: Sequence[Item], size: int | None, resize_policy: str) -> None:
        self.items, self.size, self.resize_policy = list(items), size, resize_policy

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, row: int) -> tuple[int, torch.Tensor | None, tuple[str, str] | None]:
        from .features import load_for_features
        from .images import ContentMismatchError, ImageError, verified_sha256

        item = self.items[row]
        try:
            # the store is keyed on the manifest's hashes: a file that is not what its row says is a problem
            # row (as in `Corpus.verified_hashes`), checked here in the workers, where the bytes are read anyway
            verified_sha256(item.path, item.sha256, row=f"image_id {item.image_id!r}")
            image = load_for_features(item.path, self.size, self.resize_policy)
        except ContentMismatchError as error:
            return row, None, ("sha256 mismatch", str(error))
        except ImageError as error:
            return row, None, (error.kind, error.reason)
        except (OSError, ValueError) as error:  # anything else unreadable is a problem row, not a crash
            return row, None, ("unreadable", f"{type(error).__name__}: {error}")
        return row, image.mul(255.0).round_().to(torch.uint8), None


def collate(batch: list) -> dict[str, Any]:
    """Good images grouped by shape into stacked uint8 tensors (one network call per shape) + the failures."""
    groups: dict[tuple[int, ...], list[tuple[int, torch.Tensor]]] = {}
    failures = []
    for row, image, error in batch:
        if image is None:
            failures.append((row, *error))
        else:
            groups.setdefault(tuple(image.shape), []).append((row, image))
    stacked = [
        (torch.tensor([r for r, _ in members]), torch.stack([t for _, t in members]))
        for members in groups.values()
    ]
    return {"groups": stacked, "failures": failures}


def batches_by_shard(rows_per_shard: Mapping[str, np.ndarray], batch_size: int) -> list[list[int]]:
    out = []
    for rows in rows_per_shard.values():
        rows = [int(r) for r in rows]
        out += [rows[start : start + batch_size] for start in range(0, len(rows), batch_size)]
    return out


def loader(
    dataset: DecodeDataset, batches: list[list[int]], workers: int, device: torch.device
) -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(
        dataset,
        batch_sampler=batches,
        num_workers=max(0, int(workers)),
        collate_fn=collate,
        pin_memory=device.type == "cuda",
        persistent_workers=False,
    )


# ------------------------------------------------------------------------------------------------------------
# Filling a store


@dataclass
class FillReport:
    """What this process did: images through the network, shards computed / found done, problems."""

    rank: int = 0
    world_size: int = 1
    network_images: int = 0
    shards_computed: list[str] = field(default_factory=list)
    shards_skipped: int = 0
    calibrated_here: bool = False
    problems: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _numpy(values: Mapping[str, Any]) -> dict[str, np.ndarray]:
    out = {}
    for name, value in values.items():
        if isinstance(value, torch.Tensor):
            value = value.detach().float().cpu().numpy()
        out[name] = np.asarray(value, dtype=np.float32)
    return out


class _Progress:
    """tqdm over images (images/s and ETA), on rank 0 only; a no-op when disabled."""

    def __init__(self, total: int, enabled: bool, desc: str) -> None:
        self.bar = None
        if enabled and total:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=desc, unit="img", smoothing=0.05, dynamic_ncols=True)

    def update(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _problem(items: Sequence[Item], row: int, kind: str, reason: str) -> dict[str, Any]:
    item = items[row]
    return {
        "row": int(row),
        "image_id": item.image_id,
        "path": str(item.path),
        "kind": kind,
        "reason": reason,
    }


class _ShardWriter:
    """Collects one shard's rows, moments and problems; marks it done when its last batch is written."""

    def __init__(self, store: FeatureStore, name: str, rows: np.ndarray, fields: Sequence[str]) -> None:
        self.store, self.name, self.rows = store, name, np.asarray(rows)
        self.remaining = len(self.rows)
        self.moments = {f: Moments(store.fields[f].width) for f in fields}
        self.problems: list[dict[str, Any]] = []

    def add(self, rows: np.ndarray, values: Mapping[str, np.ndarray]) -> None:
        self.store.write_rows(rows, values)
        for name, array in values.items():
            # moments of the values as stored (after rounding to the store's dtype)
            self.moments[name].update(np.asarray(array, dtype=self.store.fields[name].dtype))
        self.remaining -= len(rows)

    def fail(self, problem: dict[str, Any]) -> None:
        self.problems.append(problem)
        self.remaining -= 1

    def finish_if_complete(self, **info: Any) -> bool:
        if self.remaining > 0:
            return False
        self.store.mark_done(self.name, self.rows, self.moments, self.problems, **info)
        return True


def fill_store(
    store: FeatureStore,
    items: Sequence[Item],
    source: Any,
    *,
    batch_size: int = 8,
    workers: int = 0,
    progress: bool = False,
) -> FillReport:
    """Compute every unfinished shard of `store` that belongs to this rank, then (rank 0) finalize the store.

    `items[i]` is row i of the store; images are decoded with the size and resize policy the store was
    created for (`open_store`). Safe to call again after a crash: finished shards are skipped.
    """
    if len(items) != store.n_rows:
        raise ValueError(f"{len(items)} items for a store of {store.n_rows} rows")
    info = distributed.rank_info()
    report = FillReport(rank=info.rank, world_size=info.world_size)
    start = time.perf_counter()
    network = getattr(source, "network", None)
    seen_before = getattr(network, "images_seen", 0)
    dataset = DecodeDataset(items, store.config["size"], store.config["resize_policy"])
    calibration_rows = np.zeros(0, dtype=np.int64)
    if source.needs_calibration:
        calibration_rows = source.calibration_rows(store.n_rows)
        report.calibrated_here = _calibrate(
            store, items, source, dataset, calibration_rows, info, batch_size, workers, progress
        )
    skip = set(calibration_rows.tolist())
    mine: dict[str, np.ndarray] = {}
    for shard in range(info.rank, store.n_shards, info.world_size):
        name = f"shard-{shard:06d}"
        if store.is_done(name):
            report.shards_skipped += 1
            continue
        rows = store.shard_rows(shard)
        mine[name] = np.asarray([r for r in rows if r not in skip], dtype=np.int64)
    writers = {name: _ShardWriter(store, name, rows, source.fields) for name, rows in mine.items()}
    shard_of = {int(r): name for name, rows in mine.items() for r in rows}
    for name, writer in writers.items():  # shards whose rows were all calibration rows
        if writer.finish_if_complete(rank=info.rank):
            report.shards_computed.append(name)
    total = sum(len(r) for r in mine.values())
    bar = _Progress(total, progress and info.is_main, f"extract (rank {info.rank}/{info.world_size})")
    try:
        for batch in loader(dataset, batches_by_shard(mine, batch_size), workers, source.device):
            touched = set()
            for rows, images in batch["groups"]:
                values = _numpy(source_compute(source, images))
                name = shard_of[int(rows[0])]
                writers[name].add(rows.numpy(), values)
                touched.add(name)
                bar.update(len(rows))
            for row, kind, reason in batch["failures"]:
                name = shard_of[int(row)]
                writers[name].fail(_problem(items, row, kind, reason))
                report.problems += 1
                touched.add(name)
                bar.update(1)
            for name in touched:
                if writers[name].finish_if_complete(rank=info.rank):
                    report.shards_computed.append(name)
    finally:
        bar.close()
    distributed.barrier()
    if info.is_main:
        store.finalize()
    distributed.barrier()
    report.network_images = getattr(network, "images_seen", 0) - seen_before
    report.seconds = time.perf_counter() - start
    return report


def source_compute(source: Any, images: torch.Tensor) -> Mapping[str, Any]:
    with torch.inference_mode():
        x = images.to(source.device, non_blocking=True).float().div_(255.0)
        return source.compute(x)


def _calibration_file(store: FeatureStore) -> Path:
    return store.path / f"{CALIBRATION}.npz"


def _save_calibration(store: FeatureStore, moments: Mapping[str, Moments]) -> None:
    from .cache import atomic_path

    arrays: dict[str, np.ndarray] = {"layers": np.array(json.dumps(list(moments)))}
    for name, m in moments.items():
        arrays.update(m.to_arrays(f"{name}."))
    with atomic_path(_calibration_file(store)) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)


def load_calibration(store: FeatureStore) -> dict[str, Moments] | None:
    path = _calibration_file(store)
    if not path.exists():
        return None
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    return {name: Moments.from_arrays(arrays, f"{name}.") for name in json.loads(str(arrays["layers"]))}


def _calibrate(
    store: FeatureStore,
    items: Sequence[Item],
    source: Any,
    dataset: DecodeDataset,
    rows: np.ndarray,
    info: distributed.RankInfo,
    batch_size: int,
    workers: int,
    progress: bool,
) -> bool:
    """Phase 1: moments of exact statistics on the calibration rows (merged over ranks), then their sketches.

    Returns False when a previous run finished it (its moments are reloaded, nothing is computed).
    """
    saved = load_calibration(store)
    if saved is not None:
        source.calibrate(saved)
        return False
    if info.is_main:  # parts of an interrupted phase 1 (perhaps with another world size) are redone
        for stale in (store.path / "shards").glob(f"{CALIBRATION}-*"):
            stale.unlink()
    distributed.barrier()
    mine = rows[info.rank :: info.world_size]
    spill = _Spill(store.path / "shards" / f".{CALIBRATION}-r{info.rank:04d}.tmp")
    problems = []
    moments: dict[str, Moments] = {}
    bar = _Progress(len(mine), progress and info.is_main, f"calibrate (rank {info.rank}/{info.world_size})")
    try:
        for batch in loader(
            dataset,
            [list(map(int, mine[i : i + batch_size])) for i in range(0, len(mine), batch_size)],
            workers,
            source.device,
        ):
            for batch_rows, images in batch["groups"]:
                with torch.inference_mode():
                    exact = source.exact(images.to(source.device, non_blocking=True).float().div_(255.0))
                for name in source.calibrated_fields:
                    value = exact[name].double().cpu().numpy()
                    moments.setdefault(name, Moments(value.shape[1])).update(value)
                spill.append(batch_rows.numpy(), exact)
                bar.update(len(batch_rows))
            for row, kind, reason in batch["failures"]:
                problems.append(_problem(items, row, kind, reason))
                bar.update(1)
    finally:
        bar.close()
    merged = _merge_over_ranks(moments, source)
    source.calibrate(merged)
    writer = _ShardWriter(
        store, f"{CALIBRATION}-r{info.rank:04d}-of-{info.world_size:04d}", mine, source.fields
    )
    for batch_rows, exact in spill.batches(source.device):
        with torch.inference_mode():
            writer.add(batch_rows, _numpy(source.from_exact(exact)))
    spill.remove()
    for problem in problems:
        writer.fail(problem)
    writer.finish_if_complete(rank=info.rank)
    distributed.barrier()
    if info.is_main:
        _save_calibration(store, merged)
    distributed.barrier()
    return True


class _Spill:
    """Exact calibration statistics parked on disk between the two halves of phase 1 (not in memory: 512
    images of VGG19 Gram triangles are 0.6 GB). Raw float32 files, one per statistic, appended batch by batch."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        if folder.exists():
            self.remove()
        folder.mkdir(parents=True)
        self.batches_rows: list[np.ndarray] = []
        self.widths: dict[str, int] = {}

    def append(self, rows: np.ndarray, values: Mapping[str, Any]) -> None:
        for name, value in _numpy(values).items():
            self.widths[name] = value.shape[1]
            with open(self.folder / f"{name}.f32", "ab") as handle:
                handle.write(np.ascontiguousarray(value, dtype=np.float32).tobytes())
        self.batches_rows.append(np.asarray(rows))

    def batches(self, device: torch.device):
        handles = {name: open(self.folder / f"{name}.f32", "rb") for name in self.widths}
        try:
            for rows in self.batches_rows:
                out = {}
                for name, width in self.widths.items():
                    block = np.fromfile(handles[name], dtype=np.float32, count=len(rows) * width)
                    out[name] = torch.from_numpy(block.reshape(len(rows), width)).to(device)
                yield rows, out
        finally:
            for handle in handles.values():
                handle.close()

    def remove(self) -> None:
        import shutil

        shutil.rmtree(self.folder, ignore_errors=True)


def _merge_over_ranks(moments: dict[str, Moments], source: Any) -> dict[str, Moments]:
    parts = distributed.all_gather_object({name: m.to_arrays() for name, m in moments.items()})
    merged = {}
    for name in source.calibrated_fields:
        present = [Moments.from_arrays(p[name]) for p in parts if name in p]
        if not present:
            raise RuntimeError(f"no calibration image could be decoded (statistic {name})")
        merged[name] = Moments.merged(present)
    return merged


def open_store(
    items: Sequence[Item],
    source: Any,
    *,
    size: int | None,
    resize_policy: str,
    shard_size: int = 1024,
    root: str | Path | None = None,
) -> FeatureStore:
    """The store of these items under this source and decoding (created by rank 0 if new), keyed by content."""
    import pandas as pd

    from .store import default_root, open_or_create, store_key

    config = {"source": source.describe(), "size": size, "resize_policy": resize_policy}
    hashes = [item.sha256 for item in items]
    key = store_key(hashes, config)
    path = Path(root) if root is not None else default_root() / key
    info = distributed.rank_info()
    if info.is_main:
        index = pd.DataFrame({"image_id": [i.image_id for i in items], "sha256": hashes})
        open_or_create(path, index, source.fields, config, shard_size=shard_size)
    distributed.barrier()
    return FeatureStore(path)
