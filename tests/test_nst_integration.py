"""Style transfer with the real weights (`vgg19-gatys`, `adain-decoder`) on the bundled sample, at small sizes.

Acceptance checks of the issue: Gatys with style weight 0 reaches the content (content loss -> ~0); with content
weight 0 and a texture as style the style loss falls >= 100x; AdaIN with alpha = 0 is the decoder's
reconstruction of the content (its error is printed: `pytest -s`); with the real decoder the output's relu4_1
channel statistics move towards the style's; the ukiyo-e culture target comes from the cache on second use.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import SAMPLE, require_weights

from culturalstyle import nst
from culturalstyle.corpus import Corpus
from culturalstyle.features import VGGFeatures, channel_stats

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("one_torch_thread")]


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return Corpus.load(SAMPLE)


@pytest.fixture(scope="module")
def photo(corpus) -> torch.Tensor:
    row = corpus.filter(culture="content_photo").df.sort_values("image_id").iloc[0]  # Chelsea the cat
    return nst.common.load_content(corpus.abspath(row), 128)


@pytest.fixture(scope="module")
def adain_model() -> nst.AdaIN:
    require_weights("vgg19-gatys")
    require_weights("adain-decoder")
    return nst.AdaIN(device="cpu", config=nst.AdaINConfig(size=128))


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1 / F.mse_loss(a, b)))


def test_adain_alpha_zero_is_the_decoder_reconstruction(adain_model, corpus, photo):
    style = nst.style_image(
        corpus.abspath(corpus.filter(culture="ukiyo_e").df.sort_values("image_id").iloc[0])
    )
    target = adain_model.target(style)
    out = adain_model.stylize(photo, target, alpha=0.0)
    reconstruction = adain_model.reconstruct(photo)
    torch.testing.assert_close(out, reconstruction)
    error = psnr(out, photo)
    print(
        f"\nAdaIN decoder reconstruction of a 128 px photo: PSNR {error:.2f} dB, "
        f"MAE {float((out - photo).abs().mean()):.4f}"
    )
    assert error > 15.0  # a faithful (if blurred at this small size) reconstruction, not a stylisation
    stylised = adain_model.stylize(photo, target, alpha=1.0)
    assert psnr(stylised, photo) < error  # the style moves the image further away


def test_adain_output_statistics_move_to_the_style(adain_model, corpus, photo):
    source = nst.style_culture(corpus, "ukiyo_e")
    source = nst.style_images(source.paths[:4])  # four prints keep the test fast
    target = adain_model.target(source)
    out = adain_model.stylize(photo, target)
    with torch.inference_mode():
        content_mean, content_std = channel_stats(adain_model.encode(photo))
        out_mean, out_std = channel_stats(adain_model.encode(out))
    before = torch.linalg.vector_norm(content_mean[0] - target.mean) + torch.linalg.vector_norm(
        content_std[0] - target.std
    )
    after = torch.linalg.vector_norm(out_mean[0] - target.mean) + torch.linalg.vector_norm(
        out_std[0] - target.std
    )
    print(
        f"\nrelu4_1 mean/std distance to the ukiyo-e target: content {float(before):.2f}, output {float(after):.2f}"
    )
    assert after < 0.7 * before


def test_culture_target_is_cached_for_the_real_encoder(corpus, tmp_path, monkeypatch):
    require_weights("vgg19-gatys")
    encoder = VGGFeatures(("relu4_1",), device="cpu")  # loads the weights from the real cache first
    monkeypatch.setenv("CULTURALSTYLE_CACHE", str(tmp_path))  # then an empty cache for the targets
    source = nst.style_culture(corpus, "chinese_ink")
    first = nst.adain_target(source, encoder, 64)
    assert encoder.calls == len(source.paths) == 30
    second = nst.adain_target(nst.style_culture(corpus, "chinese_ink"), encoder, 64)
    assert encoder.calls == 30 and torch.equal(first.std, second.std)


@pytest.fixture(scope="module")
def vgg() -> VGGFeatures:
    require_weights("vgg19-gatys")
    config = nst.GatysConfig()
    return VGGFeatures((*config.style_layers, config.content_layer), device="cpu")


def test_gatys_style_weight_zero_reaches_the_content(vgg, corpus, photo):
    style = nst.style_image(
        corpus.abspath(corpus.filter(culture="ukiyo_e").df.sort_values("image_id").iloc[0])
    )
    config = nst.GatysConfig(size=64, steps=120, style_weight=0.0, tv_weight=0.0, init="noise", patience=1000)
    history = nst.Gatys(vgg, config=config).stylize(photo, style, progress=False).history
    print(
        f"\nGatys content loss with style weight 0: {history['content'].iloc[0]:.4g} -> {history['content'].iloc[-1]:.4g}"
    )
    assert history["content"].iloc[-1] < 1e-2 * history["content"].iloc[0]


def test_gatys_texture_style_loss_falls_100x(vgg, corpus, photo):
    texture = corpus.filter(culture="impressionism").df.sort_values("image_id").iloc[0]
    config = nst.GatysConfig(
        size=64, steps=80, content_weight=0.0, tv_weight=0.0, init="noise", patience=1000
    )
    history = (
        nst.Gatys(vgg, config=config)
        .stylize(photo, nst.style_image(corpus.abspath(texture)), progress=False)
        .history
    )
    print(
        f"\nGatys style loss with content weight 0: {history['style'].iloc[0]:.4g} -> {history['style'].iloc[-1]:.4g}"
    )
    assert history["style"].iloc[-1] <= history["style"].iloc[0] / 100
