"""Style embeddings (fit/transform on Gram features) and the network-free colour/texture baseline."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from culturalstyle.embedding import ColourTextureBaseline, StyleEmbedding, layer_vectors, rgb_to_lab


def fake_grams(n: int, seed: int, shift: float = 0.0) -> dict[str, np.ndarray]:
    """Random positive semi-definite Gram matrices for two layers (4 and 6 channels)."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, c in (("relu1_1", 4), ("relu2_1", 6)):
        a = rng.normal(size=(n, c, 10)) + shift
        out[name] = np.einsum("nci,ndi->ncd", a, a) / 10
    return out


def hand_embedding(train: dict, test: dict, weights: dict | None = None) -> np.ndarray:
    blocks = []
    for name in ("relu1_1", "relu2_1"):
        c = train[name].shape[1]
        rows, cols = np.triu_indices(c)
        tr = train[name][:, rows, cols]
        te = test[name][:, rows, cols]
        tr, te = np.sign(tr) * np.sqrt(np.abs(tr)), np.sign(te) * np.sqrt(np.abs(te))
        z = (te - tr.mean(0)) / tr.std(0)
        blocks.append(z * (weights or {}).get(name, 1.0) / np.sqrt(tr.shape[1]))
    return np.concatenate(blocks, axis=1)


def test_embedding_matches_hand_computation_and_transfers_between_corpora():
    train, other = fake_grams(30, 0), fake_grams(12, 1, shift=0.5)
    embedding = StyleEmbedding().fit(train)
    np.testing.assert_allclose(embedding.transform(train), hand_embedding(train, train), rtol=1e-4, atol=1e-5)
    # another corpus is mapped with the statistics learnt on the first
    np.testing.assert_allclose(embedding.transform(other), hand_embedding(train, other), rtol=1e-4, atol=1e-5)
    refit = StyleEmbedding().fit(other).transform(other)
    assert not np.allclose(refit, embedding.transform(other), atol=1e-3)
    assert embedding.transform(train).shape == (30, 10 + 21)


def test_layer_weights_and_normalisations():
    train = fake_grams(20, 2)
    weighted = StyleEmbedding(layer_weights={"relu1_1": 2.0, "relu2_1": 0.0}).fit(train).transform(train)
    np.testing.assert_allclose(
        weighted, hand_embedding(train, train, {"relu1_1": 2.0, "relu2_1": 0.0}), rtol=1e-4, atol=1e-5
    )
    assert np.all(weighted[:, 10:] == 0)
    raw = StyleEmbedding(normalization="none", standardize=False).fit(train).transform(train)
    rows, cols = np.triu_indices(4)
    np.testing.assert_allclose(raw[:, :10], train["relu1_1"][:, rows, cols] / np.sqrt(10), rtol=1e-5)
    logged = StyleEmbedding(normalization="log", standardize=False).fit(train).transform(train)
    np.testing.assert_allclose(
        logged[:, :10],
        np.sign(raw[:, :10]) * np.log1p(np.abs(train["relu1_1"][:, rows, cols])) / np.sqrt(10),
        rtol=1e-5,
    )


def test_meanstd_vectors_pass_through_and_layer_selection():
    rng = np.random.default_rng(3)
    feats = {"relu1_1": rng.normal(size=(8, 6)), "relu2_1": rng.normal(size=(8, 10))}
    embedding = StyleEmbedding(layers=["relu2_1"], normalization="none").fit(feats)
    z = (feats["relu2_1"] - feats["relu2_1"].mean(0)) / feats["relu2_1"].std(0) / np.sqrt(10)
    np.testing.assert_allclose(embedding.transform(feats), z, rtol=1e-4, atol=1e-5)
    assert list(embedding.transform_layers(feats)) == ["relu2_1"]


def test_pca_reducer_matches_sklearn_and_is_deterministic():
    from sklearn.decomposition import PCA

    train, other = fake_grams(25, 4), fake_grams(7, 5)
    embedding = StyleEmbedding(reducer="pca", n_components=3, seed=0).fit(train)
    reference = PCA(n_components=3, random_state=0).fit(hand_embedding(train, train))
    expected = reference.transform(hand_embedding(train, other))
    got = embedding.transform(other)
    assert got.shape == (7, 3)
    np.testing.assert_allclose(np.abs(got), np.abs(expected), rtol=1e-3, atol=1e-4)  # PCA signs are arbitrary
    again = StyleEmbedding(reducer="pca", n_components=3, seed=0).fit(train).transform(other)
    np.testing.assert_array_equal(got, again)


def test_tsne_and_umap_reducers():
    train = fake_grams(20, 6)
    embedding = StyleEmbedding(reducer="tsne", n_components=2, seed=0)
    coords = embedding.fit_transform(train)
    assert coords.shape == (20, 2) and np.isfinite(coords).all()
    with pytest.raises(NotImplementedError, match="t-SNE cannot embed new points"):
        embedding.transform(train)
    try:
        import umap  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="umap-learn"):
            StyleEmbedding(reducer="umap").fit(train)


def test_embedding_bad_input():
    train = fake_grams(10, 7)
    with pytest.raises(ValueError, match="unknown normalization 'sqrt'"):
        StyleEmbedding(normalization="sqrt")
    with pytest.raises(ValueError, match="unknown reducer 'lda'"):
        StyleEmbedding(reducer="lda")
    with pytest.raises(RuntimeError, match="not fitted"):
        StyleEmbedding().transform(train)
    with pytest.raises(KeyError, match="relu5_1"):
        StyleEmbedding(layers=["relu5_1"]).fit(train)
    with pytest.raises(ValueError, match="layer weights must be >= 0"):
        StyleEmbedding(layer_weights={"relu1_1": -1})
    embedding = StyleEmbedding().fit(train)
    wrong = dict(train, relu1_1=np.zeros((3, 5, 5)))
    with pytest.raises(ValueError, match="fitted on 10 dims, got 15"):
        embedding.transform(wrong)
    with pytest.raises(ValueError, match="N x C x C"):
        layer_vectors({"relu1_1": np.zeros((3, 4, 5))})


def test_rgb_to_lab_reference_values():
    colours = torch.tensor(
        [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.0, 0.0, 1.0]]
    )
    lab = rgb_to_lab(colours.double().view(5, 3, 1, 1)).view(5, 3).numpy()
    # Published CIE Lab (D65) values of these sRGB colours
    expected = np.array(
        [
            [100.0, 0.0, 0.0],
            [0.0, 0.0, 0.0],
            [53.24, 80.09, 67.20],
            [53.39, 0.0, 0.0],
            [32.30, 79.19, -107.86],
        ]
    )
    np.testing.assert_allclose(lab, expected, atol=0.02)


def stripes(vertical: bool, size: int = 32) -> torch.Tensor:
    pattern = (torch.arange(size) // 2 % 2).float()
    grid = pattern.view(1, size).expand(size, size) if vertical else pattern.view(size, 1).expand(size, size)
    return grid.expand(3, size, size).clone()


def test_colour_texture_baseline_descriptors():
    baseline = ColourTextureBaseline(bins=8)
    red = torch.zeros(3, 32, 32)
    red[0] = 1.0
    batch = torch.stack([stripes(True), stripes(False), red])
    d = baseline.describe(batch)
    names = baseline.feature_names()
    assert d.shape == (3, len(names))
    columns = {name: i for i, name in enumerate(names)}
    for prefix in ("L_hist", "a_hist", "b_hist", "ab_joint", "grad_mag_hist"):
        block = [i for name, i in columns.items() if name.startswith(prefix)]
        np.testing.assert_allclose(d[:, block].sum(1), 1.0, atol=1e-5)
    orientation = [columns[f"grad_orient_hist{i}"] for i in range(8)]
    # vertical stripes have horizontal gradients (orientation 0); horizontal stripes vertical ones (pi/2 -> bin 4)
    assert np.argmax(d[0, orientation]) == 0 and np.argmax(d[1, orientation]) == 4
    assert d[2, columns["a_mean"]] == pytest.approx(80.09 / 100, abs=1e-3)
    assert d[2, columns["edge_density"]] == 0.0 and d[0, columns["edge_density"]] > 0.4
    with pytest.raises(ValueError, match="B x 3 x H x W"):
        baseline.describe(torch.rand(3, 8, 8))


def test_colour_texture_baseline_on_files_and_standardisation(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(4):
        path = tmp_path / f"im{i}.png"
        Image.fromarray(rng.integers(0, 256, size=(40 + 4 * i, 48, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    baseline = ColourTextureBaseline(bins=8, size=32)
    raw = baseline.features(paths, batch_size=3)
    assert raw.shape == (4, len(baseline.feature_names()))
    from culturalstyle.features import load_for_features

    np.testing.assert_allclose(raw[1], baseline.describe(load_for_features(paths[1], 32)[None])[0])
    assert baseline.cache_hits == 0
    again = ColourTextureBaseline(bins=8, size=32)
    np.testing.assert_array_equal(again.features(paths), raw)
    assert again.cache_hits == 4
    other_bins = ColourTextureBaseline(bins=4, size=32)
    other_bins.features(paths[:1])
    assert other_bins.cache_hits == 0
    z = baseline.fit_transform(raw)
    varying = raw.std(0) > 1e-12
    np.testing.assert_allclose(z[:, varying].mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(z[:, varying].std(0), 1, atol=1e-4)
    with pytest.raises(RuntimeError, match="not fitted"):
        ColourTextureBaseline().transform(raw)


def test_pca_scores_match_sklearn_pca():
    from sklearn.decomposition import PCA

    from culturalstyle.embedding import pca_scores

    x = np.random.default_rng(9).normal(size=(15, 200)) * np.linspace(3, 0.1, 200)
    scores, ratio = pca_scores(x, 4)
    reference = PCA(n_components=4, svd_solver="full").fit(x)
    # signs included: the largest-magnitude loading of each component is positive, as in scikit-learn
    np.testing.assert_allclose(scores, reference.transform(x), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(ratio, reference.explained_variance_ratio_, rtol=1e-8)
