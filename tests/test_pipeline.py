"""The pipeline layer: one corpus -> style space for the CLI and the notebooks (same vectors, same PCA
coordinates), PCA maps that place new images, content-keyed reuse of comparisons and translator runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import SAMPLE

from culturalstyle import pipeline, weights
from culturalstyle.cli import main
from culturalstyle.embedding import EmbedConfig, load_embedding_dir, pca_scores
from culturalstyle.features import random_vgg
from culturalstyle.study_corpus import load_corpus

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def random_store_vgg(monkeypatch):
    """The weights store's vgg19-gatys replaced by a tiny random VGG (the CLI has no network option)."""
    vgg = random_vgg(seed=3)
    real_load, real_sha = weights.load, weights.sha256
    monkeypatch.setattr(
        weights, "load", lambda name, *a, **k: vgg if name == "vgg19-gatys" else real_load(name)
    )
    monkeypatch.setattr(
        weights, "sha256", lambda name: "random-vgg-for-tests" if name == "vgg19-gatys" else real_sha(name)
    )
    return vgg


def test_cli_embed_and_notebook_style_space_of_the_sample_are_identical(tmp_path, random_store_vgg):
    """`culturalstyle embed` on the sample (2 cultures, 64 px) and the notebooks' `build_style_space` give
    the same images in the same order, the same statistics, the same embedding and the same PCA map."""
    _check_cli_and_notebook_spaces(tmp_path)


@pytest.mark.integration
def test_cli_and_notebook_style_spaces_are_identical_with_the_real_vgg19(tmp_path):
    from conftest import require_weights

    require_weights("vgg19-gatys")
    _check_cli_and_notebook_spaces(tmp_path)


def _check_cli_and_notebook_spaces(tmp_path: Path) -> None:
    out = tmp_path / "emb"
    argv = ["embed", str(SAMPLE), "--out", str(out), "--cultures", "ukiyo_e,renaissance", "--size", "64"]
    assert main(argv + ["--no-progress"]) == 0
    run = load_embedding_dir(out)
    corpus = load_corpus(None, ["ukiyo_e", "renaissance"])
    space = pipeline.build_style_space(corpus, size=64, batch_size=8)
    assert run.meta["image_id"].tolist() == corpus.df["image_id"].tolist()
    assert list(space.features) == list(run.config.layers)
    for layer in run.config.layers:
        np.testing.assert_array_equal(run.features[layer], space.features[layer])
    cli_vectors = run.style_embedding().fit(run.features).transform(run.features)
    np.testing.assert_allclose(cli_vectors, space.vectors, rtol=1e-6, atol=1e-6)
    # the CLI saved 50 components as float32; the notebook's main map is the first two of the same PCA
    np.testing.assert_allclose(
        run.pca[:, :2],
        space.coords[f"{pipeline.ALL_LAYERS} · PCA"],
        rtol=1e-4,
        atol=1e-4 * np.abs(run.pca).max(),
    )
    np.testing.assert_allclose(run.pca, space.pca.scores[:, : run.pca.shape[1]], rtol=1e-4, atol=1e-3)


def test_pca_map_matches_pca_scores_and_sklearn_and_places_new_rows():
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 5000)).astype(np.float32) * np.linspace(3, 0.1, 5000, dtype=np.float32)
    fitted = pipeline.PCAMap.fit(x, 4)
    scores, ratio = pca_scores(x, 4)
    np.testing.assert_allclose(fitted.scores, scores, atol=1e-6)
    np.testing.assert_allclose(fitted.explained_variance_ratio, ratio, atol=1e-10)
    sk = PCA(4, svd_solver="full").fit(x.astype(np.float64))
    np.testing.assert_allclose(fitted.scores, sk.transform(x), rtol=1e-6, atol=1e-6)  # signs included
    np.testing.assert_allclose(fitted.explained_variance_ratio, sk.explained_variance_ratio_, rtol=1e-8)
    np.testing.assert_allclose(fitted.transform(x), fitted.scores, atol=1e-6)  # fitted rows: their scores
    new = rng.normal(size=(3, 5000)).astype(np.float32)
    np.testing.assert_allclose(fitted.transform(new), sk.transform(new), atol=1e-6)
    assert fitted.transform(new, 2).shape == (3, 2)
    tiny = pipeline.PCAMap.fit(np.ones((4, 3)) + np.arange(4)[:, None] * [1.0, 0, 0], 5)
    assert tiny.scores.shape[1] == 1 and np.all(np.isfinite(tiny.scores))  # rank 1: one component


def test_style_space_projects_its_own_images_onto_their_coordinates():
    corpus = load_corpus(None, ["ukiyo_e", "renaissance"])
    small = type(corpus)(corpus.df.groupby("culture").head(5), corpus.root)
    config = EmbedConfig(layers=("relu1_1", "relu2_1"), size=32, n_components=3)
    space = pipeline.style_space(small, config, weights_module=random_vgg())
    placed = space.project(space.features)
    assert set(placed) == {"all layers · PCA", "relu1_1 · PCA", "relu2_1 · PCA"}
    for name, xy in placed.items():
        np.testing.assert_allclose(xy, space.coords[name], atol=1e-4)
    assert space.pca.scores.shape == (10, 3) and space.backbone == "vgg19-gram"
    # another random network is another space: the statistics and maps change
    other = pipeline.style_space(small, config, weights_module=random_vgg(seed=1))
    assert not np.allclose(other.vectors, space.vectors)
    no_maps = pipeline.style_space(small, config, weights_module=random_vgg(), maps=False)
    assert no_maps.coords == {} and no_maps.pca is None
    np.testing.assert_array_equal(no_maps.vectors, space.vectors)  # same cached statistics, same embedding


def test_space_comparison_is_reused_by_content_and_recomputed_when_it_differs(monkeypatch):
    from culturalstyle import stats

    corpus = load_corpus(None, ["ukiyo_e", "renaissance"])
    small = type(corpus)(corpus.df.groupby("culture").head(8), corpus.root)
    config = EmbedConfig(layers=("relu1_1", "relu2_1"), size=32)
    space = pipeline.style_space(small, config, weights_module=random_vgg())
    calls = []
    original = stats.compare_style_space
    monkeypatch.setattr(stats, "compare_style_space", lambda *a, **k: calls.append(1) or original(*a, **k))
    settings = dict(n_permutations=9, n_bootstrap=9, n_splits=2, k=2, seed=0)
    first = pipeline.space_comparison(space, **settings)
    again = pipeline.space_comparison(
        pipeline.style_space(small, config, weights_module=random_vgg()), **settings
    )
    assert len(calls) == 1  # same images, statistics, embedding and settings: the cached result
    pd.testing.assert_frame_equal(first.tables["classification"], again.tables["classification"])
    assert "mean_gram_distances" in again.tables and "colour_baseline" in set(
        again.tables["classification"]["feature"]
    )
    pipeline.space_comparison(space, **{**settings, "seed": 1})
    relabelled = small.df.copy()
    relabelled.loc[relabelled.index[0], "artist"] = "someone else"
    pipeline.space_comparison(
        pipeline.style_space(type(small)(relabelled, small.root), config, weights_module=random_vgg()),
        **settings,
    )
    assert len(calls) == 3  # another seed, another artist label: recomputed


def test_train_or_reuse_keys_runs_by_config_and_corpus(tmp_path, monkeypatch):
    from culturalstyle.translate import make_config
    from culturalstyle.translate import train as T

    corpus = load_corpus(None, ["ukiyo_e", "renaissance"])
    trained = []

    def fake_train(config, corpus, run_dir):
        trained.append(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "checkpoints").mkdir(exist_ok=True)
        return run_dir

    monkeypatch.setattr(T, "train", fake_train)
    monkeypatch.setattr(T, "list_checkpoints", lambda run_dir: list((run_dir / "checkpoints").glob("*.pt")))
    monkeypatch.setattr(T, "load_checkpoint", lambda run_dir: ({"step": 5, "total_steps": 5}, None))
    config = make_config("smoke", source="ukiyo_e", target="renaissance")
    run_dir, status = pipeline.train_or_reuse(corpus, config, label="smoke", runs_root=tmp_path)
    assert status == "trained" and run_dir == pipeline.translator_home(config, corpus, "smoke", tmp_path)
    assert run_dir.name.startswith("ukiyo_e2renaissance-smoke-")
    # killed before the first checkpoint: moved aside and trained again
    again, status = pipeline.train_or_reuse(corpus, config, label="smoke", runs_root=tmp_path)
    assert (again, status) == (run_dir, "trained") and len(list(tmp_path.glob("*.incomplete-*"))) == 1
    (run_dir / "checkpoints" / "step_5.pt").write_bytes(b"")
    assert pipeline.train_or_reuse(corpus, config, label="smoke", runs_root=tmp_path) == (run_dir, "reused")
    assert len(trained) == 2
    other = make_config("smoke", source="ukiyo_e", target="renaissance", seed=1)
    assert (
        pipeline.translator_home(other, corpus, "smoke", tmp_path) != run_dir
    )  # another config, another run
    fewer = type(corpus)(corpus.df.head(40), corpus.root)
    assert pipeline.translator_home(config, fewer, "smoke", tmp_path) != run_dir  # another corpus too
    explicit, status = pipeline.train_or_reuse(corpus, config, run_dir=tmp_path / "mine")
    assert (explicit, status) == (tmp_path / "mine", "trained")


def _leaf_parsers(parser, prefix=()):
    import argparse

    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not actions:
        yield prefix, parser
        return
    for name, sub in actions[0].choices.items():
        yield from _leaf_parsers(sub, (*prefix, name))


def test_every_sub_command_spells_the_shared_options_one_way(capsys):
    from culturalstyle.cli import build_parser

    leaves = dict(_leaf_parsers(build_parser()))
    assert {("embed",), ("compare",), ("train",), ("stylize",), ("reproduce",), ("weights", "fetch")} <= set(
        leaves
    )
    for path, parser in leaves.items():
        flags = {flag for action in parser._actions for flag in action.option_strings}
        assert "--debug" in flags, path
        assert "--quiet" not in parser.format_help() and "--parameter" not in parser.format_help(), path
    for path in [("embed",), ("train",), ("reproduce",)]:
        assert {"-p", "--set"} <= {f for a in leaves[path]._actions for f in a.option_strings}, path
    for path in [("embed",), ("train",), ("translate",), ("stylize",), ("weights", "fetch")]:
        assert "--no-progress" in {f for a in leaves[path]._actions for f in a.option_strings}, path
    for path in [("embed",), ("compare",), ("evaluate",), ("train",), ("translate",), ("stylize",)]:
        assert "--device" in {f for a in leaves[path]._actions for f in a.option_strings}, path
    # the old spellings still work, with a deprecation line
    args = leaves[("stylize",)].parse_args(["photo.png", "--style", "s.png", "--out", "o.png", "--quiet"])
    assert args.no_progress and "--quiet is deprecated" in capsys.readouterr().err
    args = leaves[("reproduce",)].parse_args(["--parameter", "seed=1", "-p", "image_size=32"])
    assert (
        args.overrides == ["seed=1", "image_size=32"]
        and "--parameter is deprecated" in capsys.readouterr().err
    )


def test_cli_train_uses_the_content_keyed_home_and_reuses_it(tmp_path, capsys):
    """Without --out/--name/--runs-dir a run lives in the cache under its content key (one home for the CLI
    and the notebooks): the same command again reuses it; --out trains into an explicit folder."""
    from culturalstyle.cache import cache_dir
    from culturalstyle.corpus import Corpus

    full = Corpus.load(SAMPLE)
    parts = [
        full.df[(full.df.culture == c) & (full.df.split == s)].sort_values("image_id").head(4)
        for c in ("ukiyo_e", "renaissance")
        for s in ("train", "test")
    ]
    Corpus(pd.concat(parts), full.root).save(tmp_path / "corpus")
    argv = ["train", "--corpus", str(tmp_path / "corpus"), "--source", "ukiyo_e", "--target", "renaissance"]
    argv += ["--preset", "smoke", "--set", "steps=2", "--set", "steps_decay=0", "--no-progress"]
    assert main(argv) == 0
    first = capsys.readouterr().out
    homes = [p for p in cache_dir("translators").iterdir() if p.is_dir()]
    assert (
        len(homes) == 1 and homes[0].name.startswith("ukiyo_e2renaissance-smoke-") and str(homes[0]) in first
    )
    assert main(argv) == 0
    assert "reused the complete run" in capsys.readouterr().out
    assert [p for p in cache_dir("translators").iterdir() if p.is_dir()] == homes
    assert main(argv + ["--out", str(tmp_path / "explicit")]) == 0
    assert (tmp_path / "explicit" / "config.yaml").exists() and "into" in capsys.readouterr().out
    assert main(argv + ["--out", str(tmp_path / "explicit")]) == 1  # never overwrites an explicit run


def test_study_evaluation_is_found_again_by_content(tmp_path, monkeypatch):
    """Notebook 5 gets notebook 4's evaluation (table and translations) from the cache when the corpus, the
    translators' weights and the settings are the same, and a fresh one when any of them differs."""
    import importlib

    from culturalstyle.corpus import Corpus

    module = importlib.import_module("culturalstyle.pipeline.study_evaluation")
    from culturalstyle.translate import make_config

    corpus = load_corpus(None, ["ukiyo_e", "renaissance"])
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    make_config("smoke", source="ukiyo_e", target="renaissance").save(run_dir / "config.yaml")
    (run_dir / "checkpoints" / "step_00000002.pt").write_bytes(b"weights one")
    calls = []

    def fake_evaluate_translator(corp, run, out_folder, **kwargs):
        calls.append(kwargs["label"])
        folder = Path(out_folder) / "translations" / "cyclegan-ukiyo_e2renaissance"
        rows = corp.df[corp.df["culture"] == "ukiyo_e"].head(2).assign(culture="renaissance")
        Corpus(rows, corp.root).save(folder)
        table = pd.DataFrame({"metric": ["fid"], "value": [len(calls) * 1.5], "role": ["translation"]})
        return table, {}

    monkeypatch.setattr(module, "evaluate_translator", fake_evaluate_translator)
    config = pipeline.StudyEvaluationConfig(baselines=(), preset="smoke")
    first = pipeline.study_evaluation(corpus, run_dir, config)
    assert first.status == "computed" and calls == ["cyclegan-smoke (code-path check)"]
    again = pipeline.study_evaluation(corpus, run_dir, config)
    assert again.status == "reused" and again.folder == first.folder and len(calls) == 1
    pd.testing.assert_frame_equal(again.table, first.table)
    assert list(again.translations) == ["cyclegan-ukiyo_e2renaissance"]
    assert len(again.translations["cyclegan-ukiyo_e2renaissance"]) == 2
    copies = pipeline.copy_translations(again, tmp_path / "nb4" / "translations")
    assert (
        copies["cyclegan-ukiyo_e2renaissance"].root
        == tmp_path / "nb4" / "translations" / "cyclegan-ukiyo_e2renaissance"
    )
    assert (
        pipeline.study_evaluation(
            corpus, run_dir, pipeline.StudyEvaluationConfig(baselines=(), seed=1)
        ).status
        == "computed"
    )
    (run_dir / "checkpoints" / "step_00000004.pt").write_bytes(
        b"weights two"
    )  # trained further: other weights
    assert pipeline.study_evaluation(corpus, run_dir, config).status == "computed"
    assert len(calls) == 3
    (run_dir / "checkpoints" / "step_00000004.pt").unlink()
    (run_dir / "checkpoints" / "step_00000002.pt").unlink()
    with pytest.raises(FileNotFoundError, match="has no checkpoint"):
        pipeline.study_evaluation(corpus, run_dir, config)


def test_code_fingerprint_follows_the_source_of_the_named_modules(monkeypatch):
    from culturalstyle import cache
    from culturalstyle.cache import code_fingerprint

    stats = code_fingerprint("stats", "embedding")
    assert stats == code_fingerprint("stats", "embedding") and stats != code_fingerprint("metrics")
    real = cache.content_sha256
    monkeypatch.setattr(
        cache, "content_sha256", lambda p: "edited" if str(p).endswith("embedding.py") else real(p)
    )
    assert code_fingerprint("stats", "embedding") != stats  # an edit of embedding.py: other cached results
    assert code_fingerprint("stats") == code_fingerprint("stats", "no_such_module")
