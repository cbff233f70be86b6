"""VGG feature extraction, Gram statistics and the on-disk feature cache (tiny random network, tiny images)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from culturalstyle import features
from culturalstyle.features import STYLE_LAYERS, VGGFeatures, channel_stats, extract, gram, random_vgg

# Indices of the AdaIN-layout VGG19 Sequential (vgg_normalised), written out by hand from its structure.
ADAIN_INDEX = {
    "relu1_1": 3,
    "relu2_1": 10,
    "relu3_1": 17,
    "relu4_1": 30,
    "conv4_2": 32,
    "relu4_2": 33,
    "relu5_1": 43,
}


@pytest.fixture(scope="module")
def net():
    return random_vgg(seed=0)


@pytest.fixture()
def image_paths(tmp_path):
    """Five small noise images of different sizes and aspect ratios."""
    rng = np.random.default_rng(0)
    paths = []
    for i, (w, h) in enumerate([(48, 40), (40, 56), (64, 64), (50, 40), (40, 50)]):
        array = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        path = tmp_path / f"img{i}.png"
        Image.fromarray(array).save(path)
        paths.append(path)
    return paths


def reference_gram(x: torch.Tensor, divide_channels: bool) -> torch.Tensor:
    b, c, h, w = x.shape
    g = torch.einsum("bchw,bdhw->bcd", x.double(), x.double()) / (h * w)
    return g / c if divide_channels else g


@pytest.mark.parametrize("channels_last", [False, True])
def test_gram_matches_einsum(channels_last):
    x = torch.randn(3, 7, 5, 6, generator=torch.Generator().manual_seed(1)).abs()
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    for mode, divide in [("positions", False), ("positions_channels", True)]:
        g = gram(x, mode)
        assert g.shape == (3, 7, 7) and g.dtype == torch.float32
        torch.testing.assert_close(g.double(), reference_gram(x, divide), atol=1e-5, rtol=1e-5)


def test_gram_is_size_invariant_for_tiled_images():
    """Normalising by positions makes a texture and its 2x2 tiling give the same Gram matrix."""
    x = torch.rand(1, 4, 6, 5, generator=torch.Generator().manual_seed(2))
    tiled = x.repeat(1, 1, 2, 2)
    torch.testing.assert_close(gram(x), gram(tiled), atol=1e-6, rtol=1e-5)


def test_gram_and_stats_reject_bad_input():
    with pytest.raises(ValueError, match="B x C x H x W"):
        gram(torch.rand(3, 4, 4))
    with pytest.raises(ValueError, match="unknown Gram normalisation 'frobenius'"):
        gram(torch.rand(1, 3, 4, 4), "frobenius")
    with pytest.raises(ValueError, match="B x C x H x W"):
        channel_stats(torch.rand(4, 4))


def test_channel_stats_match_numpy():
    x = torch.rand(2, 3, 4, 5, generator=torch.Generator().manual_seed(3))
    mean, std = channel_stats(x, eps=0.0)
    a = x.numpy().reshape(2, 3, -1)
    np.testing.assert_allclose(mean.numpy(), a.mean(-1), atol=1e-6)
    np.testing.assert_allclose(std.numpy(), a.std(-1), atol=1e-6)


def test_triu_roundtrip():
    g = gram(torch.rand(2, 5, 3, 3)).numpy()
    v = features.triu_vector(g)
    assert v.shape == (2, 15)
    np.testing.assert_array_equal(features.from_triu(v, 5), g)


def test_layer_index_follows_adain_layout(net):
    index = features.layer_index(net)
    for name, expected in ADAIN_INDEX.items():
        assert index[name] == expected
    assert index["relu5_4"] == len(net) - 1


def test_vggfeatures_runs_only_to_deepest_layer_and_matches_full_network(net):
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    reference = {}
    h = x
    with torch.no_grad():
        for i, module in enumerate(net):
            h = module(h)
            reference[i] = h.clone()
    for channels_last in (False, True):
        extractor = VGGFeatures(
            ["relu2_1", "conv4_2", "relu4_2"], weights_module=net, channels_last=channels_last
        )
        assert len(extractor.net) == ADAIN_INDEX["relu4_2"] + 1
        with torch.inference_mode():
            out = extractor(x)
        assert list(out) == ["relu2_1", "conv4_2", "relu4_2"]
        for name, tensor in out.items():
            torch.testing.assert_close(tensor, reference[ADAIN_INDEX[name]], atol=1e-5, rtol=1e-5)
        # conv4_2 is captured before its ReLU: it keeps negative values
        assert (out["conv4_2"] < 0).any() and (out["relu4_2"] >= 0).all()
    assert extractor.calls == 1 and extractor.images_seen == 2


def test_vggfeatures_rejects_unknown_layer_and_bad_input(net):
    with pytest.raises(ValueError, match=r"unknown VGG layer name\(s\) \['relu6_1'\]"):
        VGGFeatures(["relu1_1", "relu6_1"], weights_module=net)
    with pytest.raises(ValueError, match="at least one layer"):
        VGGFeatures([], weights_module=net)
    with pytest.raises(ValueError, match="N x 3 x H x W"):
        VGGFeatures(["relu1_1"], weights_module=net)(torch.rand(1, 1, 16, 16))


def test_vggfeatures_passes_gradients_to_the_input(net):
    """Style transfer optimises the image through the extractor: the parameters are frozen, the input is not."""
    extractor = VGGFeatures(["relu1_1", "relu3_1"], weights_module=net)
    x = torch.rand(1, 3, 24, 24, requires_grad=True)
    loss = sum(gram(a).sum() for a in extractor(x).values())
    loss.backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(not p.requires_grad for p in extractor.parameters())


def test_conv_flops_hand_count():
    net = random_vgg(widths=(2, 2, 2, 2, 2))
    extractor = VGGFeatures(["relu2_1"], weights_module=net)
    # 16x16 input: 1x1 conv 3->3, two 3x3 convs at 16x16 (3->2, 2->2), pool to 8x8, one 3x3 conv 2->2
    expected = 2 * (3 * 3 * 16 * 16) + 2 * (3 * 9 * 2 * 256 + 2 * 9 * 2 * 256) + 2 * (2 * 9 * 2 * 64)
    assert extractor.conv_flops(16, 16) == expected


def test_extract_caches_and_skips_the_network(net, image_paths):
    first_extractor = VGGFeatures(STYLE_LAYERS, weights_module=net)
    first = extract(image_paths, size=32, batch_size=2, extractor=first_extractor)
    assert first_extractor.images_seen == 5 and first_extractor.calls == 3
    assert first.network_images == 5 and first.cache_hits == 0
    assert first.image_ids == [p.stem for p in image_paths]
    assert [first[layer].shape for layer in STYLE_LAYERS] == [(5, c, c) for c in (4, 8, 8, 16, 16)]
    assert first.config["size"] == 32 and first.config["resize_policy"] == "shorter"
    part = first.subset([3, 0])
    assert part.image_ids == ["img3", "img0"] and part.config == first.config
    np.testing.assert_array_equal(part["relu2_1"], first["relu2_1"][[3, 0]])

    second_extractor = VGGFeatures(STYLE_LAYERS, weights_module=net)
    second = extract(image_paths, size=32, batch_size=2, extractor=second_extractor)
    assert second_extractor.calls == 0 and second.cache_hits == 5 and second.network_images == 0
    for layer in STYLE_LAYERS:
        np.testing.assert_array_equal(first[layer], second[layer])

    # a different size, layer set or policy is a different key: the network runs again
    third_extractor = VGGFeatures(STYLE_LAYERS, weights_module=net)
    extract(image_paths[:2], size=40, extractor=third_extractor)
    assert third_extractor.images_seen == 2
    meanstd = extract(image_paths, size=32, statistic="meanstd", extractor=second_extractor)
    assert second_extractor.calls == 0  # the mean/std statistics share the cache entry
    assert meanstd["relu3_1"].shape == (5, 16)


def test_extract_matches_direct_computation_and_is_deterministic(net, image_paths):
    a = extract(image_paths, ["relu1_1", "relu3_1"], size=32, batch_size=4, cache=False, weights_module=net)
    b = extract(image_paths, ["relu1_1", "relu3_1"], size=32, batch_size=1, cache=False, weights_module=net)
    for layer in ("relu1_1", "relu3_1"):
        np.testing.assert_allclose(a[layer], b[layer], rtol=1e-4, atol=1e-6)
    image = features.load_for_features(image_paths[1], 32, "shorter")
    assert image.shape == (3, 32, 32)
    extractor = VGGFeatures(["relu3_1"], weights_module=net)
    with torch.inference_mode():
        direct = gram(extractor(image[None])["relu3_1"]).numpy()[0]
    np.testing.assert_allclose(a["relu3_1"][1], direct, rtol=1e-4, atol=1e-6)
    again = extract(
        image_paths, ["relu1_1", "relu3_1"], size=32, batch_size=4, cache=False, weights_module=net
    )
    np.testing.assert_array_equal(a["relu3_1"], again["relu3_1"])
    vectors = extract(
        image_paths, ["relu3_1"], size=32, batch_size=4, cache=False, triu=True, weights_module=net
    )
    np.testing.assert_array_equal(vectors["relu3_1"], features.triu_vector(a["relu3_1"]))


def test_extract_longer_policy_keeps_aspect_and_records_policy(net, image_paths):
    out = extract(
        image_paths,
        ["relu2_1"],
        size=32,
        resize_policy="longer",
        batch_size=8,
        cache=False,
        weights_module=net,
    )
    assert out.config["resize_policy"] == "longer"
    one_by_one = [
        extract([p], ["relu2_1"], size=32, resize_policy="longer", cache=False, weights_module=net)[
            "relu2_1"
        ][0]
        for p in image_paths
    ]
    np.testing.assert_allclose(out["relu2_1"], np.stack(one_by_one), rtol=1e-4, atol=1e-6)
    assert features.load_for_features(image_paths[1], 32, "longer").shape == (3, 32, 23)


def test_extract_bad_input(net, image_paths, tmp_path):
    with pytest.raises(ValueError, match="unknown resize policy 'stretch'"):
        extract(image_paths, size=32, resize_policy="stretch", weights_module=net)
    with pytest.raises(ValueError, match="unknown statistic"):
        extract(image_paths, size=32, statistic="histogram", weights_module=net)
    with pytest.raises(ValueError, match="empty corpus"):
        extract([], size=32, weights_module=net)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg at all")
    with pytest.raises(ValueError, match="broken.jpg"):
        extract([broken], size=32, cache=False, weights_module=net)


def test_layer_index_agrees_with_weights_store_layout():
    from culturalstyle import weights

    assert features.layer_index(weights.build_vgg19_gatys()) == weights.VGG19_LAYER_INDEX


def test_vggfeatures_leaves_the_given_module_untouched():
    net = random_vgg(seed=1)
    net[3].inplace = True
    before = {k: v.clone() for k, v in net.state_dict().items()}
    extractor = VGGFeatures(["relu2_1"], weights_module=net, channels_last=True)
    assert all(p.requires_grad for p in net.parameters()) and net[3].inplace
    assert not any(p.requires_grad for p in extractor.parameters())
    for key, value in net.state_dict().items():
        assert value.is_contiguous() and torch.equal(value, before[key])
