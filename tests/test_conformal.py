"""Conformal culture sets: quantiles, per-culture coverage, artist-disjoint calibration, unknown cultures."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from culturalstyle import conformal as C


def clustered_cultures(n_cultures=4, artists=8, works=10, seed=0, spread=4.0):
    """Gaussian cultures in 10-D; every artist has an offset shared by all their works."""
    rng = np.random.default_rng(seed)
    x, y, a = [], [], []
    for c in range(n_cultures):
        for art in range(artists):
            offset = rng.normal(0, 0.5, 10)
            for _ in range(works):
                x.append(spread * np.eye(10)[c] + offset + rng.normal(0, 1, 10))
                y.append(f"c{c}")
                a.append(f"c{c}-artist{art}")
    return np.array(x), np.array(y), np.array(a)


def test_conformal_quantile_rank():
    scores = np.arange(1, 20, dtype=float)  # 19 scores: rank ceil(20 * 0.9) = 18
    assert C.conformal_quantile(scores, 0.1) == 18.0
    assert C.conformal_quantile(np.arange(8.0), 0.1) == math.inf  # 8 < 9: no finite threshold
    assert C.conformal_quantile(np.arange(9.0), 0.1) == 8.0


def test_knn_scores_match_brute_force():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 3))
    y = np.array(list("aaaaabbbbbbb"))
    scorer = C._KNNScorer(k=2).fit(x, y, ["a", "b"])
    query = rng.normal(size=(4, 3))
    got = scorer.scores(query)
    for i, q in enumerate(query):
        for j, c in enumerate("ab"):
            d = np.sort(np.linalg.norm(x[y == c] - q, axis=1))[:2]
            assert got[i, j] == pytest.approx(d.mean())


@pytest.mark.parametrize("score", ["knn", "classifier"])
@pytest.mark.parametrize("method", ["cross", "split"])
def test_leave_artist_out_coverage_is_near_the_target(score, method):
    # split conformal calibrates on one artist-grouped fold: it needs many artists to be stable
    x, y, a = clustered_cultures(artists=40, works=3, seed=1)
    config = C.ConformalConfig(alpha=0.1, score=score, method=method)
    sets = C.cross_validated_sets(x, y, a, config=config, seed=0)
    table = C.coverage_table(sets, n_bootstrap=200).set_index("culture")
    assert abs(table.loc["all", "coverage"] - 0.9) <= 0.05
    assert (table["coverage_ci_low"] <= table["coverage"]).all() and (
        table["coverage"] <= table["coverage_ci_high"]
    ).all()
    assert table.loc["all", "n"] == len(x) and table.loc["c0", "n_artists"] == 40
    assert (
        sets["covered"] == [c in C.parse_set(s) for c, s in zip(sets["culture"], sets["prediction_set"])]
    ).all()


def test_calibration_never_shares_an_artist_with_the_fitted_scorer(monkeypatch):
    x, y, a = clustered_cultures(n_cultures=2, artists=5, works=4)
    seen = []
    original = C._KNNScorer.fit

    def spy(self, xt, yt, classes):
        seen.append({tuple(row) for row in np.round(xt, 6)})
        return original(self, xt, yt, classes)

    monkeypatch.setattr(C._KNNScorer, "fit", spy)
    folds = C._folds(y, a, 5, 0)
    C.ConformalCultures(n_folds=5).fit(x, y, a)
    for (train, held), fitted in zip(folds, seen):  # the calibration fits, in fold order
        held_artists, train_artists = set(a[held]), set(a[train])
        assert not held_artists & train_artists
        assert fitted == {tuple(row) for row in np.round(x[train], 6)}


def test_unknown_culture_gets_the_empty_set_and_noise_too():
    x, y, a = clustered_cultures(spread=8.0, seed=2)
    summary, sets = C.leave_one_culture_out(x, y, a, n_bootstrap=100)
    assert list(summary["held_out"]) == ["c0", "c1", "c2", "c3"]
    assert (summary["unknown_rate"] >= 0.8).all()  # well separated: an unseen culture is "none of these"
    assert (summary["n"] == 80).all() and set(sets["held_out"]) == set(summary["held_out"])
    model = C.ConformalCultures().fit(x, y, a)
    noise = np.random.default_rng(0).normal(0, 1, (50, 10)) * 10 + 30
    assert all(label == "" for label in model.predict_labels(noise))
    # the positive control: known cultures of unseen artists are mostly covered, rarely empty
    known = C.cross_validated_sets(x, y, a)
    assert known["covered"].mean() >= 0.85 and known["empty"].mean() <= 0.1


def test_overlapping_cultures_give_larger_sets():
    far = C.cross_validated_sets(*clustered_cultures(spread=8.0))
    near = C.cross_validated_sets(*clustered_cultures(spread=0.5))
    assert near["set_size"].mean() > far["set_size"].mean() + 1


def test_few_calibration_images_mean_an_infinite_threshold():
    x, y, a = clustered_cultures(n_cultures=2, artists=4, works=2)  # 8 images per culture, 4 per fold pair
    model = C.ConformalCultures(alpha=0.1).fit(x, y, a)
    frame = model.thresholds_frame()
    assert (frame["n_calibration"] == 8).all() and np.isinf(frame["threshold"]).all()
    assert model.predict_sets(np.full((3, 10), 100.0)).all()  # too few to ever exclude a culture
    assert C.set_labels(np.array([[True, False], [False, False]]), ["a", "b"]) == ["a", ""]
    assert C.parse_set(float("nan")) == set() and C.parse_set("a|b") == {"a", "b"}


def test_bad_input():
    with pytest.raises(ValueError, match="alpha"):
        C.ConformalCultures(alpha=1.5)
    with pytest.raises(ValueError, match="score"):
        C.ConformalCultures(score="magic")
    with pytest.raises(ValueError, match="calibration method"):
        C.ConformalCultures(method="full")
    with pytest.raises(RuntimeError, match="not fitted"):
        C.ConformalCultures().predict_sets(np.zeros((1, 2)))
    x, y, _ = clustered_cultures(n_cultures=2, artists=2, works=3)
    with pytest.raises(ValueError, match="at least 2 artists"):
        C.ConformalCultures().fit(x, y, ["same"] * len(y))
    with pytest.raises(ValueError, match="NaN"):
        C.ConformalCultures().fit(np.full((12, 10), np.nan), y, [f"a{i}" for i in range(12)])


def test_deterministic_with_a_seed():
    x, y, a = clustered_cultures(seed=3)
    first = C.cross_validated_sets(x, y, a, seed=4)
    pd.testing.assert_frame_equal(first, C.cross_validated_sets(x, y, a, seed=4))
