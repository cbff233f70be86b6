"""Datasets: shapes, ranges, exact pixels against an independent PIL pipeline, seeded augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from culturalstyle import corpus as cm
from culturalstyle import images
from culturalstyle.data import CorpusDataset, UnpairedDataset, crop_tensor
from culturalstyle.images import ImageCache

SIZE = 32


@pytest.fixture()
def tiny(tmp_path):
    rng = np.random.default_rng(0)
    for culture, n, shape in (("ukiyo_e", 5, (40, 56)), ("renaissance", 3, (60, 44))):
        (tmp_path / "art" / culture).mkdir(parents=True)
        for i in range(n):
            arr = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
            Image.fromarray(arr).save(tmp_path / "art" / culture / f"{i}.png")
    corpus = cm.from_folder(tmp_path / "art")
    df = corpus.df.copy()
    df["split"] = ["test" if p.endswith("0.png") else "train" for p in df["path"]]
    return cm.Corpus(df, corpus.root), ImageCache(tmp_path / "cache")


def reference(corpus, image_id) -> torch.Tensor:
    """Independent pipeline: load, resize the shorter side with PIL, centre-crop, to [0,1]."""
    img = images.resize_shorter(images.load_image(corpus.abspath(image_id)), SIZE)
    width, height = img.size
    left, top = (width - SIZE) // 2, (height - SIZE) // 2
    arr = np.asarray(img.crop((left, top, left + SIZE, top + SIZE)), dtype=np.float32) / 255.0
    return torch.from_numpy(arr).permute(2, 0, 1)


def test_eval_items_are_centre_crops(tiny):
    corpus, cache = tiny
    ds = CorpusDataset(corpus, size=SIZE, cache=cache)
    assert len(ds) == 8
    for i in range(len(ds)):
        item = ds[i]
        assert set(item) == {"image", "image_id", "culture"}
        image = item["image"]
        assert image.shape == (3, SIZE, SIZE) and image.dtype == torch.float32
        assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0
        assert torch.equal(image, reference(corpus, item["image_id"]))
        assert item["culture"] == item["image_id"].split("/")[0]


def test_filters_and_cache_reuse(tiny):
    corpus, cache = tiny
    ds = CorpusDataset(corpus, culture="ukiyo_e", split="train", size=SIZE, cache=cache)
    assert len(ds) == 4 and {ds[i]["culture"] for i in range(4)} == {"ukiyo_e"}
    assert cache.decodes == 4
    for i in range(4):
        ds[i]
    assert cache.decodes == 4 and cache.hits == 4  # the second epoch decodes nothing
    with pytest.raises(ValueError, match="no images for culture='baroque'"):
        CorpusDataset(corpus, culture="baroque", cache=cache)


def all_crops(resized: torch.Tensor) -> list[torch.Tensor]:
    _, h, w = resized.shape
    crops = []
    for top in range(h - SIZE + 1):
        for left in range(w - SIZE + 1):
            crop = resized[:, top : top + SIZE, left : left + SIZE]
            crops += [crop, crop.flip(-1)]
    return crops


def test_train_augmentation_is_a_seeded_crop_or_flip(tiny):
    corpus, cache = tiny
    ds = CorpusDataset(corpus, size=SIZE, train=True, cache=cache, seed=7)
    again = CorpusDataset(corpus, size=SIZE, train=True, cache=cache, seed=7)
    other = CorpusDataset(corpus, size=SIZE, train=True, cache=cache, seed=8)
    flips, moved = set(), 0
    for i in range(len(ds)):
        row = ds.rows[i]
        resized = cache.get(corpus.root / row["path"], row["sha256"], SIZE).float() / 255
        candidates = all_crops(resized)
        for epoch in range(4):
            ds.set_epoch(epoch)
            again.set_epoch(epoch)
            image = ds[i]["image"]
            assert torch.equal(image, again[i]["image"])  # same seed and epoch: same augmentation
            matches = [k for k, c in enumerate(candidates) if torch.equal(c, image)]
            assert matches, "a training item must be a crop (possibly flipped) of the resized image"
            flips.add(matches[0] % 2)
        ds.set_epoch(0)
        other.set_epoch(0)
        moved += not torch.equal(ds[i]["image"], other[i]["image"])
    assert flips == {0, 1}  # both flipped and unflipped crops occur
    assert moved >= 4  # another seed gives other crops


def test_worker_safe_determinism(tiny):
    corpus, cache = tiny
    ds = CorpusDataset(corpus, size=SIZE, train=True, cache=cache, seed=3)
    serial = next(iter(DataLoader(ds, batch_size=8, num_workers=0)))["image"]
    parallel = torch.cat([b["image"] for b in DataLoader(ds, batch_size=2, num_workers=2)])
    assert serial.shape == (8, 3, SIZE, SIZE)
    assert torch.equal(serial, parallel)


def test_unpaired_dataset(tiny):
    corpus, cache = tiny
    ds = UnpairedDataset(corpus, "ukiyo_e", "renaissance", split="train", size=SIZE, cache=cache, seed=0)
    assert len(ds) == 4  # the larger side (ukiyo_e train has 4, renaissance train 2)
    items = [ds[i] for i in range(len(ds))]
    assert [it["A_id"] for it in items] == [r["image_id"] for r in ds.a.rows]
    assert all(it["B_id"].startswith("renaissance/") for it in items)
    assert all(it["A"].shape == it["B"].shape == (3, SIZE, SIZE) for it in items)
    same = UnpairedDataset(corpus, "ukiyo_e", "renaissance", split="train", size=SIZE, cache=cache, seed=0)
    assert [same[i]["B_id"] for i in range(4)] == [it["B_id"] for it in items]
    assert all(torch.equal(same[i]["A"], items[i]["A"]) for i in range(4))
    pairings = set()
    for epoch in range(6):
        ds.set_epoch(epoch)
        pairings.add(tuple(ds[i]["B_id"] for i in range(4)))
    assert len(pairings) > 1  # B partners change between epochs


def test_crop_tensor():
    image = torch.arange(3 * 6 * 8, dtype=torch.float32).reshape(3, 6, 8)
    assert torch.equal(crop_tensor(image, 4, train=False), image[:, 1:5, 2:6])
    generator = torch.Generator().manual_seed(0)
    crops = [crop_tensor(image, 4, train=True, generator=generator) for _ in range(40)]
    valid = [image[:, t : t + 4, x : x + 4] for t in range(3) for x in range(5)]
    valid += [v.flip(-1) for v in valid]
    assert all(any(torch.equal(c, v) for v in valid) for c in crops)
    assert len({tuple(c.flatten().tolist()) for c in crops}) > 5
    with pytest.raises(ValueError, match="cannot crop 7x7 from a 8x6 image"):
        crop_tensor(image, 7, train=False)
