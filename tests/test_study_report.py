"""What the study's outputs say about themselves: caveats, captions, run-record hashes, the nearest-real
column of the side-by-side grids, and baselines evaluated once per direction and size."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from conftest import SAMPLE  # noqa: E402

from culturalstyle import notebook_outputs, pipeline, study_corpus, translation_study  # noqa: E402
from culturalstyle.cache import sha256_file, stable_hash  # noqa: E402
from culturalstyle.corpus import Corpus  # noqa: E402

# ----------------------------------------------------------------------------------------- caveats, outputs


def test_profile_caveat_comes_from_the_profile_and_names_the_sample() -> None:
    smoke = notebook_outputs.profile_caveat("smoke")
    assert smoke.startswith("Smoke profile:") and "no number here is a result" in smoke
    assert notebook_outputs.SAMPLE_CAVEAT in smoke  # corpus None: the bundled sample
    assert notebook_outputs.SAMPLE_CAVEAT not in notebook_outputs.profile_caveat(
        "paper", corpus="data/wikiart"
    )
    assert notebook_outputs.profile_caveat("paper", corpus="x").startswith("paper profile:")
    assert "see notebooks/params/nope.yaml" in notebook_outputs.profile_caveat("nope", corpus="x")
    assert notebook_outputs.profile_caveat(None, corpus="x") == ""


def test_default_results_dir_is_the_repository_results_folder(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv(notebook_outputs.RESULTS_ENV, raising=False)
    root = notebook_outputs.repository_root()
    assert root is not None and (root / "pyproject.toml").exists()
    default = notebook_outputs.default_results_dir()
    assert default.parent == root / "results" / "notebooks"  # git-ignored, not notebooks/results
    monkeypatch.setenv(notebook_outputs.RESULTS_ENV, str(tmp_path))
    assert notebook_outputs.default_results_dir().parent == tmp_path / "notebooks"
    monkeypatch.chdir(tmp_path)
    out = notebook_outputs.Outputs(None, "9_x")
    assert out.folder.parent.parent == tmp_path / "notebooks"


def test_outputs_stamp_the_caveat_write_captions_and_record_hashes(tmp_path, monkeypatch) -> None:
    from culturalstyle import weights

    monkeypatch.setattr(weights, "sha256", lambda name: f"sha-of-{name}")
    out = notebook_outputs.Outputs(tmp_path, "9_test", profile="smoke")
    assert out.caveat == notebook_outputs.profile_caveat("smoke")
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    out.figure(fig, "line", caption="A line.", featured=True)
    out.figure(fig, "again")  # saving twice does not stamp twice
    assert [t.get_text() for t in fig.texts] == [out.caveat]
    captions = json.loads((out.folder / notebook_outputs.CAPTIONS_NAME).read_text())
    assert captions == {"line.png": {"caption": "A line.", "featured": 100}}

    corpus = study_corpus.load_corpus(SAMPLE, ["ukiyo_e", "renaissance"])
    out.uses_corpus("corpus", corpus)
    out.uses_weights("vgg19-gatys", "inception-fid")
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "step_00000002.pt").write_bytes(b"old")
    (run / "checkpoints" / "step_00000004.pt").write_bytes(b"final weights")
    out.uses_translator(run)
    record = json.loads(out.record({"seed": 1}).read_text())
    entry = record["inputs"]["corpus"]
    assert entry["manifest_hash"] == corpus.manifest_hash() and entry["n_images"] == len(corpus)
    assert entry["images_sha256_hash"] == stable_hash(sorted(corpus.df["sha256"]))
    assert record["inputs"]["translator_run"] == str(run.resolve())
    assert record["weights"] == {
        "vgg19-gatys": "sha-of-vgg19-gatys",
        "inception-fid": "sha-of-inception-fid",
        "translator:run": sha256_file(run / "checkpoints" / "step_00000004.pt"),  # the last checkpoint
    }
    assert record["profile"] == "smoke" and record["caveat"] == out.caveat
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        out.uses_translator(tmp_path)


# ------------------------------------------------------------------------------------- nearest real images


@pytest.fixture(scope="module")
def space_and_corpus():
    """A style space (tiny random VGG) of 6 renaissance training images and 4 ukiyo-e images."""
    from culturalstyle.features import random_vgg

    corpus = study_corpus.load_corpus(SAMPLE)
    df = corpus.df
    ren = df[(df["culture"] == "renaissance") & (df["split"] == "train")].head(6)
    small = Corpus(pd.concat([ren, df[df["culture"] == "ukiyo_e"].head(4)]), corpus.root)
    space = pipeline.build_style_space(
        small, layers=("relu1_1", "relu2_1"), size=32, weights_module=random_vgg()
    )
    return small, space, random_vgg()


def _translations(folder: Path, corpus: Corpus, copies: list[str], sources: list[str]) -> Corpus:
    """A translations corpus whose images are copies of the given corpus images (the 'translations')."""
    folder.mkdir()
    rows = []
    for k, (copy_of, source) in enumerate(zip(copies, sources)):
        path = folder / f"t{k}.png"
        shutil.copy(corpus.abspath(copy_of), path)
        row = corpus.df.set_index("image_id").loc[source].to_dict()
        row.update(image_id=f"t/{k}", path=path.name, culture="renaissance", sha256=sha256_file(path))
        row["source_image_id"] = source
        rows.append(row)
    return Corpus(pd.DataFrame(rows), folder)


def test_side_by_side_shows_each_translations_own_nearest_real_image(space_and_corpus, tmp_path, monkeypatch):
    """Regression: the 'nearest real' column showed one image in every row. Translations that are copies of
    three different real images must show those three images, in row order, at distance ~0."""
    from culturalstyle.images import center_crop, load_image, resize_shorter

    small, space, vgg = space_and_corpus
    real = small.df[small.df["culture"] == "renaissance"]["image_id"].tolist()
    ukiyo = small.df[small.df["culture"] == "ukiyo_e"]["image_id"].tolist()
    wanted = [real[4], real[1], real[2]]
    trans = _translations(tmp_path / "distinct", small, wanted, ukiyo[:3])
    with pytest.raises(ValueError, match="differs from the style space's 32 px"):
        translation_study.side_by_side(small, trans, space, image_size=64)
    fig, table = translation_study.side_by_side(
        small, trans, space, n_rows=3, image_size=32, batch_size=4, thumb_size=32
    )
    assert table["nearest_id"].tolist() == wanted and table["source_image_id"].tolist() == ukiyo[:3]
    assert np.allclose(table["distance"], 0.0, atol=1e-3) and (table["n_sharing"] == 1).all()
    assert (table["second_distance"] > table["distance"]).all() and (table["n_candidates"] == 6).all()
    # the third column of the figure displays exactly those images
    axes = np.array(fig.axes).reshape(3, 3)
    for row, image_id in enumerate(wanted):
        shown = axes[row, 2].images[0].get_array()
        expected = np.asarray(center_crop(resize_shorter(load_image(small.abspath(image_id)), 32), 32))
        assert np.array_equal(np.asarray(shown), expected)
    assert all("shared" not in t.get_text() for ax in fig.axes for t in [ax.yaxis.label])
    plt.close(fig)

    # Three identical translations honestly share one nearest image, and the grid says so.
    same = _translations(tmp_path / "same", small, [real[3]] * 3, ukiyo[:3])
    fig, table = translation_study.side_by_side(
        small, same, space, n_rows=3, image_size=32, batch_size=4, thumb_size=32
    )
    assert table["nearest_id"].tolist() == [real[3]] * 3 and (table["n_sharing"] == 3).all()
    assert "shared by 3/3" in axes_label(fig, 0)
    plt.close(fig)
    with pytest.raises(ValueError, match="no real 'chinese_ink' images"):
        translation_study.nearest_real_table(space, space.features, "chinese_ink")


def axes_label(fig, row: int) -> str:
    return np.array(fig.axes).reshape(-1, 3)[row, 0].get_ylabel()


def test_nearest_real_table_matches_brute_force(space_and_corpus) -> None:
    small, space, _ = space_and_corpus
    table = translation_study.nearest_real_table(space, space.features, "renaissance", split=None)
    candidates = (small.df["culture"] == "renaissance").to_numpy()
    d = np.linalg.norm(space.vectors[:, None, :] - space.vectors[candidates][None, :, :], axis=2)
    assert table["nearest_id"].tolist() == small.df["image_id"].to_numpy()[candidates][d.argmin(1)].tolist()
    assert np.allclose(table["distance"], d.min(1), atol=1e-3)
    assert table["query_id"].tolist() == small.df["image_id"].tolist()
    assert (
        translation_study.nearest_real(space, space.features, "renaissance", None)
        == table["nearest_id"].tolist()
    )


# -------------------------------------------------------------------------------- baselines once per size


def test_evaluate_translator_computes_baselines_once_per_direction_and_size(tmp_path, monkeypatch) -> None:
    """Each (source, target, size) gets the identity and real-target rows from its first method only."""
    from culturalstyle import metrics
    from culturalstyle.nst import run as nst_run
    from culturalstyle.nst import targets
    from culturalstyle.translate import TrainConfig
    from culturalstyle.translate import apply as translate_apply

    corpus = study_corpus.load_corpus(SAMPLE, ["ukiyo_e", "renaissance"])
    calls = []

    def fake_corpus(out: Path, method: str, size: int) -> Corpus:
        out.mkdir(parents=True, exist_ok=True)
        from PIL import Image

        Image.new("RGB", (size, size)).save(out / "x.png")
        row = {c: "" for c in corpus.df.columns}
        row.update(image_id="x", path="x.png", width=size, height=size, method=method)
        return Corpus(pd.DataFrame([row]), out)

    def fake_evaluate(trans, *, source, target, corpus, config):
        calls.append((trans.df["method"].iloc[0], source, target, config.baselines))
        return pd.DataFrame({"metric": ["fid"], "method": [trans.df["method"].iloc[0]], "source": [source]})

    monkeypatch.setattr(
        TrainConfig,
        "load",
        staticmethod(lambda path: TrainConfig(source="ukiyo_e", target="renaissance", size=32)),
    )
    monkeypatch.setattr(
        translate_apply, "translate_images", lambda run, inputs, d, out, **k: fake_corpus(out, "cyclegan", 32)
    )
    monkeypatch.setattr(
        nst_run, "stylize_all", lambda c, t, method, out, cfg, **k: fake_corpus(out, method, cfg.size)
    )
    monkeypatch.setattr(targets, "style_culture", lambda *a, **k: None)
    monkeypatch.setattr(metrics, "evaluate", fake_evaluate)

    config = metrics.EvaluationConfig(size=32)  # one FID size for every method: baselines once per direction
    pipeline.evaluate_translator(corpus, tmp_path, tmp_path / "out", baselines=("adain",), config=config)
    assert calls == [
        ("cyclegan", "ukiyo_e", "renaissance", True),
        ("adain", "ukiyo_e", "renaissance", False),
        ("cyclegan", "renaissance", "ukiyo_e", True),
        ("adain", "renaissance", "ukiyo_e", False),
    ]
    calls.clear()  # each method at its own size (32 vs 128 px): the baselines differ, so both get them
    pipeline.evaluate_translator(
        corpus, tmp_path, tmp_path / "out2", directions=("A2B",), baselines=("adain",)
    )
    assert calls == [("cyclegan", "ukiyo_e", "renaissance", True), ("adain", "ukiyo_e", "renaissance", True)]


def test_outputs_record_the_networks_of_embedded_backbones(tmp_path) -> None:
    from types import SimpleNamespace

    out = notebook_outputs.Outputs(tmp_path, "9_backbones")
    spaces = {
        "vgg19-gram": SimpleNamespace(record={"weights": "vgg19-gatys", "weights_sha256": "a" * 64}),
        "inception-pool": SimpleNamespace(record={"weights": "inception-fid", "weights_sha256": "b" * 64}),
        "colour-texture": SimpleNamespace(record={"weights": "", "weights_sha256": ""}),
    }
    out.uses_backbones(spaces)
    assert json.loads(out.record({}).read_text())["weights"] == {
        "vgg19-gatys": "a" * 64,
        "inception-fid": "b" * 64,
    }


def test_unique_baselines_keeps_one_row_per_baseline_and_every_translation_row() -> None:
    base = {
        "role": "baseline",
        "metric": "fid",
        "method": "identity",
        "source": "a",
        "target": "b",
        "split": "test",
    }
    table = pd.DataFrame(
        [
            {**base, "size": 128, "value": 1.0},
            {**base, "role": "translation", "method": "shipped-fastcut", "size": 128, "value": 0.5},
            {**base, "size": 128, "value": 1.0},  # the same baseline from a second evaluation
            {**base, "size": 32, "value": 2.0},  # another size: its own baseline
            {**base, "role": "translation", "method": "cyclegan", "size": 32, "value": 3.0},
        ]
    )
    out = pipeline.unique_baselines(table)
    assert list(out["value"]) == [1.0, 0.5, 2.0, 3.0]


def test_shipped_translators_labels_and_directions(tmp_path, monkeypatch) -> None:
    """Shipped translators are found by name, filtered by cultures, labelled `shipped-<method>`; a one-sided
    method has A2B only; a smoke run is labelled a code-path check."""
    from culturalstyle.pipeline import translators
    from culturalstyle.translate import make_config

    with pytest.raises(FileNotFoundError, match="no shipped translator 'nope'"):
        pipeline.shipped_translator("nope")
    folder = tmp_path / "data" / "translators" / "a2b-fastcut"
    folder.mkdir(parents=True)
    make_config("smoke", method="fastcut", source="a", target="b").save(folder / "config.yaml")
    (folder / "translator.json").write_text("{}")
    monkeypatch.setattr(translators, "SHIPPED_DIR", tmp_path / "data" / "translators")
    assert pipeline.shipped_translator("a2b-fastcut") == folder
    assert pipeline.shipped_translators(["a2b-fastcut"], "a", "b") == [folder]
    assert pipeline.shipped_translators(["a2b-fastcut"], "b", "a") == []  # other cultures: skipped
    assert pipeline.translator_label(folder) == "shipped-fastcut"
    assert pipeline.translator_directions(folder) == ["A2B"]
    run = tmp_path / "run"
    run.mkdir()
    make_config("smoke", source="a", target="b").save(run / "config.yaml")
    assert pipeline.translator_label(run, "smoke") == "cyclegan-smoke (code-path check)"
    assert pipeline.translator_label(run, "cpu") == "cyclegan"
    assert pipeline.translator_directions(run) == ["A2B", "B2A"]
