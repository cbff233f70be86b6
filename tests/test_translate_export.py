"""Exported translators: self-contained directory, fp16 weights with sha256, translate from it on any size."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from test_translate_eval import tiny_extractor

from culturalstyle.cli import main
from culturalstyle.corpus import Corpus
from culturalstyle.translate import train as T
from culturalstyle.translate.apply import load_generator, translate_images
from culturalstyle.translate.config import make_config
from culturalstyle.translate.export import export_translator, read_export_info

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Corpus:
    full = Corpus.load(SAMPLE)
    parts = [
        full.df[(full.df.culture == c) & (full.df.split == s)].sort_values("image_id").head(n)
        for c in ("ukiyo_e", "renaissance")
        for s, n in (("train", 4), ("test", 4))
    ]
    folder = tmp_path_factory.mktemp("export_corpus")
    Corpus(pd.concat(parts), full.root).save(folder)
    return Corpus.load(folder)


def run_for(method: str, corpus: Corpus, folder: Path) -> Path:
    config = make_config(
        "smoke",
        source="ukiyo_e",
        target="renaissance",
        method=method,
        device="cpu",
        steps=4,
        steps_decay=0,
        progress=False,
        tensorboard=False,
        checkpoint_every=2,
        log_every=2,
        sample_every=4,
        eval_every=2,
        eval_size=32,
        eval_kid_subsets=5,
    )
    return T.train(config, corpus, folder / f"run-{method}", eval_extractor=tiny_extractor())


@pytest.fixture(scope="module")
def fastcut_run(tmp_path_factory, corpus) -> Path:
    torch.set_num_threads(1)
    return run_for("fastcut", corpus, tmp_path_factory.mktemp("runs"))


@pytest.fixture
def odd_images(tmp_path, corpus) -> Path:
    """Two source images resized to awkward shapes (not multiples of 4, portrait and landscape)."""
    folder = tmp_path / "odd"
    folder.mkdir()
    for (_, row), shape, name in zip(
        corpus.filter("ukiyo_e", "test").df.iterrows(), [(37, 53), (61, 42)], "ab"
    ):
        Image.open(corpus.abspath(row)).convert("RGB").resize(shape).save(folder / f"{name}.png")
    return folder


def test_export_writes_a_self_contained_translator(tmp_path, fastcut_run):
    out = export_translator(fastcut_run, tmp_path / "exp", checkpoint="best", fp16=True)
    names = {p.name for p in out.iterdir()}
    assert {
        "translator.json",
        "generator_A2B.pt",
        "generator_A2B.pt.sha256",
        "config.yaml",
        "run_record.json",
    } <= names
    assert {"losses.csv", "metrics.csv", "training_curves.png", "COMMAND.md", "training_record.json"} <= names
    assert "generator_B2A.pt" not in names  # FastCUT is one-sided
    info = read_export_info(out)
    best = T.read_best_info(fastcut_run)
    assert info["checkpoint"] == "best.pt" and info["step"] == best["step"] and info["dtype"] == "float16"
    assert info["evaluation"]["fid"] == pytest.approx(best["fid"], rel=1e-5)
    assert info["directions"]["A2B"]["sha256"] == T.sha256_file(out / "generator_A2B.pt")
    weights = torch.load(out / "generator_A2B.pt", weights_only=True)
    assert {v.dtype for v in weights.values()} == {torch.float16}
    state, _ = T.load_checkpoint(fastcut_run, "best")
    assert weights.keys() == state["models"]["G"].keys()  # generator only: no D, F or optimiser
    full = export_translator(fastcut_run, tmp_path / "exp32", checkpoint="best")
    assert (out / "generator_A2B.pt").stat().st_size < 0.6 * (full / "generator_A2B.pt").stat().st_size
    command = (out / "COMMAND.md").read_text()
    assert "--config config.yaml" in command and "--source ukiyo_e --target renaissance" in command
    assert Image.open(out / "training_curves.png").format == "PNG"
    grids = sorted(p.name for p in (fastcut_run / "samples").glob("step_*.png"))
    assert grids and sorted(p.name for p in (out / "samples").iterdir()) == grids  # training progress travels
    record = json.loads((out / "run_record.json").read_text())
    assert (
        record["kind"] == "translator-export"
        and record["weights"]["generator_A2B.pt"] == info["directions"]["A2B"]["sha256"]
    )
    with pytest.raises(Exception, match="exists|not empty"):
        export_translator(fastcut_run, out)


def test_exported_translator_translates_like_the_run_on_any_size(tmp_path, fastcut_run, odd_images):
    exported = export_translator(fastcut_run, tmp_path / "exp", checkpoint="best")
    from_run = translate_images(
        fastcut_run, odd_images, "A2B", tmp_path / "a", checkpoint="best", progress=False
    )
    from_export = translate_images(exported, odd_images, "A2B", tmp_path / "b", progress=False)
    for (_, a), (_, b) in zip(from_run.df.iterrows(), from_export.df.iterrows()):
        assert a["sha256"] == b["sha256"]  # float32 export: the very same pixels
        src = Image.open(odd_images / (a["source_image_id"] + ".png"))
        scale = 32 / min(src.size)
        expected = (round(src.size[0] * scale), round(src.size[1] * scale))
        assert abs(a["width"] - expected[0]) <= 1 and abs(a["height"] - expected[1]) <= 1
    assert set(from_export.df["checkpoint"]) == {"best.pt"}
    # fp16 weights: within a couple of 8-bit levels of the float32 translation
    half = export_translator(fastcut_run, tmp_path / "exp16", checkpoint="best", fp16=True)
    from_half = translate_images(half, odd_images, "A2B", tmp_path / "c", progress=False)
    for (_, a), (_, c) in zip(from_export.df.iterrows(), from_half.df.iterrows()):
        x = np.asarray(Image.open(from_export.abspath(a)), dtype=int)
        y = np.asarray(Image.open(from_half.abspath(c)), dtype=int)
        assert x.shape == y.shape and np.abs(x - y).max() <= 3
    # another resolution: shorter side 37 (not a multiple of 4: padded for the generator, cropped back)
    other = translate_images(exported, odd_images, "A2B", tmp_path / "d", size=37, progress=False)
    assert sorted(zip(other.df["width"], other.df["height"])) == [(37, 53), (54, 37)]


def test_exported_translator_errors(tmp_path, fastcut_run, odd_images):
    exported = export_translator(fastcut_run, tmp_path / "exp", checkpoint="last")
    with pytest.raises(ValueError, match="A2B only, not B2A"):
        load_generator(exported, "B2A")
    with pytest.raises(ValueError, match="holding only checkpoint step_00000004.pt"):
        load_generator(exported, "A2B", checkpoint="2")
    with pytest.raises(ValueError, match="A2B only, not B2A"):
        load_generator(fastcut_run, "B2A")
    data = bytearray((exported / "generator_A2B.pt").read_bytes())
    data[-10] ^= 0xFF
    (exported / "generator_A2B.pt").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="generator_A2B.pt: sha256 .* damaged"):
        translate_images(exported, odd_images, "A2B", tmp_path / "o", progress=False)
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


@pytest.mark.parametrize("method", ["cyclegan", "cut"])
def test_export_and_translate_every_method_through_the_cli(tmp_path, corpus, odd_images, method, capsys):
    run = run_for(method, corpus, tmp_path)
    out = tmp_path / "exported"
    assert main(["export-translator", str(run), "--out", str(out), "--fp16"]) == 0
    assert "step" in capsys.readouterr().out
    info = read_export_info(out)
    assert set(info["directions"]) == ({"A2B", "B2A"} if method == "cyclegan" else {"A2B"})
    for direction in info["directions"]:
        target = tmp_path / f"tr-{direction}"
        argv = [
            "translate",
            str(out),
            "--input",
            str(odd_images),
            "--out",
            str(target),
            "--direction",
            direction,
        ]
        assert main(argv + ["--no-progress"]) == 0
        translated = Corpus.load(target)
        assert len(translated) == 2 and set(translated.df["method"]) == {method}
