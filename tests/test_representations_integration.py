"""Real weights on the bundled sample at 64 px: conformal coverage per culture, unknown rates, and the culture
attribution's negative controls (noise, pixel-shuffled art) against its positive control (real target art)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import require_weights
from PIL import Image

from culturalstyle import metrics, study_corpus
from culturalstyle import representations as R


@pytest.mark.integration
@pytest.mark.slow
def test_conformal_sets_on_the_sample_cover_each_culture_at_alpha_0_1(capsys):
    require_weights("vgg19-gatys")
    corp = study_corpus.load_corpus(None)
    spaces = R.embed_backbones(corp, ["vgg19-gram"], size=64, batch_size=16)
    comparison = R.compare_backbones(spaces, corp.df, n_bootstrap=500)
    coverage = comparison.tables["conformal_coverage"].set_index("culture")
    unknown = comparison.tables["conformal_unknown"].set_index("held_out")
    with capsys.disabled():
        print(
            "\n"
            + coverage[["n", "n_artists", "coverage", "coverage_ci_low", "coverage_ci_high", "mean_set_size"]]
            .round(3)
            .to_string()
        )
        print(unknown[["n", "unknown_rate", "ci_low", "ci_high", "most_common_set"]].round(3).to_string())
    # leave-artist-out, alpha = 0.1: within 0.05 of 0.9 for every culture (all have n >= 37 here)
    assert (coverage["n"] >= 37).all()
    assert ((coverage["coverage"] - 0.9).abs() <= 0.05).all(), coverage["coverage"]
    assert set(unknown.index) == set(corp.cultures) and unknown["unknown_rate"].between(0, 1).all()
    assert coverage.loc["all", "mean_set_size"] < len(corp.cultures)  # the sets say something


@pytest.mark.integration
@pytest.mark.slow
def test_attribution_negative_controls_are_not_the_target(tmp_path):
    require_weights("vgg19-gatys")
    from collections import Counter

    from culturalstyle.attribution import CultureAttribution

    corpus = study_corpus.load_corpus(None)
    rng = np.random.default_rng(0)
    noise, shuffled = tmp_path / "noise", tmp_path / "shuffled"
    noise.mkdir()
    shuffled.mkdir()
    for i in range(20):
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(noise / f"{i}.png")
    target = corpus.filter(culture="renaissance", split="test")
    for i, path in enumerate(target.paths()):
        pixels = np.asarray(Image.open(path).convert("RGB").resize((96, 96)))
        Image.fromarray(rng.permutation(pixels.reshape(-1, 3)).reshape(pixels.shape)).save(
            shuffled / f"{i}.png"
        )
    config = metrics.EvaluationConfig(n_bootstrap=0)
    attribution = CultureAttribution(
        corpus, source="ukiyo_e", target="renaissance", split="test", size=64, config=config
    )
    for control in (sorted(noise.iterdir()), sorted(shuffled.iterdir())):
        sets = attribution.sets(control)
        assert sum(s == "renaissance" for s in sets) / len(sets) <= 0.1, Counter(sets)
    noise_sets = attribution.sets(sorted(noise.iterdir()))
    assert sum(s == "" for s in noise_sets) / len(noise_sets) >= 0.9, Counter(noise_sets)  # "none of these"
    # positive control: unseen real Renaissance works mostly keep Renaissance in their set
    real = attribution.sets(target)
    assert sum("renaissance" in s.split("|") for s in real) / len(real) >= 0.7, Counter(real)
