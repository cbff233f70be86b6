"""Applying a trained translator (Python API and CLI): one output per input, provenance, inputs untouched."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from culturalstyle import runs
from culturalstyle.cli import main
from culturalstyle.corpus import Corpus
from culturalstyle.images import resize_shorter, to_tensor
from culturalstyle.translate import train as T
from culturalstyle.translate.apply import load_generator, translate_images
from culturalstyle.translate.config import make_config

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory) -> Corpus:
    full = Corpus.load(SAMPLE)
    parts = [
        full.df[(full.df.culture == c) & (full.df.split == s)].sort_values("image_id").head(n)
        for c in ("ukiyo_e", "renaissance")
        for s, n in (("train", 4), ("test", 3))
    ]
    folder = tmp_path_factory.mktemp("corpus")
    Corpus(pd.concat(parts), full.root).save(folder)
    return Corpus.load(folder)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, small_corpus) -> Path:
    torch.set_num_threads(1)
    config = make_config(
        "smoke",
        source="ukiyo_e",
        target="renaissance",
        steps=2,
        steps_decay=0,
        progress=False,
        tensorboard=False,
    )
    return T.train(config, small_corpus, tmp_path_factory.mktemp("runs") / "run")


@pytest.fixture
def image_folder(tmp_path, small_corpus) -> Path:
    """Three images of different shapes, one in a sub-folder."""
    folder = tmp_path / "inputs"
    (folder / "sub").mkdir(parents=True)
    rows = small_corpus.filter(culture="ukiyo_e", split="test").df
    targets = [folder / "a.jpg", folder / "b.jpg", folder / "sub" / "c.jpg"]
    for (_, row), target in zip(rows.iterrows(), targets):
        shutil.copy(small_corpus.abspath(row), target)
    return folder


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_translate_folder_one_output_per_input_with_provenance(tmp_path, run_dir, image_folder):
    before = snapshot(image_folder)
    out = tmp_path / "out"
    corpus = translate_images(run_dir, image_folder, "A2B", out, batch_size=2, progress=False)

    assert snapshot(image_folder) == before  # inputs untouched, nothing added beside them
    assert len(corpus) == 3 and sorted(corpus.df["source_image_id"]) == ["a", "b", "sub/c"]
    assert set(corpus.df["culture"]) == {"renaissance"} and set(corpus.df["source_culture"]) == {"ukiyo_e"}
    assert set(corpus.df["method"]) == {"cyclegan"} and set(corpus.df["direction"]) == {"A2B"}
    assert set(corpus.df["run"]) == {run_dir.name}
    assert set(corpus.df["checkpoint"]) == {"step_00000002.pt"}
    assert corpus.df["image_id"].is_unique
    outputs = sorted(p.name for p in out.glob("*.png"))
    assert outputs == ["a.png", "b.png", "sub__c.png"]
    # each output keeps the input's aspect ratio, shorter side = the run's size (32)
    for _, row in corpus.df.iterrows():
        src = Image.open(image_folder / (row["source_image_id"] + ".jpg"))
        expected = resize_shorter(src.convert("RGB"), 32).size
        img = Image.open(corpus.abspath(row))
        assert img.size == expected == (row["width"], row["height"])
        assert row["sha256"] == T.sha256_file(corpus.abspath(row))
        assert row["source_sha256"] == T.sha256_file(image_folder / (row["source_image_id"] + ".jpg"))
    # saved as a corpus with a run record
    reloaded = Corpus.load(out)
    assert len(reloaded) == 3 and "source_image_id" in reloaded.df.columns
    record = runs.read_record(out)
    assert record["kind"] == "translations" and record["direction"] == "A2B" and record["n"] == 3
    assert record["inputs"]["run"] == str(run_dir.resolve())


def test_translation_equals_the_generator_applied_by_hand(tmp_path, run_dir, image_folder):
    corpus = translate_images(run_dir, image_folder, "A2B", tmp_path / "out", size=40, progress=False)
    generator, config, _ = load_generator(run_dir, "A2B", device="cpu")
    state, _ = T.load_checkpoint(run_dir)
    assert torch.equal(generator.state_dict()["model.1.weight"], state["models"]["G_AB"]["model.1.weight"])
    for _, row in corpus.df.iterrows():
        x = to_tensor(
            resize_shorter(Image.open(image_folder / (row["source_image_id"] + ".jpg")).convert("RGB"), 40)
        )
        h, w = x.shape[-2:]
        # reflect-pad to a multiple of 4 by hand, translate, crop back
        ph, pw = (4 - h % 4) % 4, (4 - w % 4) % 4
        padded = torch.nn.functional.pad(x[None], (0, pw, 0, ph), mode="reflect")
        with torch.no_grad():
            y = generator(padded)[0, :, :h, :w]
        expected = (y.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
        got = np.asarray(Image.open(corpus.abspath(row)))
        assert got.shape == expected.shape
        assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1


def test_translate_corpus_b2a_keeps_source_metadata(tmp_path, run_dir, small_corpus):
    inputs = small_corpus.filter(culture="renaissance", split="test")
    corpus = translate_images(run_dir, inputs, "B2A", tmp_path / "out", progress=False)
    assert len(corpus) == len(inputs)
    merged = corpus.df.merge(inputs.df, left_on="source_image_id", right_on="image_id", suffixes=("", "_src"))
    assert len(merged) == len(inputs)
    assert (merged["artist"] == merged["artist_src"]).all() and (merged["split"] == merged["split_src"]).all()
    assert (merged["source_sha256"] == merged["sha256_src"]).all()
    assert set(corpus.df["culture"]) == {"ukiyo_e"} and set(corpus.df["direction"]) == {"B2A"}
    assert runs.read_record(tmp_path / "out")["inputs"]["manifest_hash"] == inputs.manifest_hash()


def test_translate_errors(tmp_path, run_dir, image_folder):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("existing result")
    with pytest.raises(runs.OutputExistsError):
        translate_images(run_dir, image_folder, "A2B", out, progress=False)
    assert (out / "keep.txt").read_text() == "existing result"
    with pytest.raises(ValueError, match="direction"):
        translate_images(run_dir, image_folder, "A2C", tmp_path / "o2", progress=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no images"):
        translate_images(run_dir, empty, "A2B", tmp_path / "o3", progress=False)
    (image_folder / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(ValueError, match="broken.jpg"):
        translate_images(run_dir, image_folder, "A2B", tmp_path / "o4", progress=False)
    with pytest.raises(FileNotFoundError, match="not a translator run"):
        translate_images(tmp_path, image_folder, "A2B", tmp_path / "o5", progress=False)


def test_cli_train_resume_translate(tmp_path, small_corpus, image_folder, capsys):
    corpus_dir = small_corpus.root
    argv = ["train", "--corpus", str(corpus_dir), "--source", "ukiyo_e", "--target", "renaissance"]
    argv += ["--preset", "smoke", "--set", "steps=3", "--set", "steps_decay=1", "--set", "checkpoint_every=2"]
    argv += [
        "--set",
        "tensorboard=false",
        "--name",
        "cli",
        "--runs-dir",
        str(tmp_path / "runs"),
        "--no-progress",
    ]
    assert main(argv) == 0
    run = tmp_path / "runs" / "cli"
    assert T.TrainConfig.load(run / "config.yaml").steps == 3
    assert T.load_checkpoint(run)[0]["step"] == 3
    # the same name again is refused (never overwrite) and says how to continue
    assert main(argv) == 1
    assert "--resume" in capsys.readouterr().err
    # resume of a finished run is a no-op that succeeds; bad overrides are clear errors
    assert main(["train", "--resume", str(run)]) == 0
    assert main(argv[:-5] + ["--set", "ngff=3", "--name", "x", "--runs-dir", str(tmp_path / "runs")]) == 1
    assert "unknown config field 'ngff'" in capsys.readouterr().err
    out = tmp_path / "translated"
    argv = ["translate", str(run), "--direction", "B2A", "--input", str(image_folder), "--out", str(out)]
    assert main(argv + ["--no-progress", "--checkpoint", "2"]) == 0
    corpus = Corpus.load(out)
    assert len(corpus) == 3 and set(corpus.df["checkpoint"]) == {"step_00000002.pt"}
    assert set(corpus.df["culture"]) == {"ukiyo_e"}


def test_cli_method_time_budget_and_best_checkpoint_errors(tmp_path, small_corpus, image_folder, capsys):
    argv = ["train", "--corpus", str(small_corpus.root), "--source", "ukiyo_e", "--target", "renaissance"]
    argv += ["--preset", "smoke", "--method", "fastcut", "--time-budget", "1e-6", "--set", "steps=3"]
    argv += [
        "--set",
        "steps_decay=0",
        "--set",
        "tensorboard=false",
        "--name",
        "fc",
        "--runs-dir",
        str(tmp_path),
    ]
    assert main(argv + ["--no-progress"]) == 0
    out = capsys.readouterr().out
    run = tmp_path / "fc"
    assert "training fastcut ukiyo_e -> renaissance" in out and "stopped at step 1 of 3" in out
    assert f"--resume {run}" in out
    assert T.TrainConfig.load(run / "config.yaml").method == "fastcut"
    assert main(["train", "--resume", str(run), "--method", "cut"]) == 1
    assert "--resume continues a run with its saved config" in capsys.readouterr().err
    assert main(["train", "--resume", str(run), "--time-budget", "3600"]) == 0
    assert "run complete" in capsys.readouterr().out and T.load_checkpoint(run)[0]["step"] == 3
    # no evaluation ran (3 test images < 4): --checkpoint best is a clear error, B2A does not exist
    argv = ["translate", str(run), "--input", str(image_folder), "--no-progress"]
    assert main(argv + ["--out", str(tmp_path / "o1"), "--checkpoint", "best"]) == 1
    assert "no best checkpoint" in capsys.readouterr().err
    assert main(argv + ["--out", str(tmp_path / "o2"), "--direction", "B2A"]) == 1
    assert "one-sided fastcut translator" in capsys.readouterr().err
    assert main(argv + ["--out", str(tmp_path / "o3"), "--checkpoint", "newest"]) == 1
    assert "unknown checkpoint 'newest'" in capsys.readouterr().err
