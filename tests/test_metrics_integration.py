"""Integration tests of culturalstyle.metrics with the real weights (FID Inception, LPIPS AlexNet, VGG19).

- the toolkit's FID equals torch_fidelity.calculate_metrics on the same folders (same weights);
- `culturalstyle evaluate` on a `smoke` translator run trained on the bundled sample corpus writes the full
  table (FID, KID, LPIPS, ArtFID, culture attribution) with both baselines, a Markdown report and a run
  record into the run, and a second evaluation writes new files instead of overwriting.
The LPIPS reference pairs (TID2013) are checked in tests/test_weights_integration.py, not repeated here.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import SAMPLE, require_weights
from PIL import Image

from culturalstyle import metrics, weights
from culturalstyle.corpus import Corpus

pytestmark = pytest.mark.integration


def _folder(paths, folder, size=299):
    folder.mkdir()
    for i, p in enumerate(paths):
        img = Image.open(p).convert("RGB").resize((size, size), Image.Resampling.BICUBIC)
        img.save(folder / f"{i:03d}.png")
    return folder


def test_toolkit_fid_equals_torch_fidelity_on_the_same_folders(tmp_path):
    require_weights("inception-fid")
    import torch_fidelity

    corpus = Corpus.load(SAMPLE)
    gen = _folder(corpus.filter(culture="ukiyo_e", split="test").paths()[:5], tmp_path / "gen")
    ref = _folder(corpus.filter(culture="renaissance", split="test").paths()[:6], tmp_path / "ref")
    extractor = metrics.inception_extractor("cpu")
    ours = metrics.frechet_distance(gen, ref, size=299, extractor=extractor, cache=False)
    theirs = torch_fidelity.calculate_metrics(
        input1=str(gen),
        input2=str(ref),
        fid=True,
        cuda=False,
        cache=False,
        verbose=False,
        save_cpu_ram=True,
        feature_extractor_weights_path=str(weights.fidelity_inception_path()),
    )["frechet_inception_distance"]
    assert (ours.n_generated, ours.n_reference) == (5, 6)
    # the same features; torch-fidelity's 2048-d eigen-decomposition of rank-5 covariances adds ~1e-4 noise
    assert ours.value == pytest.approx(theirs, rel=1e-5, abs=1e-3)
    assert ours.value > 50  # ukiyo-e prints and Renaissance paintings really differ
    same = metrics.inception_features(gen, size=299, extractor=extractor)
    assert same.shape == (5, 2048)
    assert abs(metrics.fid_from_features(same, same)) < 1e-6


def test_evaluate_smoke_run_on_sample_corpus_writes_full_table(tmp_path):
    for name in ("inception-fid", "alexnet-lpips", "vgg19-gatys"):
        require_weights(name)
    from culturalstyle.cli import main
    from culturalstyle.translate.config import make_config
    from culturalstyle.translate.train import train

    before = torch.get_num_threads()
    corpus = Corpus.load(SAMPLE)
    config = make_config(
        "smoke",
        source="ukiyo_e",
        target="renaissance",
        progress=False,
        tensorboard=False,
        steps=6,
        steps_decay=2,
    )
    try:
        run_dir = train(config, corpus, tmp_path / "run")
    finally:
        torch.set_num_threads(before)
    argv = ["evaluate", str(run_dir), "--target", "renaissance", "--n-bootstrap", "50", "--kid-subsets", "20"]
    assert main(argv) == 0

    csv = run_dir / "evaluation-ukiyo_e-to-renaissance-test.csv"
    table = pd.read_csv(csv)
    assert list(table.columns) == metrics.RESULT_COLUMNS
    methods = set(table["method"])
    assert {"cyclegan", "identity", "real-target"} <= methods, methods
    got = set(zip(table["method"], table["metric"]))
    for metric in ("fid", "kid", "lpips", "artfid", "culture_share_target", "gram_shift"):
        assert ("cyclegan", metric) in got and ("identity", metric) in got
    for metric in ("fid", "kid", "culture_share_target", "gram_shift"):
        assert ("real-target", metric) in got
    t = table.set_index(["method", "metric"])
    n_ukiyo_test = len(corpus.filter(culture="ukiyo_e", split="test"))
    n_ren_test = len(corpus.filter(culture="renaissance", split="test"))
    assert t.loc[("cyclegan", "fid"), "n_generated"] == n_ukiyo_test
    assert t.loc[("cyclegan", "fid"), "n_reference"] == n_ren_test
    assert t.loc[("real-target", "fid"), "n_generated"] == n_ukiyo_test  # floor at the translations' N
    assert (table["size"] == 32).all()  # smoke translations are 32 px; references were brought to 32 px
    assert np.isfinite(table["value"]).all()
    for metric in ("fid", "lpips", "artfid", "gram_shift"):
        row = t.loc[("cyclegan", metric)]
        assert row["ci_low"] <= row["value"] <= row["ci_high"], (metric, row)
    assert t.loc[("cyclegan", "lpips"), "value"] > 0
    assert t.loc[("identity", "lpips"), "value"] == 0
    assert "subset_size=" in t.loc[("cyclegan", "kid"), "details"]
    # the floor (real Renaissance vs real Renaissance) is below the untranslated ukiyo-e prints
    assert t.loc[("real-target", "fid"), "value"] < t.loc[("identity", "fid"), "value"]
    assert "inception-fid" in t.loc[("cyclegan", "fid"), "network"]
    assert t.loc[("cyclegan", "fid"), "weights_sha256"] == weights.sha256("inception-fid")

    md = (run_dir / "evaluation-ukiyo_e-to-renaissance-test.md").read_text()
    assert "ArtFID" in md and "real-target" in md and "logits" in md
    record = json.loads((run_dir / "evaluation-ukiyo_e-to-renaissance-test.record.json").read_text())
    assert record["kind"] == "evaluation" and record["weights"]["inception-fid"] == weights.sha256(
        "inception-fid"
    )

    # a second evaluation never overwrites: new names; its translations go to a new folder too
    first_csv = csv.read_bytes()
    assert main(argv + ["--no-attribution"]) == 0
    assert csv.read_bytes() == first_csv
    second = pd.read_csv(run_dir / "evaluation-ukiyo_e-to-renaissance-test-2.csv")
    assert "culture_share_target" not in set(second["metric"])
    assert len(list((run_dir / "translations").iterdir())) == 2
    # same checkpoint, same seed: deterministic translations and metrics
    attribution = ["culture_share_target", "culture_share_unknown", "gram_shift"]
    pd.testing.assert_frame_equal(
        table[~table["metric"].isin(attribution)].reset_index(drop=True),
        second.reset_index(drop=True),
    )
    # the negative controls are in the table and rated worse than doing nothing by FID and KID
    for control in ("noise", "pixel-shuffled"):
        assert t.loc[(control, "fid_minus_identity"), "ci_low"] > 0, control
        assert t.loc[(control, "kid_minus_identity"), "value"] > 0, control
        assert t.loc[(control, "culture_share_target"), "value"] <= 0.1, control
