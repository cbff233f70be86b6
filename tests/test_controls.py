"""Negative-control images (culturalstyle.metrics.controls): deterministic, same sizes, cached by content."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from culturalstyle.corpus import Corpus
from culturalstyle.metrics import controls

BLANK = {"artist": "", "title": "", "date": "", "source": "", "license": ""}


@pytest.fixture
def pair(tmp_path, monkeypatch):
    monkeypatch.setenv("CULTURALSTYLE_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    (tmp_path / "src").mkdir()
    rows, trows = [], []
    for i in range(3):
        arr = np.zeros((40, 60, 3), np.uint8)
        arr[:, : 20 + 10 * i] = (200, 30 + 40 * i, 10)  # structured image: a coloured block
        arr[:, 20 + 10 * i :] = rng.integers(0, 60, size=(40, 40 - 10 * i, 3))
        Image.fromarray(arr).save(tmp_path / "src" / f"s{i}.png")
        rows.append(
            {
                **BLANK,
                "image_id": f"s{i}",
                "path": f"src/s{i}.png",
                "culture": "a",
                "split": "test",
                "sha256": f"{i}" * 64,
                "width": 60,
                "height": 40,
            }
        )
        trows.append(
            {
                **BLANK,
                "image_id": f"t{i}",
                "path": f"t{i}.png",
                "culture": "b",
                "split": "test",
                "sha256": "",
                "width": 48,
                "height": 32,
                "source_image_id": f"s{i}",
                "direction": "A2B",
            }
        )
    sources = Corpus(pd.DataFrame(rows), tmp_path).df
    trans = Corpus(pd.DataFrame(trows), tmp_path / "trans")
    return trans, sources, tmp_path


def test_noise_is_uniform_and_deterministic():
    a = controls.control_image("noise", (50, 40), seed=1)
    assert a.shape == (40, 50, 3) and a.dtype == np.uint8
    assert np.array_equal(a, controls.control_image("noise", (50, 40), seed=1))
    assert not np.array_equal(a, controls.control_image("noise", (50, 40), seed=2))
    assert abs(a.mean() - 127.5) < 5 and a.min() == 0 and a.max() == 255


def test_pixel_shuffle_keeps_the_colour_histogram_and_destroys_structure(pair):
    _, _, root = pair
    source = root / "src" / "s0.png"
    shuffled = controls.control_image("pixel-shuffled", (60, 40), seed=0, source=source)
    original = np.asarray(Image.open(source).convert("RGB"))
    flat = lambda x: np.sort(x.reshape(-1, 3).view([("r", "u1"), ("g", "u1"), ("b", "u1")]), axis=0)  # noqa: E731
    assert np.array_equal(flat(shuffled), flat(original))
    # the left block of the source is one colour; after shuffling, its columns are mixed
    assert (shuffled[:, :20] == (200, 30, 10)).all(axis=-1).mean() < 0.6
    with pytest.raises(ValueError, match="unknown negative control"):
        controls.control_image("blur", (4, 4), seed=0)


def test_negative_control_corpus_matches_translation_sizes_and_is_cached(pair):
    trans, sources, root = pair
    first = controls.negative_control("noise", trans, sources, root, seed=0)
    assert len(first) == 3 and list(first.df["source_image_id"]) == ["s0", "s1", "s2"]
    assert (first.df["method"] == "noise").all()
    for path in first.paths():
        with Image.open(path) as img:
            assert img.size == (48, 32)
    mtimes = [p.stat().st_mtime_ns for p in first.paths()]
    again = controls.negative_control("noise", trans, sources, root, seed=0)
    assert [p.stat().st_mtime_ns for p in again.paths()] == mtimes  # reused, not rewritten
    assert list(again.df["sha256"]) == list(first.df["sha256"])
    # a damaged cached control is rewritten rather than used, with the caches' warning
    first.paths()[0].write_bytes(b"not a png")
    with pytest.warns(UserWarning, match="damaged negative-control image .* recomputing and replacing it"):
        repaired = controls.negative_control("noise", trans, sources, root, seed=0)
    assert list(repaired.df["sha256"]) == list(first.df["sha256"])
    shuffled = controls.negative_control("pixel-shuffled", trans, sources, root, seed=0)
    assert set(shuffled.df["sha256"]).isdisjoint(first.df["sha256"])
