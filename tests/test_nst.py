"""Unit tests of the style-transfer baselines on tiny random networks and tiny images (no pretrained weights)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from culturalstyle import nst
from culturalstyle.cache import cache_dir, sha256_file
from culturalstyle.corpus import Corpus
from culturalstyle.features import VGGFeatures, random_vgg

WIDTHS = (16, 16, 16, 16, 16)
LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1", "relu4_2")

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def vgg() -> torch.nn.Sequential:
    return random_vgg(WIDTHS, seed=1)


def extractor(vgg, layers=LAYERS) -> VGGFeatures:
    return VGGFeatures(layers, device="cpu", weights_module=vgg, channels_last=False)


def adain_model(vgg, **config) -> nst.AdaIN:
    encoder = extractor(vgg, ("relu4_1",))
    return nst.AdaIN(encoder, nst.random_decoder(WIDTHS[3], seed=2), config=nst.AdaINConfig(**config))


def save_random(path, size=(40, 32), seed=0, kind="noise"):
    rng = np.random.default_rng(seed)
    w, h = size
    if kind == "stripes":  # a texture: diagonal colour stripes plus a little noise
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.sin((xx + yy) * 0.9)[..., None] * np.array([0.5, -0.3, 0.4]) + 0.5
        arr = np.clip(base + rng.normal(0, 0.05, (h, w, 3)), 0, 1)
    else:
        arr = rng.random((h, w, 3))
    Image.fromarray((arr * 255).astype(np.uint8)).save(path)
    return path


def image_tensor(path) -> torch.Tensor:
    return torch.from_numpy(np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255).permute(
        2, 0, 1
    )[None]


@pytest.fixture
def tiny_corpus(tmp_path) -> Corpus:
    """Two cultures with train/test splits plus a content group, all tiny images."""
    rows = []
    for culture, n_train, n_test in (("alpha", 3, 1), ("beta", 2, 1)):
        (tmp_path / culture).mkdir()
        for i in range(n_train + n_test):
            rel = f"{culture}/{i}.png"
            save_random(tmp_path / rel, (36 + 4 * i, 32), seed=hash((culture, i)) % 1000)
            rows.append(
                {
                    "image_id": f"{culture}/{i}",
                    "path": rel,
                    "culture": culture,
                    "split": "train" if i < n_train else "test",
                }
            )
    (tmp_path / "content").mkdir()
    for i in range(2):
        rel = f"content/c{i}.png"
        save_random(tmp_path / rel, (40, 32), seed=100 + i)
        rows.append({"image_id": f"content/c{i}", "path": rel, "culture": "content", "split": "content"})
    df = pd.DataFrame(rows)
    for column in ("artist", "title", "date", "source", "license"):
        df[column] = ""
    df["sha256"] = [sha256_file(tmp_path / p) for p in df["path"]]
    df["width"], df["height"] = "", ""
    return Corpus(df, tmp_path)


# ------------------------------------------------------------------------------------------------- targets


def hand_gram(a: torch.Tensor) -> torch.Tensor:
    _, c, h, w = a.shape
    return torch.einsum("bchw,bdhw->bcd", a, a)[0] / (h * w)


def resized(path, size: int) -> torch.Tensor:
    """Independent resize: longer side to `size` with Lanczos, as the style-target loader documents."""
    img = Image.open(path).convert("RGB")
    scale = size / max(img.size)
    new = (round(img.width * scale), round(img.height * scale))
    if new != img.size:
        img = img.resize(new, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return torch.from_numpy(np.asarray(img, dtype=np.float32) / 255).permute(2, 0, 1)[None]


def test_gram_target_is_mean_of_hand_written_grams(tmp_path, vgg):
    paths = [save_random(tmp_path / f"s{i}.png", (40 + 8 * i, 32), seed=i) for i in range(3)]
    ex = extractor(vgg)
    target = nst.gram_target(nst.style_images(paths), ex, size=48, layers=nst.GatysConfig().style_layers)
    assert target.n_images == 3
    for layer in ("relu1_1", "relu3_1", "relu5_1"):
        expected = []
        for p in paths:
            with torch.no_grad():
                a = ex.net[: ex.layer_index[layer] + 1](resized(p, 48))
            expected.append(hand_gram(a))
        torch.testing.assert_close(target.grams[layer], torch.stack(expected).mean(0), rtol=1e-4, atol=1e-5)


def test_adain_target_mean_and_pooled_variance(tmp_path, vgg):
    paths = [save_random(tmp_path / f"s{i}.png", (32, 32 + 8 * i), seed=10 + i) for i in range(3)]
    enc = extractor(vgg, ("relu4_1",))
    target = nst.adain_target(nst.style_images(paths), enc, size=32, eps=1e-5)
    means, variances = [], []
    for p in paths:
        with torch.no_grad():
            a = enc.net(resized(p, 32))
        means.append(a.mean(dim=(0, 2, 3)))
        variances.append(a.var(dim=(0, 2, 3), unbiased=False))
    torch.testing.assert_close(target.mean, torch.stack(means).mean(0), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(
        target.std, torch.sqrt(torch.stack(variances).mean(0) + 1e-5), rtol=1e-4, atol=1e-5
    )
    # pooled within-image variance, not the variance of all positions of all images together
    assert not torch.allclose(target.std, torch.stack(means).std(0, unbiased=False), rtol=1e-2)


def test_culture_target_uses_train_split_and_is_cached(tiny_corpus, vgg):
    ex = extractor(vgg)
    layers = nst.GatysConfig().style_layers
    source = nst.style_culture(tiny_corpus, "alpha")
    assert source.kind == "culture" and source.culture == "alpha"
    assert source.image_ids == ("alpha/0", "alpha/1", "alpha/2")  # the test image alpha/3 is left out
    first = nst.gram_target(source, ex, 32, layers)
    assert ex.calls == 3  # one forward pass per training image
    again = nst.gram_target(nst.style_culture(tiny_corpus, "alpha"), ex, 32, layers)
    assert ex.calls == 3  # second use: read from the cache, the encoder is not called
    assert again.key == first.key and (cache_dir("targets") / f"gram-{first.key}.pt").exists()
    for layer in layers:
        assert torch.equal(again.grams[layer], first.grams[layer])
    nst.gram_target(source, ex, 48, layers)  # another size is another target
    assert ex.calls == 6
    # same images listed explicitly: same content hashes, same cache entry
    paths = [tiny_corpus.abspath(i) for i in source.image_ids]
    assert nst.gram_target(nst.style_images(paths), ex, 32, layers).key == first.key
    assert ex.calls == 6
    # AdaIN culture statistics are cached too
    model = adain_model(vgg, size=32)
    model.target(source)
    calls = model.encoder.calls
    assert calls == 3
    model.target(nst.style_culture(tiny_corpus, "alpha"))
    assert model.encoder.calls == calls


def test_target_cache_key_changes_with_network_weights(tiny_corpus, vgg):
    source = nst.style_culture(tiny_corpus, "beta")
    a = nst.adain_target(source, extractor(vgg, ("relu4_1",)), 32)
    other = extractor(random_vgg(WIDTHS, seed=7), ("relu4_1",))
    b = nst.adain_target(source, other, 32)
    assert a.key != b.key and other.calls == 2
    assert not torch.allclose(a.mean, b.mean)


def test_culture_errors_are_clear(tiny_corpus):
    with pytest.raises(ValueError, match="culture 'gamma' is not in the corpus"):
        nst.style_culture(tiny_corpus, "gamma")
    with pytest.raises(ValueError, match="no images in split 'val'"):
        nst.style_culture(tiny_corpus, "alpha", split="val")
    assert len(nst.style_culture(tiny_corpus, "alpha", split=None).paths) == 4
    with pytest.raises(ValueError, match="--corpus"):
        nst.parse_style("culture:alpha")
    with pytest.raises(FileNotFoundError, match="nope.png"):
        nst.parse_style("nope.png")


def test_parse_style_kinds(tiny_corpus, tmp_path):
    a = save_random(tmp_path / "a.png")
    b = save_random(tmp_path / "b.png", seed=3)
    assert nst.parse_style(str(a)).kind == "image"
    both = nst.parse_style(f"{a}+{b}")
    assert both.kind == "images" and len(both.paths) == 2
    assert nst.parse_style("culture:beta", tiny_corpus).label == "culture:beta[train]"


def test_mixing_targets(tmp_path):
    g1 = nst.GramTarget({"relu1_1": torch.eye(2)}, 32, "positions", "a", 1)
    g2 = nst.GramTarget({"relu1_1": torch.ones(2, 2)}, 32, "positions", "b", 2)
    mixed = nst.mix_gram([g1, g2], [3, 1])
    torch.testing.assert_close(mixed.grams["relu1_1"], 0.75 * torch.eye(2) + 0.25 * torch.ones(2, 2))
    assert mixed.n_images == 3
    with pytest.raises(ValueError, match="2 mixing weights for 1"):
        nst.mix_gram([g1], [1, 2])
    with pytest.raises(ValueError, match="non-negative"):
        nst.mix_gram([g1, g2], [1, -1])
    # AdaIN interpolation == weighted sum of the AdaIN outputs (Huang & Belongie)
    gen = torch.Generator().manual_seed(0)
    t1 = nst.AdaINTarget(torch.randn(4, generator=gen), torch.rand(4, generator=gen) + 0.5, 32, "a", 1)
    t2 = nst.AdaINTarget(torch.randn(4, generator=gen), torch.rand(4, generator=gen) + 0.5, 32, "b", 1)
    f = torch.randn(2, 4, 5, 6, generator=gen)
    mixed = nst.mix_adain([t1, t2], [0.3, 0.7])
    expected = 0.3 * nst.adain(f, t1.mean, t1.std) + 0.7 * nst.adain(f, t2.mean, t2.std)
    torch.testing.assert_close(nst.adain(f, mixed.mean, mixed.std), expected, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------------------------------------- helpers


def test_adain_matches_target_statistics():
    gen = torch.Generator().manual_seed(1)
    f = torch.randn(2, 3, 8, 9, generator=gen) * 3 + 1
    mean, std = torch.tensor([0.5, -1.0, 2.0]), torch.tensor([1.0, 0.2, 3.0])
    out = nst.adain(f, mean, std, eps=0.0)
    torch.testing.assert_close(out.mean(dim=(2, 3)), mean.expand(2, 3), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.std(dim=(2, 3), unbiased=False), std.expand(2, 3), atol=1e-4, rtol=1e-4)


def test_colour_preservation_keeps_content_chroma_and_stylised_luma():
    gen = torch.Generator().manual_seed(2)
    x = torch.rand(1, 3, 6, 7, generator=gen)
    torch.testing.assert_close(nst.yiq_to_rgb(nst.rgb_to_yiq(x)), x, atol=1e-6, rtol=0)
    grey = torch.full((1, 3, 6, 7), 0.5)  # mid-grey content: no colour
    stylised = torch.rand(1, 3, 6, 7, generator=gen) * 0.5 + 0.25
    out = nst.preserve_colour(stylised, grey)
    yiq = nst.rgb_to_yiq(out)
    torch.testing.assert_close(yiq[:, 1:], torch.zeros_like(yiq[:, 1:]), atol=1e-5, rtol=0)  # no chroma left
    torch.testing.assert_close(yiq[:, :1], nst.rgb_to_yiq(stylised)[:, :1], atol=1e-5, rtol=0)
    # a red content gives red-ish chroma whatever the stylised colours were
    red = torch.zeros(1, 3, 6, 7)
    red[:, 0] = 0.6
    torch.testing.assert_close(
        nst.rgb_to_yiq(nst.preserve_colour(grey, red))[:, 1:], nst.rgb_to_yiq(red)[:, 1:], atol=1e-5, rtol=0
    )


def test_pad_to_multiple_reflects_and_crops_back():
    x = torch.arange(2 * 3 * 13 * 10, dtype=torch.float32).reshape(2, 3, 13, 10)
    padded, (h, w) = nst.pad_to_multiple(x, 8)
    assert padded.shape == (2, 3, 16, 16) and (h, w) == (13, 10)
    assert torch.equal(padded[..., :13, :10], x)
    assert torch.equal(padded[..., 13, :10], x[..., 11, :])  # reflection, not zeros
    same, _ = nst.pad_to_multiple(torch.zeros(1, 3, 16, 24))
    assert same.shape == (1, 3, 16, 24)


# ------------------------------------------------------------------------------------------------- AdaIN


def test_adain_model_any_size_alpha_and_batching(tmp_path, vgg):
    model = adain_model(vgg, size=48)
    target = model.target(nst.style_image(save_random(tmp_path / "s.png", (48, 40), seed=5, kind="stripes")))
    gen = torch.Generator().manual_seed(3)
    content = torch.rand(2, 3, 37, 45, generator=gen)
    out = model.stylize(content, target)
    assert out.shape == content.shape and out.min() >= 0 and out.max() <= 1
    # alpha = 0 is exactly the decoder's reconstruction of the content
    torch.testing.assert_close(model.stylize(content, target, alpha=0.0), model.reconstruct(content))
    # alpha interpolates the decoder input, so alpha = 0.5 differs from both ends
    half = model.stylize(content, target, alpha=0.5)
    assert not torch.allclose(half, out) and not torch.allclose(half, model.reconstruct(content))
    # a batch gives the same result as one image at a time (statistics are per image)
    torch.testing.assert_close(out[1:], model.stylize(content[1:], target), atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="alpha"):
        model.stylize(content, target, alpha=1.5)
    with pytest.raises(ValueError, match="alpha"):
        nst.AdaINConfig(alpha=-0.1).validate()


def test_adain_colour_preservation_flag(tmp_path, vgg):
    plain = adain_model(vgg, size=32)
    keep = adain_model(vgg, size=32, preserve_colour=True)
    target = plain.target(nst.style_image(save_random(tmp_path / "s.png", (32, 32), seed=6)))
    content = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    out = keep.stylize(content, target)
    torch.testing.assert_close(out, nst.preserve_colour(plain.stylize(content, target), content))


# ------------------------------------------------------------------------------------------------- Gatys


def gatys(vgg, **config) -> nst.Gatys:
    cfg = nst.GatysConfig(**{"size": 32, "steps": 60, **config})
    return nst.Gatys(extractor(vgg, (*cfg.style_layers, cfg.content_layer)), config=cfg)


@pytest.fixture
def content32(tmp_path) -> torch.Tensor:
    return image_tensor(save_random(tmp_path / "content.png", (32, 32), seed=11))


def test_gatys_style_weight_zero_converges_to_content(tmp_path, vgg, content32):
    style = nst.style_image(save_random(tmp_path / "style.png", (32, 32), seed=12, kind="stripes"))
    # relu1_1 of 16 random filters nearly determines the image: the output must become the content image
    model = gatys(
        vgg, style_weight=0.0, tv_weight=0.0, init="noise", content_layer="relu1_1", steps=150, patience=1000
    )
    result = model.stylize(content32, style, progress=False)
    start, end = result.history["content"].iloc[0], result.history["content"].iloc[-1]
    assert end < 1e-4 * start
    noise = torch.rand(content32.shape, generator=torch.Generator().manual_seed(0))
    assert F.mse_loss(result.image, content32) < 0.01 * F.mse_loss(noise, content32)
    # at the default relu4_2 the content loss goes to ~0 as well
    deep = gatys(vgg, style_weight=0.0, tv_weight=0.0, init="noise", steps=100, patience=1000)
    history = deep.stylize(content32, style, progress=False).history
    assert history["content"].iloc[-1] < 1e-3 * history["content"].iloc[0]


def test_gatys_content_weight_zero_matches_texture_statistics(tmp_path, vgg, content32):
    texture = nst.style_image(save_random(tmp_path / "texture.png", (32, 32), seed=13, kind="stripes"))
    model = gatys(vgg, content_weight=0.0, tv_weight=0.0, init="noise", steps=200, patience=1000)
    history = model.stylize(content32, texture, progress=False).history
    assert history["style"].iloc[-1] <= history["style"].iloc[0] / 100


def test_gatys_targets_computed_once_and_deterministic(tmp_path, vgg, content32):
    style = nst.style_images([save_random(tmp_path / f"s{i}.png", (32, 32), seed=20 + i) for i in range(2)])
    model = gatys(vgg, init="noise", steps=10, patience=1000, seed=5)
    first = model.stylize(content32, style, progress=False)
    # 2 style images + 1 content pass + 10 L-BFGS steps + 1 final check: no per-step target recomputation
    assert model.extractor.calls == 2 + 1 + 10 + 1
    assert first.steps_run == 10 and len(first.history) == 10
    second = model.stylize(content32, style, progress=False)
    assert model.extractor.calls == 14 + 0 + 1 + 10 + 1  # the target now comes from the cache
    assert torch.equal(first.image, second.image)
    other = gatys(vgg, init="noise", steps=10, patience=1000, seed=6).stylize(
        content32, style, progress=False
    )
    assert not torch.equal(first.image, other.image)


def test_gatys_layer_weights_select_layers(tmp_path, vgg, content32):
    style = nst.style_image(save_random(tmp_path / "s.png", (32, 32), seed=30))
    only = {layer: 0.0 for layer in nst.GatysConfig().style_layers}
    only["relu2_1"] = 2.0
    model = gatys(vgg, layer_weights=only, content_weight=0.0, tv_weight=0.0, steps=1)
    target = model.targets(style, 32)
    history = model.stylize(content32, target, progress=False).history
    with torch.no_grad():
        a = model.extractor(content32)["relu2_1"]
    expected = F.mse_loss(hand_gram(a), target.grams["relu2_1"])
    assert history["style"].iloc[0] == pytest.approx(float(expected), rel=1e-5)
    with pytest.raises(ValueError, match="not style layers"):
        nst.GatysConfig(layer_weights={"relu9_9": 1.0}).validate()


def test_gatys_adam_passes_and_early_stop(tmp_path, vgg, content32):
    style = nst.style_image(save_random(tmp_path / "s.png", (48, 48), seed=31, kind="stripes"))
    adam = gatys(vgg, optimizer="adam", steps=40, size=64, passes=2, patience=1000)
    big = F.interpolate(content32, size=(64, 64), mode="bilinear")
    result = adam.stylize(big, style, progress=False)
    assert result.image.shape == (1, 3, 64, 64) and 0 <= result.image.min() and result.image.max() <= 1
    assert list(result.history.groupby("pass")["size"].first()) == [32, 64]
    first_pass = result.history[result.history["pass"] == 0]["total"]
    assert first_pass.iloc[-1] < first_pass.iloc[0]
    # content init with no style: nothing to improve, so the run stops after `patience` steps
    idle = gatys(vgg, style_weight=0.0, tv_weight=0.0, steps=200, patience=5).stylize(
        content32, style, progress=False
    )
    assert idle.stopped_early and idle.steps_run < 200


def test_configs_round_trip_through_yaml(tmp_path):
    from culturalstyle.configs import apply_overrides, load_yaml, save_yaml

    config = nst.GatysConfig(layer_weights={"relu1_1": 0.5}, passes=2, optimizer="adam")
    save_yaml(config, tmp_path / "gatys.yaml")
    assert load_yaml(nst.GatysConfig, tmp_path / "gatys.yaml") == config
    assert apply_overrides(nst.AdaINConfig(), ["alpha=0.5"]).alpha == 0.5


def test_gatys_config_errors():
    with pytest.raises(ValueError, match="unknown optimizer"):
        nst.GatysConfig(optimizer="sgd").validate()
    with pytest.raises(ValueError, match="unknown init"):
        nst.GatysConfig(init="zeros").validate()
    with pytest.raises(ValueError, match="smaller than 32"):
        nst.GatysConfig(size=64, passes=3).validate()


# ------------------------------------------------------------------------------------------------- batch + CLI


def test_stylize_all_writes_translation_corpus(tiny_corpus, vgg, tmp_path):
    contents = nst.load_contents("content", tiny_corpus)
    assert [c.image_id for c in contents] == ["content/c0", "content/c1"]
    styles = [nst.style_culture(tiny_corpus, "alpha"), nst.style_culture(tiny_corpus, "beta")]
    out = tmp_path / "out"
    translations = nst.stylize_all(
        contents, styles, "adain", out, model=adain_model(vgg, size=40), progress=False
    )
    assert len(translations) == 4
    loaded = Corpus.load(out)
    df = loaded.df.set_index("image_id")
    row = df.loc["adain-alpha-content_c1"]
    assert row["method"] == "adain" and row["source_image_id"] == "content/c1"
    assert row["culture"] == "alpha" and row["style_target"] == "culture:alpha[train]"
    assert row["target_n_images"] == "3" and json.loads(row["parameters"])["size"] == 40
    assert row["sha256"] == sha256_file(loaded.abspath("adain-alpha-content_c1"))
    record = json.loads((out / "run_record.json").read_text())
    assert (
        record["kind"] == "stylize-adain" and record["inputs"]["contents"]["content/c0"] == contents[0].sha256
    )
    assert set(record["weights"]) == {"custom", "adain-decoder"}
    # the grid helper lays out content + one column per (method, target)
    grid = nst.grid_from_translations([loaded], contents, tile=40)
    assert grid.size == (4 + 3 * 44, 34 + 2 * 44 + 4)


def test_stylize_all_gatys_mix_and_bad_content(tiny_corpus, vgg, tmp_path):
    contents = nst.load_contents("content", tiny_corpus)[:1]
    styles = [nst.style_culture(tiny_corpus, "alpha"), nst.style_culture(tiny_corpus, "beta")]
    model = gatys(vgg, steps=3)
    translations = nst.stylize_all(
        contents, styles, "gatys", tmp_path / "g", mix=[0.5, 0.5], model=model, progress=False
    )
    row = translations.df.iloc[0]
    assert (
        row["target_kind"] == "mix" and row["culture"] == "custom" and "culture:alpha" in row["style_target"]
    )
    assert (tmp_path / "g" / "loss_history.csv").exists()
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match="broken.jpg"):
        nst.stylize_all(
            nst.load_contents(bad), styles[:1], "gatys", tmp_path / "b", model=model, progress=False
        )
    with pytest.raises(FileNotFoundError, match="neither an image file"):
        nst.load_contents(tmp_path / "missing")


def test_make_grid_places_tiles():
    red = Image.new("RGB", (20, 10), (255, 0, 0))
    blue = torch.zeros(3, 10, 10)
    blue[2] = 1
    grid = nst.make_grid([[red, blue]], ["a", "b"], tile=20, pad=4, header=30)
    assert grid.size == (4 + 2 * 24, 30 + 24 + 4)
    assert grid.getpixel((4 + 10, 30 + 4 + 10)) == (255, 0, 0)
    assert grid.getpixel((28 + 10, 30 + 4 + 10)) == (0, 0, 255)
    with pytest.raises(ValueError, match="column labels"):
        nst.make_grid([[red, blue]], ["a"])


def test_cli_single_and_batch(tiny_corpus, vgg, tmp_path, monkeypatch):
    from culturalstyle.cli import main

    tiny_corpus.save(tmp_path / "manifest.csv")
    real_adain, real_gatys = nst.AdaIN, nst.Gatys
    monkeypatch.setattr(
        nst,
        "AdaIN",
        lambda device=None, config=None: real_adain(
            extractor(vgg, ("relu4_1",)), nst.random_decoder(WIDTHS[3]), config=config
        ),
    )
    monkeypatch.setattr(
        nst, "Gatys", lambda device=None, config=None: real_gatys(extractor(vgg), config=config)
    )
    content = str(tiny_corpus.abspath("content/c0"))
    out = tmp_path / "one.png"
    args = [
        "stylize",
        content,
        "--style",
        "culture:alpha",
        "--corpus",
        str(tmp_path),
        "--size",
        "32",
        "--quiet",
    ]
    assert main([*args, "--method", "adain", "--out", str(out)]) == 0
    assert Image.open(out).size == (32, 26)
    record = json.loads((tmp_path / "one.png.run_record.json").read_text())
    assert record["style_target"] == "culture:alpha[train]" and record["source_image_id"] == "c0"
    assert main([*args, "--method", "adain", "--out", str(out)]) == 1  # never overwrites silently
    assert main([*args, "--method", "gatys", "--steps", "2", "--out", str(out), "--force"]) == 0
    batch = tmp_path / "batch"
    assert (
        main(
            [
                "stylize",
                "content",
                "--corpus",
                str(tmp_path),
                "--style",
                "culture:alpha",
                "--style",
                "culture:beta",
                "--method",
                "gatys",
                "--steps",
                "2",
                "--size",
                "32",
                "--quiet",
                "--out",
                str(batch),
            ]
        )
        == 0
    )
    assert len(Corpus.load(batch)) == 4
    assert (
        main(
            [
                "stylize",
                "content",
                "--corpus",
                str(tmp_path),
                "--style",
                "culture:alpha",
                "--method",
                "adain",
                "--quiet",
                "--out",
                str(batch),
            ]
        )
        == 1
    )  # existing results are not overwritten
    assert (
        main(["stylize", content, "--style", "culture:alpha", "--out", str(tmp_path / "x.png")]) == 1
    )  # no --corpus
    assert (
        main(
            [
                "stylize",
                content,
                "--style",
                "culture:alpha",
                "--style",
                "culture:beta",
                "--corpus",
                str(tmp_path),
                "--mix",
                "1",
                "--out",
                str(tmp_path / "y.png"),
            ]
        )
        == 1
    )  # 1 weight for 2 styles
