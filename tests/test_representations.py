"""The backbone comparison: retrieval, paired tests, conformal tables; embed/compare with a user backbone file."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from torch import nn

from culturalstyle import representations as R
from culturalstyle.cli import main
from culturalstyle.corpus import Corpus
from culturalstyle.embedding import EmbedConfig, embed_corpus, load_embedding_dir
from culturalstyle.features import random_vgg, unregister_backbone


def test_retrieval_precision_matches_brute_force_and_skips_the_same_artist():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 3))
    cultures = np.array(list("aaaabbbbcccc"))
    groups = np.array([f"g{i // 2}" for i in range(12)])  # pairs of images share an artist
    got = R.retrieval_precision(x, cultures, groups, k=3)
    for i in range(12):
        d = np.linalg.norm(x - x[i], axis=1)
        d[groups == groups[i]] = np.inf
        nearest = np.argsort(d, kind="stable")[:3]
        assert got[i] == pytest.approx(np.mean(cultures[nearest] == cultures[i]))
    separated = np.repeat(np.eye(3) * 10, 4, axis=0) + rng.normal(0, 0.1, (12, 3))
    assert (R.retrieval_precision(separated, cultures, groups, k=2) == 1.0).all()
    with pytest.raises(ValueError, match="k must be"):
        R.retrieval_precision(x, cultures, groups, k=0)


def synthetic_meta(n_cultures=3, artists=6, works=5):
    rows = []
    for c in range(n_cultures):
        for a in range(artists):
            for w in range(works):
                rows.append({"image_id": f"c{c}a{a}w{w}", "culture": f"c{c}", "artist": f"c{c}-artist{a}"})
    return pd.DataFrame(rows)


def test_compare_backbones_tables_and_paired_test_against_the_reference():
    meta = synthetic_meta()
    rng = np.random.default_rng(1)
    y = meta["culture"].str[1].astype(int).to_numpy()
    strong = np.eye(3)[y] * 6 + rng.normal(size=(len(meta), 3))
    weak = np.eye(3)[y] * 0.3 + rng.normal(size=(len(meta), 3))
    noise = rng.normal(size=(len(meta), 5))  # negative control: no culture information at all
    spaces = {"vgg19-gram": strong, "weak": weak, "noise": noise}
    comparison = R.compare_backbones(
        spaces, meta, n_bootstrap=200, n_splits=3, families={"vgg19-gram": "style", "noise": "custom"}
    )
    table = comparison.tables["backbones"].set_index("backbone")
    assert list(table.index) == ["vgg19-gram", "weak", "noise"]
    assert table.loc["vgg19-gram", "accuracy"] > 0.9 and table.loc["noise", "accuracy"] < 0.6
    assert table.loc["vgg19-gram", "precision_at_k"] > 0.9 and table.loc["noise", "precision_at_k"] < 0.6
    assert table.loc["vgg19-gram", "silhouette"] > table.loc["noise", "silhouette"]
    for prefix in ("", "balanced_", "precision_"):
        value = table["precision_at_k" if prefix == "precision_" else f"{prefix}accuracy"]
        assert (table[f"{prefix}ci_low"] <= value + 1e-12).all() and (
            value <= table[f"{prefix}ci_high"] + 1e-12
        ).all()
    assert (
        (table["n"] == 90).all()
        and (table["n_artists"] == 18).all()
        and table.loc["noise", "family"] == "custom"
    )
    paired = comparison.tables["backbone_paired"].set_index("backbone")
    assert list(paired.index) == ["weak", "noise"] and (paired["reference"] == "vgg19-gram").all()
    assert paired.loc["noise", "difference"] < 0 and paired.loc["noise", "bootstrap_p_holm"] < 0.05
    assert paired.loc["noise", "difference"] == pytest.approx(
        table.loc["noise", "accuracy"] - table.loc["vgg19-gram", "accuracy"]
    )
    # the same folds for every backbone: the predictions are paired image by image
    predictions = comparison.tables["backbone_predictions"]
    assert (predictions.groupby("image_id")["fold"].nunique() == 1).all()
    coverage = comparison.tables["conformal_coverage"]
    assert set(coverage["culture"]) == {"c0", "c1", "c2", "all"} and set(coverage["backbone"]) == set(spaces)
    unknown = comparison.tables["conformal_unknown"].set_index(["backbone", "held_out"])
    assert len(unknown) == 9
    assert unknown.loc[("vgg19-gram", "c0"), "unknown_rate"] > unknown.loc[("noise", "c0"), "unknown_rate"]
    with pytest.raises(ValueError, match="rows for"):
        R.compare_backbones({"x": strong[:-1]}, meta)


def test_backbone_figures_are_drawn_from_the_tables():
    from culturalstyle import representation_plots

    meta = synthetic_meta(artists=4, works=4)
    rng = np.random.default_rng(2)
    spaces = {"vgg19-gram": rng.normal(size=(len(meta), 3)), "other": rng.normal(size=(len(meta), 4))}
    comparison = R.compare_backbones(spaces, meta, n_bootstrap=50, n_splits=3)
    figures = representation_plots.comparison_figures(comparison)
    assert set(figures) == {"backbone_accuracy", "conformal_coverage"}
    title = figures["backbone_accuracy"].axes[0].get_title()
    assert "n=48 images" in title and "12 artists" in title
    texts = [t.get_text() for t in figures["backbone_accuracy"].axes[0].texts]
    assert "reference" in texts and any(t.startswith("p_Holm=") for t in texts)


# ------------------------------------------------------------------------------ end to end with a user file


class TinyEncoder(nn.Module):
    """A tiny random network standing in for a user's CLIP/DINO export."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x))


@pytest.fixture()
def tiny_corpus(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for culture, tint in (("warm", (200, 110, 60)), ("cool", (50, 90, 200)), ("grey", (128, 128, 128))):
        (tmp_path / culture).mkdir()
        for i in range(12):
            img = np.clip(np.array(tint) + rng.normal(0, 10 + 20 * (culture == "grey"), (32, 40, 3)), 0, 255)
            path = f"{culture}/{i}.png"
            Image.fromarray(img.astype(np.uint8)).save(tmp_path / path)
            rows.append(
                {
                    "image_id": f"{culture}{i}",
                    "path": path,
                    "culture": culture,
                    "artist": f"{culture}-{i % 4}",
                    "title": "",
                    "date": "",
                    "source": "generated",
                    "license": "CC0",
                    "split": "train",
                    "sha256": "",
                    "width": 40,
                    "height": 32,
                }
            )
    return Corpus(pd.DataFrame(rows), tmp_path)


def test_a_backbone_from_a_local_file_runs_through_embed_and_compare(tiny_corpus, tmp_path, capsys):
    weights = tmp_path / "tiny_encoder.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(torch.jit.script(TinyEncoder().eval()), str(weights))
    other = tmp_path / "other.pt2"
    torch.export.save(
        torch.export.export(
            TinyEncoder().eval(),
            (torch.rand(2, 3, 32, 32),),
            dynamic_shapes={"x": {0: torch.export.Dim("batch")}},
        ),
        str(other),
    )
    try:
        from culturalstyle.features import register_local_backbone

        register_local_backbone("test-tiny-file", weights)
        config = EmbedConfig(
            size=32,
            n_components=4,
            baseline_bins=8,
            layers=("relu1_1", "relu2_1"),
            backbones=("vgg19-gram", "vgg19-meanstd", "colour-texture", "test-tiny-file"),
        )
        out = embed_corpus(tiny_corpus, tmp_path / "emb", config, weights_module=random_vgg())
        run = load_embedding_dir(out)
        assert run.backbones == sorted(config.backbones)
        saved = json.loads((out / "backbones" / "test-tiny-file" / "backbone.json").read_text())
        assert saved["weights"] == "file:tiny_encoder.pt" and saved["statistics"] == ["features"]
        assert np.load(out / "backbones" / "test-tiny-file" / "features.npy").shape == (36, 8)
        assert run.record["weights"]["file:tiny_encoder.pt"] == saved["weights_sha256"]
        args = [
            "compare",
            str(out),
            "--n-permutations",
            "60",
            "--n-bootstrap",
            "50",
            "--n-splits",
            "3",
            "--k",
            "2",
            "--thumbnails",
            "0",
            "--formats",
            "png",
            "--backbones",
            "vgg19-gram,vgg19-meanstd,colour-texture,test-tiny-file",
            "--backbone-file",
            f"test-other-file={other},statistic=gram",  # not embedded: extracted now
        ]
        assert main(args) == 0
        compare = out / "compare"
        table = pd.read_csv(compare / "backbones.csv")
        assert list(table["backbone"]) == [
            "vgg19-gram",
            "vgg19-meanstd",
            "colour-texture",
            "test-tiny-file",
            "test-other-file",
        ]
        assert (table["n"] == 36).all() and table["accuracy"].between(0, 1).all()
        colour = table.set_index("backbone").loc["colour-texture"]
        assert colour["accuracy"] > 0.9  # the tints separate the generated cultures by colour
        paired = pd.read_csv(compare / "backbone_paired.csv")
        assert set(paired["backbone"]) == set(table["backbone"]) - {"vgg19-gram"}
        for name in ("conformal_coverage", "conformal_unknown", "conformal_sets", "backbone_predictions"):
            assert len(pd.read_csv(compare / f"{name}.csv", keep_default_na=False)) > 0
        assert (compare / "backbone_accuracy.png").exists() and (compare / "conformal_coverage.png").exists()
        record = json.loads((compare / "run_record.json").read_text())
        assert "file:other.pt2" in record["weights"] and record["backbones"][-1] == "test-other-file"
        printed = capsys.readouterr()
        assert "paired against vgg19-gram" in printed.out and "style (concat) vs colour alone" in printed.out
        assert "no distance can be significant" not in printed.err  # 60 permutations suffice for 3 pairs
        assert main(args[:2] + ["--n-permutations", "19", "--thumbnails", "0", "--formats", "png"]) == 0
        assert "no distance can be significant at 0.05" in capsys.readouterr().err
    finally:
        unregister_backbone("test-tiny-file")
        unregister_backbone("test-other-file")


class PoolStandIn(nn.Module):
    """Stands in for the FID Inception (uint8 in, pooled vector out)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.proj = nn.Linear(3, 6)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        return (self.proj(x.float().mean(dim=(2, 3)) / 255.0),)


def test_embed_backbones_builds_every_space_on_the_same_images(tiny_corpus):
    net = random_vgg()
    options = {
        "vgg19-gram": {"weights_module": net},
        "vgg19-meanstd": {"weights_module": net},
        "inception-pool": {"module": PoolStandIn()},
    }
    spaces = R.embed_backbones(tiny_corpus, size=32, layers=("relu1_1", "relu2_1"), options=options)
    assert list(spaces) == list(R.BUILTIN_BACKBONES)
    assert {s.family for s in spaces.values()} == {"style", "content", "colour"}
    for name, s in spaces.items():
        assert s.coordinates.shape[0] == 36 and s.map2d.shape == (36, 2), name
        assert s.record["backbone"] == name and s.record["network_images"] + s.record["cache_hits"] == 36
    assert spaces["vgg19-meanstd"].record["network_images"] == 0  # one VGG pass serves Gram and mean/std
    assert (
        spaces["vgg19-gram"].record["dim"] == 4 * 5 // 2 + 8 * 9 // 2
        and spaces["inception-pool"].record["dim"] == 6
    )
    # the isometric coordinates keep the embedding's distances
    gram = spaces["vgg19-gram"]
    vectors = gram.embedding.transform(gram.features)
    d = np.linalg.norm(vectors[:, None] - vectors[None], axis=2)
    dz = np.linalg.norm(gram.coordinates[:, None] - gram.coordinates[None], axis=2)
    np.testing.assert_allclose(dz, d, atol=1e-4)
    again = R.embed_backbones(tiny_corpus, ["colour-texture"], size=32)
    assert again["colour-texture"].record["cache_hits"] == 36
    np.testing.assert_allclose(again["colour-texture"].coordinates, spaces["colour-texture"].coordinates)
