"""The one content cache (culturalstyle.cache.ContentCache): keys, paths, verified reads, atomic writes.

The key-identity tests pin the keys of known inputs to the values the hand-written caches produced before
they were converted to ContentCache (computed with the old code), so existing cache entries stay valid.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from culturalstyle import cache
from culturalstyle.cache import NPY, NPZ, PNG, TORCH, ContentCache, cache_root, stable_hash

A, B, C = "a" * 64, "b" * 64, "c" * 64


def test_key_adds_the_version_under_its_field_and_changes_with_every_part():
    plain = ContentCache("k", NPY, what="x")
    versioned = ContentCache("k", NPY, what="x", version=3)
    named = ContentCache("k", NPY, what="x", version=3, version_field="baseline", key_length=16)
    parts = {"image": A, "size": 32}
    assert plain.key(parts) == stable_hash(parts, length=32)
    assert versioned.key(parts) == stable_hash({"v": 3, **parts}, length=32)
    assert (
        named.key(parts) == stable_hash({"baseline": 3, **parts}, length=16) and len(named.key(parts)) == 16
    )
    assert versioned.key(parts) != ContentCache("k", NPY, what="x", version=4).key(parts)
    assert versioned.key(parts) != versioned.key({**parts, "size": 33})
    assert versioned.key(parts) == versioned.key(dict(reversed(parts.items())))  # order-free


def test_path_fans_out_prefixes_and_follows_the_cache_root(tmp_path, monkeypatch):
    flat = ContentCache("targets", TORCH, what="x", prefix="gram-")
    fanned = ContentCache("features/sub", NPZ, what="x", fan_out=True)
    assert flat.path("abcd") == cache_root() / "targets" / "gram-abcd.pt"
    assert fanned.path("abcd") == cache_root() / "features" / "sub" / "ab" / "abcd.npz"
    monkeypatch.setenv("CULTURALSTYLE_CACHE", str(tmp_path / "elsewhere"))  # resolved at use, not creation
    assert flat.path("abcd") == tmp_path / "elsewhere" / "targets" / "gram-abcd.pt"
    fixed = ContentCache("images", NPY, what="x", root=tmp_path / "mine", fan_out=True)
    assert fixed.path("ffee") == tmp_path / "mine" / "ff" / "ffee.npy"


@pytest.mark.parametrize(
    "codec, value",
    [
        (NPY, np.arange(6, dtype=np.float32).reshape(2, 3)),
        (NPZ, {"x": np.arange(3), "y": np.ones((2, 2))}),
        (TORCH, {"grams": {"relu1_1": torch.eye(3)}}),
        (PNG, np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)),
    ],
)
def test_codecs_round_trip(codec, value):
    store = ContentCache("roundtrip", codec, what="x")
    key = store.key({"n": 1})
    written = store.write(key, value)
    assert written == store.path(key) and written.suffix == codec.suffix
    back = store.read(key)
    if isinstance(value, dict) and codec is NPZ:
        assert set(back) == set(value) and all(np.array_equal(back[k], value[k]) for k in value)
    elif codec is TORCH:
        assert torch.equal(back["grams"]["relu1_1"], value["grams"]["relu1_1"])
    else:
        assert np.array_equal(back, value) and back.dtype == value.dtype
    assert not [p for p in written.parent.iterdir() if p.name.endswith(".tmp")]  # no temporary left


def test_get_or_compute_hits_replaces_damage_and_can_be_disabled():
    store = ContentCache("goc", NPY, what="test entry", fan_out=True)
    key = store.key({"image": A})
    calls = []

    def compute():
        calls.append(1)
        return np.full(4, 2.0)

    def check(a):
        return None if a.shape == (4,) else f"shape {a.shape}"

    value, hit = store.get_or_compute(key, compute, check=check)
    assert not hit and len(calls) == 1 and store.path(key).exists()
    value, hit = store.get_or_compute(key, compute, check=check)
    assert hit and len(calls) == 1 and np.array_equal(value, np.full(4, 2.0))
    for damage in (b"", b"\x93NUMPY garbage", None):
        if damage is None:
            np.save(store.path(key), np.zeros(3))  # readable but the wrong shape
        else:
            store.path(key).write_bytes(damage)
        cache._WARNED.clear()
        with pytest.warns(UserWarning, match=r"damaged test entry .* recomputing and replacing it") as caught:
            value, hit = store.get_or_compute(key, compute, check=check)
        assert not hit and np.array_equal(value, np.full(4, 2.0))
        assert caught[0].filename == __file__  # the warning points at the caller, not at cache.py
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert store.get_or_compute(key, compute, check=check)[1]  # replaced: a clean hit again
    store.path(key).write_bytes(b"")
    cache._WARNED.clear()
    with pytest.warns(UserWarning, match="damaged test entry") as caught:
        assert store.read(key, check) is None
    assert caught[0].filename == __file__
    before = len(calls)
    value, hit = store.get_or_compute(key, compute, enabled=False)
    assert not hit and len(calls) == before + 1


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="permissions are not enforced for root")
def test_a_refused_write_names_the_entry(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    store = ContentCache("x", NPY, what="x", root=folder)
    folder.chmod(0o500)
    try:
        with pytest.raises(cache.WriteError, match=r"could not write .*k\.npy: permission denied"):
            store.write("k", np.zeros(2))
    finally:
        folder.chmod(0o700)
    assert not list(folder.iterdir())


# -- key identity with the caches as they were written before ContentCache ------------------------------------
# The hard-coded values below were computed with the hand-written caches (commit b0d4da7).


def relative(path: Path) -> str:
    return str(Path(path).relative_to(cache_root()))


def test_feature_cache_key_is_unchanged():
    from culturalstyle.features import feature_cache_key

    key = feature_cache_key(A, 256, ("relu2_1", "relu1_1"), "shorter", B, "positions")
    assert key == "88f9b5175b9e52a399464d07295f946b"


def test_colour_baseline_cache_path_is_unchanged():
    from culturalstyle.embedding import ColourTextureBaseline

    path = ColourTextureBaseline()._cache_file(A)
    assert relative(path) == "features/colour_texture/fb/fb704bc98b666563345833f72efa689f.npy"


def test_decoded_image_cache_path_is_unchanged():
    from culturalstyle.images import ImageCache

    assert relative(ImageCache().entry_path(A, 128, "shorter")) == "images/8a/8a7db1513d22ee8f.npy"


def test_style_target_keys_and_paths_are_unchanged():
    from culturalstyle.nst import targets as T

    source = T.StyleSource("images", "x", (Path("p1"), Path("p2")), (B, A), ("i1", "i2"))
    gram = T.target_key("gram", source, 256, ("relu2_1", "relu1_1"), C, normalize="positions")
    adain = T.target_key("adain", source, 256, ("relu4_1",), C, eps=1e-5)
    assert gram == "bd203565b4b13e0be1205877cdc7258e"
    assert adain == "02b952f6e454132bdc14ce15d51a8215"
    assert relative(T.TARGET_CACHES["gram"].path(gram)) == f"targets/gram-{gram}.pt"
    assert relative(T.TARGET_CACHES["adain"].path(adain)) == f"targets/adain-{adain}.pt"


def test_negative_control_key_is_unchanged():
    from culturalstyle.metrics import controls

    assert controls.control_key("noise", (48, 32), 0, A, 2) == "4ade9dd823d43f0e977c82fd"


def test_refstats_key_and_path_are_the_old_ones():
    """Inception reference statistics keep their key (pinned from the hand-written cache at b0d4da7)."""
    from types import SimpleNamespace

    from culturalstyle.metrics import fidelity

    extractor = SimpleNamespace(name="inception-fid", weights_sha256="d" * 64)
    key = fidelity.refstats_key([B, A], 64, extractor)
    assert key == "9f63f233374d959d6d5569b1b22c2a2b"
    assert key == fidelity.refstats_key([A, B], 64, extractor)  # order-free
    assert fidelity.REFSTATS_CACHE.path(key) == cache_root() / "refstats" / f"{key}.npz"
