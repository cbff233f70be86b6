"""The store path of `embed`: same embedding as the exact path where nothing is sketched, bounded memory API."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from culturalstyle.corpus import Corpus
from culturalstyle.embedding import (
    ColourTextureBaseline,
    EmbedConfig,
    StyleEmbedding,
    embed_corpus,
    load_embedding_dir,
)
from culturalstyle.features import STYLE_LAYERS, Backbone, random_vgg
from culturalstyle.scale import ScaleConfig, ScaledEmbeddingRun, StoreEmbedding, backbone_store, use_store


def make_corpus(folder, per_culture: int = 8, bad: bool = False) -> Corpus:
    """Three generated 'cultures' (warm smooth, cool striped, grey noisy), two artists each."""
    rng = np.random.default_rng(0)
    rows = []
    yy, xx = np.mgrid[0:40, 0:48]
    for culture in ("warm", "cool", "grey"):
        (folder / culture).mkdir(parents=True)
        for i in range(per_culture):
            if culture == "warm":
                img = np.stack([200 + 0 * xx, 120 + xx, 60 + yy], -1) + rng.normal(0, 9, (40, 48, 3))
            elif culture == "cool":
                stripes = 80 * ((xx // (2 + i % 3)) % 2)
                img = np.stack([40 + stripes, 80 + stripes, 200 + 0 * xx], -1) + rng.normal(0, 9, (40, 48, 3))
            else:
                img = 128 + rng.normal(0, 50, (40, 48, 1)).repeat(3, -1)
            path = f"{culture}/{i}.png"
            Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(folder / path)
            rows.append(
                {
                    "image_id": f"{culture}{i}",
                    "path": path,
                    "culture": culture,
                    "artist": f"{culture}-a{i % 2}",
                    "title": "",
                    "date": "",
                    "source": "generated",
                    "license": "CC0",
                    "split": "train",
                    "sha256": "",
                    "width": 48,
                    "height": 40,
                }
            )
    if bad:
        (folder / "warm" / "broken.png").write_bytes(b"not an image")
        rows.append({**rows[0], "image_id": "broken", "path": "warm/broken.png"})
    return Corpus(pd.DataFrame(rows), folder)


def configs(scale: ScaleConfig) -> tuple[EmbedConfig, EmbedConfig]:
    common = {"size": 32, "n_components": 4, "baseline_bins": 8, "batch_size": 4}
    return EmbedConfig(**common, scale=ScaleConfig(mode="exact")), EmbedConfig(**common, scale=scale)


def test_store_path_equals_the_exact_path_when_nothing_is_sketched(tmp_path, one_torch_thread):
    """Every random-VGG layer fits in sketch_dim and the calibration sees every image: the store path must
    reproduce the exact StyleEmbedding blocks, PCA and baseline (up to float16 storage)."""
    corpus = make_corpus(tmp_path / "corpus")
    exact_config, store_config = configs(
        ScaleConfig(mode="store", sketch_dim=256, calibration=100, shard_size=5)
    )
    exact = load_embedding_dir(
        embed_corpus(corpus, tmp_path / "exact", exact_config, weights_module=random_vgg())
    )
    out = embed_corpus(corpus, tmp_path / "store", store_config, weights_module=random_vgg(), cache=False)
    run = load_embedding_dir(out)
    assert isinstance(run, ScaledEmbeddingRun) and len(run.meta) == 24
    record = json.loads((out / "run_record.json").read_text())
    assert record["path"] == "store" and record["feature_cache"]["network_images"] == 24
    assert record["store"]["bytes_per_row"] < 50_000
    blocks = StyleEmbedding(layers=STYLE_LAYERS).fit(exact.features).transform_layers(exact.features)
    embedding = run.embedding()
    got = embedding.blocks({layer: run.store.read(layer)[run.rows] for layer in STYLE_LAYERS})
    for layer in STYLE_LAYERS:
        scale = np.abs(blocks[layer]).max()
        np.testing.assert_allclose(got[layer], blocks[layer], atol=3e-3 * scale, err_msg=layer)
    np.testing.assert_allclose(run.pca, exact.pca, atol=5e-3 * np.abs(exact.pca).max())
    np.testing.assert_allclose(run.baseline, exact.baseline, rtol=1e-5, atol=1e-6)
    variance = pd.read_csv(out / "pca_variance.csv")["explained_variance_ratio"]
    exact_variance = pd.read_csv(tmp_path / "exact" / "pca_variance.csv")["explained_variance_ratio"]
    np.testing.assert_allclose(variance, exact_variance, rtol=1e-2)
    with pytest.raises(TypeError, match="feature store"):
        run.style_embedding()
    np.testing.assert_allclose(
        ColourTextureBaseline(bins=8).fit_transform(run.baseline),
        ColourTextureBaseline(bins=8).fit_transform(exact.baseline),
        atol=1e-4,
    )


def test_store_path_sketches_large_layers_and_records_bad_images(tmp_path, one_torch_thread):
    corpus = make_corpus(tmp_path / "corpus", bad=True)
    _, config = configs(
        ScaleConfig(mode="store", sketch_dim=32, sketch_nonzeros=4, calibration=6, shard_size=4)
    )
    config.backbones = ("colour-texture",)
    out = embed_corpus(corpus, tmp_path / "emb", config, weights_module=random_vgg(), workers=1)
    run = load_embedding_dir(out)
    assert len(run.meta) == 24 and "broken" not in set(run.meta["image_id"])
    problems = pd.read_csv(out / "problems.csv")
    assert problems["image_id"].tolist() == ["broken"] and "broken.png" in problems["path"].iloc[0]
    fields = {name: spec.width for name, spec in run.store.fields.items()}
    assert fields["relu1_1"] == 10 and fields["relu5_1"] == 32 and fields["relu4_1"] == 32
    embedding = StoreEmbedding(run.store, STYLE_LAYERS)
    assert embedding.exact == {
        "relu1_1": True,
        "relu2_1": False,
        "relu3_1": False,
        "relu4_1": False,
        "relu5_1": False,
    }
    assert embedding.full_dim["relu5_1"] == 136  # weights use the full triangle's dimension
    concat = np.concatenate(list(embedding.chunk_source(run.rows, size=5)()))
    assert concat.shape == (24, embedding.dim)
    np.testing.assert_allclose(concat.mean(0), 0.0, atol=1e-3)  # centred with the merged moments
    record = json.loads((out / "run_record.json").read_text())
    assert record["inputs"]["n_problems"] == 1 and record["inputs"]["n_images"] == 24
    assert run.backbones == ["colour-texture"]  # config.backbones: each in its own store
    other = run.backbone_stores["colour-texture"]
    assert set(other.fields) == {"colour", "texture"} and other.n_rows == 25 and not other.valid[-1]


def test_mode_selection():
    assert not use_store(EmbedConfig(), 2000) and use_store(EmbedConfig(), 2001)
    assert use_store(EmbedConfig(scale=ScaleConfig(mode="store")), 10)
    assert not use_store(EmbedConfig(scale=ScaleConfig(mode="exact")), 10**6)
    with pytest.raises(ValueError, match="unknown scale mode"):
        ScaleConfig(mode="fast")


def test_scale_config_round_trips_through_yaml_and_overrides(tmp_path):
    from culturalstyle.configs import apply_overrides, load_yaml, save_yaml

    config = apply_overrides(EmbedConfig(), ["scale.sketch_dim=1024", "scale.mode=store"])
    assert config.scale.sketch_dim == 1024 and config.scale.mode == "store"
    save_yaml(config, tmp_path / "c.yaml")
    assert load_yaml(EmbedConfig, tmp_path / "c.yaml") == config


class _FakeInception(torch.nn.Module):
    """Stands in for the FID Inception: uint8 batch -> 7 pooled numbers."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(3, 7)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        return (self.proj(x.float().mean(dim=(2, 3)) / 255.0),)


class _EdgeBackbone(Backbone):
    """A user-registered representation (no network): mean absolute horizontal gradient per channel."""

    family, normalization = "custom", "signed_sqrt"

    def compute(self, images: torch.Tensor) -> dict[str, np.ndarray]:
        return {"edges": (images[..., 1:] - images[..., :-1]).abs().mean(dim=(2, 3)).numpy()}


def test_the_store_serves_every_backbone(tmp_path, one_torch_thread):
    """Each registered kind goes through the store: Gram backbones as (here unsketched) calibrated sketches,
    the others as their statistics, equal to the backbone's own cached extraction."""
    from culturalstyle.features import make_backbone, register_backbone, unregister_backbone
    from culturalstyle.sketch import SketchConfig, standardisation
    from culturalstyle.streaming import Moments

    corpus = make_corpus(tmp_path / "corpus", per_culture=3)
    register_backbone("test-edges", _EdgeBackbone)
    try:
        backbones = {
            "vgg19-meanstd": make_backbone("vgg19-meanstd", weights_module=random_vgg(), device="cpu"),
            "inception-pool": make_backbone("inception-pool", module=_FakeInception(), device="cpu"),
            "colour-texture": make_backbone("colour-texture", bins=8),
            "test-edges": make_backbone("test-edges"),
        }
        for name, backbone in backbones.items():
            store, report = backbone_store(backbone, corpus, size=32, root=tmp_path / name, shard_size=4)
            reference = backbone.extract(corpus, size=32, cache=False)
            assert set(store.fields) == set(reference), name
            for field_name, values in reference.items():
                if backbone.normalization == "signed_sqrt":
                    values = np.sign(values) * np.sqrt(np.abs(values))
                np.testing.assert_allclose(store.read(field_name), values, rtol=1e-5, atol=1e-6, err_msg=name)
            assert store.config["source"]["backbone"] == name and report.problems == 0
        gram = make_backbone("vgg19-gram", weights_module=random_vgg(), device="cpu")
        store, report = backbone_store(
            gram,
            corpus,
            size=32,
            sketch=SketchConfig(sketch_dim=256, calibration=100),
            root=tmp_path / "gram",
        )
        assert report.network_images == 9 and store.config["source"]["source"] == "vgg-gram-sketch"
        exact = gram.extract(corpus, size=32, cache=False)
        for layer in STYLE_LAYERS:
            tri = np.sign(exact[layer]) * np.sqrt(np.abs(exact[layer]))
            center, scale = standardisation(Moments.of(tri))
            want = (tri - center) / scale
            np.testing.assert_allclose(store.read(layer), want, atol=3e-3 * np.abs(want).max(), err_msg=layer)
    finally:
        unregister_backbone("test-edges")
