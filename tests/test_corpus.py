"""Corpus layer: importers that record every bad file, duplicates, splits, persistence and the CLI."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import scipy.fft
from PIL import Image

from culturalstyle import corpus as cm
from culturalstyle.cache import sha256_file
from culturalstyle.cli import main as cli_main
from culturalstyle.corpus import Corpus, CorpusError
from culturalstyle.duplicates import _DCT32
from culturalstyle.images import ImageLimits, load_image


def rng_image(seed: int, width: int = 48, height: int = 48, mode: str = "RGB") -> Image.Image:
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(arr, "RGB") if mode == "RGB" else Image.fromarray(arr, "RGB").convert(mode)


def write_bad_input_tree(root):
    """One file per input kind the corpus layer must handle; returns the expected outcome per file."""
    u = root / "ukiyo_e"
    u.mkdir(parents=True)
    rng_image(1).save(u / "plain.jpg", quality=90)
    rng_image(2, 40, 40, "CMYK").save(u / "cmyk.jpg", quality=90)
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 65536, (40, 44), dtype=np.uint16)).save(u / "sixteen.png")
    pal = Image.fromarray(rng.integers(0, 4, (40, 40), dtype=np.uint8), "P")
    pal.putpalette([0, 0, 0, 200, 0, 0, 0, 200, 0, 0, 0, 200] + [0] * 252 * 3)
    pal.save(u / "palette.png", transparency=0)
    rgba = np.dstack([rng.integers(0, 256, (40, 40, 3)), rng.integers(0, 256, (40, 40))]).astype(np.uint8)
    Image.fromarray(rgba, "RGBA").save(u / "rgba.png")
    Image.fromarray(rng.integers(0, 256, (36, 40), dtype=np.uint8), "L").save(u / "grey.png")
    exif = Image.Exif()
    exif[0x0112] = 6
    rng_image(4, 40, 64).save(u / "rotated.jpg", exif=exif.tobytes(), quality=90)
    rng_image(5, 64, 64).save(u / "huge.png")  # beyond the test's pixel limit (3000)
    rng_image(6, 20, 20).save(u / "small.png")
    (u / "notes.jpg").write_text("not an image, despite the name\n")
    rng_image(7, 48, 48).save(root / "good.jpg", quality=90)
    data = (root / "good.jpg").read_bytes()
    (u / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (root / "good.jpg").unlink()
    rng_image(8).save(root / "good.png")
    png = bytearray((root / "good.png").read_bytes())
    at = png.find(b"IDAT") + 20
    png[at : at + 40] = bytes(b ^ 0xFF for b in png[at : at + 40])
    (u / "corrupt.png").write_bytes(bytes(png))
    (root / "good.png").unlink()
    rng_image(10).save(root / "stray.jpg")  # an image outside any culture folder
    (root / "README.md").write_text("# notes\n")  # not an image file: ignored
    r = root / "renaissance"
    r.mkdir()
    rng_image(9).save(r / "madonna.jpg", quality=90)
    rng_image(11).save(root.parent / "outside.jpg", quality=90)
    (r / "link.jpg").symlink_to(root.parent / "outside.jpg")  # a symlink out of the corpus root
    loaded = {  # file -> (width, height) recorded in the manifest
        "ukiyo_e/plain.jpg": (48, 48),
        "ukiyo_e/cmyk.jpg": (40, 40),
        "ukiyo_e/sixteen.png": (44, 40),
        "ukiyo_e/palette.png": (40, 40),
        "ukiyo_e/rgba.png": (40, 40),
        "ukiyo_e/grey.png": (40, 36),
        "ukiyo_e/rotated.jpg": (64, 40),  # EXIF orientation 6 swaps the sides
        "renaissance/madonna.jpg": (48, 48),
    }
    rejected = {
        "ukiyo_e/huge.png": "too large",
        "ukiyo_e/small.png": "too small",
        "ukiyo_e/notes.jpg": "not an image",
        "ukiyo_e/truncated.jpg": "truncated",
        "ukiyo_e/corrupt.png": "corrupt",
        "stray.jpg": "not in a culture folder",
        "../outside.jpg": "outside root",
    }
    return loaded, rejected


def write_bad_manifest(root):
    """The bad-input tree imported, then a manifest with one row per bad manifest kind (issue 15); returns
    (corpus, {path: the kind `check` must report})."""
    write_bad_input_tree(root)
    corpus = cm.from_folder(root, limits=LIMITS)
    df = corpus.df.set_index("image_id")
    df.loc["ukiyo_e/plain", "sha256"], df.loc["ukiyo_e/cmyk", "sha256"] = (
        df.loc["ukiyo_e/cmyk", "sha256"],
        df.loc["ukiyo_e/plain", "sha256"],
    )  # swapped hashes
    df.loc["ukiyo_e/grey", "sha256"] = "0" * 64  # zeroed hash
    rng_image(12, 64, 40).save(root / "ukiyo_e/rotated.jpg", quality=90)  # stale: replaced after import
    df.loc["renaissance/madonna", "culture"] = ""  # empty culture label
    old = df.loc["ukiyo_e/sixteen"].to_dict()
    extra = {
        "notes": "ukiyo_e/notes.jpg",  # a non-image with an old (valid image's) hash
        "dotdot": "../outside.jpg",
        "absolute": str((root.parent / "outside.jpg").resolve()),
    }
    rows = pd.DataFrame([old | {"path": p} for p in extra.values()], index=list(extra))
    bad = Corpus(pd.concat([df, rows]).rename_axis("image_id").reset_index(), root)
    expected = {
        "ukiyo_e/plain.jpg": "sha256 mismatch",
        "ukiyo_e/cmyk.jpg": "sha256 mismatch",
        "ukiyo_e/grey.png": "sha256 mismatch",
        "ukiyo_e/rotated.jpg": "sha256 mismatch",
        "renaissance/madonna.jpg": "no culture",
        "ukiyo_e/notes.jpg": "not an image",
        "../outside.jpg": "outside root",
        extra["absolute"]: "outside root",
    }
    return bad, expected


LIMITS = ImageLimits(min_side=32, max_pixels=3000)


def test_folder_import_outcome_for_every_bad_input_kind(tmp_path):
    loaded, rejected = write_bad_input_tree(tmp_path / "art")
    corpus = cm.from_folder(tmp_path / "art", limits=LIMITS)
    df = corpus.df.set_index("path")
    assert sorted(df.index) == sorted(loaded)
    for rel, (width, height) in loaded.items():
        assert (df.at[rel, "width"], df.at[rel, "height"]) == (width, height), rel
        assert df.at[rel, "sha256"] == sha256_file(tmp_path / "art" / rel)
        img = load_image(corpus.abspath(df.at[rel, "image_id"]))
        assert img.mode == "RGB" and img.size == (width, height)
    assert df.at["ukiyo_e/plain.jpg", "image_id"] == "ukiyo_e/plain"
    assert set(df["culture"]) == {"ukiyo_e", "renaissance"}
    problems = dict(zip(corpus.problems["path"], corpus.problems["kind"], strict=True))
    assert problems == rejected  # exactly the bad files: no spurious duplicates, README.md ignored
    reasons = dict(zip(corpus.problems["path"], corpus.problems["reason"], strict=True))
    assert reasons["ukiyo_e/small.png"] == "too small: 20x20 px, minimum side is 32"
    assert "64x64 = 4096 pixels exceeds the limit of 3000" in reasons["ukiyo_e/huge.png"]


def test_check_outcome_for_every_bad_manifest_kind(tmp_path):
    from culturalstyle import features
    from culturalstyle.embedding import EmbedConfig, embed_corpus
    from culturalstyle.images import ContentMismatchError

    bad, expected = write_bad_manifest(tmp_path / "art")
    found = bad.check()
    kinds = found[~found["kind"].str.endswith("duplicate")].groupby("path")["kind"].apply(set).to_dict()
    assert kinds == {path: {kind} for path, kind in expected.items()}
    assert set(expected.values()) <= set(cm.ERROR_KINDS)
    with pytest.raises(CorpusError, match="empty culture label.*madonna.*outside the corpus root"):
        embed_corpus(bad, tmp_path / "e", EmbedConfig(size=32))
    vgg = features.VGGFeatures(("relu1_1",), weights_module=features.random_vgg(), device="cpu")
    for image_id in ("ukiyo_e/plain", "ukiyo_e/grey", "ukiyo_e/rotated", "notes"):
        with pytest.raises(ContentMismatchError, match=f"image_id {image_id!r}"):
            features.extract(
                bad.df[bad.df["image_id"] == image_id].pipe(Corpus, bad.root), ("relu1_1",), 32, extractor=vgg
            )


def test_loaded_images_are_upright_rgb(tmp_path):
    write_bad_input_tree(tmp_path / "art")
    corpus = cm.from_folder(tmp_path / "art", limits=LIMITS)
    rotated = np.asarray(load_image(corpus.abspath("ukiyo_e/rotated")))
    stored = np.asarray(Image.open(tmp_path / "art/ukiyo_e/rotated.jpg").convert("RGB"))
    np.testing.assert_array_equal(rotated, np.rot90(stored, k=-1))  # orientation 6 = rotate 90 clockwise
    palette = np.asarray(load_image(corpus.abspath("ukiyo_e/palette")))
    indices = np.asarray(Image.open(tmp_path / "art/ukiyo_e/palette.png"))
    np.testing.assert_array_equal(palette[indices == 0], np.full(((indices == 0).sum(), 3), 255))


def test_empty_culture_folder_is_an_error(tmp_path):
    rng_image(1).save(tmp_path / "ok.jpg")
    (tmp_path / "art" / "ukiyo_e").mkdir(parents=True)
    shutil.move(tmp_path / "ok.jpg", tmp_path / "art" / "ukiyo_e" / "ok.jpg")
    (tmp_path / "art" / "chinese_ink").mkdir()
    with pytest.raises(CorpusError, match=r"empty culture folder.*chinese_ink"):
        cm.from_folder(tmp_path / "art")


def test_unknown_culture_label_is_an_error(tmp_path):
    (tmp_path / "art" / "ukiyoe").mkdir(parents=True)
    rng_image(1).save(tmp_path / "art" / "ukiyoe" / "a.jpg")
    with pytest.raises(CorpusError, match=r"unknown culture label 'ukiyoe'"):
        cm.from_folder(tmp_path / "art", cultures=["ukiyo_e", "renaissance"])
    (tmp_path / "meta.csv").write_text("path,culture,artist\nukiyoe/a.jpg,baroque,X\n")
    with pytest.raises(CorpusError, match=r"unknown culture label 'baroque'"):
        cm.from_folder(tmp_path / "art", tmp_path / "meta.csv", cultures=["ukiyoe"])
    with pytest.raises(CorpusError, match=r"says culture 'baroque' but the file is in folder 'ukiyoe'"):
        cm.from_folder(tmp_path / "art", tmp_path / "meta.csv")


def test_all_files_bad_culture_is_recorded(tmp_path):
    (tmp_path / "art" / "a").mkdir(parents=True)
    (tmp_path / "art" / "b").mkdir()
    rng_image(1).save(tmp_path / "art" / "a" / "ok.jpg")
    (tmp_path / "art" / "b" / "x.jpg").write_text("text")
    with pytest.warns(UserWarning, match="no usable image"):
        corpus = cm.from_folder(tmp_path / "art")
    assert corpus.cultures == ["a"]
    assert set(corpus.problems["kind"]) == {"not an image", "empty culture"}


def test_metadata_csv_fills_columns_and_reports_missing_rows(tmp_path):
    art = tmp_path / "art"
    (art / "ukiyo_e").mkdir(parents=True)
    rng_image(1).save(art / "ukiyo_e" / "a.jpg")
    rng_image(2).save(art / "ukiyo_e" / "b.jpg")
    pd.DataFrame(
        {
            "path": ["ukiyo_e/a.jpg", "ukiyo_e/gone.jpg"],
            "artist": ["Hokusai", "X"],
            "title": ["Wave", "Y"],
            "license": ["PD", "PD"],
            "culture": ["ukiyo_e", "ukiyo_e"],
        }
    ).to_csv(tmp_path / "meta.csv", index=False)
    corpus = cm.from_folder(art, tmp_path / "meta.csv")
    row = corpus.df.set_index("path").loc["ukiyo_e/a.jpg"]
    assert (row["artist"], row["title"], row["license"]) == ("Hokusai", "Wave", "PD")
    assert corpus.df.set_index("path").at["ukiyo_e/b.jpg", "artist"] == ""
    assert corpus.problems.to_dict("records") == [
        {
            "path": "ukiyo_e/gone.jpg",
            "kind": "missing",
            "reason": f"metadata row ukiyo_e/gone.jpg has no file under {art}",
        }
    ]


# -- perceptual hash and duplicates ---------------------------------------------------------------------------
def test_dct_matrix_matches_scipy():
    x = np.random.default_rng(0).normal(size=(32, 32))
    np.testing.assert_allclose(_DCT32 @ x @ _DCT32.T, scipy.fft.dctn(x, norm="ortho"), atol=1e-10)


def test_phash_robust_to_rescaling_but_separates_images():
    smooth = Image.fromarray(
        (np.random.default_rng(0).normal(size=(8, 8, 3)) * 60 + 128).clip(0, 255).astype(np.uint8)
    ).resize((256, 256), Image.Resampling.BICUBIC)
    other = Image.fromarray(
        (np.random.default_rng(1).normal(size=(8, 8, 3)) * 60 + 128).clip(0, 255).astype(np.uint8)
    ).resize((256, 256), Image.Resampling.BICUBIC)
    h = cm.phash(smooth)
    assert len(h) == 16 and cm.hamming(h, h) == 0
    assert cm.hamming(h, cm.phash(smooth.resize((97, 97)))) <= 4
    assert cm.hamming(h, cm.phash(other)) > 12


def test_near_duplicate_pairs_equals_brute_force():
    rng = np.random.default_rng(0)
    base = [int(v) for v in rng.integers(0, 2**63, 60, dtype=np.int64)]
    values = base + [b ^ (1 << int(rng.integers(0, 64))) ^ (1 << int(rng.integers(0, 64))) for b in base[:20]]
    values += [b ^ int(sum(1 << int(k) for k in rng.choice(64, 5, replace=False))) for b in base[20:30]]
    hashes = [f"{v:016x}" for v in values]
    for threshold in (2, 6):
        brute = [
            (i, j, cm.hamming(hashes[i], hashes[j]))
            for i in range(len(hashes))
            for j in range(i + 1, len(hashes))
            if cm.hamming(hashes[i], hashes[j]) <= threshold
        ]
        assert cm.near_duplicate_pairs(hashes, threshold) == brute
    assert len(cm.near_duplicate_pairs(hashes, 6)) >= 30


def write_duplicate_tree(root):
    (root / "ukiyo_e").mkdir(parents=True)
    (root / "renaissance").mkdir()
    smooth = Image.fromarray(
        (np.random.default_rng(0).normal(size=(6, 6, 3)) * 60 + 128).clip(0, 255).astype(np.uint8)
    ).resize((64, 64), Image.Resampling.BICUBIC)
    smooth.save(root / "ukiyo_e" / "orig.png")
    shutil.copy(root / "ukiyo_e" / "orig.png", root / "ukiyo_e" / "copy.png")
    smooth.resize((50, 50)).save(root / "ukiyo_e" / "smaller.jpg", quality=80)
    for i in range(12):
        rng_image(100 + i).save(root / "ukiyo_e" / f"n{i}.jpg")
        rng_image(200 + i).save(root / "renaissance" / f"r{i}.jpg")


def test_duplicates_reported_and_never_straddle_splits(tmp_path):
    write_duplicate_tree(tmp_path / "art")
    corpus = cm.from_folder(tmp_path / "art")
    dups = cm.find_duplicates(corpus)
    pairs = {
        frozenset((a, b)): kind
        for a, b, kind in zip(dups["image_id_a"], dups["image_id_b"], dups["kind"], strict=True)
    }
    assert pairs[frozenset(("ukiyo_e/orig", "ukiyo_e/copy"))] == "exact"
    assert pairs[frozenset(("ukiyo_e/orig", "ukiyo_e/smaller"))] == "near"
    assert len(pairs) == 3
    assert sorted(corpus.problems["kind"]) == ["exact duplicate", "near duplicate", "near duplicate"]
    group = ["ukiyo_e/orig", "ukiyo_e/copy", "ukiyo_e/smaller"]
    seen = set()
    for seed in range(15):  # artists are unknown, so only duplicate grouping keeps them together
        split = make(corpus, seed=seed, test_fraction=0.3).df.set_index("image_id")["split"]
        assert len(set(split[group])) == 1
        seen.add(split["ukiyo_e/orig"])
        assert cm.split_leaks(make(corpus, seed=seed, test_fraction=0.3)).empty
    assert seen == {"train", "test"}  # the group does move between seeds


def make(corpus, **kwargs):
    return cm.make_splits(corpus, **kwargs)


# -- splits on a synthetic manifest ----------------------------------------------------------------------------
def synthetic_corpus(seed: int = 0) -> Corpus:
    rng = np.random.default_rng(seed)
    rows = []
    plan = {"ukiyo_e": [30, 20, 5, 4, 3, 2, 1], "impressionism": [8] * 6, "renaissance": [2] * 40}
    for culture, sizes in plan.items():
        for a, n in enumerate(sizes):
            for k in range(n):
                rows.append({"culture": culture, "artist": f"{culture}-artist{a}", "k": k})
    for k in range(10):
        rows.append({"culture": "renaissance", "artist": "unknown" if k % 2 else "", "k": 100 + k})
    rows.append(
        {"culture": "impressionism", "artist": "ukiyo_e-artist3", "k": 50}
    )  # one artist, two cultures
    for k in range(4):
        rows.append({"culture": "content_photo", "artist": f"photographer{k}", "k": k, "split": "content"})
    df = pd.DataFrame(rows)
    df["image_id"] = [f"{c}/{a}-{k}" for c, a, k in zip(df["culture"], df["artist"], df["k"], strict=True)]
    df["path"] = df["image_id"] + ".jpg"
    df["sha256"] = [f"{rng.integers(0, 2**62):064x}" for _ in range(len(df))]
    df["split"] = df.get("split", pd.Series([""] * len(df))).fillna("")
    for column in ("title", "date", "source", "license"):
        df[column] = ""
    df["width"] = df["height"] = 64
    return Corpus(df.drop(columns="k"), "/nonexistent")


def test_splits_artist_disjoint_stratified_and_seeded():
    corpus = synthetic_corpus()
    a = make(corpus, seed=0).df
    assert a.equals(make(corpus, seed=0).df)  # reproducible
    assert not a["split"].equals(make(corpus, seed=1).df["split"])  # another seed, another split
    art = a[a["culture"] != "content_photo"]
    known = art[art["artist"].map(cm.artist_known)]
    assert known.groupby("artist")["split"].nunique().max() == 1  # artist-disjoint
    for culture, group in art.groupby("culture"):
        share = (group["split"] == "test").mean()
        assert 0.1 <= share <= 0.35, (culture, share)  # stratified: every culture near 20 % test
    assert set(a.loc[a["culture"] == "content_photo", "split"]) == {"content"}
    unknown = art[~art["artist"].map(cm.artist_known)]
    assert unknown["split"].nunique() == 2  # unknown artists are singletons, spread over both splits
    assert set(art["split"]) == {"train", "test"}


def test_splits_independent_of_row_order_and_support_val():
    corpus = synthetic_corpus()
    shuffled = Corpus(corpus.df.sample(frac=1.0, random_state=3), corpus.root)
    first = make(corpus, seed=4).df.set_index("image_id")["split"]
    second = make(shuffled, seed=4).df.set_index("image_id")["split"]
    pd.testing.assert_series_equal(first.sort_index(), second.sort_index())
    with_val = make(corpus, test_fraction=0.2, val_fraction=0.2, seed=0).df
    art = with_val[with_val["culture"] != "content_photo"]
    assert set(art["split"]) == {"train", "val", "test"}
    assert art[art["artist"].map(cm.artist_known)].groupby("artist")["split"].nunique().max() == 1
    with pytest.raises(ValueError, match="bad split fractions"):
        make(corpus, test_fraction=0.7, val_fraction=0.4)


def test_single_prolific_artist_culture_still_gets_a_test_group():
    df = synthetic_corpus().df
    df = df[df["culture"] != "content_photo"].copy()
    df.loc[df["culture"] == "ukiyo_e", "artist"] = np.where(
        df.loc[df["culture"] == "ukiyo_e", "artist"] == "ukiyo_e-artist0", "big", "other"
    )  # 30 vs 35 images: neither fits a 20 % share
    with pytest.warns(UserWarning, match="smallest group"):
        out = make(Corpus(df, "/x"), seed=0).df
    uk = out[out["culture"] == "ukiyo_e"]
    assert set(uk["split"]) == {"train", "test"} and uk.groupby("artist")["split"].nunique().max() == 1
    assert set(uk.loc[uk["split"] == "test", "artist"]) == {"big"}
    df.loc[df["culture"] == "ukiyo_e", "artist"] = "only one"
    with pytest.warns(UserWarning, match="'ukiyo_e' is one artist/duplicate group"):
        out = make(Corpus(df, "/x"), seed=0).df
    assert set(out.loc[out["culture"] == "ukiyo_e", "split"]) == {"train"}


# -- Corpus object --------------------------------------------------------------------------------------------------
def test_save_load_roundtrip_filter_and_hash(tmp_path):
    write_duplicate_tree(tmp_path / "art")
    corpus = make(cm.from_folder(tmp_path / "art"), seed=0)
    manifest = corpus.save(tmp_path / "out")  # a different folder: paths are rewritten relative to it
    loaded = Corpus.load(tmp_path / "out")
    assert manifest == tmp_path / "out" / "manifest.csv"
    assert loaded.df["path"].str.startswith("../art/").all()
    assert loaded.paths() == corpus.paths()
    assert loaded.manifest_hash() == corpus.manifest_hash()
    assert len(loaded.problems) == len(corpus.problems) == 3
    assert set(loaded.problems["path"]) <= {
        "../art/ukiyo_e/copy.png",
        "../art/ukiyo_e/orig.png",
        "../art/ukiyo_e/smaller.jpg",
    }
    corpus.save(tmp_path / "named.csv")
    assert (tmp_path / "named.problems.csv").exists() and len(
        Corpus.load(tmp_path / "named.csv").problems
    ) == 3
    assert Corpus.load(manifest).df.equals(loaded.df)
    assert loaded.abspath("ukiyo_e/n0") == (tmp_path / "art/ukiyo_e/n0.jpg").resolve()
    with pytest.raises(KeyError, match="no image with image_id"):
        loaded.abspath("nope")
    sub = loaded.filter(culture="ukiyo_e", split="train")
    assert set(sub.df["culture"]) == {"ukiyo_e"} and set(sub.df["split"]) == {"train"}
    assert len(loaded.filter(culture=["ukiyo_e", "renaissance"])) == len(loaded)
    assert loaded.cultures == ["renaissance", "ukiyo_e"]
    # The hash follows content and labels, not row order or location.
    reordered = Corpus(loaded.df.iloc[::-1], tmp_path)
    assert reordered.manifest_hash() == loaded.manifest_hash()
    relabelled = loaded.df.copy()
    relabelled.loc[0, "culture"] = "other"
    assert Corpus(relabelled, loaded.root).manifest_hash() != loaded.manifest_hash()


def test_manifest_validation_errors(tmp_path):
    with pytest.raises(CorpusError, match="lacks columns"):
        Corpus(pd.DataFrame({"image_id": ["a"]}), tmp_path)
    df = synthetic_corpus().df
    with pytest.raises(CorpusError, match="image_id must be unique"):
        Corpus(pd.concat([df, df.head(1)]), tmp_path)
    with pytest.raises(FileNotFoundError, match="no corpus manifest"):
        Corpus.load(tmp_path)


def test_check_finds_missing_mismatch_and_leaks(tmp_path):
    write_duplicate_tree(tmp_path / "art")
    corpus = make(cm.from_folder(tmp_path / "art"), seed=0)
    assert set(corpus.check()["kind"]) == {"exact duplicate", "near duplicate"}
    df = corpus.df.copy()
    (tmp_path / "art/ukiyo_e/n0.jpg").unlink()
    rng_image(999).save(tmp_path / "art/ukiyo_e/n1.jpg")
    df.loc[df["image_id"] == "ukiyo_e/n2", "split"] = "holdout"
    dup_split = df.loc[df["image_id"] == "ukiyo_e/orig", "split"].iloc[0]
    df.loc[df["image_id"] == "ukiyo_e/copy", "split"] = "test" if dup_split == "train" else "train"
    found = cm.check_corpus(Corpus(df, corpus.root))
    by_path = found.groupby("path")["kind"].apply(set).to_dict()
    assert by_path["ukiyo_e/n0.jpg"] == {"missing"}
    assert by_path["ukiyo_e/n1.jpg"] == {"sha256 mismatch"}
    assert by_path["ukiyo_e/n2.jpg"] == {"bad split"}
    leaks = found[found["kind"] == "split leak"]
    assert len(leaks) >= 1 and leaks["reason"].str.contains("duplicate").all()
    assert all("copy.png" in f"{p} {r}" for p, r in zip(leaks["path"], leaks["reason"], strict=True))


# -- WikiArt and CycleGAN layouts -------------------------------------------------------------------------------------
def test_wikiart_import_with_default_and_custom_mapping(tmp_path):
    root = tmp_path / "wikiart"
    files = {
        "Ukiyo_e/katsushika-hokusai_the-great-wave-off-kanagawa-1831.jpg": 1,
        "Ukiyo_e/utagawa-hiroshige_kakegawa.jpg": 2,
        "Impressionism/claude-monet_water-lilies-1916.jpg": 3,
        "Post_Impressionism/vincent-van-gogh_irises-1889.jpg": 4,
        "Early_Renaissance/masaccio_trinity.jpg": 5,
        "Cubism/pablo-picasso_guitar-1913.jpg": 6,
    }
    for rel, seed in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        rng_image(seed).save(root / rel)
    (root / "style_train.csv").write_text(
        "Ukiyo_e/katsushika-hokusai_the-great-wave-off-kanagawa-1831.jpg,24\n"
    )
    (root / "style_val.csv").write_text("Impressionism/claude-monet_water-lilies-1916.jpg,12\n")
    corpus = cm.from_wikiart(root)
    df = corpus.df.set_index("path")
    wave = df.loc["Ukiyo_e/katsushika-hokusai_the-great-wave-off-kanagawa-1831.jpg"]
    assert (wave["culture"], wave["artist"], wave["title"], wave["date"], wave["split"]) == (
        "ukiyo_e",
        "Katsushika Hokusai",
        "the great wave off kanagawa",
        "1831",
        "train",
    )
    assert df.at["Impressionism/claude-monet_water-lilies-1916.jpg", "split"] == "test"
    assert df.at["Post_Impressionism/vincent-van-gogh_irises-1889.jpg", "culture"] == "impressionism"
    assert df.at["Early_Renaissance/masaccio_trinity.jpg", "culture"] == "renaissance"
    assert df.at["Ukiyo_e/utagawa-hiroshige_kakegawa.jpg", "split"] == ""
    assert wave["source"] == "wikiart:Ukiyo_e/katsushika-hokusai_the-great-wave-off-kanagawa-1831.jpg"
    assert wave["license"].startswith("unknown")
    assert len(corpus) == 5
    assert corpus.problems[["path", "kind"]].values.tolist() == [["Cubism", "unmapped style"]]

    (tmp_path / "map.yaml").write_text("Cubism: cubism\nImpressionism: null\n")
    custom = cm.from_wikiart(root, tmp_path / "map.yaml")
    assert sorted(custom.cultures) == ["cubism", "impressionism", "renaissance", "ukiyo_e"]
    assert "Impressionism/claude-monet_water-lilies-1916.jpg" not in set(custom.df["path"])
    (tmp_path / "map.csv").write_text("style,culture\nUkiyo_e,japan\n")
    assert "japan" in cm.from_wikiart(root, tmp_path / "map.csv").cultures
    with pytest.raises(CorpusError, match="unknown culture label 'japan'"):
        cm.from_wikiart(root, tmp_path / "map.csv", cultures=["ukiyo_e", "renaissance", "impressionism"])


def test_cyclegan_import_keeps_split(tmp_path):
    root = tmp_path / "ukiyoe2photo"
    counts = {"trainA": 3, "trainB": 2, "testA": 1, "testB": 2}
    seed = 0
    for folder, n in counts.items():
        (root / folder).mkdir(parents=True)
        for i in range(n):
            seed += 1
            rng_image(seed).save(root / folder / f"{i}.jpg")
    corpus = cm.from_cyclegan(root, "ukiyo_e", "content_photo")
    table = corpus.df.groupby(["culture", "split"]).size().to_dict()
    assert table == {
        ("ukiyo_e", "train"): 3,
        ("ukiyo_e", "test"): 1,
        ("content_photo", "train"): 2,
        ("content_photo", "test"): 2,
    }
    shutil.rmtree(root / "testA")
    (root / "testA").mkdir()
    with pytest.raises(CorpusError, match="empty CycleGAN folder"):
        cm.from_cyclegan(root, "ukiyo_e", "content_photo")
    shutil.rmtree(root / "trainB")
    with pytest.raises(CorpusError, match="trainB/ is missing"):
        cm.from_cyclegan(root, "ukiyo_e", "content_photo")
    with pytest.raises(CorpusError, match="different culture names"):
        cm.from_cyclegan(root, "x", "x")


# -- CLI ----------------------------------------------------------------------------------------------------------------
@pytest.fixture()
def light_records(monkeypatch):
    """Run records normally import every numeric library to log versions (seconds of CPU); not needed here."""
    from culturalstyle import runs

    monkeypatch.setattr(runs, "environment_versions", lambda: {"culturalstyle": "test"})


def test_cli_import_check_summary(tmp_path, capsys, light_records):
    write_duplicate_tree(tmp_path / "art")
    out = tmp_path / "corpus"
    assert (
        cli_main(["corpus", "import", "folder", str(tmp_path / "art"), "--out", str(out), "--no-progress"])
        == 0
    )
    assert (
        (out / "manifest.csv").exists()
        and (out / "problems.csv").exists()
        and (out / "import_record.json").exists()
    )
    corpus = Corpus.load(out)
    assert len(corpus) == 27 and set(corpus.df["split"]) == {"train", "test"}
    # never overwrite without --force
    assert cli_main(["corpus", "import", "folder", str(tmp_path / "art"), "--out", str(out)]) == 1
    assert "exists" in capsys.readouterr().err
    assert cli_main(["corpus", "check", str(out)]) == 0  # duplicates are warnings
    assert "0 errors, 6 warnings" in capsys.readouterr().out  # 3 recorded at import + 3 found now
    assert cli_main(["corpus", "check", str(out), "--strict"]) == 1
    (tmp_path / "art/renaissance/r0.jpg").unlink()
    assert cli_main(["corpus", "check", str(out)]) == 1
    assert "[missing] ../art/renaissance/r0.jpg" in capsys.readouterr().out
    assert cli_main(["corpus", "summary", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("27 images, 2 cultures, 0 known artists, 3 problems")
    assert "| renaissance | 12 | 0 |" in printed


def test_cli_cyclegan_and_label_check(tmp_path, capsys, light_records):
    root = tmp_path / "cg"
    for folder, seed in (("trainA", 1), ("trainB", 2)):
        (root / folder).mkdir(parents=True)
        rng_image(seed).save(root / folder / "x.jpg")
    code = cli_main(
        [
            "corpus",
            "import",
            "cyclegan",
            str(root),
            "--culture-a",
            "a",
            "--culture-b",
            "b",
            "--out",
            str(tmp_path / "m.csv"),
            "--no-progress",
        ]
    )
    assert code == 0 and (tmp_path / "m.record.json").exists()
    assert Corpus.load(tmp_path / "m.csv").df["split"].tolist() == ["train", "train"]
    code = cli_main(
        [
            "corpus",
            "import",
            "cyclegan",
            str(root),
            "--culture-a",
            "a",
            "--culture-b",
            "b",
            "--cultures",
            "a,c",
            "--out",
            str(tmp_path / "n.csv"),
        ]
    )
    assert code == 1 and "unknown culture label 'b'" in capsys.readouterr().err
    assert cli_main(["corpus"]) == 2 and "ACTION" in capsys.readouterr().out
    assert cli_main(["corpus", "import"]) == 2 and "LAYOUT" in capsys.readouterr().out
