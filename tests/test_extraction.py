"""Streaming extraction into a feature store: values, bad images, kill -9 and resume, workers, gloo ranks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from culturalstyle.cache import sha256_file
from culturalstyle.extraction import Item, fill_store, load_calibration, open_store
from culturalstyle.features import STYLE_LAYERS, VGGFeatures, load_for_features, random_vgg
from culturalstyle.sketch import GramSketcher, SketchConfig
from culturalstyle.sources import FunctionSource, SketchSource
from culturalstyle.store import FeatureStore
from culturalstyle.streaming import Moments

N_IMAGES = 14
BAD_ROW = 5


def make_items(folder: Path, n: int = N_IMAGES, bad_row: int | None = BAD_ROW) -> list[Item]:
    """`n` distinct noise images (some non-square), one of them a corrupt file."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    items = []
    for i in range(n):
        path = folder / f"img{i:02d}.png"
        if i == bad_row:
            path.write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
        else:
            h, w = (40, 32) if i % 3 else (32, 32)
            Image.fromarray(rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)).save(path)
        items.append(Item(i, f"img{i:02d}", path, sha256_file(path)))
    return items


def make_source(calibration: int = 4) -> SketchSource:
    extractor = VGGFeatures(STYLE_LAYERS, device="cpu", weights_module=random_vgg(seed=0))
    return SketchSource(GramSketcher(extractor, STYLE_LAYERS, SketchConfig(32, 4, 0, calibration)))


SETTINGS = {"size": 32, "resize_policy": "shorter"}


def build(items, root, source=None, **kwargs) -> tuple[FeatureStore, object]:
    source = source or make_source()
    store = open_store(items, source, shard_size=4, root=root, **SETTINGS)
    report = fill_store(store, items, source, batch_size=2, **kwargs)
    return store, report


def test_store_holds_the_calibrated_sketches_and_records_bad_images(tmp_path, one_torch_thread):
    items = make_items(tmp_path / "images")
    store, report = build(items, tmp_path / "store")
    assert store.complete and report.network_images == N_IMAGES - 1  # every good image exactly once
    assert report.problems == 1 and store.valid.sum() == N_IMAGES - 1 and not store.valid[BAD_ROW]
    problem = store.problems.iloc[0]
    assert problem["row"] == BAD_ROW and problem["image_id"] == "img05" and "img05.png" in problem["path"]

    # independent reference: exact triangles -> calibration moments -> sketches, image by image
    source = make_source()
    calibration = [r for r in source.calibration_rows(N_IMAGES) if r != BAD_ROW]
    good = [i for i in range(N_IMAGES) if i != BAD_ROW]
    images = torch.stack([load_for_features(items[i].path, 32) for i in range(N_IMAGES) if i != BAD_ROW])
    with torch.inference_mode():
        tri = source.exact(images)
        position = {row: k for k, row in enumerate(good)}
        moments = {
            layer: Moments.of(t[[position[r] for r in calibration]].numpy()) for layer, t in tri.items()
        }
        source.calibrate(moments)
        expected = source.compute(images)
    saved = load_calibration(store)
    for layer in STYLE_LAYERS:
        np.testing.assert_allclose(saved[layer].mean, moments[layer].mean, rtol=1e-9, atol=1e-12)
        stored = store.read(layer)[good]
        want = expected[layer].numpy()
        np.testing.assert_allclose(stored, want, rtol=2e-3, atol=2e-3 * np.abs(want).max())
        assert stored.shape[1] == store.fields[layer].width == source.fields[layer].width
        np.testing.assert_array_equal(store.read(layer)[BAD_ROW], 0.0)  # never written
        m = store.moments(layer)
        assert m.n == N_IMAGES - 1
        np.testing.assert_allclose(m.mean, stored.astype(np.float64).mean(0), rtol=1e-6, atol=1e-9)
    # a rerun finds everything done and runs no network pass at all
    _, rerun = build(items, tmp_path / "store")
    assert rerun.network_images == 0 and rerun.shards_computed == [] and not rerun.calibrated_here


KILL_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    import torch
    torch.set_num_threads(1)
    from test_extraction import build, make_items, make_source
    phase, when = sys.argv[1], int(sys.argv[2])
    source = make_source()
    calls = {{"n": 0}}
    original = getattr(source, phase)
    def dying(images):
        calls["n"] += 1
        if calls["n"] == when:
            os.kill(os.getpid(), signal.SIGKILL)
        return original(images)
    setattr(source, phase, dying)
    build(make_items(Path(sys.argv[3])), Path(sys.argv[4]), source)
    """
)


@pytest.mark.parametrize("phase,when", [("compute", 4), ("exact", 2)])
def test_kill_9_then_rerun_recomputes_only_unfinished_shards(tmp_path, phase, when, one_torch_thread):
    script = tmp_path / "kill.py"
    script.write_text(KILL_SCRIPT.format(tests=str(Path(__file__).parent)))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, str(script), phase, str(when), str(tmp_path / "images"), str(tmp_path / "store")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr[-2000:]
    items = make_items(tmp_path / "images")
    store = FeatureStore(tmp_path / "store")
    assert not store.complete
    done = store.done_shards()
    calibrated = load_calibration(store) is not None
    calibration_rows = set(make_source().calibration_rows(N_IMAGES).tolist())
    finished_rows = set()
    for name in done:
        if name.startswith("shard-"):
            finished_rows |= set(store.shard_rows(int(name.split("-")[1])).tolist())
    if calibrated:
        finished_rows |= calibration_rows
    expected = len([r for r in range(N_IMAGES) if r not in finished_rows and r != BAD_ROW])
    if phase == "compute":
        shards = [name for name in done if name.startswith("shard-")]
        assert (
            calibrated and "shard-000000" in shards and len(shards) < store.n_shards
        )  # killed in a later one
    else:
        assert not calibrated and done == []  # killed during calibration: it is redone
    _, report = build(items, tmp_path / "store")
    assert 0 < report.network_images == expected
    if phase == "compute":
        assert expected < N_IMAGES - 1 - len(calibration_rows)  # finished shards were not recomputed
    # the resumed store equals an uninterrupted run
    clean, _ = build(items, tmp_path / "clean")
    for layer in STYLE_LAYERS:
        np.testing.assert_array_equal(FeatureStore(tmp_path / "store").read(layer), clean.read(layer))
    np.testing.assert_array_equal(FeatureStore(tmp_path / "store").valid, clean.valid)


def test_worker_processes_give_the_same_store(tmp_path, one_torch_thread):
    items = make_items(tmp_path / "images")
    serial, _ = build(items, tmp_path / "serial")
    parallel, report = build(items, tmp_path / "parallel", workers=2)
    assert report.network_images == N_IMAGES - 1
    for layer in STYLE_LAYERS:
        np.testing.assert_array_equal(serial.read(layer), parallel.read(layer))
    assert parallel.problems["row"].tolist() == [BAD_ROW]


def test_function_source_serves_any_statistic(tmp_path):
    """A store is not tied to Gram sketches: any images -> {name: B x width} callable fills one."""
    items = make_items(tmp_path / "images", n=6, bad_row=None)

    def mean_colour(images: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"rgb": images.mean(dim=(2, 3))}

    source = FunctionSource(mean_colour, {"rgb": 3}, {"source": "mean-colour"})
    store = open_store(items, source, shard_size=4, root=tmp_path / "store", **SETTINGS)
    report = fill_store(store, items, source, batch_size=4)
    want = torch.stack([load_for_features(i.path, 32).mean(dim=(1, 2)) for i in items]).numpy()
    np.testing.assert_allclose(store.read("rgb"), want, atol=1e-3)
    assert report.shards_computed == ["shard-000000", "shard-000001"]


# ------------------------------------------------------------------------------------------------------------
# torchrun: two gloo processes on the CPU


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rank_worker(rank: int, world: int, port: int, images: str, root: str, fid_out: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)
    from culturalstyle import distributed

    info = distributed.init("cpu")
    assert info.world_size == world and info.rank == rank
    items = make_items(Path(images))
    store, report = build(items, Path(root))
    # FID reference statistics: each rank sees half of the features, the merge is exact
    features = np.random.default_rng(7).gamma(2.0, size=(50, 12))
    part = Moments.of(features[rank::world], full=True).all_reduce()
    if rank == 0:
        np.savez(fid_out, **part.fid_statistics(), network_images=report.network_images)
    else:
        np.savez(fid_out.replace(".npz", "-1.npz"), network_images=report.network_images)
    distributed.barrier()
    import torch.distributed as dist

    dist.destroy_process_group()


@pytest.mark.slow
def test_two_gloo_ranks_equal_one_process(tmp_path):
    import torch.multiprocessing as mp
    from torch_fidelity.metric_fid import fid_features_to_statistics

    items = make_items(tmp_path / "images")
    single, _ = build(items, tmp_path / "single")
    fid_out = str(tmp_path / "fid.npz")
    mp.spawn(
        _rank_worker,
        args=(2, _free_port(), str(tmp_path / "images"), str(tmp_path / "ranked"), fid_out),
        nprocs=2,
        join=True,
    )
    ranked = FeatureStore(tmp_path / "ranked")
    assert ranked.complete
    for layer in STYLE_LAYERS:
        a, b = single.read(layer), ranked.read(layer)
        np.testing.assert_allclose(b, a, rtol=2e-3, atol=2e-3 * max(np.abs(a).max(), 1.0))
        np.testing.assert_allclose(
            ranked.moments(layer).mean, single.moments(layer).mean, rtol=1e-3, atol=1e-3
        )
    np.testing.assert_array_equal(ranked.valid, single.valid)
    # the ranks split the work: together they ran each good image through the network once
    with np.load(fid_out) as r0, np.load(fid_out.replace(".npz", "-1.npz")) as r1:
        assert int(r0["network_images"]) + int(r1["network_images"]) == N_IMAGES - 1
        assert 0 < int(r0["network_images"]) < N_IMAGES - 1
        features = np.random.default_rng(7).gamma(2.0, size=(50, 12))
        reference = fid_features_to_statistics(torch.from_numpy(features))
        np.testing.assert_allclose(r0["mu"], reference["mu"], rtol=1e-12)
        np.testing.assert_allclose(r0["sigma"], reference["sigma"], rtol=1e-10, atol=1e-12)


def test_a_file_that_is_not_what_its_row_says_is_a_problem_row_not_a_crash(tmp_path):
    items = make_items(tmp_path / "images", n=5, bad_row=None)
    items[2] = Item(2, items[2].image_id, items[2].path, "0" * 64)  # a stale / swapped manifest hash
    source = FunctionSource(
        lambda images: {"rgb": images.mean(dim=(2, 3))}, {"rgb": 3}, {"source": "mean-colour"}
    )
    store = open_store(items, source, shard_size=4, root=tmp_path / "store", **SETTINGS)
    report = fill_store(store, items, source, batch_size=2)
    assert report.problems == 1 and store.valid.tolist() == [True, True, False, True, True]
    problem = store.problems.iloc[0]
    assert problem["kind"] == "sha256 mismatch" and "corpus check" in problem["reason"]


def test_images_of_different_shapes_are_batched_by_shape(tmp_path, one_torch_thread):
    """resize_policy="longer" keeps aspect ratios: a batch is split into one network call per shape."""
    items = make_items(tmp_path / "images", n=6, bad_row=None)  # 40 x 32 and 32 x 32 originals

    def per_image_mean(images: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"m": images.mean(dim=(2, 3)), "h": torch.full((len(images), 1), float(images.shape[2]))}

    calls = []

    def counted(images):
        calls.append(tuple(images.shape))
        return per_image_mean(images)

    source = FunctionSource(counted, {"m": 3, "h": 1}, {"source": "shape-test"})
    store = open_store(items, source, size=32, resize_policy="longer", shard_size=6, root=tmp_path / "store")
    fill_store(store, items, source, batch_size=6)
    shapes = {tuple(load_for_features(item.path, 32, "longer").shape[1:]) for item in items}
    assert len(shapes) == 2 and {shape[2:] for shape in calls} == shapes and len(calls) == 2
    for i, item in enumerate(items):
        image = load_for_features(item.path, 32, "longer")
        np.testing.assert_allclose(store.read("m")[i], image.mean(dim=(1, 2)).numpy(), atol=1e-6)
        assert store.read("h")[i, 0] == image.shape[1]
