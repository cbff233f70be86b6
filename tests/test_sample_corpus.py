"""The committed sample corpus: files match the manifest, splits are honest, the card tells the truth."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from conftest import SAMPLE
from PIL import Image

from culturalstyle import corpus as cm
from culturalstyle.cache import sha256_file
from culturalstyle.cli import main as cli_main

ART = {"ukiyo_e", "renaissance", "impressionism", "chinese_ink"}


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    """The manifest read with plain pandas (independent of the Corpus class)."""
    return pd.read_csv(SAMPLE / "manifest.csv", dtype=str, keep_default_na=False)


def test_files_match_manifest(raw):
    assert list(raw.columns[:12]) == cm.COLUMNS
    total = 0
    for row in raw.itertuples(index=False):
        path = SAMPLE / row.path
        assert row.path == f"{row.culture}/{path.name}" and path.suffix == ".jpg"
        assert sha256_file(path) == row.sha256, row.path
        with Image.open(path) as img:
            assert img.format == "JPEG" and img.mode == "RGB"
            assert img.size == (int(row.width), int(row.height))
            assert max(img.size) <= 512
        total += path.stat().st_size
    assert total < 40e6
    on_disk = {p.relative_to(SAMPLE).as_posix() for p in SAMPLE.rglob("*.jpg")}
    assert on_disk == set(raw["path"])  # no stray, unlisted images


def test_cultures_and_provenance(raw):
    counts = raw["culture"].value_counts()
    assert set(counts.index) == ART | {"content_photo"}
    assert all(counts[c] >= 20 for c in ART)
    for column in ("source", "license", "artist", "title"):
        assert (raw[column].str.len() > 0).all(), column
    assert raw["image_id"].is_unique


def test_splits_artist_disjoint_and_reproducible(raw, sample_corpus):
    art = raw[raw["culture"] != "content_photo"]
    assert set(art["split"]) == {"train", "test"}
    assert set(raw.loc[raw["culture"] == "content_photo", "split"]) == {"content"}
    known = art[art["artist"].map(cm.artist_known)]
    assert known.groupby("artist")["split"].nunique().max() == 1
    for _, group in art.groupby("culture"):
        assert (group["split"] == "test").sum() > 0 and (group["split"] == "train").sum() > 0
    cleared = sample_corpus.df.copy()
    cleared.loc[cleared["split"] != "content", "split"] = ""
    rebuilt = cm.make_splits(cm.Corpus(cleared, sample_corpus.root), test_fraction=0.2, seed=0)
    assert rebuilt.df["split"].tolist() == sample_corpus.df["split"].tolist()


def test_sample_is_clean(sample_corpus):
    problems = sample_corpus.check()
    assert problems.empty, problems.to_string()


def test_card_counts_are_the_summary_output(raw, capsys):
    card = (SAMPLE / "README.md").read_text(encoding="utf-8")
    assert cli_main(["corpus", "summary", str(SAMPLE)]) == 0
    printed = capsys.readouterr().out
    assert printed in card
    # Independently of the summary code: every culture row of the card matches the manifest counts.
    for culture, group in raw.groupby("culture"):
        n_known = group.loc[group["artist"].map(cm.artist_known), "artist"].nunique()
        n_train, n_test = (group["split"] == "train").sum(), (group["split"] == "test").sum()
        n_content = (group["split"] == "content").sum()
        line = f"| {culture} | {len(group)} | {n_known} | {n_train} | {n_test} | {n_content} |"
        assert line in card, line
    assert re.search(rf"^{len(raw)} images, 5 cultures, ", card, flags=re.M)
    for artist, n in raw[raw["culture"] == "ukiyo_e"]["artist"].value_counts().items():
        assert re.search(rf"\| ukiyo_e \| {re.escape(artist)} \| {n} \|", card), artist
    for phrase in ("Hiroshige", "Hokusai", "six painters", "mounting", "Renaissance** is broad"):
        assert phrase in card
