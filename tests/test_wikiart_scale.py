"""WikiArt at its real size: the ArtGAN CSV layout with 81,444 rows, and an 81,444-row manifest, in seconds.

The files on disk are a few tiny images: what is measured is everything that scales with the number of rows
(CSV parsing, duplicate search, artist-disjoint splits, the store's row index), not decoding.
"""

from __future__ import annotations

import csv
import time

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from culturalstyle import corpus as corpus_module
from culturalstyle.corpus import Corpus, from_wikiart, make_splits, near_duplicate_pairs

ARTGAN_TRAIN, ARTGAN_VAL = 57_025, 24_419  # 81,444 rows
STYLES = ["Ukiyo_e", "Impressionism", "Early_Renaissance", "Baroque"]


@pytest.fixture(scope="module")
def wikiart(tmp_path_factory):
    root = tmp_path_factory.mktemp("wikiart")
    rng = np.random.default_rng(0)
    for style in STYLES:
        (root / style).mkdir()
        for i in range(2):
            image = rng.integers(0, 256, size=(40, 36, 3), dtype=np.uint8)
            Image.fromarray(image).save(root / style / f"painter-{i}_work-{style.lower()}-{i}-18{50 + i}.jpg")
    rows = [
        (f"{STYLES[i % 4]}/painter-{i % 1119}_listed-work-{i}.jpg", i % 27)
        for i in range(ARTGAN_TRAIN + ARTGAN_VAL)
    ]
    rows[0] = ("Ukiyo_e/painter-0_work-ukiyo_e-0-1850.jpg", 0)  # two of the files on disk are listed
    rows[-1] = ("Impressionism/painter-1_work-impressionism-1-1851.jpg", 12)
    with open(root / "style_train.csv", "w", newline="") as handle:
        csv.writer(handle).writerows(rows[:ARTGAN_TRAIN])
    with open(root / "style_val.csv", "w", newline="") as handle:
        csv.writer(handle).writerows(rows[ARTGAN_TRAIN:])
    return root


def test_artgan_csvs_at_real_size_import_in_seconds(wikiart):
    start = time.perf_counter()
    corpus = from_wikiart(wikiart)
    elapsed = time.perf_counter() - start
    assert elapsed < 60, f"importing took {elapsed:.1f} s"
    assert len(corpus) == 6  # Baroque maps to no culture
    split = dict(zip(corpus.df["source"], corpus.df["split"]))
    assert split["wikiart:Ukiyo_e/painter-0_work-ukiyo_e-0-1850.jpg"] == "train"
    assert split["wikiart:Impressionism/painter-1_work-impressionism-1-1851.jpg"] == "test"
    assert split["wikiart:Early_Renaissance/painter-0_work-early_renaissance-0-1850.jpg"] == ""
    assert set(corpus.df["culture"]) == {"ukiyo_e", "impressionism", "renaissance"}
    assert corpus.problems["kind"].tolist() == ["unmapped style"]


def test_an_81444_row_manifest_splits_and_indexes_in_seconds(wikiart, tmp_path):
    n = ARTGAN_TRAIN + ARTGAN_VAL
    rng = np.random.default_rng(1)
    on_disk = sorted(p.relative_to(wikiart).as_posix() for p in wikiart.rglob("*.jpg"))
    cultures = np.array(["ukiyo_e", "impressionism", "renaissance"])
    hashes = rng.integers(0, 2**63, size=n)
    hashes[1::500] = hashes[0::500][: len(hashes[1::500])] ^ 1  # one near-duplicate pair per 500 rows
    df = pd.DataFrame(
        {
            "image_id": [f"w{i:05d}" for i in range(n)],
            "path": [on_disk[i % len(on_disk)] for i in range(n)],
            "culture": cultures[rng.integers(0, 3, size=n)],
            "artist": [f"painter-{i % 1119}" for i in range(n)],
            "title": "t",
            "date": "1850",
            "source": "synthetic",
            "license": "test",
            "split": "",
            "sha256": [f"{i:064x}" for i in range(n)],
            "width": 36,
            "height": 40,
            "phash": [f"{int(h):016x}" for h in hashes],
        }
    )
    start = time.perf_counter()
    pairs = near_duplicate_pairs(df["phash"].tolist(), corpus_module.NEAR_DUPLICATE_BITS)
    assert len(pairs) >= len(hashes[1::500])
    assert {(i, i + 1) for i in range(0, n - 1, 500)} <= {(i, j) for i, j, _ in pairs}
    split = make_splits(Corpus(df, wikiart), test_fraction=0.2, seed=0)
    counts = split.df["split"].value_counts()
    assert abs(counts["test"] / n - 0.2) < 0.02
    artist_splits = split.df.groupby("artist")["split"].nunique()
    assert artist_splits.max() == 1  # artist-disjoint
    from culturalstyle.extraction import corpus_items, open_store
    from culturalstyle.sources import FunctionSource

    items = corpus_items(split)
    source = FunctionSource(lambda images: {"x": images.mean(dim=(2, 3))}, {"x": 3}, {"source": "test"})
    store = open_store(
        items, source, size=32, resize_policy="shorter", shard_size=1024, root=tmp_path / "store"
    )
    elapsed = time.perf_counter() - start
    assert store.n_rows == n and store.n_shards == 80
    assert store.index["sha256"].iloc[-1] == f"{n - 1:064x}"
    assert elapsed < 120, f"duplicates, splits and the store index took {elapsed:.1f} s"
