"""CycleGAN networks (shapes, parameter counts, receptive field, init), losses and configs."""

from __future__ import annotations

import math

import pytest
import torch

from culturalstyle.translate import losses as L
from culturalstyle.translate.config import PRESETS, TrainConfig, make_config
from culturalstyle.translate.networks import (
    PatchDiscriminator,
    ResnetGenerator,
    count_parameters,
    receptive_field,
    to_signed,
    to_unit,
)


def conv(k: int, cin: int, cout: int) -> int:
    return k * k * cin * cout + cout  # weights + bias (instance norm has no affine parameters)


def expected_generator_params(ngf: int, n_blocks: int) -> int:
    """Paper appendix 7.2: c7s1-ngf, d2ngf, d4ngf, R4ngf x n, u2ngf, ungf, c7s1-3."""
    total = conv(7, 3, ngf) + conv(3, ngf, 2 * ngf) + conv(3, 2 * ngf, 4 * ngf)
    total += n_blocks * 2 * conv(3, 4 * ngf, 4 * ngf)
    total += conv(3, 4 * ngf, 2 * ngf) + conv(3, 2 * ngf, ngf) + conv(7, ngf, 3)
    return total


def expected_discriminator_params(ndf: int) -> int:
    """C64-C128-C256-C512 then a 1-channel conv, all 4x4."""
    return (
        conv(4, 3, ndf)
        + conv(4, ndf, 2 * ndf)
        + conv(4, 2 * ndf, 4 * ndf)
        + conv(4, 4 * ndf, 8 * ndf)
        + conv(4, 8 * ndf, 1)
    )


def test_parameter_counts_match_the_paper_configuration():
    g9 = count_parameters(ResnetGenerator(64, 9))
    d = count_parameters(PatchDiscriminator(64, 3))
    assert g9 == expected_generator_params(64, 9) == 11_378_179  # "about 11.4 M"
    assert d == expected_discriminator_params(64) == 2_764_737  # "about 2.8 M"
    assert count_parameters(ResnetGenerator(64, 6)) == expected_generator_params(64, 6)
    assert count_parameters(ResnetGenerator(32, 6)) == expected_generator_params(32, 6)


@pytest.mark.parametrize("shape", [(2, 3, 32, 32), (1, 3, 32, 48)])
def test_generator_keeps_shape_and_ranges(shape):
    torch.manual_seed(0)
    g = ResnetGenerator(8, 2)
    x = torch.rand(shape)
    y = g(x)
    assert y.shape == x.shape
    assert y.min() >= 0 and y.max() <= 1
    signed = g(to_signed(x), normalized=True)
    assert signed.min() >= -1 and signed.max() <= 1
    assert torch.allclose(y, to_unit(signed), atol=1e-6)
    with pytest.raises(ValueError, match="multiples of 4"):
        g(torch.rand(1, 3, 30, 32))


def test_discriminator_output_map_and_70px_receptive_field():
    torch.manual_seed(0)
    d = PatchDiscriminator(8, 3)
    assert d(torch.rand(1, 3, 256, 256)).shape == (1, 1, 30, 30)  # the paper's 30x30 patch map
    assert receptive_field(3) == 70
    # empirical receptive field: the input pixels that influence one central output (instance norm's global
    # statistics would make every output depend on every pixel, so measure the convolutions alone)
    for index, module in enumerate(d.model):
        if isinstance(module, torch.nn.InstanceNorm2d):
            d.model[index] = torch.nn.Identity()
    x = torch.rand(1, 3, 256, 256, requires_grad=True)
    d(x)[0, 0, 15, 15].backward()
    rows = torch.nonzero(x.grad.abs().sum((0, 1)).sum(1)).flatten()
    cols = torch.nonzero(x.grad.abs().sum((0, 1)).sum(0)).flatten()
    assert int(rows[-1] - rows[0] + 1) == 70 and int(cols[-1] - cols[0] + 1) == 70


def test_normal_init_and_zero_bias():
    torch.manual_seed(0)
    g = ResnetGenerator(64, 9)
    with torch.no_grad():
        weights = torch.cat(
            [
                m.weight.flatten()
                for m in g.modules()
                if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))
            ]
        )
        biases = torch.cat(
            [
                m.bias.flatten()
                for m in g.modules()
                if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))
            ]
        )
    assert abs(float(weights.mean())) < 1e-3
    assert float(weights.std()) == pytest.approx(0.02, rel=0.01)
    assert torch.count_nonzero(biases) == 0
    norms = [m for m in g.modules() if isinstance(m, torch.nn.InstanceNorm2d)]
    assert norms and all(not m.affine for m in norms)
    assert any(isinstance(m, torch.nn.ReflectionPad2d) for m in g.modules())


# ---------------------------------------------------------------------------------------------- losses


PRED = torch.tensor([[0.5, -1.0], [2.0, 0.0]]).reshape(1, 1, 2, 2)
VALUES = [0.5, -1.0, 2.0, 0.0]


def test_lsgan_against_hand_computation():
    real = sum((v - 1) ** 2 for v in VALUES) / 4
    fake = sum(v**2 for v in VALUES) / 4
    assert float(L.adversarial_loss(PRED, True, "lsgan")) == pytest.approx(real)
    assert float(L.adversarial_loss(PRED, False, "lsgan")) == pytest.approx(fake)
    assert float(L.adversarial_loss(PRED, True, "lsgan", generator=True)) == pytest.approx(real)


def test_vanilla_against_hand_computation():
    sig = [1 / (1 + math.exp(-v)) for v in VALUES]
    real = -sum(math.log(s) for s in sig) / 4
    fake = -sum(math.log(1 - s) for s in sig) / 4
    assert float(L.adversarial_loss(PRED, True, "vanilla")) == pytest.approx(real, rel=1e-6)
    assert float(L.adversarial_loss(PRED, False, "vanilla")) == pytest.approx(fake, rel=1e-6)


def test_hinge_against_hand_computation():
    assert float(L.adversarial_loss(PRED, True, "hinge")) == pytest.approx(
        sum(max(0, 1 - v) for v in VALUES) / 4
    )
    assert float(L.adversarial_loss(PRED, False, "hinge")) == pytest.approx(
        sum(max(0, 1 + v) for v in VALUES) / 4
    )
    assert float(L.adversarial_loss(PRED, True, "hinge", generator=True)) == pytest.approx(-sum(VALUES) / 4)
    with pytest.raises(ValueError, match="unknown GAN loss"):
        L.adversarial_loss(PRED, True, "wgan")


def test_l1_against_hand_computation():
    a = torch.tensor([[[[0.0, 1.0], [3.0, 7.0]]]])
    b = torch.zeros_like(a)
    assert float(L.l1(a, b)) == pytest.approx((0 + 1 + 3 + 7) / 4)


def test_gram_matrix_and_gram_style_loss_against_hand_computation():
    from culturalstyle.features import VGGFeatures, random_vgg

    torch.manual_seed(0)
    features = VGGFeatures(("relu1_1", "relu2_1"), device="cpu", weights_module=random_vgg())
    batch = torch.rand(2, 3, 16, 16)
    for layer in ("relu1_1", "relu2_1"):
        act = features(batch)[layer]
        hw = act.shape[2] * act.shape[3]
        hand = torch.einsum("bchw,bdhw->bcd", act, act) / hw
        assert torch.allclose(L.gram_matrix(act), hand, rtol=1e-5, atol=1e-6)

    image = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        own = {k: L.gram_matrix(v)[0] for k, v in features(image).items()}
    loss = L.GramStyleLoss(own, features)
    assert float(loss(image)) == pytest.approx(0.0, abs=1e-10)
    other = torch.rand(1, 3, 16, 16, requires_grad=True)
    value = loss(other)
    # by hand: mean over layers of the mean squared Gram difference
    acts = features(other.detach())
    hand = sum(
        float(
            ((torch.einsum("bchw,bdhw->bcd", acts[k], acts[k]) / acts[k][0, 0].numel() - own[k]) ** 2).mean()
        )
        for k in own
    ) / len(own)
    assert float(value.detach()) == pytest.approx(hand, rel=1e-5)
    value.backward()
    assert other.grad is not None and float(other.grad.abs().sum()) > 0


def test_content_loss_is_mse_with_detached_source():
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    s = torch.tensor([1.0, 0.0, 0.0], requires_grad=True)
    loss = L.content_loss(x, s)
    assert float(loss.detach()) == pytest.approx((0 + 4 + 9) / 3)
    loss.backward()
    assert s.grad is None and x.grad is not None


# ---------------------------------------------------------------------------------------------- config


def test_presets_follow_the_issue():
    smoke, cpu, paper = PRESETS["smoke"], PRESETS["cpu"], PRESETS["paper"]
    assert smoke.size == 32 and smoke.steps is not None and 12 <= smoke.steps <= 100
    assert (cpu.size, cpu.ngf, cpu.n_blocks) == (128, 32, 6)
    assert (paper.size, paper.load_size, paper.ngf, paper.n_blocks) == (256, 286, 64, 9)
    assert (paper.epochs, paper.epochs_decay, paper.steps) == (100, 100, None)
    # the paper schedule: 200 epochs, linear decay over the last 100
    assert paper.schedule(steps_per_epoch=1000) == (200_000, 100_000)
    for config in PRESETS.values():
        assert (config.lr, config.beta1, config.beta2, config.pool_size) == (2e-4, 0.5, 0.999, 50)
        assert (config.gan_mode, config.lambda_cycle, config.lambda_identity) == ("lsgan", 10.0, 0.5)
        assert config.lambda_gram == config.lambda_content == config.lambda_tv == 0.0


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_yaml_round_trip(tmp_path, preset):
    config = make_config(
        preset, ["lambda_gram=2.5", "style_layers=[relu1_1, relu3_1]"], source="a", target="b"
    )
    path = config.save(tmp_path / "config.yaml")
    loaded = TrainConfig.load(path)
    assert loaded == config
    assert loaded.style_layers == ("relu1_1", "relu3_1") and isinstance(loaded.lambda_gram, float)


def test_overrides_from_cli_strings_and_python():
    config = make_config("cpu", ["lr=1e-3", "batch_size=4", "gan_mode=hinge", "steps=10", "steps_decay=5"])
    assert (config.lr, config.batch_size, config.gan_mode, config.steps) == (1e-3, 4, "hinge", 10)
    assert make_config("cpu", {"ngf": 16}, n_blocks=3).n_blocks == 3
    assert PRESETS["cpu"].lr == 2e-4  # presets themselves are never modified


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("ngff=3", "unknown config field 'ngff'"),
        ("size=abc", "'size' must be int"),
        ("size=30", "multiple of 4"),
        ("gan_mode=wgan", "gan_mode must be one of"),
        ("lambda_cycle=-1", "lambda_cycle must be a finite number >= 0"),
        ("load_size=16", "load_size"),
        ("steps_decay=999", "steps_decay must lie in"),
        ("amp=maybe", "'amp' must be bool"),
        ("novalue", "not of the form key=value"),
    ],
)
def test_bad_overrides_are_clear_errors(override, message):
    with pytest.raises(ValueError, match=message):
        make_config("smoke", [override])


def test_cultures_required_for_training_and_unknown_preset():
    with pytest.raises(ValueError, match="source and target"):
        make_config("smoke").validate()
    with pytest.raises(ValueError, match="same culture"):
        make_config("smoke", source="a", target="a").validate()
    with pytest.raises(ValueError, match="unknown preset 'gpu'"):
        make_config("gpu")


def _nyquist_share(y: torch.Tensor) -> float:
    """Share of an image's (mean-removed) spectral energy on the Nyquist row and column: a checkerboard."""
    power = torch.fft.fft2(y - y.mean((-2, -1), keepdim=True)).abs() ** 2
    h, w = y.shape[-2:]
    return float((power[..., h // 2, :].sum() + power[..., :, w // 2].sum()) / power.sum())


def test_resize_upsampling_prints_no_checkerboard_where_transposed_convolutions_do():
    torch.manual_seed(0)
    smooth = torch.nn.functional.avg_pool2d(torch.rand(1, 3, 64, 64), 9, 1, 4, count_include_pad=False)
    shares = {}
    for kind in ("transpose", "resize"):
        values = []
        for seed in range(3):
            torch.manual_seed(seed)
            generator = ResnetGenerator(8, 2, upsample=kind)
            with torch.no_grad():
                values.append(_nyquist_share(generator(smooth)))
        shares[kind] = max(values) if kind == "resize" else min(values)
    assert shares["transpose"] > 0.2  # untrained transposed convolutions: a strong 2-px pattern
    assert shares["resize"] < 0.01
    # same encoder: the PatchNCE layer indices do not depend on the decoder
    a, b = ResnetGenerator(8, 2, upsample="transpose"), ResnetGenerator(8, 2, upsample="resize")
    assert [type(m) for m in a.model[:12]] == [type(m) for m in b.model[:12]]
    assert a.layer_index("res2") == b.layer_index("res2")
    with pytest.raises(ValueError, match="unknown upsampling"):
        ResnetGenerator(8, 2, upsample="pixelshuffle")
