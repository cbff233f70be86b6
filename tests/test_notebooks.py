"""The study notebooks: their building blocks, their structure, and the smoke study.

Unit tests check the notebooks' building blocks (`pipeline`, `study_corpus`, `translation_study`,
`notebook_outputs`) against hand computations on tiny data. The integration tests run
`culturalstyle reproduce --profile smoke` on the bundled sample with the real weights and assert on the tables,
figures and index it produced, then run one notebook alone with papermill as a papermill user would.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from conftest import REPO, SAMPLE, require_weights

from culturalstyle import notebook_outputs, pipeline, study_corpus, translation_plots, translation_study

NOTEBOOKS = REPO / "notebooks"
STUDY = [
    "1_corpus_overview",
    "2_style_space",
    "3_train_translator",
    "4_evaluate_translation",
    "5_cultural_differences",
]


# ------------------------------------------------------------------------------------------- structure


def test_committed_notebooks_match_their_generator() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "make_notebooks.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def _make_notebooks():
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_notebooks", REPO / "scripts" / "make_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_notebook_sources_are_checked_by_ruff() -> None:
    """The notebooks' code is real Python that the linter and formatter see (jupytext py:percent sources)."""
    sources = sorted((NOTEBOOKS / "src").glob("*.py"))
    assert [p.stem for p in sources] == STUDY
    for args in (["check"], ["format", "--check"]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *args, *map(str, sources)],
            capture_output=True,
            text=True,
            cwd=REPO,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_notebook_generator_refreshes_defaults_and_refuses_bad_sources(tmp_path: Path) -> None:
    """A stale default is rewritten from the smoke profile; a parameter doc with "=" or a PARAMETERS list that
    disagrees with the parameters cell is refused with the file named."""
    make = _make_notebooks()
    good = (NOTEBOOKS / "src" / "1_corpus_overview.py").read_text()
    assert "n_examples = 4  #" in good  # the smoke profile's value
    stale = tmp_path / "1_corpus_overview.py"
    stale.write_text(good.replace("n_examples = 4  #", "n_examples = 9  #"))
    assert make.refreshed_source(stale) == good

    bad_doc = tmp_path / "1_corpus_overview.py"
    bad_doc.write_text(good.replace("# size of the grids images (px)", "# size = 96 px"))
    with pytest.raises(make.SourceError, match=r"1_corpus_overview.py.*thumb_size.*'='"):
        make.refreshed_source(bad_doc)

    missing = tmp_path / "1_corpus_overview.py"
    missing.write_text(good.replace('"verify_hashes",', "", 1))
    with pytest.raises(make.SourceError, match="PARAMETERS lists"):
        make.refreshed_source(missing)

    notebook = make.notebook_text("1_corpus_overview", good)
    assert notebook == (NOTEBOOKS / "1_corpus_overview.ipynb").read_text()


def test_every_notebook_declares_documented_parameters_and_writes_results() -> None:
    import papermill

    from culturalstyle.reproduce import list_notebooks

    assert [p.stem for p in list_notebooks(NOTEBOOKS)] == STUDY
    for stem in STUDY:
        path = NOTEBOOKS / f"{stem}.ipynb"
        nb = nbformat.read(path, as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, stem
        declared = papermill.inspect_notebook(str(path))
        # every line of the parameters cell was understood by papermill, and each one is documented
        assignments = [line for line in tagged[0].source.splitlines() if " = " in line]
        assert len(declared) == len(assignments), stem
        assert {"results_dir", "overwrite", "corpus", "seed"} <= set(declared), stem
        assert all(len(p["help"]) > 10 for p in declared.values()), stem
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                compile(cell.source, f"{stem} cell {i}", "exec")  # a syntax error fails here, not mid-study
        code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        assert re.search(rf'Outputs\(\s*results_dir,\s*"{stem}"', code) and "out.record(PARAMETERS)" in code


@pytest.mark.parametrize("profile", ["smoke", "cpu", "paper"])
def test_profiles_only_name_declared_parameters(profile: str) -> None:
    from culturalstyle import reproduce as rp

    merged = rp.merge_parameters(rp.load_param_file(NOTEBOOKS / "params" / f"{profile}.yaml"))
    declared = {p.stem: rp.declared_parameters(p) for p in rp.list_notebooks(NOTEBOOKS)}
    resolved = rp.resolve_parameters(merged, declared)  # raises on any unknown name
    assert resolved["3_train_translator"]["preset"] == profile
    assert resolved["2_style_space"]["seed"] == 0


def test_notebook_defaults_are_the_smoke_profile() -> None:
    """Opened in JupyterLab, "Run All" runs the smoke profile: every value smoke.yaml sets is the default."""
    import ast

    import papermill
    import yaml

    smoke = yaml.safe_load((NOTEBOOKS / "params" / "smoke.yaml").read_text())
    for stem in STUDY:
        declared = papermill.inspect_notebook(str(NOTEBOOKS / f"{stem}.ipynb"))
        expected = {k: v for k, v in smoke["parameters"].items() if k in declared}
        expected.update(smoke["notebooks"].get(stem, {}))
        defaults = {name: ast.literal_eval(declared[name]["default"]) for name in expected}
        assert defaults == expected, stem
        assert ast.literal_eval(declared["profile"]["default"]) == "smoke"
        first = nbformat.read(NOTEBOOKS / f"{stem}.ipynb", as_version=4).cells[0]
        assert first.cell_type == "markdown" and all(
            f"| `{p}` |" in first.source for p in ("smoke", "cpu", "paper")
        )


@pytest.mark.parametrize("profile", ["cpu", "paper"])
def test_other_profiles_set_every_value_smoke_sets(profile: str) -> None:
    """The notebooks' defaults are smoke's, so a profile that left one out would silently run it at smoke size."""
    import yaml

    smoke = yaml.safe_load((NOTEBOOKS / "params" / "smoke.yaml").read_text())
    other = yaml.safe_load((NOTEBOOKS / "params" / f"{profile}.yaml").read_text())
    assert set(smoke["parameters"]) <= set(other["parameters"])
    for stem, values in smoke["notebooks"].items():
        missing = set(values) - set(other["notebooks"].get(stem, {}))
        assert not missing, (stem, missing)
    assert other["parameters"]["layers"] is None and other["parameters"]["image_size"] >= 256
    assert other["caveat"] and smoke["caveat"]


def test_every_notebook_shows_the_caveat_before_computing() -> None:
    for stem in STUDY:
        nb = nbformat.read(NOTEBOOKS / f"{stem}.ipynb", as_version=4)
        sources = [c.source for c in nb.cells if c.cell_type == "code"]
        assert sources[2] == "notebook_outputs.show_caveat(out.caveat)", (
            stem
        )  # parameters, setup, caveat, then work
        assert "profile=profile, corpus=corpus" in sources[1]


# ------------------------------------------------------------------------ the notebooks' building blocks


def test_outputs_write_png_pdf_csv_and_never_replace(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = notebook_outputs.Outputs(tmp_path, "9_test")
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    png = out.figure(fig, "line")
    assert png == tmp_path / "9_test" / "figures" / "line.png"
    assert (
        png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.with_suffix(".pdf").read_bytes()[:4] == b"%PDF"
    )
    table = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    pd.testing.assert_frame_equal(pd.read_csv(out.table(table, "t")), table)
    record = json.loads(out.record({"seed": 3, "n": 1}).read_text())
    assert record["kind"] == "notebook:9_test" and record["seed"] == 3 and record["config"]["n"] == 1
    with pytest.raises(FileExistsError, match="already exists"):
        notebook_outputs.Outputs(tmp_path, "9_test")
    again = notebook_outputs.Outputs(tmp_path, "9_test", overwrite=True)
    assert again.folder == out.folder


def test_load_corpus_excludes_content_photos_and_rejects_unknown_cultures() -> None:
    corpus = study_corpus.load_corpus(SAMPLE)
    assert "content_photo" not in corpus.cultures and len(corpus.cultures) >= 3
    pair = study_corpus.load_corpus(SAMPLE, ["ukiyo_e", "renaissance"])
    assert pair.cultures == ["renaissance", "ukiyo_e"]
    with pytest.raises(ValueError, match=r"\['ukiyoe'\] are not in the corpus"):
        study_corpus.load_corpus(SAMPLE, ["ukiyoe"])


def test_sample_rows_are_seeded_and_per_culture() -> None:
    corpus = study_corpus.load_corpus(SAMPLE)
    a, b = study_corpus.sample_rows(corpus, 3, seed=1), study_corpus.sample_rows(corpus, 3, seed=1)
    assert a["image_id"].tolist() == b["image_id"].tolist()
    assert a.groupby("culture").size().to_dict() == {c: 3 for c in corpus.cultures}
    assert a["image_id"].tolist() != study_corpus.sample_rows(corpus, 3, seed=2)["image_id"].tolist()


@pytest.mark.parametrize(
    ("text", "year"),
    [
        ("1372", 1372.0),
        ("c. 1503-1506", 1503.0),
        ("ca. 1830–1832", 1830.0),
        ("Five Dynasties-early Northern Song, late 10th c. (traditional)", 950.0),
        ("18th century", 1750.0),
        ("Southern Song", None),
        ("", None),
    ],
)
def test_parse_year(text: str, year: float | None) -> None:
    value = study_corpus.parse_year(text)
    assert np.isnan(value) if year is None else value == year, value


def _evaluation() -> pd.DataFrame:
    rows = []
    for method, (ab, ba) in {
        "cyclegan": ((100.0, 90, 110), (150.0, 140, 160)),
        "adain": ((80.0, 60, 120), (90.0, 70, 130)),
    }.items():
        for (s, t), (v, lo, hi) in (((("a", "b")), ab), (("b", "a"), ba)):
            rows.append(
                dict(
                    metric="fid",
                    method=method,
                    role="translation",
                    source=s,
                    target=t,
                    value=v,
                    ci_low=lo,
                    ci_high=hi,
                    n_generated=10,
                )
            )
            rows.append(
                dict(
                    metric="kid",
                    method=method,
                    role="translation",
                    source=s,
                    target=t,
                    value=v / 1000,
                    ci_low=np.nan,
                    ci_high=np.nan,
                    n_generated=10,
                )
            )
            rows.append(
                dict(
                    metric="fid",
                    method="identity",
                    role="identity",
                    source=s,
                    target=t,
                    value=300.0,
                    ci_low=290,
                    ci_high=310,
                    n_generated=10,
                )
            )
    return pd.DataFrame(rows)


def test_asymmetry_table_compares_directions_per_method_and_metric() -> None:
    table = translation_study.asymmetry_table(_evaluation(), "a", "b")
    assert set(zip(table["method"], table["metric"])) == {
        ("adain", "fid"),
        ("adain", "kid"),
        ("cyclegan", "fid"),
        ("cyclegan", "kid"),
    }  # the identity baseline is not a translation method
    cyc = table[(table["method"] == "cyclegan") & (table["metric"] == "fid")].iloc[0]
    assert cyc["a→b"] == 100 and cyc["b→a"] == 150 and cyc["difference"] == -50
    assert cyc["cis_overlap"] is False or cyc["cis_overlap"] == False  # noqa: E712 - [90,110] vs [140,160]
    ada = table[(table["method"] == "adain") & (table["metric"] == "fid")].iloc[0]
    assert bool(ada["cis_overlap"]) is True  # [60,120] vs [70,130]
    kid = table[(table["method"] == "cyclegan") & (table["metric"] == "kid")].iloc[0]
    assert kid["cis_overlap"] is None and np.isclose(kid["difference"], -0.05)


def test_placement_in_style_space_against_hand_computation() -> None:
    # Culture a around (0, 0), culture b around (10, 0): centroids exactly there.
    real = np.array([[-1.0, 0], [1, 0], [0, 1], [0, -1], [9, 0], [11, 0], [10, 1], [10, -1]])
    cultures = ["a"] * 4 + ["b"] * 4
    translated = np.array([[7.5, 0.0], [2.0, 3.0], [10.0, 0.0]])
    table = translation_study.placement_table(
        real, cultures, translated, ["a", "a", "b"], ["b", "b", "a"], k=3
    )
    assert np.allclose(table["progress"], [0.75, 0.2, 0.0])  # (x - cs)·(ct - cs) / |ct - cs|^2
    assert np.allclose(table["dist_source_centroid"], [7.5, np.hypot(2, 3), 0.0])
    assert np.allclose(table["dist_target_centroid"], [2.5, np.hypot(8, 3), 10.0])
    assert table["knn_culture"].tolist() == ["b", "a", "b"]
    assert np.allclose(table["knn_target_share"], [1.0, 0.0, 0.0])
    summary = translation_study.placement_summary(table).set_index(["source", "target"])
    ab = summary.loc[("a", "b")]
    assert ab["n"] == 2 and np.isclose(ab["progress_mean"], 0.475)
    half = 1.96 * np.std([0.75, 0.2], ddof=1) / np.sqrt(2)
    assert np.isclose(ab["progress_ci_high"] - ab["progress_mean"], half)
    assert ab["share_nearer_target"] == 0.5 and ab["share_knn_target"] == 0.5
    with pytest.raises(ValueError, match=r"\['c'\] have no real images"):
        translation_study.placement_table(real, cultures, translated[:1], ["a"], ["c"])


def test_loss_curves_groups_losses_and_skips_unused_terms() -> None:
    steps = np.arange(1, 21)
    losses = pd.DataFrame(
        {
            "step": steps,
            "G_gan_AB": 1 / steps,
            "D_A": 0.5 + 0 * steps,
            "cycle_A": 2 / steps,
            "identity_A": 1 / steps,
            "gram": 0.0,
            "G_total": 4 / steps,
            "lr": 2e-4,
            "images_per_s": np.nan,
        }
    )
    fig = translation_plots.loss_curves(losses)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["adversarial", "cycle / identity", "total and seed losses"]
    labels = [[t.get_text() for t in ax.get_legend().get_texts()] for ax in fig.axes]
    assert labels == [["G_gan_AB", "D_A"], ["cycle_A", "identity_A"], ["G_total"]]  # gram is all zero
    with pytest.raises(ValueError, match="needs a 'step' column"):
        translation_plots.loss_curves(losses.drop(columns=["step"]))


def test_baseline_blocks_and_separability_ranking() -> None:
    from culturalstyle.embedding import ColourTextureBaseline

    base = ColourTextureBaseline(bins=4)
    x = np.arange(2 * len(base.feature_names()), dtype=float).reshape(2, -1)
    blocks = pipeline.baseline_blocks(base, x)
    assert blocks["texture"].shape[1] == 8 + 8 + 4  # magnitude/orientation histograms + 4 statistics
    assert blocks["colour"].shape[1] + blocks["texture"].shape[1] == x.shape[1]
    with pytest.raises(ValueError, match="expected"):
        pipeline.baseline_blocks(base, x[:, :5])
    gram = pd.DataFrame({"feature": ["relu1_1", "concat"], "classifier": "logreg", "accuracy": [0.6, 0.8]})
    colour = pd.DataFrame({"feature": ["colour"], "classifier": "logreg", "accuracy": [0.7]})
    table = pipeline.separability_table(gram, colour)
    assert table["feature"].tolist() == ["concat", "colour", "relu1_1"] and table["rank"].tolist() == [
        1,
        2,
        3,
    ]
    assert table["family"].tolist() == ["gram", "colour/texture", "gram"]


@pytest.fixture(scope="module")
def tiny_space():
    from culturalstyle.features import random_vgg

    corpus = study_corpus.load_corpus(SAMPLE)
    df = pd.concat(
        [corpus.df[corpus.df["culture"] == c].head(4) for c in ("impressionism", "renaissance", "ukiyo_e")]
    )
    small = type(corpus)(df, corpus.root)
    space = pipeline.build_style_space(
        small, layers=("relu1_1", "relu2_1"), size=32, weights_module=random_vgg()
    )
    return small, space


def test_style_space_maps_and_projection_agree(tiny_space) -> None:
    from sklearn.decomposition import PCA

    small, space = tiny_space
    assert set(space.coords) == {"all layers · PCA", "relu1_1 · PCA", "relu2_1 · PCA"}
    assert all(xy.shape == (12, 2) for xy in space.coords.values())
    # The all-layer map is the PCA of the concatenated embedding; the per-layer maps the PCA of each block.
    expected = PCA(n_components=2, random_state=0).fit_transform(space.vectors)
    assert np.allclose(np.abs(space.coords["all layers · PCA"]), np.abs(expected), atol=1e-4)
    assert np.allclose(
        space.vectors, np.concatenate([space.blocks[k] for k in ("relu1_1", "relu2_1")], axis=1)
    )
    # Projecting the corpus's own features reproduces its maps, so translations land in the same frame.
    projected = space.project(space.features)
    for name, xy in projected.items():
        assert np.allclose(xy, space.coords[name], atol=1e-4), name
    # The nearest real image of an image that is itself in the space is the image itself.
    rows = np.flatnonzero(small.df["culture"].to_numpy() == "ukiyo_e")
    feats = space.features.subset(rows)
    nearest = translation_study.nearest_real(space, feats, "ukiyo_e", split=None)
    assert nearest == small.df["image_id"].iloc[rows].tolist()
    train = np.flatnonzero(
        (small.df["culture"] == "ukiyo_e").to_numpy() & (small.df["split"] == "train").to_numpy()
    )
    assert len(train) and translation_study.nearest_real(space, feats, "ukiyo_e", split="train")[0] in set(
        small.df["image_id"].iloc[train]
    )
    assert (
        translation_study.nearest_real(space, space.features.subset(train), "ukiyo_e", "train")
        == small.df["image_id"].iloc[train].tolist()
    )
    with pytest.raises(ValueError, match="no real 'chinese_ink' images"):
        translation_study.nearest_real(space, feats, "chinese_ink", split=None)


@pytest.mark.slow
def test_translator_run_trains_once_resumes_and_reuses(tmp_path: Path) -> None:
    from culturalstyle.translate import make_config
    from culturalstyle.translate.train import list_checkpoints, load_checkpoint, train

    corpus = study_corpus.load_corpus(SAMPLE, ["ukiyo_e", "renaissance"])
    overrides = {
        "steps": 4,
        "steps_decay": 2,
        "checkpoint_every": 2,
        "sample_every": 2,
        "log_every": 2,
        "n_blocks": 1,
        "tensorboard": False,
    }
    kwargs = dict(preset="smoke", overrides=overrides, seed=0, runs_root=tmp_path)
    run_dir, status = pipeline.translator_run(corpus, "ukiyo_e", "renaissance", **kwargs)
    assert (
        status == "trained"
        and run_dir.parent == tmp_path
        and run_dir.name.startswith("ukiyo_e2renaissance-smoke-")
    )
    final = list_checkpoints(run_dir)[0]
    stamp = final.stat().st_mtime_ns
    assert pipeline.translator_run(corpus, "ukiyo_e", "renaissance", **kwargs) == (run_dir, "reused")
    assert final.stat().st_mtime_ns == stamp  # not trained again
    other, status = pipeline.translator_run(corpus, "ukiyo_e", "renaissance", **{**kwargs, "seed": 1})
    assert other != run_dir and status == "trained"  # a different config is a different run

    # An interrupted run under the same key is resumed to its end, not restarted or duplicated.
    config = make_config("smoke", overrides, source="renaissance", target="ukiyo_e", seed=0, progress=False)
    interrupted = tmp_path / f"renaissance2ukiyo_e-smoke-{pipeline.translator_key(config, corpus)}"
    train(config, corpus, interrupted, stop_after=2)
    assert load_checkpoint(interrupted)[0]["step"] == 2
    resumed, status = pipeline.translator_run(corpus, "renaissance", "ukiyo_e", **kwargs)
    assert (resumed, status) == (interrupted, "resumed") and load_checkpoint(resumed)[0]["step"] == 4


# ------------------------------------------------------------------------------------- the smoke study


@pytest.fixture(scope="module")
def smoke_study(tmp_path_factory) -> dict:
    """`culturalstyle reproduce --profile smoke` once, in a fresh results folder (real weights)."""
    require_weights("vgg19-gatys")
    for name in ("inception-fid", "alexnet-lpips", "adain-decoder"):
        require_weights(name)
    results = tmp_path_factory.mktemp("results")
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "culturalstyle", "reproduce", "--profile", "smoke", "--results", str(results)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=1200,
    )
    seconds = time.perf_counter() - started
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (out,) = list((results / "smoke").iterdir())
    return {"out": out, "seconds": seconds, "stdout": proc.stdout}


def _table(out: Path, notebook: str, name: str) -> pd.DataFrame:
    return pd.read_csv(out / notebook / "tables" / f"{name}.csv")


@pytest.mark.integration
@pytest.mark.slow
def test_smoke_study_produces_every_notebooks_outputs_and_index(smoke_study: dict) -> None:
    out = smoke_study["out"]
    record = json.loads((out / "run_record.json").read_text())
    assert record["status"] == "ok" and [n["status"] for n in record["notebooks_run"]] == ["ok"] * 5
    for stem in STUDY:
        assert (out / "notebooks" / f"{stem}.ipynb").exists()
        assert json.loads((out / stem / "run_record.json").read_text())["kind"] == f"notebook:{stem}"
        for png in (out / stem / "figures").glob("*.png"):
            assert png.with_suffix(".pdf").exists() and png.stat().st_size > 5000, png

    # 1: counts agree with the manifest
    cultures = _table(out, "1_corpus_overview", "cultures").set_index("culture")
    manifest = pd.read_csv(SAMPLE / "manifest.csv")
    art = manifest[manifest["culture"] != "content_photo"]
    assert cultures["n_images"].to_dict() == art.groupby("culture").size().to_dict()
    assert (out / "1_corpus_overview" / "figures" / "examples.png").exists()

    # 2: leave-artist-out accuracy per layer, concat and the colour baseline, with CIs and n
    clf = _table(out, "2_style_space", "classification")
    assert {"relu1_1", "relu2_1", "relu3_1", "concat", "colour_baseline"} == set(
        clf["feature"]
    )  # smoke layers
    assert ((clf["accuracy"] >= 0) & (clf["accuracy"] <= 1)).all() and (clf["ci_low"] <= clf["ci_high"]).all()
    assert (clf["n"] == len(art)).all()
    distances = _table(out, "2_style_space", "distances")
    # the smoke profile asks for 99; Holm over the 6 culture pairs needs 120 to be able to reach p < 0.05
    assert (distances["n_permutations"] == 120).all() and distances["p_value"].between(0, 1).all()
    assert (distances["p_holm_floor"] < 0.05).all()
    paired = _table(out, "2_style_space", "paired_tests")
    assert set(paired["feature"]) == {"concat"} and set(paired["reference"]) == {"colour_baseline"}
    backbones = _table(out, "2_style_space", "backbones")
    assert list(backbones["backbone"]) == ["vgg19-gram", "vgg19-meanstd", "inception-pool", "colour-texture"]
    assert (backbones["n"] == len(art)).all() and len(_table(out, "2_style_space", "backbone_paired")) == 3
    coverage = _table(out, "2_style_space", "conformal_coverage")
    assert set(coverage["culture"]) == set(art["culture"]) | {"all"}
    unknown = _table(out, "2_style_space", "conformal_unknown")
    assert set(unknown["held_out"]) == set(art["culture"]) and unknown["unknown_rate"].between(0, 1).all()
    assert (out / "2_style_space" / "figures" / "backbone_accuracy.png").exists()
    assert (out / "2_style_space" / "explorer.html").stat().st_size > 100_000
    assert (out / "2_style_space" / "figures" / "layer_separability.png").exists()

    # 3: the translator trained with the smoke preset and logged finite losses
    losses = _table(out, "3_train_translator", "losses")
    assert losses["step"].max() == 24 and np.isfinite(losses[["cycle_A", "cycle_B", "D_A"]].to_numpy()).all()
    assert {"loss_curves.png", "samples_A2B.png", "samples_B2A.png"} <= {
        p.name for p in (out / "3_train_translator" / "figures").iterdir()
    }

    # 4: the evaluation table has both directions, both baselines and the AdaIN comparison
    ev = _table(out, "4_evaluate_translation", "evaluation")
    assert {"fid", "kid", "lpips", "artfid"} <= set(ev["metric"])
    assert set(ev["role"]) == {"translation", "baseline", "negative-control"}
    controls = ev[ev["role"] == "negative-control"]
    assert set(controls["method"]) == {"noise", "pixel-shuffled"}
    # the shipped translator is evaluated first at its own 128 px, the smoke run labelled a code-path check
    shipped = ev[ev["method"] == "shipped-fastcut"]
    assert set(shipped["size"]) == {128} and set(shipped["source"]) == {"ukiyo_e"}
    assert (ev["method"] == "cyclegan-smoke (code-path check)").any()
    shares = controls[controls["metric"] == "culture_share_target"].set_index(["method", "size"])["value"]
    # at the shipped translator's 128 px no control is rated on target; at the smoke run's 32 px the Gram
    # statistics are coarse (relu5_1 is dropped) and a control can reach 2 of 18 (a known weakness, reported)
    assert (shares.xs(128, level="size") == 0).all(), shares
    assert (shares <= 2 / 18 + 1e-9).all(), shares
    assert {
        "shipped-fastcut",
        "cyclegan-smoke (code-path check)",
        "adain",
        "identity",
        "real-target",
        "noise",
        "pixel-shuffled",
    } == set(ev["method"])
    assert {("ukiyo_e", "renaissance"), ("renaissance", "ukiyo_e")} <= set(zip(ev["source"], ev["target"]))
    assert (ev.loc[ev["metric"] == "fid", "n_generated"] > 0).all()

    # 5: separability incl. colour/texture, asymmetry, placement of translations among real art
    sep = _table(out, "5_cultural_differences", "separability")
    assert {"gram", "colour/texture"} == set(sep["family"]) and {"colour", "texture"} <= set(sep["feature"])
    asym = _table(out, "5_cultural_differences", "asymmetry")
    assert {"fid", "lpips"} <= set(asym["metric"])
    placement = _table(out, "5_cultural_differences", "placement_summary")
    assert (
        placement["n"].sum()
        == ev.loc[(ev["metric"] == "fid") & (ev["role"] == "translation"), "n_generated"].sum()
    )

    # baselines appear once per (source, target, split, size), not once per method
    baselines = ev[ev["role"] == "baseline"]
    keys = ["metric", "method", "source", "target", "split", "size"]
    assert not baselines.duplicated(keys).any() and len(baselines) > 0

    # every notebook's run record lists its corpus and the networks it used, by hash
    manifest_hashes = set()
    for stem in STUDY:
        record = json.loads((out / stem / "run_record.json").read_text())
        assert record["profile"] == "smoke" and record["caveat"].startswith("Smoke profile"), stem
        corpus_entry = record["inputs"]["corpus"]
        assert len(corpus_entry["manifest_hash"]) >= 16 and len(corpus_entry["images_sha256_hash"]) >= 16
        manifest_hashes.add(corpus_entry["manifest_hash"])
        if stem != "1_corpus_overview":
            assert record["weights"] and all(len(v) == 64 for v in record["weights"].values()), stem
    weights4 = json.loads((out / "4_evaluate_translation" / "run_record.json").read_text())["weights"]
    assert {"inception-fid", "alexnet-lpips", "vgg19-gatys", "adain-decoder"} <= set(weights4)
    assert any(k.startswith("translator:ukiyo_e2renaissance-smoke-") for k in weights4)

    # the index links every figure and table, with the parameters used; translations are on the gallery page
    md = (out / "index.md").read_text()
    html = (out / "index.html").read_text()
    for path in sorted(out.glob("*/figures/*.png")) + sorted(out.glob("*/tables/*.csv")):
        rel = path.relative_to(out).as_posix()
        assert f"({rel})" in md and f"href='{rel}'" in html, rel
    assert "| image_size | `64` |" in md and "| preset | `smoke` |" in md
    n_translated = len(list(out.glob("4_evaluate_translation/translations/*/*.png")))
    assert n_translated > 0 and "/translations/" not in html.split("Translated images")[0]
    assert (
        html.count("/translations/") == 0 and (out / "gallery.html").read_text().count("<img") == n_translated
    )
    caveat = record["caveat"]
    assert html.index(caveat) < html.index("<nav class='toc'>") and md.index(caveat) < md.index("## Contents")


@pytest.mark.integration
@pytest.mark.slow
def test_smoke_index_is_short_and_shows_the_caveat_first_in_chromium(
    smoke_study: dict, tmp_path: Path
) -> None:
    import browser

    binary = browser.chromium()
    page = smoke_study["out"] / "index.html"
    info = browser.probe(
        binary,
        page,
        """window.addEventListener("load", function () {
          const c = document.getElementById("caveat");
          report({height: document.documentElement.scrollHeight, top: c.getBoundingClientRect().top,
                  text: c.textContent, figures: document.querySelectorAll("figure img").length});
        });""",
        tmp_path,
        window=(1400, 900),
    )
    assert info["height"] < 8000, info
    assert (
        info["top"] < 300 and "Smoke profile" in info["text"] and "no number here is a result" in info["text"]
    )
    assert info["figures"] >= 20  # every figure as a thumbnail, translations not among them
    pixels = browser.screenshot(binary, page, tmp_path, window=(1400, 900))
    border = np.abs(pixels - [0xB2, 0x22, 0x22]).max(axis=2) < 40
    assert (border.sum(axis=1) > 200).any(), "the caveat banner is not on the first screen"
    if os.environ.get("CULTURALSTYLE_KEEP_SCREENSHOT"):
        import shutil

        shutil.copy(tmp_path / "shot-1400x900.png", os.environ["CULTURALSTYLE_KEEP_SCREENSHOT"])


def _stdout(executed: Path) -> str:
    nb = nbformat.read(executed, as_version=4)
    return "\n".join(
        o.get("text", "") for c in nb.cells for o in c.get("outputs", []) if o.get("name") == "stdout"
    )


@pytest.mark.integration
@pytest.mark.slow
def test_smoke_study_reuses_caches(smoke_study: dict, tmp_path: Path) -> None:
    # Within the first study, notebook 5 found every VGG19 statistic in the cache notebook 2 filled.
    assert "features: 0 computed, 320 from the cache" in _stdout(
        smoke_study["out"] / "notebooks" / "5_cultural_differences.ipynb"
    )
    # A second study reuses the translator run instead of training again.
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "culturalstyle",
            "reproduce",
            "--profile",
            "smoke",
            "--results",
            str(tmp_path),
            "--only",
            "3",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (out,) = list((tmp_path / "smoke").iterdir())
    run = json.loads((out / "3_train_translator" / "translator_run.json").read_text())
    first = json.loads((smoke_study["out"] / "3_train_translator" / "translator_run.json").read_text())
    assert run["status"] == "reused" and run["run_dir"] == first["run_dir"]


@pytest.mark.slow
def test_a_notebook_runs_with_no_parameters_in_under_a_minute(tmp_path: Path) -> None:
    """As "Run All" in JupyterLab: notebook 3 from notebooks/ with its defaults (the smoke profile). Its
    outputs land in the results folder (here $CULTURALSTYLE_RESULTS), and its record carries the hashes."""
    output = tmp_path / "executed.ipynb"
    started = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "papermill",
            str(NOTEBOOKS / "3_train_translator.ipynb"),
            str(output),
            "-k",
            "python3",
        ],
        capture_output=True,
        text=True,
        cwd=NOTEBOOKS,
        timeout=300,
        env={**os.environ, "CULTURALSTYLE_RESULTS": str(tmp_path / "results"), "PYTHONWARNINGS": "ignore"},
    )
    seconds = time.perf_counter() - started
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert seconds < 60, f"the default (smoke) notebook took {seconds:.0f} s"
    (folder,) = (tmp_path / "results" / "notebooks").iterdir()
    out = folder / "3_train_translator"
    record = json.loads((out / "run_record.json").read_text())
    pair = study_corpus.load_corpus(SAMPLE, ["ukiyo_e", "renaissance"])
    assert record["inputs"]["corpus"]["manifest_hash"] == pair.manifest_hash()
    assert record["inputs"]["corpus"]["images_sha256_hash"] == notebook_outputs.images_hash(pair)
    run_dir = Path(record["inputs"]["translator_run"])
    from culturalstyle.cache import sha256_file
    from culturalstyle.translate.train import list_checkpoints

    assert record["weights"][f"translator:{run_dir.name}"] == sha256_file(list_checkpoints(run_dir)[0])
    shipped = pipeline.shipped_translator("ukiyo_e2renaissance-fastcut")  # shown first, its weights recorded
    assert record["weights"][f"translator:{shipped.name}/generator_A2B.pt"] == sha256_file(
        shipped / "generator_A2B.pt"
    )
    assert len(record["weights"]) == 2
    assert record["config"]["preset"] == "smoke" and record["profile"] == "smoke"
    assert {"progress_A2B.png", "progress_B2A.png", "loss_curves.png"} <= {
        p.name for p in (out / "figures").iterdir()
    }
    assert "tensorboard --logdir" in (out / "tensorboard.txt").read_text()
    assert "CAVEAT: Smoke profile" in _stdout_and_display(output)
    assert not (NOTEBOOKS / "results").exists()


def _stdout_and_display(executed: Path) -> str:
    nb = nbformat.read(executed, as_version=4)
    texts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            texts.append(output.get("text", ""))
            texts.append(output.get("data", {}).get("text/plain", ""))
    return "\n".join(texts)


@pytest.mark.integration
@pytest.mark.slow
def test_style_space_notebook_runs_alone_with_papermill(tmp_path: Path) -> None:
    require_weights("vgg19-gatys")
    output = tmp_path / "out.ipynb"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "papermill",
            str(NOTEBOOKS / "2_style_space.ipynb"),
            str(output),
            "-p",
            "results_dir",
            str(tmp_path / "results"),
            "-p",
            "image_size",
            "48",
            "-p",
            "n_permutations",
            "19",
            "-p",
            "n_bootstrap",
            "20",
            "-p",
            "cv_splits",
            "3",
            "-p",
            "show_explorer",
            "False",
            "-y",
            "cultures: [ukiyo_e, impressionism]",
            "-y",
            "backbones: [vgg19-gram, vgg19-meanstd, colour-texture]",
            "-k",
            "python3",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=900,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    clf = pd.read_csv(tmp_path / "results" / "2_style_space" / "tables" / "classification.csv")
    assert clf["n"].iloc[0] == len(study_corpus.load_corpus(SAMPLE, ["ukiyo_e", "impressionism"]))
    distances = pd.read_csv(tmp_path / "results" / "2_style_space" / "tables" / "distances.csv")
    assert set(distances["culture_a"]) | set(distances["culture_b"]) == {"ukiyo_e", "impressionism"}
    assert (distances["n_permutations"] == 20).all()  # 19 asked; one pair needs 20 to reach p < 0.05
    backbones = pd.read_csv(tmp_path / "results" / "2_style_space" / "tables" / "backbones.csv")
    assert list(backbones["backbone"]) == ["vgg19-gram", "vgg19-meanstd", "colour-texture"]
    executed = nbformat.read(output, as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert "image_size = 48" in injected[0].source
