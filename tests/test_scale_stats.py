"""Statistics of store-embedded corpora: unchanged below the threshold, subsampled / linear-time above."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from test_scale import make_corpus

from culturalstyle import stats
from culturalstyle.cli import main
from culturalstyle.embedding import EmbedConfig, embed_corpus, load_embedding_dir
from culturalstyle.features import random_vgg
from culturalstyle.scale import ScaleConfig
from culturalstyle.scale_stats import compare_scaled, nearest_neighbours_large

FAST = {"n_permutations": 99, "n_bootstrap": 50, "n_splits": 3, "k": 3}


@pytest.fixture(scope="module")
def store_run(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("scale_stats")
    corpus = make_corpus(folder / "corpus", per_culture=10)
    config = EmbedConfig(
        size=32,
        n_components=4,
        baseline_bins=8,
        scale=ScaleConfig(mode="store", sketch_dim=32, sketch_nonzeros=4, calibration=12, shard_size=8),
    )
    return embed_corpus(corpus, folder / "emb", config, weights_module=random_vgg())


def test_below_the_threshold_the_exact_statistics_run_on_the_store_blocks(store_run):
    run = load_embedding_dir(store_run)
    comparison, notes = compare_scaled(run, subsample_above=1000, **FAST)
    embedding = run.embedding()
    blocks = embedding.blocks({layer: run.store.read(layer, run.rows) for layer in embedding.layers})
    from culturalstyle.embedding import ColourTextureBaseline

    baseline = ColourTextureBaseline(bins=8).fit_transform(run.baseline)
    direct = stats.compare_style_space(blocks, run.meta, baseline=baseline, **FAST)
    for name, table in direct.tables.items():
        pd.testing.assert_frame_equal(comparison.tables[name], table)
    assert notes["method"].startswith("exact statistics on all 30")


def test_above_the_threshold_tests_use_stratified_subsamples_and_report_sizes(store_run):
    run = load_embedding_dir(store_run)
    comparison, notes = compare_scaled(run, subsample_above=10, per_culture=6, n_components=6, **FAST)
    tables = comparison.tables
    distances = tables["distances"]
    assert set(distances["n_a"]) == {6} and set(distances["n_total_a"]) == {10}
    assert distances["sample"].str.contains("<= 6 per culture").all()
    assert set(tables["spread"]["n"]) == {6} and set(tables["spread"]["n_total"]) == {10}
    quality = tables["cluster_quality"]
    assert quality["n"].tolist() == [30, 30] and quality["n_silhouette"].tolist() == [18, 18]
    classification = tables["classification"]
    assert set(classification["feature"]) == {*run.config.layers, "concat", "colour_baseline"}
    assert (classification["n"] == 30).all() and classification["explained_variance"].dropna().between(
        0, 1
    ).all()
    # positive control: the generated cultures are trivially separable, in style space and in colour
    concat = classification[(classification.feature == "concat") & (classification.classifier == "logreg")]
    assert concat["accuracy"].iloc[0] >= 0.9
    energy = distances[(distances.feature == "concat") & (distances.metric == "energy")]
    assert (energy["p_value"] <= 0.05).all()
    neighbours = tables["neighbours"]
    assert len(neighbours) == 30 * 3
    artist_of = dict(zip(run.meta["image_id"], run.meta["artist"]))
    assert all(
        artist_of[q] != artist_of[n] for q, n in zip(neighbours["query_id"], neighbours["neighbour_id"])
    )
    assert "mean_gram_distances" not in tables and "raw Gram" in notes["mean_gram_distances"]
    assert 0 < notes["pca"]["explained_variance"]["concat"] <= 1


def test_negative_control_shuffled_cultures_are_not_separable(store_run):
    run = load_embedding_dir(store_run)
    shuffled = run.meta.copy()
    shuffled["culture"] = np.random.default_rng(0).permutation(shuffled["culture"].to_numpy())
    shuffled["artist"] = [f"a{i}" for i in range(len(shuffled))]  # each image its own artist
    comparison, _ = compare_scaled(
        dataclasses.replace(run, meta=shuffled), subsample_above=10, per_culture=10, n_components=6, **FAST
    )
    classification = comparison.tables["classification"]
    concat = classification[(classification.feature == "concat") & (classification.classifier == "logreg")]
    assert concat["accuracy"].iloc[0] < 0.6  # chance is 1/3
    energy = comparison.tables["distances"]
    energy = energy[(energy.feature == "concat") & (energy.metric == "energy")]
    assert energy["p_value"].min() > 0.01


def test_large_neighbours_equal_the_exact_ones_including_the_fallback():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(60, 4))
    ids = np.array([f"i{i:02d}" for i in range(60)])
    cultures = np.array(["a", "b", "c"] * 20)
    artists = np.array(["big"] * 30 + [f"s{i}" for i in range(30)], dtype=object)  # one artist dominates
    x[:30] *= 0.1  # the big artist's works are each other's nearest neighbours: the fallback is needed
    exact = stats.nearest_neighbours(x, ids, cultures, artists=artists, k=3)
    large = nearest_neighbours_large(x, ids, cultures, artists, k=3, margin=2)
    pd.testing.assert_frame_equal(
        large.drop(columns="n_candidates"), exact.drop(columns="n_candidates"), check_exact=False, atol=1e-9
    )
    np.testing.assert_array_equal(large["n_candidates"], exact["n_candidates"])


def test_compare_cli_on_a_store_run(store_run, tmp_path, capsys):
    code = main(
        [
            "compare",
            str(store_run),
            "--out",
            str(tmp_path / "cmp"),
            "--n-permutations",
            "49",
            "--n-bootstrap",
            "30",
            "--n-splits",
            "3",
            "--k",
            "2",
            "--subsample-above",
            "10",
            "--per-culture",
            "5",
            "--pca-components",
            "5",
            "--thumbnails",
            "0",
            "--formats",
            "png",
        ]
    )
    assert code == 0
    out = tmp_path / "cmp"
    for name in ("classification", "distances", "spread", "neighbours", "cluster_quality"):
        assert (out / f"{name}.csv").exists()
    assert (out / "style_space.png").exists() and (out / "layer_separability.png").exists()
    record = json.loads((out / "run_record.json").read_text())
    assert "PCA 5" in record["notes"]["method"]
    assert "wrote" in capsys.readouterr().out
