"""Gram sketches: exact small layers, seeded sparse JL projections, measured distance error bounds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from culturalstyle.features import from_triu, random_vgg, triu_vector
from culturalstyle.sketch import (
    GramSketcher,
    LayerSketch,
    SketchConfig,
    sketch_triangles,
    standardisation,
    triu_dim,
)
from culturalstyle.streaming import Moments


def pairwise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    d = np.sqrt(np.maximum(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1), 0.0))
    return d[np.triu_indices(len(x), k=1)]


def relative_errors(exact: np.ndarray, sketched: np.ndarray) -> np.ndarray:
    return pairwise(sketched) / pairwise(exact) - 1.0


def test_small_layers_are_kept_exactly_and_standardised():
    rng = np.random.default_rng(0)
    c = 6
    tri = rng.normal(size=(5, triu_dim(c)))
    center, scale = rng.normal(size=triu_dim(c)), rng.uniform(0.5, 2.0, size=triu_dim(c))
    out = sketch_triangles(tri, "relu1_1", SketchConfig(sketch_dim=64, nonzeros=4), center, scale)
    np.testing.assert_allclose(out, (tri - center) / scale, rtol=1e-5, atol=1e-5)
    sketch = LayerSketch("relu1_1", c, SketchConfig(sketch_dim=64, nonzeros=4))
    assert sketch.exact and sketch.out_dim == 21 and sketch.in_dim == 21


def test_projection_reads_only_the_upper_triangle_and_folds_in_the_standardisation():
    rng = np.random.default_rng(1)
    c, config = 20, SketchConfig(sketch_dim=64, nonzeros=4, seed=3)
    tri = rng.normal(size=(4, triu_dim(c))).astype(np.float32)
    center, scale = rng.normal(size=triu_dim(c)), rng.uniform(0.5, 2.0, size=triu_dim(c))
    folded = sketch_triangles(tri, "relu3_1", config, center, scale)
    plain = sketch_triangles(((tri - center) / scale).astype(np.float32), "relu3_1", config)
    np.testing.assert_allclose(folded, plain, rtol=1e-4, atol=1e-4)
    # the lower triangle of the C x C input is ignored (a symmetric Gram's lower half is redundant)
    sketch = LayerSketch("relu3_1", c, config)
    full = torch.from_numpy(from_triu(tri, c))
    upper_only = torch.triu(full)
    torch.testing.assert_close(sketch(full), sketch(upper_only))
    assert folded.shape == (4, 64) and not sketch.exact


def test_projection_is_seeded_per_layer():
    rng = np.random.default_rng(2)
    tri = rng.normal(size=(3, triu_dim(30))).astype(np.float32)
    config = SketchConfig(sketch_dim=32, nonzeros=4, seed=0)
    a = sketch_triangles(tri, "relu4_1", config)
    np.testing.assert_array_equal(a, sketch_triangles(tri, "relu4_1", config))
    assert not np.allclose(a, sketch_triangles(tri, "relu5_1", config))
    assert not np.allclose(
        a, sketch_triangles(tri, "relu4_1", SketchConfig(sketch_dim=32, nonzeros=4, seed=1))
    )


def test_squared_norms_are_unbiased_over_seeds():
    """E||Rv||^2 = ||v||^2: averaged over 200 independent projections the ratio is 1 within 3 standard errors."""
    rng = np.random.default_rng(3)
    c, k = 24, 32
    v = rng.standard_cauchy(size=(1, triu_dim(c))).astype(np.float32)  # heavy-tailed entries, worst case
    v = np.clip(v, -50, 50)
    ratios = [
        float((sketch_triangles(v, "x", SketchConfig(sketch_dim=k, nonzeros=4, seed=s)) ** 2).sum())
        / float((v.astype(np.float64) ** 2).sum())
        for s in range(200)
    ]
    bound_std = np.sqrt(2.0 / k)  # Var(||Rv||^2)/||v||^4 <= 2/k
    assert abs(np.mean(ratios) - 1.0) < 3 * bound_std / np.sqrt(200)
    assert np.std(ratios) <= 1.2 * bound_std


@pytest.mark.parametrize("k", [256, 1024])
def test_pairwise_distance_error_on_random_vectors_is_within_the_jl_bound(k):
    """Relative distance error: RMS <= 1.2 sqrt(1/(2k)) and max <= 5 sqrt(1/(2k)) (the documented bound)."""
    rng = np.random.default_rng(4)
    c = 96
    base = rng.normal(size=(1, triu_dim(c)))
    x = (base + rng.normal(size=(30, triu_dim(c))) * rng.uniform(0.2, 2.0, size=(30, 1))).astype(np.float32)
    errors = relative_errors(x, sketch_triangles(x, "relu3_1", SketchConfig(sketch_dim=k, nonzeros=8)))
    scale = np.sqrt(1.0 / (2 * k))
    assert np.sqrt(np.mean(errors**2)) <= 1.2 * scale
    assert np.abs(errors).max() <= 5 * scale
    # negative control: rows sketched with two different seeds are not comparable, and the test notices
    mixed = np.concatenate(
        [
            sketch_triangles(x[:15], "relu3_1", SketchConfig(sketch_dim=k, nonzeros=8, seed=0)),
            sketch_triangles(x[15:], "relu3_1", SketchConfig(sketch_dim=k, nonzeros=8, seed=1)),
        ]
    )
    assert np.abs(relative_errors(x, mixed)).max() > 5 * scale


def test_gram_sketcher_two_phases_agree(one_torch_thread):
    net = random_vgg(seed=0)
    from culturalstyle.features import VGGFeatures

    extractor = VGGFeatures(("relu1_1", "relu4_1", "relu5_1"), device="cpu", weights_module=net)
    sketcher = GramSketcher(extractor, extractor.layers, SketchConfig(sketch_dim=32, nonzeros=4))
    assert sketcher.fields == {"relu1_1": 10, "relu4_1": 32, "relu5_1": 32}
    images = torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        tri = sketcher.triangles(images)
        moments = {layer: Moments.of(t.numpy()) for layer, t in tri.items()}
        with pytest.raises(RuntimeError, match="not calibrated"):
            sketcher(images)
        sketcher.calibrate(moments)
        direct = sketcher(images)
        kept = sketcher.sketch_triangles(tri)
    for layer in extractor.layers:
        torch.testing.assert_close(direct[layer], kept[layer], rtol=1e-5, atol=1e-5)
    # the exact layer equals the standardised signed-sqrt triangle of the Gram matrix
    from culturalstyle.features import gram

    with torch.inference_mode():
        g = gram(extractor(images)["relu1_1"])
    t = triu_vector(torch.sign(g) * g.abs().sqrt())
    center, scale = standardisation(Moments.of(t))
    np.testing.assert_allclose(direct["relu1_1"].numpy(), (t - center) / scale, rtol=1e-4, atol=1e-4)
    assert sketcher.describe()["layers"]["relu5_1"] == {
        "channels": 16,
        "in_dim": 136,
        "out_dim": 32,
        "exact": False,
    }


def test_bad_configuration_is_refused():
    with pytest.raises(ValueError, match="must divide"):
        SketchConfig(sketch_dim=100, nonzeros=8)
    with pytest.raises(ValueError, match="center/scale need 21"):
        LayerSketch("relu1_1", 6, SketchConfig(), center=np.zeros(5))
    with pytest.raises(ValueError, match="finite and > 0"):
        LayerSketch("relu1_1", 6, SketchConfig(), scale=np.zeros(21))
    with pytest.raises(ValueError, match="not the upper triangle"):
        sketch_triangles(np.zeros((2, 20)), "x", SketchConfig())


@pytest.mark.integration
def test_sketch_distance_error_on_real_gram_vectors_of_the_sample(sample_corpus):
    """Real VGG19 Gram triangles of 48 sample paintings at 64 px, standardised as the embedding does.

    Documented bound (README, sketch.py): relative pairwise distance error RMS <= 1.2 sqrt(1/(2k)) and
    max <= 5 sqrt(1/(2k)) per projected layer, i.e. 1.3 % and 5.5 % at k = 4096; the concatenation of the
    five layers (embedding weights 1/sqrt(dim)) does better.
    """
    from conftest import require_weights

    require_weights("vgg19-gatys")
    from culturalstyle.features import STYLE_LAYERS, extract

    art = sample_corpus.df[sample_corpus.df.culture != "content_photo"].sort_values("image_id")
    rows = np.linspace(0, len(art) - 1, 48).round().astype(int)
    from culturalstyle.corpus import Corpus

    subset = Corpus(art.iloc[rows].reset_index(drop=True), sample_corpus.root)
    torch.set_num_threads(1)
    feats = extract(subset, STYLE_LAYERS, size=64, triu=True, cache=True, batch_size=8)
    k = 4096
    scale = np.sqrt(1.0 / (2 * k))
    exact_blocks, sketch_blocks = [], []
    for layer in STYLE_LAYERS:
        tri = np.sign(feats[layer]) * np.sqrt(np.abs(feats[layer]))
        center, std = standardisation(Moments.of(tri))
        exact = (tri - center) / std
        sketched = sketch_triangles(tri, layer, SketchConfig(sketch_dim=k), center, std)
        weight = 1.0 / np.sqrt(tri.shape[1])
        exact_blocks.append(exact * weight)
        sketch_blocks.append(sketched * weight)
        if tri.shape[1] <= k:
            np.testing.assert_allclose(sketched, exact, rtol=1e-4, atol=1e-4)
            continue
        errors = relative_errors(exact, sketched)
        assert np.sqrt(np.mean(errors**2)) <= 1.2 * scale, layer
        assert np.abs(errors).max() <= 5 * scale, layer
    errors = relative_errors(np.concatenate(exact_blocks, 1), np.concatenate(sketch_blocks, 1))
    assert np.sqrt(np.mean(errors**2)) <= 1.2 * scale
    assert np.abs(errors).max() <= 5 * scale
