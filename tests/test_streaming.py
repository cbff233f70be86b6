"""Mergeable moments (per-part merged == one pass), FID statistics, chunked randomized PCA."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from culturalstyle.streaming import Moments, array_chunks, randomized_pca, stratified_indices


@pytest.mark.parametrize("full", [False, True])
def test_parts_merged_equal_one_pass(full):
    rng = np.random.default_rng(0)
    x = rng.normal(loc=1e3, scale=2.0, size=(301, 7))  # large mean: a naive sum-of-squares would cancel
    one = Moments.of(x, full=full)
    cuts = [0, 1, 50, 51, 200, 301]
    parts = [Moments.of(x[a:b], full=full) for a, b in zip(cuts[:-1], cuts[1:])]
    merged = Moments.merged(parts)
    assert merged.n == one.n == 301
    np.testing.assert_allclose(merged.mean, x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(merged.variance(0), x.var(0), rtol=1e-9)
    np.testing.assert_allclose(merged.variance(1), x.var(0, ddof=1), rtol=1e-9)
    np.testing.assert_allclose(merged.m2, one.m2, rtol=1e-9)
    if full:
        np.testing.assert_allclose(merged.covariance(), np.cov(x, rowvar=False), rtol=1e-9)
    # merging is order-independent up to rounding; an empty part changes nothing
    reverse = Moments.merged(parts[::-1] + [Moments(7, full)])
    np.testing.assert_allclose(reverse.mean, merged.mean, rtol=1e-12)
    np.testing.assert_allclose(reverse.m2, merged.m2, rtol=1e-9)
    # incremental updates equal the batch
    incremental = Moments(7, full)
    for row in x:
        incremental.update(row[None])
    np.testing.assert_allclose(incremental.m2, one.m2, rtol=1e-9)


def test_fid_statistics_equal_torch_fidelity_and_survive_a_round_trip():
    from torch_fidelity.metric_fid import fid_features_to_statistics

    rng = np.random.default_rng(1)
    features = rng.gamma(2.0, size=(120, 16)).astype(np.float32)
    reference = fid_features_to_statistics(torch.from_numpy(features.astype(np.float64)))
    parts = [Moments.of(features[i : i + 37], full=True) for i in range(0, 120, 37)]
    stats = Moments.merged(parts).fid_statistics()
    np.testing.assert_allclose(stats["mu"], reference["mu"], rtol=1e-10)
    np.testing.assert_allclose(stats["sigma"], reference["sigma"], rtol=1e-9, atol=1e-12)
    back = Moments.from_arrays(Moments.merged(parts).to_arrays("x."), "x.")
    np.testing.assert_array_equal(back.m2, Moments.merged(parts).m2)
    assert back.full and back.n == 120


def test_moments_bad_input():
    m = Moments(3)
    with pytest.raises(ValueError, match="rows of 3 values"):
        m.update(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="cannot merge"):
        m.merge(Moments(3, full=True))
    with pytest.raises(ValueError, match="needs more than 1 rows"):
        Moments.of(np.zeros((1, 3))).variance(ddof=1)
    with pytest.raises(ValueError, match="covariance needs"):
        Moments.of(np.zeros((4, 3))).covariance()


def test_randomized_pca_over_chunks_matches_exact_pca():
    from culturalstyle.embedding import pca_scores

    rng = np.random.default_rng(2)
    # low-rank signal plus noise: the leading components are well separated
    x = rng.normal(size=(500, 4)) @ (rng.normal(size=(4, 300)) * 5) + rng.normal(size=(500, 300))
    x += 10.0  # not centred: randomized_pca centres with the given mean
    moments = Moments.of(x)
    total = float(moments.variance(ddof=1).sum())
    result = randomized_pca(
        array_chunks(x, 64), len(x), x.shape[1], 4, mean=moments.mean, total_variance=total, seed=0
    )
    exact, ratio = pca_scores(x, 4)
    np.testing.assert_allclose(result.scores, exact, rtol=1e-6, atol=1e-6 * np.abs(exact).max())
    np.testing.assert_allclose(result.explained_variance_ratio, ratio, rtol=1e-6)
    # deterministic for a seed
    again = randomized_pca(array_chunks(x, 100), len(x), x.shape[1], 4, mean=moments.mean, seed=0)
    np.testing.assert_allclose(again.scores, result.scores, rtol=1e-8, atol=1e-8)
    with pytest.raises(ValueError, match="gave 500 rows, expected 501"):
        randomized_pca(array_chunks(x, 64), 501, x.shape[1], 4)


def test_stratified_indices_caps_every_group_and_is_seeded():
    labels = ["a"] * 100 + ["b"] * 5 + ["c"] * 40
    idx = stratified_indices(labels, 20, seed=3)
    chosen = np.asarray(labels)[idx]
    assert (chosen == "a").sum() == 20 and (chosen == "b").sum() == 5 and (chosen == "c").sum() == 20
    np.testing.assert_array_equal(idx, stratified_indices(labels, 20, seed=3))
    assert not np.array_equal(idx, stratified_indices(labels, 20, seed=4))
    assert np.all(np.diff(idx) > 0)


def test_metrics_fid_statistics_use_the_mergeable_moments_and_equal_torch_fidelity():
    from torch_fidelity.metric_fid import fid_features_to_statistics

    from culturalstyle.metrics import fid_statistics

    rng = np.random.default_rng(9)
    features = rng.gamma(2.0, size=(300, 24)).astype(np.float32)
    reference = fid_features_to_statistics(torch.from_numpy(features.astype(np.float64)))
    for chunk in (7, 4096):  # several chunks, or one
        stats = fid_statistics(features, chunk=chunk)
        np.testing.assert_allclose(stats["mu"], reference["mu"], rtol=1e-10)
        np.testing.assert_allclose(stats["sigma"], reference["sigma"], rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="N >= 2"):
        fid_statistics(features[:1])
