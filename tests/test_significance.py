"""Permutation counts that survive Holm correction, artist bootstrap, and paired classifier tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from culturalstyle import significance as sig
from culturalstyle import stats


def test_permutations_for_holm_is_the_smallest_count_that_can_reject():
    for m in (1, 2, 3, 6, 10, 15):
        n = sig.permutations_for_holm(m)
        assert m / (n + 1) < 0.05 <= m / n  # n reaches p_holm < 0.05, n - 1 does not
        assert sig.holm_floor(m, n) < 0.05 <= sig.holm_floor(m, n - 1)
    assert sig.permutations_for_holm(6) == 120 and sig.permutations_for_holm(6, 0.01) == 600
    assert sig.enough_permutations(99, 6) == 120 and sig.enough_permutations(999, 6) == 999
    assert sig.enough_permutations(None, 1) == 20
    with pytest.raises(ValueError):
        sig.permutations_for_holm(0)
    with pytest.raises(ValueError):
        sig.permutations_for_holm(3, 1.5)


def extreme_cultures(n_cultures=4, per=12, seed=0):
    """Perfectly separated cultures: every permutation statistic is below the observed one."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(0, 0.1, (per, 5)) + 10 * np.eye(5)[i] for i in range(n_cultures)])
    return x, np.repeat([f"c{i}" for i in range(n_cultures)], per)


def test_holm_adjusted_distances_reach_significance_only_with_enough_permutations():
    x, y = extreme_cultures()
    m = 6  # culture pairs
    too_few = stats.between_culture_distances(x, y, n_permutations=99, n_bootstrap=10)
    assert (too_few["p_value"] == 0.01).all()  # as extreme as it gets ...
    assert (too_few["p_holm"] >= 0.05).all()  # ... and still never significant after Holm
    assert np.allclose(too_few["p_holm_floor"], m / 100) and np.allclose(too_few["p_floor"], 0.01)
    auto = stats.between_culture_distances(x, y, n_permutations=None, n_bootstrap=10)
    assert (auto["n_permutations"] == sig.permutations_for_holm(m)).all()
    assert (auto["p_holm"] < 0.05).all() and (auto["p_holm"] == auto["p_holm_floor"]).all()
    # the negative control: random labels stay non-significant with the same count
    shuffled = np.random.default_rng(1).permutation(y)
    null = stats.between_culture_distances(x, shuffled, n_permutations=None, n_bootstrap=10)
    assert (null["p_holm"] > 0.05).all()


def test_compare_style_space_auto_permutations_and_paired_colour_test():
    rng = np.random.default_rng(3)
    x, y = extreme_cultures(3, 10)
    meta = pd.DataFrame(
        {
            "image_id": [f"i{i}" for i in range(len(y))],
            "culture": y,
            "artist": [f"{c}-{i % 5}" for i, c in enumerate(y)],
        }
    )
    colour = rng.normal(size=(len(y), 4))  # uninformative "colour" features
    result = stats.compare_style_space(
        {"l1": x[:, :3], "l2": x[:, 3:]},
        meta,
        baseline=colour,
        n_permutations=None,
        n_bootstrap=200,
        n_splits=3,
    )
    distances = result.tables["distances"]
    assert (distances["n_permutations"] == sig.permutations_for_holm(3)).all()
    paired = result.tables["paired_tests"].set_index("classifier")
    assert set(paired.index) == {"logreg", "knn"} and (paired["feature"] == "concat").all()
    row = paired.loc["logreg"]
    assert row["reference"] == "colour_baseline" and row["accuracy"] == 1.0
    assert row["difference"] == pytest.approx(row["accuracy"] - row["reference_accuracy"])
    assert row["ci_low"] > 0 and row["bootstrap_p"] < 0.05 and row["mcnemar_p"] < 0.05


def test_artist_bootstrap_weights_resample_whole_artists():
    groups = np.array(["a", "a", "a", "b", "c", "c"])
    w = sig.artist_bootstrap_weights(groups, 500, seed=0)
    assert w.shape == (500, 6)
    # images of one artist always carry the same weight, and the three artists are drawn three times
    assert (w[:, 0] == w[:, 1]).all() and (w[:, 4] == w[:, 5]).all()
    np.testing.assert_array_equal(w[:, [0, 3, 4]].sum(axis=1), 3)
    np.testing.assert_array_equal(w, sig.artist_bootstrap_weights(groups, 500, seed=0))  # seeded


def test_artist_bootstrap_is_wider_than_an_image_bootstrap_for_clustered_data():
    # 10 artists, 20 works each; an artist's works are all right or all wrong
    groups = np.repeat([f"a{i}" for i in range(10)], 20)
    correct = np.repeat([1, 1, 1, 1, 1, 1, 0, 0, 0, 0], 20).astype(float)
    mean, low, high = sig.artist_bootstrap_mean(correct, groups, n_bootstrap=2000, seed=0)
    _, ilow, ihigh = sig.artist_bootstrap_mean(correct, np.arange(200).astype(str), n_bootstrap=2000, seed=0)
    assert mean == 0.6 and low < 0.45 and high > 0.75  # ~ 0.6 +- 1.96 * sqrt(.24 / 10)
    assert (high - low) > 2.5 * (ihigh - ilow)
    assert sig.artist_bootstrap_mean(np.ones(5), list("abcde"), n_bootstrap=50) == (1.0, 1.0, 1.0)


def test_balanced_accuracy_replicates_match_sklearn_on_unit_weights():
    from sklearn.metrics import balanced_accuracy_score

    y = np.array(list("aaaabbbccd"))
    predicted = np.array(list("aaabbbaccc"))
    correct = (y == predicted).astype(float)
    value = sig.balanced_accuracy_replicates(correct, y, np.ones((1, len(y))))[0]
    assert value == pytest.approx(balanced_accuracy_score(y, predicted))


def test_mcnemar_exact_matches_the_binomial_test():
    a = np.array([1] * 8 + [0] * 2 + [1] * 5, bool)
    b = np.array([0] * 8 + [1] * 2 + [1] * 5, bool)
    out = sig.mcnemar_exact(a, b)
    assert (out["n_only_a_correct"], out["n_only_b_correct"]) == (8, 2)
    assert out["mcnemar_p"] == pytest.approx(2 * (1 + 10 + 45) / 1024)
    assert out["mcnemar_p"] == pytest.approx(binomtest(8, 10, 0.5).pvalue)
    assert sig.mcnemar_exact(a, a)["mcnemar_p"] == 1.0
    with pytest.raises(ValueError, match="same images"):
        sig.mcnemar_exact(a, b[:-1])


def test_paired_bootstrap_difference_detects_a_real_difference_only():
    rng = np.random.default_rng(0)
    groups = np.repeat([f"a{i}" for i in range(30)], 5)
    base = rng.random(150) < 0.6
    better = base | (rng.random(150) < 0.5)
    same = sig.paired_bootstrap_difference(base, base, groups, n_bootstrap=500)
    assert same["difference"] == 0 and same["bootstrap_p"] == 1.0
    diff = sig.paired_bootstrap_difference(better, base, groups, n_bootstrap=500)
    assert diff["difference"] == pytest.approx(better.mean() - base.mean())
    assert diff["ci_low"] > 0 and diff["bootstrap_p"] <= 2 / 501
    # a label-free negative control: two independent coin flips of equal accuracy are not different
    coin_a, coin_b = rng.random(150) < 0.5, rng.random(150) < 0.5
    assert sig.paired_bootstrap_difference(coin_a, coin_b, groups, n_bootstrap=500)["bootstrap_p"] > 0.05


def test_paired_accuracy_tests_table_and_bad_input():
    ids = [f"i{i}" for i in range(6)]
    truth = list("aabbcc")
    rows = []
    for feature, predicted in (("ref", list("aabbca")), ("x", list("aabbcc")), ("y", list("abbacc"))):
        rows.append(
            pd.DataFrame(
                {
                    "feature": feature,
                    "classifier": "logreg",
                    "image_id": ids,
                    "culture": truth,
                    "artist": ids,
                    "predicted": predicted,
                }
            )
        )
    predictions = pd.concat(rows, ignore_index=True)
    table = sig.paired_accuracy_tests(predictions, "ref", n_bootstrap=100).set_index("feature")
    assert list(table.index) == ["x", "y"]
    assert table.loc["x", "difference"] == pytest.approx(1 - 5 / 6)
    assert table.loc["y", "n_only_reference_correct"] == 2 and table.loc["y", "n_only_feature_correct"] == 1
    np.testing.assert_allclose(table["bootstrap_p_holm"], stats.holm(table["bootstrap_p"]))
    with pytest.raises(ValueError, match="reference 'nope'"):
        sig.paired_accuracy_tests(predictions, "nope")
    broken = predictions[~((predictions["feature"] == "x") & (predictions["image_id"] == "i0"))]
    with pytest.raises(ValueError, match="same images"):
        sig.paired_accuracy_tests(broken, "ref", ["x"])
