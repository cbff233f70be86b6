"""CUT / FastCUT: PatchNCE against a hand computation, the MLP heads, encoder layers, method defaults."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pandas as pd
import pytest
import torch

from culturalstyle.corpus import Corpus
from culturalstyle.translate import train as T
from culturalstyle.translate.config import PRESETS, make_config
from culturalstyle.translate.models import TRANSLATORS, ModelContext
from culturalstyle.translate.networks import ResnetGenerator
from culturalstyle.translate.patchnce import PatchSampleMLP, patch_nce, patch_nce_loss

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def unit(x: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(x, dim=-1)


def hand_patch_nce(q: torch.Tensor, k: torch.Tensor, tau: float) -> list[float]:
    """Cross-entropy over [positive, negatives (own position masked to -10)] written out with math."""
    out = []
    b, p, _ = q.shape
    for n in range(b):
        for i in range(p):
            pos = float(q[n, i] @ k[n, i])
            negs = [float(q[n, i] @ k[n, j]) if j != i else -10.0 for j in range(p)]
            logits = [pos / tau] + [v / tau for v in negs]
            top = max(logits)
            log_sum = top + math.log(sum(math.exp(v - top) for v in logits))
            out.append(log_sum - pos / tau)
    return out


def test_patch_nce_equals_hand_written_cross_entropy():
    generator = torch.Generator().manual_seed(0)
    q = unit(torch.randn(2, 5, 7, generator=generator, dtype=torch.float64))
    k = unit(torch.randn(2, 5, 7, generator=generator, dtype=torch.float64))
    for tau in (0.07, 0.5):
        got = patch_nce_loss(q.float(), k.float(), tau)
        assert got.shape == (10,)
        assert got.tolist() == pytest.approx(hand_patch_nce(q, k, tau), rel=1e-4, abs=1e-5)


def test_patch_nce_is_minimal_when_queries_coincide_with_their_positives():
    p = 6
    keys = torch.eye(8)[:p][None]  # orthonormal keys: 6 patches, 8 channels
    for tau in (0.5, 0.07):  # analytic value; float32 resolves ~1e-6 next to logits of 1 / 0.07
        at_keys = patch_nce_loss(keys, keys, tau)
        expected = math.log(1 + (p - 1) * math.exp(-1 / tau) + math.exp((-10 - 1) / tau))
        assert at_keys.tolist() == pytest.approx([expected] * p, rel=1e-4, abs=1e-6)
    generator = torch.Generator().manual_seed(1)
    for _ in range(20):
        other = unit(torch.randn(1, p, 8, generator=generator))
        assert bool((patch_nce_loss(other, keys, tau) > at_keys).all())
    wrong = keys[:, torch.roll(torch.arange(p), 1)]  # each query equal to another patch's key
    assert bool((patch_nce_loss(wrong, keys, tau) > 10).all())
    # the keys are detached: gradients reach the queries only
    q = keys.clone().requires_grad_(True)
    k = unit(torch.randn(1, p, 8, generator=generator)).requires_grad_(True)
    patch_nce_loss(q, k, tau).mean().backward()
    assert q.grad is not None and k.grad is None


def test_patch_nce_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="B x P x C"):
        patch_nce_loss(torch.zeros(1, 4, 3), torch.zeros(1, 5, 3))


def test_mlp_heads_are_seeded_not_taken_from_the_global_rng():
    torch.manual_seed(123)
    a = PatchSampleMLP([3, 16, 32], dim=8, seed=5)
    torch.manual_seed(999)
    torch.rand(100)
    b = PatchSampleMLP([3, 16, 32], dim=8, seed=5)
    c = PatchSampleMLP([3, 16, 32], dim=8, seed=6)
    for (name, x), (_, y), (_, z) in zip(
        a.state_dict().items(), b.state_dict().items(), c.state_dict().items()
    ):
        assert torch.equal(x, y), name
        if name.endswith("weight"):
            assert not torch.equal(x, z), name
            assert abs(float(x.std()) - 0.02) < 0.01
        else:
            assert not x.any()
    assert [h[0].in_features for h in a.heads] == [3, 16, 32] and a.heads[0][2].out_features == 8


def test_patch_sampling_and_projection():
    mlp = PatchSampleMLP([4, 6], dim=5, seed=0)
    feats = [torch.randn(2, 4, 3, 3), torch.randn(2, 6, 8, 8)]
    ids = mlp.sample_ids(feats, 16, torch.Generator().manual_seed(0))
    again = mlp.sample_ids(feats, 16, torch.Generator().manual_seed(0))
    assert all(torch.equal(x, y) for x, y in zip(ids, again))
    assert len(ids[0]) == 9 and len(set(ids[0].tolist())) == 9  # at most H*W, distinct
    assert len(ids[1]) == 16 and len(set(ids[1].tolist())) == 16
    out = mlp(feats, ids)
    assert out[0].shape == (2, 9, 5) and out[1].shape == (2, 16, 5)
    assert torch.allclose(out[1].norm(dim=-1), torch.ones(2, 16), atol=1e-5)
    # projection of position ids[1][3] of image 1 is the head applied to that feature vector
    y, x = divmod(int(ids[1][3]), 8)
    by_hand = unit(mlp.heads[1](feats[1][1, :, y, x]))
    assert torch.allclose(out[1][1, 3], by_hand, atol=1e-6)
    # the loss of features with themselves is lower than against other features
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        same = patch_nce(mlp, feats, feats, num_patches=16, tau=0.07, generator=gen)
        other = [torch.randn_like(f) for f in feats]
        other = patch_nce(mlp, feats, other, num_patches=16, tau=0.07, generator=gen)
    assert float(same) < float(other)


def test_generator_layers_map_the_papers_cut_layers():
    g = ResnetGenerator(ngf=4, n_blocks=6)
    names = ("input", "stem", "down1", "down2", "res1", "res5")
    idx = [g.layer_index(n) for n in names]
    assert idx == [0, 3, 4, 7, 10, 14]
    x = torch.rand(2, 3, 16, 20)
    out, feats = g(x, layers=idx)
    assert [tuple(f.shape[1:]) for f in feats] == [
        (3, 22, 26),
        (4, 16, 20),
        (8, 8, 10),
        (16, 4, 5),
        (16, 4, 5),
        (16, 4, 5),
    ]
    assert torch.allclose(feats[0][:, :, 3:-3, 3:-3], x * 2 - 1)  # the padded input in [-1, 1]
    with torch.no_grad():
        assert torch.equal(out, g(x))  # capturing features does not change the translation
        encoded = g(x, layers=idx, encode_only=True)
    assert all(torch.equal(a, b) for a, b in zip(encoded, feats))
    with pytest.raises(ValueError, match="res1..res6"):
        g.layer_index("res7")


def test_method_defaults_overrides_and_config_errors():
    device = torch.device("cpu")
    for method, expected in (
        ("cut", {"lambda_nce": 1.0, "nce_idt": True, "flip_equivariance": False}),
        ("fastcut", {"lambda_nce": 10.0, "nce_idt": False, "flip_equivariance": True}),
    ):
        cfg = make_config("smoke", source="a", target="b", method=method)
        model = TRANSLATORS[method](cfg, ModelContext(device))
        settings = model.hyperparameters()
        assert {k: settings[k] for k in expected} == expected
        assert settings["nce_patches"] == 256 and settings["nce_tau"] == 0.07
        assert set(model.networks) == {"G", "F", "D_B"} and set(model.optimizers) == {"G", "F", "D"}
        assert len(model.F.heads) == len(cfg.nce_layers)
    cfg = make_config("smoke", source="a", target="b", method="fastcut", lambda_nce=2.0, nce_idt=True)
    assert TRANSLATORS["fastcut"](cfg, ModelContext(device)).hyperparameters()["nce_idt"] is True
    # presets apply to every method; the paper's layers need five residual blocks
    for preset in PRESETS:
        for method in TRANSLATORS:
            cfg = make_config(preset, method=method)
            assert (cfg.size, cfg.ngf, cfg.n_blocks) == (
                PRESETS[preset].size,
                PRESETS[preset].ngf,
                PRESETS[preset].n_blocks,
            )
    with pytest.raises(ValueError, match=r"nce_layers: unknown generator layer 'res5'.*n_blocks=2"):
        make_config("smoke", method="cut", nce_layers=("input", "res5"))
    with pytest.raises(
        ValueError, match="method must be one of cut, cyclegan, fastcut|method must be one of"
    ):
        make_config("smoke", method="pix2pix")
    make_config("smoke", method="cyclegan", n_blocks=1)  # CycleGAN ignores nce_layers


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory) -> Corpus:
    full = Corpus.load(SAMPLE)
    parts = [
        full.df[(full.df.culture == c) & (full.df.split == "train")].sort_values("image_id").head(4)
        for c in ("ukiyo_e", "renaissance")
    ]
    folder = tmp_path_factory.mktemp("cut_corpus")
    Corpus(pd.concat(parts), full.root).save(folder)
    return Corpus.load(folder)


@pytest.mark.parametrize("method", ["cut", "fastcut"])
def test_cut_runs_log_their_losses(tmp_path, small_corpus, method):
    config = make_config(
        "smoke",
        source="ukiyo_e",
        target="renaissance",
        method=method,
        steps=3,
        steps_decay=0,
        device="cpu",
        progress=False,
        tensorboard=False,
        eval_every=0,
        lambda_tv=0.5,
        sample_every=3,
    )
    run = T.train(config, small_corpus, tmp_path / "run")
    rows = list(csv.DictReader(open(run / "losses.csv")))
    names = T.loss_names(method)
    assert list(rows[0])[1 : 1 + len(names)] == list(names)
    for row in rows:
        parts = sum(float(row[n]) for n in ("G_gan_AB", "nce", "nce_idt", "gram", "content", "tv"))
        assert float(row["G_total"]) == pytest.approx(parts, rel=1e-4)
        assert float(row["nce"]) > 0 and float(row["tv"]) > 0 and float(row["D_B"]) > 0
        assert (float(row["nce_idt"]) > 0) == (method == "cut")
    # the first PatchNCE value is near log(1 + 255 negatives + masked) for random features, times lambda
    lam = 1.0 if method == "cut" else 10.0
    first = float(rows[0]["nce"]) + float(rows[0]["nce_idt"])
    assert 0.5 * lam * math.log(257) < first < 2 * lam * math.log(257)
    state, _ = T.load_checkpoint(run)
    assert state["method"] == method and set(state["models"]) == {"G", "F", "D_B"}
    # sample grid: one direction, source | translation
    from PIL import Image

    grid = Image.open(run / "samples" / "step_00000003_A2B.png")
    assert grid.size == (2 * (config.size + 2) + 2, config.n_samples * (config.size + 2) + 2)
    assert not (run / "samples" / "step_00000003_B2A.png").exists()
