"""`culturalstyle evaluate` on a plain folder of images made by another program (no manifest)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from test_metrics import MeanAbsLPIPS, counting, toy  # noqa: F401 - toy is a fixture

from culturalstyle import metrics
from culturalstyle.cli import main


def _plain_copies(trans, corpus, tmp_path: Path) -> tuple[Path, Path]:
    """The toy translations as a plain folder (renamed `img_<k>.png`) and their sources as `img_<k>.jpg`
    equivalents in another folder, paired only by file stem."""
    plain, sources = tmp_path / "plain", tmp_path / "sources"
    plain.mkdir()
    sources.mkdir()
    for k, (_, row) in enumerate(trans.df.iterrows()):
        shutil.copy(trans.abspath(row), plain / f"img_{k:02d}.png")
        source = corpus.abspath(row["source_image_id"])
        shutil.copy(source, sources / f"img_{k:02d}{source.suffix}")
    return plain, sources


def test_plain_folder_with_sources_scores_like_the_manifest(toy, tmp_path):  # noqa: F811
    corpus, trans, _ = toy
    plain, sources = _plain_copies(trans, corpus, tmp_path)
    config = metrics.EvaluationConfig(n_bootstrap=30, kid_subsets=20, attribution=False)
    expected = metrics.evaluate(
        trans, target="tgt", corpus=corpus, config=config, extractor=counting()[0], lpips_net=MeanAbsLPIPS()
    )
    folder = metrics.folder_translations(plain, target="tgt", source="src", source_images=sources)
    assert folder.df["method"].unique().tolist() == ["plain"] and len(folder) == len(trans)
    assert folder.df["source_path"].map(lambda p: Path(p).stem).tolist() == [p.stem for p in folder.paths()]
    got = metrics.evaluate(
        folder, target="tgt", corpus=corpus, config=config, extractor=counting()[0], lpips_net=MeanAbsLPIPS()
    )
    # Same images, same pairs: the same numbers for the translations and both baselines.
    keys = ["metric", "role", "value", "ci_low", "ci_high", "n_generated", "n_reference"]
    a = expected.assign(role=expected["method"].where(expected["role"] == "baseline", "translation"))[keys]
    b = got.assign(role=got["method"].where(got["role"] == "baseline", "translation"))[keys]
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))
    assert (got["source"] == "src").all()


def test_plain_folder_without_sources_reports_what_needs_none(toy, tmp_path):  # noqa: F811
    corpus, trans, _ = toy
    plain, _ = _plain_copies(trans, corpus, tmp_path)
    config = metrics.EvaluationConfig(n_bootstrap=20, kid_subsets=20, attribution=False)
    table = metrics.evaluate(
        metrics.folder_translations(plain, target="tgt"),
        target="tgt",
        corpus=corpus,
        config=config,
        extractor=counting()[0],
    )
    assert set(zip(table["method"], table["metric"])) == {
        ("plain", "fid"),
        ("plain", "kid"),
        ("real-target", "fid"),
        ("real-target", "kid"),
    }  # no LPIPS, ArtFID or identity baseline without sources
    with pytest.warns(UserWarning, match="source culture is unknown"):
        metrics.evaluate(
            metrics.folder_translations(plain, target="tgt"),
            target="tgt",
            corpus=corpus,
            config=metrics.EvaluationConfig(n_bootstrap=0, kid_subsets=5, baselines=False),
            extractor=counting()[0],
        )


def test_plain_folder_bad_input_names_the_files(toy, tmp_path):  # noqa: F811
    corpus, trans, _ = toy
    plain, sources = _plain_copies(trans, corpus, tmp_path)
    (sources / "img_03.png").unlink()
    with pytest.raises(ValueError, match=r"1 translation\(s\) in .*plain have no source .*img_03.png"):
        metrics.folder_translations(plain, target="tgt", source_images=sources)
    shutil.copy(plain / "img_04.png", sources / "img_04.jpg")
    (sources / "img_03.png").write_bytes((plain / "img_03.png").read_bytes())
    with pytest.raises(ValueError, match="name several source images, e.g. img_04"):
        metrics.folder_translations(plain, target="tgt", source_images=sources)
    (plain / "broken.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match=r"broken.png: not a readable image"):
        metrics.folder_translations(plain, target="tgt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty: no images"):
        metrics.folder_translations(tmp_path / "empty", target="tgt")
    with pytest.raises(FileNotFoundError, match="nowhere: not a folder"):
        metrics.folder_translations(tmp_path / "nowhere", target="tgt")


def test_cli_evaluates_a_plain_folder(toy, tmp_path, monkeypatch, capsys):  # noqa: F811
    from culturalstyle import weights

    corpus, trans, _ = toy
    plain, sources = _plain_copies(trans, corpus, tmp_path)
    corpus.save(tmp_path / "corpus")
    monkeypatch.setattr(metrics.fidelity, "inception_extractor", lambda device=None: counting()[0])
    monkeypatch.setattr(weights, "lpips_network", lambda *a, **k: MeanAbsLPIPS())
    monkeypatch.setattr(weights, "sha256", lambda name: "f" * 64)
    args = [
        "evaluate",
        str(plain),
        "--target",
        "tgt",
        "--source",
        "src",
        "--corpus",
        str(tmp_path / "corpus"),
    ]
    args += ["--no-attribution", "--n-bootstrap", "10", "--kid-subsets", "10"]
    assert main([*args, "--source-images", str(sources)]) == 0
    table = pd.read_csv(plain / "evaluation-src-to-tgt-test.csv")
    assert {"fid", "kid", "lpips", "artfid"} <= set(table["metric"]) and "identity" in set(table["method"])
    assert main(args) == 0  # without sources: a second table under a new name, FID/KID only
    second = pd.read_csv(plain / "evaluation-src-to-tgt-test-2.csv")
    assert "lpips" not in set(second["metric"])
    assert main([*args, "--source-images", str(tmp_path / "nowhere")]) == 1
    assert "nowhere" in capsys.readouterr().err


def test_cli_metric_option_adds_a_registered_metric(toy, tmp_path, monkeypatch, capsys):  # noqa: F811
    from culturalstyle import weights

    corpus, trans, _ = toy
    plain, sources = _plain_copies(trans, corpus, tmp_path)
    corpus.save(tmp_path / "corpus")
    monkeypatch.setattr(metrics.fidelity, "inception_extractor", lambda device=None: counting()[0])
    monkeypatch.setattr(weights, "sha256", lambda name: "f" * 64)
    args = [
        "evaluate",
        str(plain),
        "--target",
        "tgt",
        "--source",
        "src",
        "--corpus",
        str(tmp_path / "corpus"),
    ]
    args += ["--no-attribution", "--n-bootstrap", "0", "--kid-subsets", "5"]
    assert main([*args, "--metric", "palette_distance"]) == 0
    table = pd.read_csv(plain / "evaluation-src-to-tgt-test.csv")
    assert set(table.loc[table["metric"] == "palette_distance", "method"]) == {"plain", "real-target"}
    assert "palette_distance" in (plain / "evaluation-src-to-tgt-test.md").read_text()
    assert main([*args, "--metric", "nope"]) == 1  # refused before anything is computed or written
    assert "unknown metric(s) nope" in capsys.readouterr().err
    assert not (plain / "evaluation-src-to-tgt-test-2.csv").exists()
