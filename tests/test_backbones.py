"""The backbone registry: built-ins, cached extraction, user-registered networks from local files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from culturalstyle import features
from culturalstyle.embedding import ColourTextureBaseline
from culturalstyle.features import (
    BACKBONES,
    Backbone,
    LocalBackbone,
    channel_stats,
    gram,
    load_for_features,
    make_backbone,
    parse_backbone_file,
    random_vgg,
    register_backbone,
    register_local_backbone,
    triu_vector,
    unregister_backbone,
)


@pytest.fixture(scope="module")
def net():
    return random_vgg(seed=0)


@pytest.fixture()
def image_paths(tmp_path):
    rng = np.random.default_rng(1)
    paths = []
    for i, (w, h) in enumerate([(48, 40), (40, 56), (64, 64), (50, 40)]):
        path = tmp_path / f"img{i}.png"
        Image.fromarray(rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def batch_of(paths, size=32):
    return torch.stack([load_for_features(p, size) for p in paths])


class TinyNet(nn.Module):
    """A tiny random conv net: what a user's exported CLIP/DINO stand-in looks like in tests."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.head = nn.Linear(6, 5)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        maps = torch.relu(self.conv(x))
        return maps, self.head(maps.mean(dim=(2, 3)))


def save_tiny(path, seed=0):
    import warnings

    with warnings.catch_warnings():  # TorchScript is deprecated but is what many exported models are
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(torch.jit.script(TinyNet(seed).eval()), str(path))
    return path


def test_four_builtin_backbones_are_registered():
    assert {"vgg19-gram", "vgg19-meanstd", "inception-pool", "colour-texture"} <= set(BACKBONES)
    with pytest.raises(ValueError, match="unknown backbone 'nope'.*vgg19-gram"):
        make_backbone("nope")


def test_register_refuses_taken_names_and_bad_factories():
    class Constant(Backbone):
        family = "custom"

        def compute(self, images):
            return {"one": np.ones((len(images), 2), np.float32)}

    try:
        register_backbone("test-constant", Constant)
        with pytest.raises(ValueError, match="already registered"):
            register_backbone("test-constant", Constant)
        register_backbone("test-constant", Constant, overwrite=True)
        assert make_backbone("test-constant").name == "test-constant"
        with pytest.raises(TypeError):
            make_backbone("test-constant", layers=("relu1_1",))  # strict: unknown option is an error
        assert make_backbone("test-constant", strict=False, layers=("relu1_1",)).name == "test-constant"
        register_backbone("test-not-a-backbone", lambda: object())
        with pytest.raises(TypeError, match="not a Backbone"):
            make_backbone("test-not-a-backbone")
        with pytest.raises(ValueError, match="without spaces"):
            register_backbone("bad name", Constant)
    finally:
        unregister_backbone("test-constant")
        unregister_backbone("test-not-a-backbone")
    assert "test-constant" not in BACKBONES


def test_vgg_backbones_match_direct_statistics_and_share_the_style_cache(net, image_paths):
    layers = ("relu1_1", "relu3_1")
    gram_backbone = make_backbone("vgg19-gram", layers=layers, weights_module=net, device="cpu")
    batch = batch_of(image_paths)
    with torch.inference_mode():
        acts = gram_backbone.vgg(batch)
        computed = gram_backbone.compute(batch)
    np.testing.assert_allclose(computed["relu3_1"], triu_vector(gram(acts["relu3_1"])), rtol=1e-6)
    extracted = gram_backbone.extract(image_paths, size=32, batch_size=3)
    assert extracted.network_images == 4 and extracted.config["backbone"] == "vgg19-gram"
    np.testing.assert_allclose(extracted["relu3_1"], computed["relu3_1"], rtol=1e-4, atol=1e-6)

    meanstd = make_backbone("vgg19-meanstd", layers=layers, weights_module=net, device="cpu")
    stats = meanstd.extract(image_paths, size=32)
    assert stats.cache_hits == 4 and stats.network_images == 0  # one cache entry holds both statistics
    mean, std = channel_stats(acts["relu1_1"])
    np.testing.assert_allclose(stats["relu1_1"], torch.cat([mean, std], 1).numpy(), rtol=1e-4, atol=1e-6)
    with torch.inference_mode():
        np.testing.assert_allclose(meanstd.compute(batch)["relu1_1"], stats["relu1_1"], rtol=1e-4, atol=1e-6)
    assert gram_backbone.normalization == "signed_sqrt" and meanstd.normalization == "none"
    assert gram_backbone.describe()["weights"] == "custom"


class CountingInception(nn.Module):
    """Stands in for the FID Inception: records the input dtype, returns a pooled projection in a tuple."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(3, 7)
        self.dtypes: list[torch.dtype] = []
        self.images = 0

    def forward(self, x):
        self.dtypes.append(x.dtype)
        self.images += len(x)
        return (self.proj(x.float().mean(dim=(2, 3)) / 255.0),)


def test_inception_pool_gets_uint8_and_is_cached(image_paths):
    module = CountingInception()
    backbone = make_backbone("inception-pool", module=module, device="cpu")
    first = backbone.extract(image_paths, size=32, batch_size=2)
    assert module.dtypes == [torch.uint8, torch.uint8] and first["pool"].shape == (4, 7)
    expected = module.proj(batch_of(image_paths).mul(255).round().mean(dim=(2, 3)) / 255.0).detach().numpy()
    np.testing.assert_allclose(first["pool"], expected, rtol=1e-5, atol=1e-6)
    second = make_backbone("inception-pool", module=module, device="cpu").extract(image_paths, size=32)
    assert second.cache_hits == 4 and module.images == 4
    np.testing.assert_array_equal(first["pool"], second["pool"])
    third = backbone.extract(image_paths, size=40)  # another size is another key
    assert third.network_images == 4 and backbone.family == "content"


def test_colour_texture_blocks_are_the_baseline_descriptors(image_paths):
    backbone = make_backbone("colour-texture", bins=8)
    out = backbone.extract(image_paths, size=32)
    assert set(out) == {"colour", "texture"} and out["texture"].shape == (4, 20)
    described = ColourTextureBaseline(bins=8).describe(batch_of(image_paths))
    np.testing.assert_allclose(
        np.concatenate([out["colour"], out["texture"]], axis=1),
        np.concatenate([described[:, ~backbone.texture], described[:, backbone.texture]], axis=1),
        rtol=1e-5,
        atol=1e-6,
    )
    assert make_backbone("colour-texture", bins=8).extract(image_paths, size=32).cache_hits == 4
    assert make_backbone("colour-texture", bins=6).extract(image_paths, size=32).cache_hits == 0


def test_local_torchscript_backbone_from_a_file(tmp_path, image_paths):
    path = save_tiny(tmp_path / "tiny.pt")
    register_local_backbone("test-tiny", path, input="imagenet")
    try:
        backbone = make_backbone("test-tiny", device="cpu")
        assert isinstance(backbone, LocalBackbone) and backbone.weights_name == "file:tiny.pt"
        out = backbone.extract(image_paths, size=32)
        assert set(out) == {"out0", "out1"} and out["out0"].shape == (4, 12) and out["out1"].shape == (4, 5)
        mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        net = TinyNet(0).eval()
        with torch.no_grad():
            maps, head = net((batch_of(image_paths) - mean) / std)
        m, s = channel_stats(maps)
        np.testing.assert_allclose(out["out0"], torch.cat([m, s], 1).numpy(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(out["out1"], head.numpy(), rtol=1e-4, atol=1e-5)
        assert backbone.extract(image_paths, size=32).cache_hits == 4
        # another network in the same file is another weights hash: nothing stale is reused
        save_tiny(path, seed=1)
        register_local_backbone("test-tiny", path, statistic="gram", overwrite=True)
        changed = make_backbone("test-tiny", device="cpu")
        again = changed.extract(image_paths, size=32)
        assert again.network_images == 4 and again["out0"].shape == (4, 6 * 7 // 2)
        assert changed.normalization == "signed_sqrt"
    finally:
        unregister_backbone("test-tiny")


def test_local_backbone_from_a_torch_export_archive(tmp_path, image_paths):
    net = TinyNet(2).eval()
    x = torch.rand(2, 3, 32, 32)
    batch = torch.export.Dim("batch")
    program = torch.export.export(net, (x,), dynamic_shapes={"x": {0: batch}})
    path = tmp_path / "tiny.pt2"
    torch.export.save(program, str(path))
    backbone = LocalBackbone(path, statistic="mean")
    out = backbone.extract(image_paths, size=32, batch_size=3)  # batches of 3 and 1: the batch dim is dynamic
    with torch.no_grad():
        maps, head = net(batch_of(image_paths))
    np.testing.assert_allclose(out["out0"], maps.mean(dim=(2, 3)).numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out["out1"], head.numpy(), rtol=1e-4, atol=1e-5)


def test_local_backbone_bad_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        register_local_backbone("test-missing", tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a network")
    with pytest.raises(ValueError, match="junk.pt is not a torch.export archive"):
        LocalBackbone(junk)
    path = save_tiny(tmp_path / "tiny.pt")
    with pytest.raises(ValueError, match="unknown statistic"):
        LocalBackbone(path, statistic="median")
    with pytest.raises(ValueError, match="unknown input normalisation"):
        LocalBackbone(path, input="bgr")
    assert parse_backbone_file(f"clip={path},statistic=gram,input=clip") == (
        "clip",
        path,
        {"statistic": "gram", "input": "clip"},
    )
    with pytest.raises(ValueError, match="NAME=PATH"):
        parse_backbone_file(str(path))
    with pytest.raises(ValueError, match="option"):
        parse_backbone_file(f"clip={path},colour=yes")


def test_generic_extraction_bad_input(image_paths):
    backbone = make_backbone("colour-texture")
    with pytest.raises(ValueError, match="resize policy"):
        backbone.extract(image_paths, resize_policy="stretch")
    with pytest.raises(ValueError, match="empty corpus"):
        backbone.extract([])
    with pytest.raises(ValueError, match="at least 16"):
        backbone.extract(image_paths, size=8)


def test_features_package_reexports_the_old_module_api():
    for name in (
        "STYLE_LAYERS",
        "VGGFeatures",
        "extract",
        "gram",
        "random_vgg",
        "load_for_features",
        "_items",
    ):
        assert hasattr(features, name)
