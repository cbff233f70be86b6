"""The on-disk feature store: allocation, positioned writes, shard markers, merged statistics, reads."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from culturalstyle.store import FeatureStore, Field, StoreError, open_or_create, store_key
from culturalstyle.streaming import Moments


def make_index(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {"image_id": [f"img{i}" for i in range(n)], "sha256": [f"{i:064x}" for i in range(n)]}
    )


def test_write_read_round_trip_and_finalize(tmp_path):
    rng = np.random.default_rng(0)
    store = FeatureStore.create(
        tmp_path / "s", make_index(10), {"a": 3, "b": Field(2, "float32")}, {"x": 1}, shard_size=4
    )
    assert store.n_shards == 3 and list(store.shard_rows(2)) == [8, 9]
    assert store.bytes_per_row == 3 * 2 + 2 * 4
    a, b = rng.normal(size=(10, 3)), rng.normal(size=(10, 2))
    with pytest.raises(StoreError, match="incomplete"):
        _ = store.valid
    # rows written out of order and in scattered runs land where they belong
    for shard, rows in enumerate([np.array([3, 0, 1, 2]), np.array([7, 5, 4, 6]), np.array([9, 8])]):
        store.write_rows(rows, {"a": a[rows], "b": b[rows]})
        good = rows[rows != 5]
        problems = (
            [{"row": 5, "image_id": "img5", "path": "p", "kind": "corrupt", "reason": "r"}]
            if shard == 1
            else []
        )
        moments = {"a": Moments.of(a[good].astype(np.float16)), "b": Moments.of(b[good])}
        store.mark_done(f"shard-{shard}", rows, moments, problems)
    store.finalize()
    again = FeatureStore(tmp_path / "s")
    np.testing.assert_array_equal(again.read("a"), a.astype(np.float16).astype(np.float32))
    np.testing.assert_allclose(again.read("b"), b.astype(np.float32))
    np.testing.assert_array_equal(again.read("a", np.array([9, 2, 2])), again.read("a")[[9, 2, 2]])
    np.testing.assert_array_equal(again.read("a", slice(2, 9, 3)), again.read("a")[2:9:3])
    assert again.valid.tolist() == [True] * 5 + [False] + [True] * 4
    assert again.problems[["row", "kind"]].values.tolist() == [[5, "corrupt"]]
    good = np.flatnonzero(again.valid)
    np.testing.assert_allclose(again.moments("b").mean, b[good].mean(0), rtol=1e-10)
    np.testing.assert_allclose(
        again.moments("a").variance(), a[good].astype(np.float16).astype(np.float64).var(0), rtol=1e-9
    )
    np.testing.assert_array_equal(again.memmap("a"), a.astype(np.float16))
    # chunks: contiguous and scattered selections both give the right rows
    for rows in (None, np.array([0, 1, 2, 9]), np.array([8, 1, 3])):
        got_rows, got = [], []
        for r, block in again.chunks(["a"], rows, size=2):
            got_rows.append(r)
            got.append(block["a"])
        expect = np.arange(10) if rows is None else rows
        np.testing.assert_array_equal(np.concatenate(got_rows), expect)
        np.testing.assert_array_equal(np.concatenate(got), again.read("a")[expect])
    assert json.loads((tmp_path / "s" / "complete.json").read_text())["n_valid"] == 9


def test_unfinished_shards_block_finalize_and_existing_stores_are_not_overwritten(tmp_path):
    store = FeatureStore.create(tmp_path / "s", make_index(5), {"a": 2}, {}, shard_size=2)
    store.write_rows(np.array([0, 1]), {"a": np.ones((2, 2))})
    store.mark_done("shard-0", np.array([0, 1]), {"a": Moments.of(np.ones((2, 2)))})
    with pytest.raises(StoreError, match="3 rows belong to no finished shard"):
        store.finalize()
    with pytest.raises(StoreError, match="already exists"):
        FeatureStore.create(tmp_path / "s", make_index(5), {"a": 2}, {})
    # open_or_create reopens the same content and config, refuses another one
    assert open_or_create(tmp_path / "s", make_index(5), {"a": 2}, {}).done_shards() == ["shard-0"]
    with pytest.raises(StoreError, match="different corpus or config"):
        open_or_create(tmp_path / "s", make_index(5), {"a": 2}, {"other": True})
    assert store.key == store_key(make_index(5)["sha256"].tolist(), {})


def test_store_bad_input(tmp_path):
    with pytest.raises(ValueError, match="needs columns image_id and sha256"):
        FeatureStore.create(tmp_path / "x", pd.DataFrame({"image_id": ["a"]}), {"a": 1}, {})
    with pytest.raises(StoreError, match="not a feature store"):
        FeatureStore(tmp_path)
    store = FeatureStore.create(tmp_path / "s", make_index(3), {"a": 2}, {})
    with pytest.raises(ValueError, match=r"expected \(1, 2\) values"):
        store.write_rows(np.array([0]), {"a": np.ones((1, 3))})
    with pytest.raises(KeyError, match="unknown store field"):
        store.write_rows(np.array([0]), {"z": np.ones((1, 2))})
    with pytest.raises(IndexError, match="outside"):
        store.write_rows(np.array([3]), {"a": np.ones((1, 2))})


def test_allocation_is_sparse_until_written(tmp_path):
    store = FeatureStore.create(tmp_path / "s", make_index(20000), {"a": 512}, {})
    assert store.disk_bytes() < 0.1 * 20000 * 512 * 2  # 20 MB logical, almost nothing allocated
