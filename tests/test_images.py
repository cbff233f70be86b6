"""Robust image loading: every mode to 8-bit RGB, EXIF orientation, bombs, and every failure named."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from culturalstyle import images
from culturalstyle.cache import sha256_file
from culturalstyle.images import ImageCache, ImageError, ImageLimits, load_image


def noise(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")


def reason_of(path, **kwargs) -> str:
    with pytest.raises(ImageError) as info:
        load_image(path, **kwargs)
    assert str(path) in str(info.value)  # the message names the file
    return info.value.reason


# -- conversions ---------------------------------------------------------------------------------------------
def test_rgb_jpeg_roundtrip_is_close(tmp_path):
    src = noise(48, 40)
    src.save(tmp_path / "a.png")
    out = load_image(tmp_path / "a.png")
    assert out.mode == "RGB" and out.size == (48, 40)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(src))


def test_greyscale_becomes_three_equal_channels(tmp_path):
    grey = np.tile(np.arange(0, 240, 5, dtype=np.uint8), (40, 1))  # 40 x 48
    Image.fromarray(grey, "L").save(tmp_path / "g.png")
    out = np.asarray(load_image(tmp_path / "g.png"))
    assert out.shape == (40, 48, 3)
    for channel in range(3):
        np.testing.assert_array_equal(out[..., channel], grey)


def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path):
    values = np.array([0, 257 * 100, 30000, 65535], dtype=np.uint16)
    arr = np.tile(values, (40, 10))  # 40 x 40
    Image.fromarray(arr).save(tmp_path / "d.png")
    assert Image.open(tmp_path / "d.png").mode.startswith("I")
    out = np.asarray(load_image(tmp_path / "d.png"))[0, :4, 0]
    expected = np.rint(values / 257.0).astype(np.uint8)  # 0, 100, 117, 255
    np.testing.assert_array_equal(out, expected)


def test_cmyk_jpeg_converts_to_rgb(tmp_path):
    cmyk = Image.new("CMYK", (40, 40), (0, 255, 255, 0))  # pure red in CMYK
    cmyk.save(tmp_path / "c.jpg", quality=95)
    out = load_image(tmp_path / "c.jpg")
    assert out.mode == "RGB" and out.size == (40, 40)
    r, g, b = np.asarray(out).reshape(-1, 3).mean(axis=0)
    assert r > 200 and g < 50 and b < 50


def test_palette_with_transparency_composited_on_white(tmp_path):
    pal = Image.new("P", (40, 40), 0)
    pal.putpalette([10, 20, 30] + [200, 0, 0] + [0] * (254 * 3))
    pal.paste(1, (0, 0, 20, 40))  # left half: index 1 (red), right half: index 0 (transparent)
    pal.info["transparency"] = 0
    pal.save(tmp_path / "p.png", transparency=0)
    out = np.asarray(load_image(tmp_path / "p.png"))
    np.testing.assert_array_equal(out[5, 5], [200, 0, 0])
    np.testing.assert_array_equal(out[5, 30], [255, 255, 255])  # not the palette's (10, 20, 30)


def test_rgba_alpha_composited_on_white(tmp_path):
    arr = np.zeros((40, 40, 4), dtype=np.uint8)
    arr[..., :3] = (0, 0, 200)
    arr[:, :10, 3] = 255
    arr[:, 10:20, 3] = 0
    arr[:, 20:, 3] = 128
    Image.fromarray(arr, "RGBA").save(tmp_path / "r.png")
    out = np.asarray(load_image(tmp_path / "r.png")).astype(int)
    np.testing.assert_array_equal(out[0, 0], [0, 0, 200])
    np.testing.assert_array_equal(out[0, 15], [255, 255, 255])
    a = 128 / 255
    expected = np.array([255 * (1 - a), 255 * (1 - a), 200 * a + 255 * (1 - a)])
    assert np.abs(out[0, 30] - expected).max() <= 1


def test_exif_orientation_applied(tmp_path):
    arr = np.zeros((64, 40, 3), dtype=np.uint8)  # stored 40 wide, 64 high
    arr[:10, :10] = (255, 0, 0)  # red block at stored top-left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    Image.fromarray(arr).save(tmp_path / "e.jpg", exif=exif.tobytes(), quality=95)
    info = images.read_image_info(tmp_path / "e.jpg")
    assert (info.width, info.height, info.orientation) == (64, 40, 6)
    out = np.asarray(load_image(tmp_path / "e.jpg")).astype(int)
    assert out.shape == (40, 64, 3)  # displayed 64 wide, 40 high
    # stored (x, y) -> displayed (H - 1 - y, x): the stored top-left corner is displayed at the top-right.
    assert out[:8, -8:, 0].mean() > 200 and out[:8, -8:, 1].mean() < 60
    assert out[:8, :8, 0].mean() < 60


def test_huge_jpeg_downscaled_while_decoding(tmp_path):
    src = noise(64, 32)
    src.save(tmp_path / "big.jpg", quality=95)
    out = load_image(tmp_path / "big.jpg", max_side=16)
    assert out.size == (16, 8)
    reference = np.asarray(src.resize((16, 8), Image.Resampling.BOX), dtype=float)
    assert np.abs(np.asarray(out, dtype=float).mean() - reference.mean()) < 3


# -- failures --------------------------------------------------------------------------------------------------
def test_each_failure_has_its_reason(tmp_path):
    good = noise(64, 64)
    good.save(tmp_path / "ok.jpg", quality=90)
    data = (tmp_path / "ok.jpg").read_bytes()
    (tmp_path / "trunc.jpg").write_bytes(data[: len(data) // 2])
    good.save(tmp_path / "ok.png")
    png = bytearray((tmp_path / "ok.png").read_bytes())
    start = png.find(b"IDAT") + 20
    png[start : start + 40] = bytes(b ^ 0xFF for b in png[start : start + 40])
    (tmp_path / "corrupt.png").write_bytes(bytes(png))
    (tmp_path / "text.jpg").write_text("this is not an image\n")
    noise(20, 50).save(tmp_path / "small.png")

    assert reason_of(tmp_path / "trunc.jpg").startswith("truncated")
    assert reason_of(tmp_path / "corrupt.png").startswith("corrupt")
    assert reason_of(tmp_path / "text.jpg").startswith("not an image")
    assert reason_of(tmp_path / "small.png") == "too small: 20x50 px, minimum side is 32"
    assert reason_of(tmp_path / "absent.jpg").startswith("missing")
    assert reason_of(tmp_path / "ok.png", max_pixels=64 * 64 - 1).startswith("too large: 64x64 = 4096 pixels")
    assert load_image(tmp_path / "small.png", min_side=16).size == (20, 50)


def test_pil_global_pixel_limit_is_honoured(tmp_path, monkeypatch):
    noise(64, 64).save(tmp_path / "ok.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    assert reason_of(tmp_path / "ok.png").startswith("too large")
    # An explicit max_pixels tightens but cannot loosen PIL's guard (refusal above 2 x MAX_IMAGE_PIXELS).
    assert reason_of(tmp_path / "ok.png", max_pixels=10_000).startswith("too large")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 3000)  # PIL only warns between 1x and 2x its limit
    assert load_image(tmp_path / "ok.png", max_pixels=10_000).size == (64, 64)
    assert reason_of(tmp_path / "ok.png").startswith(
        "too large: 64x64 = 4096 pixels exceeds the limit of 3000"
    )


def test_error_kind():
    assert ImageError("x.jpg", "too small: 1x1").kind == "too small"
    assert ImageError("x.jpg", "not an image: text").kind == "not an image"


# -- helpers ----------------------------------------------------------------------------------------------------
def test_resize_and_crop():
    img = noise(60, 40)
    assert images.resize_shorter(img, 20).size == (30, 20)
    assert images.resize_longer(img, 30).size == (30, 20)
    assert images.resize(img, 16, "exact").size == (16, 16)
    crop = images.center_crop(img, 40)
    np.testing.assert_array_equal(np.asarray(crop), np.asarray(img)[:, 10:50])
    with pytest.raises(ValueError, match="cannot crop"):
        images.center_crop(img, 41)
    with pytest.raises(ValueError, match="unknown resize policy"):
        images.resize(img, 10, "bogus")


def test_tensor_roundtrip_and_save(tmp_path):
    img = noise(33, 35)
    t = images.to_tensor(img)
    assert t.shape == (3, 35, 33) and t.dtype == torch.float32
    assert float(t.min()) >= 0 and float(t.max()) <= 1
    np.testing.assert_allclose(t.permute(1, 2, 0).numpy() * 255, np.asarray(img), atol=1e-4)
    images.save_image(t, tmp_path / "out.png")
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out.png")), np.asarray(img))
    images.save_image(t.unsqueeze(0), tmp_path / "out.jpg")
    assert Image.open(tmp_path / "out.jpg").size == (33, 35)
    assert not list(tmp_path.glob("*.tmp"))  # atomic writes leave no temp files
    with pytest.raises(ValueError, match="unknown image suffix"):
        images.save_image(t, tmp_path / "out.xyz")


# -- cache ------------------------------------------------------------------------------------------------------
def test_image_cache_decodes_once(tmp_path):
    noise(64, 48).save(tmp_path / "a.png")
    cache = ImageCache(tmp_path / "cache")
    first = cache.get(tmp_path / "a.png", None, 32)
    second = cache.get(tmp_path / "a.png", None, 32)
    assert (cache.decodes, cache.hits, cache.misses) == (1, 1, 1)
    assert first.dtype == torch.uint8 and first.shape == (3, 32, 43)
    assert torch.equal(first, second)
    expected = np.asarray(images.resize_shorter(load_image(tmp_path / "a.png"), 32))
    np.testing.assert_array_equal(first.permute(1, 2, 0).numpy(), expected)

    cache.get(tmp_path / "a.png", None, 24)  # another size is another entry
    assert cache.decodes == 2
    # Keyed by content, not path: a copy elsewhere, read by a fresh cache object, is a hit.
    (tmp_path / "copy.png").write_bytes((tmp_path / "a.png").read_bytes())
    fresh = ImageCache(tmp_path / "cache")
    assert torch.equal(fresh.get(tmp_path / "copy.png", None, 32), first)
    assert fresh.decodes == 0 and fresh.hits == 1


def test_image_cache_default_location_and_damaged_entry(tmp_path):
    from culturalstyle.cache import cache_dir, sha256_file

    noise(40, 40).save(tmp_path / "a.png")
    cache = ImageCache(limits=ImageLimits())
    assert cache.root == cache_dir("images")
    sha = sha256_file(tmp_path / "a.png")
    cache.get(tmp_path / "a.png", sha, 32)
    cache.entry_path(sha, 32).write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="damaged decoded-image cache entry .* recomputing and replacing it"):
        again = cache.get(tmp_path / "a.png", sha, 32)
    assert again.shape == (3, 32, 32) and cache.decodes == 2 and (cache.hits, cache.misses) == (0, 2)


def test_unexpected_codec_exception_becomes_corrupt(tmp_path, monkeypatch):
    import struct

    noise(40, 40).save(tmp_path / "a.png")

    def broken_load(self):
        raise struct.error("unpack requires a buffer of 4 bytes")

    monkeypatch.setattr(Image.Image, "load", broken_load)
    from PIL import PngImagePlugin

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", broken_load, raising=False)
    assert reason_of(tmp_path / "a.png") == "corrupt: error: unpack requires a buffer of 4 bytes"


def test_verified_sha256_checks_the_claim_and_names_missing_files(tmp_path):
    from culturalstyle.images import ContentMismatchError, verified_sha256

    path = tmp_path / "a.png"
    Image.fromarray(np.zeros((40, 40, 3), dtype=np.uint8)).save(path)
    actual = sha256_file(path)
    assert verified_sha256(path) == actual  # no claim: the file's own hash
    assert verified_sha256(path, "") == verified_sha256(path, float("nan")) == actual  # empty manifest cells
    assert verified_sha256(path, actual.upper()) == actual  # hex case does not matter
    with pytest.raises(ContentMismatchError) as raised:
        verified_sha256(path, "abc", row="image_id 'x'")
    assert raised.value.expected == "abc" and raised.value.actual == actual
    assert str(raised.value).startswith(
        f"image_id 'x': {path} has sha256 {actual} but the manifest says 'abc'"
    )
    with pytest.raises(ImageError, match="missing: file does not exist \\(image_id 'y'\\)"):
        verified_sha256(tmp_path / "gone.png", actual, row="image_id 'y'")
    with pytest.raises(ImageError, match="not an image: is a directory"):
        verified_sha256(tmp_path, actual)
