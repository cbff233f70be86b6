"""benchmarks/translator_quality.py at a tiny budget (smoke preset, a random stand-in for Inception)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_translator_quality_benchmark_writes_its_table(tmp_path):
    out = tmp_path / "quality.json"
    cmd = [sys.executable, str(REPO / "benchmarks" / "translator_quality.py"), "--preset", "smoke"]
    cmd += ["--budget", "0.3", "--eval-every", "4", "--extractor", "random-test", "--n-bootstrap", "10"]
    cmd += ["--kid-subsets", "5", "--ratio-steps", "1", "--threads", "1", "--out", str(out)]
    env = os.environ.copy() | {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["budget_s"] == 0.3 and result["clock"] == "cpu" and result["extractor"] == "random-test"
    assert [m["method"] for m in result["methods"]] == ["cyclegan", "cut", "fastcut"]
    for m in result["methods"]:
        assert m["steps"] >= 1 and m["seconds_per_step"] > 0 and m["peak_rss_mib"] > 0
        best, last = m["checkpoints"]["best"], m["checkpoints"]["last"]
        assert best["step"] <= last["step"] == m["steps"]
        for row in (best, last):
            assert math.isfinite(row["fid"]) and row["n_generated"] == 18 and row["n_reference"] == 22
            assert row["kid_ci"][0] <= row["kid"] <= row["kid_ci"][1]
            diff = row["fid_minus_identity"]
            assert diff["ci95"][0] <= diff["ci95"][1] and diff["n_bootstrap"] == 10
        assert min(e["fid"] for e in m["evaluations"]) == pytest.approx(
            next(e["fid"] for e in m["evaluations"] if e["step"] == best["step"]), rel=1e-6
        )
    assert {"identity", "real_target"} <= set(result["baselines"])
    assert result["baselines"]["identity"]["n_generated"] == 18
    ratio = result["step_ratio"]
    assert ratio["fastcut_over_cyclegan_median"] > 0 and set(ratio["seconds_per_step"]) == {
        "cyclegan",
        "fastcut",
    }
    # results are never overwritten
    again = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env, timeout=600)
    assert again.returncode != 0 and "exists" in again.stderr
