"""Evaluation during training: metrics.csv, the best checkpoint, cached reference statistics, skipping."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from culturalstyle import metrics
from culturalstyle.corpus import Corpus
from culturalstyle.translate import checkpoints as C
from culturalstyle.translate import train as T
from culturalstyle.translate.apply import load_generator, translate_images
from culturalstyle.translate.config import make_config
from culturalstyle.translate.evaluation import EvaluationSkipped

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def eval_corpus(tmp_path_factory) -> Corpus:
    """Four training and five test images per culture (KID needs at least four per set)."""
    full = Corpus.load(SAMPLE)
    parts = [
        full.df[(full.df.culture == c) & (full.df.split == s)].sort_values("image_id").head(n)
        for c in ("ukiyo_e", "renaissance")
        for s, n in (("train", 4), ("test", 5))
    ]
    folder = tmp_path_factory.mktemp("eval_corpus")
    Corpus(pd.concat(parts), full.root).save(folder)
    return Corpus.load(folder)


class TinyInception(torch.nn.Module):
    """A fixed random conv net standing in for the FID Inception: uint8 images -> 12-d pooled features."""

    def __init__(self) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 12, 5, stride=2)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=generator) * 0.2)
            self.conv.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x.float() / 255.0)).mean((2, 3))


def tiny_extractor() -> metrics.FeatureExtractor:
    return metrics.FeatureExtractor(module=TinyInception(), weights_sha256="tiny-test-net", name="tiny")


def config(**fields):
    base = dict(source="ukiyo_e", target="renaissance", device="cpu", steps=6, steps_decay=2, progress=False)
    base.update(tensorboard=False, checkpoint_every=3, log_every=2, sample_every=6, eval_every=2)
    base.update(eval_size=32, eval_images=0, eval_kid_subsets=10, keep_checkpoints=2)
    base.update(fields)
    return make_config("smoke", **base)


def by_hand_fid(run: Path, checkpoint: str, corpus: Corpus, extractor) -> float:
    """FID of a checkpoint's translations of the source test images, computed without the engine."""
    generator, cfg, _ = load_generator(run, "A2B", checkpoint, device="cpu")
    rows = corpus.filter(culture=cfg.source, split="test").df.sort_values("image_id")
    x = torch.stack([metrics.load_uint8(corpus.abspath(r), 32) for _, r in rows.iterrows()])
    with torch.no_grad():
        y = generator(x.float() / 255.0)
    images = (y.clamp(0, 1) * 255).round().to(torch.uint8)
    generated = extractor(images).numpy()
    refs = corpus.filter(culture=cfg.target, split="test")
    reference = torch.stack([metrics.load_uint8(p, 32) for p in refs.paths()])
    return metrics.fid_from_features(generated, extractor(reference).numpy())


@pytest.mark.parametrize("method", ["fastcut", "cyclegan"])
def test_eval_during_training_logs_metrics_and_keeps_the_best_checkpoint(tmp_path, eval_corpus, method):
    extractor = tiny_extractor()
    run = T.train(config(method=method), eval_corpus, tmp_path / "run", eval_extractor=extractor)

    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert [int(r["step"]) for r in rows] == [2, 4, 6]
    fids = [float(r["fid"]) for r in rows]
    assert all(np.isfinite(fids)) and all(float(r["kid_ci_low"]) <= float(r["kid"]) for r in rows)
    assert {int(r["n_generated"]) for r in rows} == {5} and {int(r["n_reference"]) for r in rows} == {5}
    # "best" marks each new minimum; best.json/best.pt are the overall minimum
    running = np.minimum.accumulate(fids)
    assert [int(r["best"]) for r in rows] == [1] + [int(f < m) for f, m in zip(fids[1:], running[:-1])]
    info = json.loads((run / "checkpoints" / "best.json").read_text())
    best_step = [2, 4, 6][int(np.argmin(fids))]
    assert info["step"] == best_step and info["fid"] == pytest.approx(min(fids), rel=1e-5)
    state, path = C.load_checkpoint(run, "best")
    assert path.name == "best.pt" and state["step"] == best_step
    assert C.verify(path) is None
    # the logged FIDs are what an independent computation from the saved generators gives
    assert by_hand_fid(run, "best", eval_corpus, extractor) == pytest.approx(min(fids), rel=1e-4, abs=1e-6)
    assert by_hand_fid(run, "last", eval_corpus, extractor) == pytest.approx(fids[-1], rel=1e-4, abs=1e-6)
    # pruning keeps step checkpoints bounded but never touches best.pt
    assert [p.name for p in T.list_checkpoints(run)] == ["step_00000006.pt", "step_00000003.pt"]

    # translate with the best checkpoint: outputs and record say so
    out = translate_images(
        run, eval_corpus.filter("ukiyo_e", "test"), "A2B", tmp_path / "tr", checkpoint="best", progress=False
    )
    assert set(out.df["checkpoint"]) == {"best.pt"} and set(out.df["method"]) == {method}
    record = json.loads((tmp_path / "tr" / "run_record.json").read_text())
    assert record["checkpoint_step"] == best_step and record["checkpoint_choice"] == "best"


def test_reference_statistics_are_computed_once(tmp_path, eval_corpus, monkeypatch):
    extractor = tiny_extractor()
    T.train(
        config(method="fastcut", steps=2, eval_every=2), eval_corpus, tmp_path / "a", eval_extractor=extractor
    )

    def fail(*args, **kwargs):
        raise AssertionError("the reference statistics were recomputed")

    monkeypatch.setattr(metrics.fidelity, "inception_features", fail)
    run = T.train(
        config(method="fastcut", steps=2, eval_every=2), eval_corpus, tmp_path / "b", eval_extractor=extractor
    )
    assert len(list(csv.DictReader(open(run / "metrics.csv")))) == 1


def test_without_weights_evaluation_is_skipped_with_a_warning(tmp_path, eval_corpus):
    with pytest.warns(EvaluationSkipped, match="inception-fid"):
        run = T.train(config(method="fastcut", steps=2), eval_corpus, tmp_path / "run")
    assert not (run / "metrics.csv").exists() and not (run / "checkpoints" / "best.pt").exists()
    assert T.list_checkpoints(run)
    with pytest.raises(T.CheckpointError, match="no best checkpoint"):
        C.load_checkpoint(run, "best")
