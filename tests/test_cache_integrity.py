"""Caches are never silently wrong (issue 15, items 1 and 2).

1. Every reader that keys a cache on a manifest's sha256 checks the file's bytes first: swapped, zeroed or
   stale hashes and rows pointing at a non-image are errors naming the row, the file, both hashes and
   `corpus check`, instead of another image's cached result.
2. Every cache survives a damaged entry (truncated, zero bytes, wrong shapes): a warning, a recomputation
   that equals the original, and an atomic replacement (the next run is all hits again).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from culturalstyle import cache, metrics
from culturalstyle import corpus as cm
from culturalstyle import features as feats
from culturalstyle.cache import cache_dir, sha256_file
from culturalstyle.embedding import ColourTextureBaseline
from culturalstyle.images import ContentMismatchError, ImageCache, ImageError
from culturalstyle.nst import targets

pytestmark = pytest.mark.usefixtures("one_torch_thread")
LAYERS = ("relu1_1", "relu2_1")


def write_png(path: Path, seed: int, size: int = 40) -> Path:
    arr = np.random.default_rng(seed).integers(0, 256, (size, size + 4, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


@pytest.fixture
def corpus(tmp_path) -> cm.Corpus:
    for i in range(3):
        write_png(tmp_path / "art" / "ukiyo_e" / f"u{i}.png", i)
        write_png(tmp_path / "art" / "renaissance" / f"r{i}.png", 10 + i)
    return cm.from_folder(tmp_path / "art")


@pytest.fixture
def vgg() -> feats.VGGFeatures:
    return feats.VGGFeatures(LAYERS, device="cpu", weights_module=feats.random_vgg(seed=3))


def run_extract(corpus, vgg, **kwargs):
    return feats.extract(corpus, LAYERS, size=32, batch_size=4, extractor=vgg, **kwargs)


def with_rows(corpus: cm.Corpus, **changes) -> cm.Corpus:
    """A copy of `corpus` with manifest cells changed: {column: {image_id: value}}."""
    df = corpus.df.copy()
    for column, values in changes.items():
        for image_id, value in values.items():
            df.loc[df["image_id"] == image_id, column] = value
    return cm.Corpus(df, corpus.root)


def sha_of(corpus: cm.Corpus, image_id: str) -> str:
    return corpus.df.set_index("image_id").at[image_id, "sha256"]


# -- 1. content-verified reads -------------------------------------------------------------------------------------
def manifest_kinds(corpus: cm.Corpus) -> dict[str, tuple[cm.Corpus, tuple[str, ...]]]:
    """Each bad-hash kind: (corpus with that defect, the image_ids the error may name: the first it meets)."""
    a, b = "ukiyo_e/u0", "renaissance/r0"
    root = Path(corpus.root)
    (root / "ukiyo_e" / "notes.txt").write_text("not an image\n")
    notes = corpus.df[corpus.df["image_id"] == a].assign(image_id="ukiyo_e/notes", path="ukiyo_e/notes.txt")
    pointing = cm.Corpus(pd.concat([corpus.df, notes]), corpus.root)
    return {
        "swapped": (with_rows(corpus, sha256={a: sha_of(corpus, b), b: sha_of(corpus, a)}), (a, b)),
        "zeroed": (with_rows(corpus, sha256={b: "0" * 64}), (b,)),
        "non-image with an old hash": (pointing, ("ukiyo_e/notes",)),
    }


def assert_names_everything(error: ContentMismatchError, image_ids: tuple[str, ...] | str) -> None:
    text = str(error)
    ids = (image_ids,) if isinstance(image_ids, str) else image_ids
    assert any(f"image_id {i!r}" in text for i in ids) and str(error.path) in text
    assert error.actual == sha256_file(error.path) and error.actual in text and error.expected in text
    assert error.actual != error.expected and "culturalstyle corpus check" in text


@pytest.mark.parametrize("kind", ["swapped", "zeroed", "non-image with an old hash"])
def test_features_refuse_a_manifest_hash_that_is_not_the_file(corpus, vgg, kind):
    run_extract(corpus, vgg)  # the cache now holds every image's statistics under its true hash
    bad, image_ids = manifest_kinds(corpus)[kind]
    with pytest.raises(ContentMismatchError) as raised:
        run_extract(bad, vgg)
    assert_names_everything(raised.value, image_ids)
    with pytest.raises(ContentMismatchError):
        run_extract(bad, vgg, cache=False)  # the manifest is wrong with or without the cache


def test_features_refuse_a_file_replaced_after_import(corpus, vgg):
    first = run_extract(corpus, vgg)
    path = Path(corpus.abspath("ukiyo_e/u1"))
    stat = path.stat()
    write_png(path, 99)  # new content; even the old mtime restored must not hide it
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    with pytest.raises(ContentMismatchError) as raised:
        run_extract(corpus, vgg)
    assert_names_everything(raised.value, "ukiyo_e/u1")
    rehashed = with_rows(corpus, sha256={"ukiyo_e/u1": sha256_file(path)})  # what re-importing gives
    fresh = run_extract(rehashed, vgg)
    assert fresh.network_images == 1 and fresh.cache_hits == len(corpus) - 1
    row = fresh.image_ids.index("ukiyo_e/u1")
    assert not np.allclose(fresh["relu1_1"][row], first["relu1_1"][row])  # the new content's statistics


def test_empty_manifest_hash_is_computed_from_the_file(corpus, vgg):
    first = run_extract(corpus, vgg)
    second = run_extract(with_rows(corpus, sha256={"ukiyo_e/u0": ""}), vgg)
    assert second.cache_hits == len(corpus)  # no claim to contradict: keyed on the file's own hash
    np.testing.assert_array_equal(second["relu2_1"], first["relu2_1"])


def test_missing_file_is_an_error_even_on_a_warm_cache(corpus, vgg):
    run_extract(corpus, vgg)
    Path(corpus.abspath("renaissance/r2")).unlink()
    with pytest.raises(ImageError, match="missing.*renaissance/r2"):
        run_extract(corpus, vgg)


def test_files_are_hashed_once_per_process_and_again_after_a_change(tmp_path, monkeypatch):
    path = write_png(tmp_path / "a.png", 0)
    calls = []
    real = cache.sha256_file
    monkeypatch.setattr(cache, "sha256_file", lambda p: calls.append(p) or real(p))
    first = cache.content_sha256(path)
    assert cache.content_sha256(path) == first and len(calls) == 1
    data = bytearray(path.read_bytes())
    data[-20] ^= 0xFF  # same size, different bytes
    stat = path.stat()
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    second = cache.content_sha256(path)
    assert len(calls) == 2 and second != first and second == real(path)


@pytest.mark.parametrize("kind", ["swapped", "zeroed", "non-image with an old hash"])
def test_colour_baseline_refuses_a_wrong_hash(corpus, kind):
    baseline = ColourTextureBaseline(size=32)
    baseline.features(corpus)
    bad, image_ids = manifest_kinds(corpus)[kind]
    with pytest.raises(ContentMismatchError) as raised:
        baseline.features(bad)
    assert_names_everything(raised.value, image_ids)


class CountingExtractor(torch.nn.Module):
    """A stand-in for the FID Inception: 4x4 average-pooled pixels, counting the images it sees."""

    def __init__(self) -> None:
        super().__init__()
        self.images = 0

    def forward(self, x):
        self.images += x.shape[0]
        return (torch.nn.functional.adaptive_avg_pool2d(x.float() / 255.0, 2).reshape(x.shape[0], -1),)


def counting() -> tuple[metrics.FeatureExtractor, CountingExtractor]:
    module = CountingExtractor()
    return metrics.FeatureExtractor(module=module, weights_sha256="c" * 64, name="counting"), module


@pytest.mark.parametrize("kind", ["swapped", "zeroed", "non-image with an old hash"])
def test_reference_statistics_refuse_a_wrong_hash(corpus, kind):
    extractor, _ = counting()
    metrics.reference_stats(corpus, size=32, extractor=extractor)
    bad, image_ids = manifest_kinds(corpus)[kind]
    with pytest.raises(ContentMismatchError) as raised:
        metrics.reference_stats(bad, size=32, extractor=extractor)
    assert_names_everything(raised.value, image_ids)


def test_style_targets_refuse_a_wrong_hash(corpus, vgg):
    corpus = cm.make_splits(corpus, test_fraction=0.0)
    source = targets.style_culture(corpus, "ukiyo_e", split="train")
    first = targets.gram_target(source, vgg, 32, LAYERS)
    ids = sorted(corpus.filter(culture="ukiyo_e").df["image_id"])
    swapped = with_rows(corpus, sha256={ids[0]: sha_of(corpus, "renaissance/r0")})
    with pytest.raises(ContentMismatchError) as raised:
        targets.style_culture(swapped, "ukiyo_e", split="train")
    assert_names_everything(raised.value, ids[0])
    again = targets.gram_target(targets.style_culture(corpus, "ukiyo_e", split="train"), vgg, 32, LAYERS)
    assert again.key == first.key


def test_decoded_image_cache_refuses_a_wrong_hash(corpus):
    images = ImageCache(cache_dir("images"))
    path = corpus.abspath("ukiyo_e/u0")
    images.get_array(path, sha_of(corpus, "ukiyo_e/u0"), 32)
    with pytest.raises(ContentMismatchError) as raised:  # the training data path (datasets, translators)
        images.get_array(path, sha_of(corpus, "ukiyo_e/u1"), 32)
    assert raised.value.expected == sha_of(corpus, "ukiyo_e/u1")


# -- 2. damaged entries are misses ---------------------------------------------------------------------------------
def damage(path: Path, how: str, replacement) -> None:
    """Truncate an entry, empty it, or replace it by a readable file of the wrong shapes."""
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "zero bytes":
        path.write_bytes(b"")
    else:
        replacement(path)


def save_npz(path: Path, **arrays) -> None:
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as handle:
        np.save(handle, array)


def newest_entries(folder: Path, before: set[Path]) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p not in before)


def entries(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


def assert_recovers(compute, folder: Path, wrong_shapes, equal) -> None:
    """compute() -> (result, n_recomputed); damage each entry kind, expect warning + recompute + replace."""
    before = entries(folder)
    reference, _ = compute()
    made = newest_entries(folder, before)
    assert made, "the computation wrote no cache entry"
    for how in ("truncated", "zero bytes", "wrong shapes"):
        damage(made[0], how, wrong_shapes)
        with pytest.warns(UserWarning, match="damaged .* recomputing and replacing it"):
            result, recomputed = compute()
        assert recomputed >= 1, how
        equal(result, reference)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # replaced atomically: the next read is a clean hit
            result, recomputed = compute()
        assert recomputed == 0, how
        equal(result, reference)
        cache._WARNED.clear()  # let the next damage kind warn again


def test_feature_cache_survives_damaged_entries(corpus, vgg):
    def compute():
        out = run_extract(corpus, vgg)
        return out, out.network_images

    def wrong_shapes(path):
        save_npz(
            path, **{f"{layer}.{part}": np.zeros(3) for layer in LAYERS for part in ("gram", "mean", "std")}
        )

    assert_recovers(
        compute,
        cache_dir("features"),
        wrong_shapes,
        lambda a, b: [np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-8) for k in LAYERS],
    )


def test_colour_cache_survives_damaged_entries(corpus):
    def compute():
        baseline = ColourTextureBaseline(size=32)
        rows = baseline.features(corpus)
        return rows, len(corpus) - baseline.cache_hits

    assert_recovers(
        compute,
        cache_dir("features") / "colour_texture",
        lambda path: save_npy(path, np.zeros(5)),
        np.testing.assert_array_equal,
    )


def test_reference_statistics_cache_survives_damaged_entries(corpus):
    extractor, module = counting()

    def compute():
        seen = module.images
        stats = metrics.reference_stats(corpus, size=32, extractor=extractor)
        return stats, module.images - seen

    def wrong_shapes(path):
        save_npz(path, mu=np.zeros(3), sigma=np.zeros((3, 3)), features=np.zeros((2, 3)))

    def equal(a, b):
        np.testing.assert_array_equal(a.features, b.features)
        np.testing.assert_array_equal(a.sigma, b.sigma)

    assert_recovers(compute, cache_dir("refstats"), wrong_shapes, equal)


@pytest.mark.parametrize("kind", ["gram", "adain"])
def test_style_target_cache_survives_damaged_entries(corpus, kind):
    corpus = cm.make_splits(corpus, test_fraction=0.0)
    source = targets.style_culture(corpus, "renaissance", split="train")
    layers = LAYERS if kind == "gram" else ("relu4_1",)
    net = feats.VGGFeatures(layers, device="cpu", weights_module=feats.random_vgg(seed=3))

    def compute():
        seen = net.images_seen
        if kind == "gram":
            target = targets.gram_target(source, net, 32, LAYERS)
            return target.grams, net.images_seen - seen
        target = targets.adain_target(source, net, 32)
        return {"mean": target.mean, "std": target.std}, net.images_seen - seen

    def wrong_shapes(path):
        payload = {"grams": {"relu1_1": torch.zeros(2, 3)}, "mean": torch.zeros(2), "std": torch.zeros(3)}
        torch.save(payload, path)

    def equal(a, b):
        assert set(a) == set(b)
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)

    assert_recovers(compute, cache_dir("targets"), wrong_shapes, equal)


def test_decoded_image_cache_survives_damaged_entries(corpus):
    images = ImageCache(cache_dir("images"))
    path, sha = corpus.abspath("ukiyo_e/u2"), sha_of(corpus, "ukiyo_e/u2")

    def compute():
        decodes = images.decodes
        return images.get_array(path, sha, 32), images.decodes - decodes

    assert_recovers(
        compute,
        cache_dir("images"),
        lambda p: save_npy(p, np.zeros((32, 32, 3), dtype=np.float32)),
        np.testing.assert_array_equal,
    )


def test_backbone_cache_survives_damaged_entries(corpus):
    backbone = feats.ColourTextureBackbone()  # the generic backbone cache (no network needed)

    def compute():
        out = backbone.extract(corpus, size=32)
        return out, out.network_images

    def wrong_shapes(path):  # readable, named like the others, but of another dimension
        save_npz(path, colour=np.zeros(3, dtype=np.float32), texture=np.zeros(2, dtype=np.float32))

    def equal(a, b):
        for name in ("colour", "texture"):
            np.testing.assert_allclose(a[name], b[name], rtol=1e-6, atol=1e-7)

    assert_recovers(compute, cache_dir("features"), wrong_shapes, equal)


def test_backbone_refuses_a_wrong_hash(corpus):
    backbone = feats.ColourTextureBackbone()
    backbone.extract(corpus, size=32)
    bad, image_ids = manifest_kinds(corpus)["swapped"]
    with pytest.raises(ContentMismatchError) as raised:
        backbone.extract(bad, size=32)
    assert_names_everything(raised.value, image_ids)
