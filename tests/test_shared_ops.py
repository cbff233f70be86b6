"""Pieces style transfer and translators share: the TV losses, padding, and the one culture Gram target."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from culturalstyle import corpus as cm
from culturalstyle import features as feats
from culturalstyle.cache import cache_dir
from culturalstyle.losses import tv_l1_mean, tv_l2_mean
from culturalstyle.nst import targets
from culturalstyle.nst.common import pad_to_multiple
from culturalstyle.translate import TrainConfig
from culturalstyle.translate.seed_losses import culture_gram_targets

pytestmark = pytest.mark.usefixtures("one_torch_thread")
LAYERS = ("relu1_1", "relu2_1")
IMAGE = torch.tensor([[[[0.0, 1.0], [3.0, 7.0]]]])  # vertical |3-0|, |7-1|; horizontal |1-0|, |7-3|


def test_tv_l1_mean_against_hand_computation():
    assert float(tv_l1_mean(IMAGE)) == pytest.approx((3 + 6) / 2 + (1 + 4) / 2)
    assert float(tv_l1_mean(torch.ones(2, 3, 5, 5))) == 0
    assert tv_l1_mean(IMAGE.half()).dtype == torch.float32  # computed in float32 under autocast


def test_tv_l2_mean_against_hand_computation():
    assert float(tv_l2_mean(IMAGE)) == pytest.approx((9 + 36) / 2 + (1 + 16) / 2)
    assert float(tv_l2_mean(torch.ones(1, 3, 4, 6))) == 0
    x = torch.rand(1, 3, 8, 8, requires_grad=True)
    tv_l2_mean(x).backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0  # Gatys optimises through it


def test_the_two_tv_losses_differ_where_their_formulas_do():
    step = torch.zeros(1, 1, 4, 4)
    step[..., 2:] = 0.5  # one horizontal edge of height 0.5 in every row
    assert float(tv_l1_mean(step)) == pytest.approx(0.5 / 3)
    assert float(tv_l2_mean(step)) == pytest.approx(0.25 / 3)


def test_pad_to_multiple_as_translators_use_it():
    x = torch.rand(2, 3, 13, 18)
    padded, (h, w) = pad_to_multiple(x, 4)
    assert padded.shape[-2:] == (16, 20) and (h, w) == (13, 18)
    assert torch.equal(padded[..., :h, :w], x)
    assert torch.equal(padded[..., 13, :18], x[..., 11, :])  # reflected, not zeros
    same, _ = pad_to_multiple(torch.rand(1, 3, 16, 20), 4)
    assert same.shape[-2:] == (16, 20)


@pytest.fixture
def square_corpus(tmp_path) -> cm.Corpus:
    """Images already at the target size: both preparations (longer side, centre crop) leave them as they are."""
    rng = np.random.default_rng(0)
    for culture in ("ukiyo_e", "renaissance"):
        folder = tmp_path / "art" / culture
        folder.mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return cm.make_splits(cm.from_folder(tmp_path / "art"), test_fraction=0.0)


def test_style_transfer_and_translator_culture_targets_are_one_computation(square_corpus):
    net = feats.VGGFeatures(LAYERS, device="cpu", weights_module=feats.random_vgg(seed=1))
    source = targets.style_culture(square_corpus, "renaissance", split="train")
    nst_target = targets.gram_target(source, net, 32, LAYERS, cache=False)  # longer side, one by one
    config = TrainConfig(size=32, style_layers=LAYERS)
    translate_target = culture_gram_targets(square_corpus, "renaissance", config, net)  # crops, batched
    assert set(translate_target) == set(LAYERS)
    for layer in LAYERS:
        torch.testing.assert_close(translate_target[layer], nst_target.grams[layer], rtol=1e-5, atol=1e-7)
    # by hand: mean over the images of the position-normalised Gram matrices
    images = torch.stack(
        [
            torch.from_numpy(np.asarray(Image.open(p), dtype=np.float32) / 255).permute(2, 0, 1)
            for p in source.paths
        ]
    )
    with torch.no_grad():
        acts = net(images)
    for layer in LAYERS:
        a = acts[layer]
        hand = (torch.einsum("bchw,bdhw->bcd", a, a) / (a.shape[2] * a.shape[3])).mean(0)
        torch.testing.assert_close(translate_target[layer], hand, rtol=1e-5, atol=1e-7)
    # the translator's target is cached under its own key (crop), next to nothing of the uncached nst one
    cached = sorted(Path(cache_dir("targets")).glob("gram-*.pt"))
    key = targets.target_key(
        "gram", source, 32, LAYERS, net.weights_sha256, targets.CROP, normalize="positions"
    )
    assert [p.name for p in cached] == [f"gram-{key}.pt"]
    assert key != targets.target_key("gram", source, 32, LAYERS, net.weights_sha256, normalize="positions")


def test_gram_target_refuses_an_unknown_resize(square_corpus):
    net = feats.VGGFeatures(LAYERS, device="cpu", weights_module=feats.random_vgg(seed=1))
    source = targets.style_culture(square_corpus, "renaissance", split="train")
    with pytest.raises(ValueError, match="unknown target resize 'stretch'"):
        targets.gram_target(source, net, 32, LAYERS, resize="stretch")
