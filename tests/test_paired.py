"""Paired FID/KID differences (culturalstyle.metrics.paired) against independent computations."""

from __future__ import annotations

import numpy as np
import pytest

from culturalstyle import metrics
from culturalstyle.metrics.paired import fid_difference, kid_difference, polynomial_mmd2


def test_isometric_projection_of_three_sets_keeps_every_fid_between_resamples():
    rng = np.random.default_rng(0)
    a, b, r = (rng.normal(size=(12, 40)) + shift for shift in (0.0, 0.5, 1.0))
    pa, pb, pr = metrics.isometric_projection(a, b, r)
    assert pa.shape[1] <= 35
    rows = rng.integers(0, 12, 12)
    assert metrics.fid_from_features(pa[rows], pr) == pytest.approx(
        metrics.fid_from_features(a[rows], r), rel=1e-6
    )
    assert metrics.fid_from_features(pb, pr[rows]) == pytest.approx(
        metrics.fid_from_features(b, r[rows]), rel=1e-6
    )


def test_fid_difference_value_is_the_difference_and_seeded():
    rng = np.random.default_rng(1)
    ref = rng.normal(size=(30, 8))
    a = rng.normal(size=(20, 8))
    b = rng.normal(size=(20, 8)) + 1.5
    d = fid_difference(a, b, ref, n_bootstrap=100, seed=3)
    expected = metrics.fid_from_features(a, ref) - metrics.fid_from_features(b, ref)
    assert d.value == pytest.approx(expected, rel=1e-9)
    assert d.ci_high < 0 and d.ci_low < d.ci_high
    again = fid_difference(a, b, ref, n_bootstrap=100, seed=3)
    assert np.array_equal(d.replicates, again.replicates)


def test_fid_difference_of_a_set_with_itself_is_exactly_zero_in_every_replicate():
    rng = np.random.default_rng(2)
    a, ref = rng.normal(size=(10, 6)), rng.normal(size=(10, 6))
    d = fid_difference(a, a.copy(), ref, n_bootstrap=50)
    assert d.value == 0 and np.all(d.replicates == 0)


def test_fid_difference_interval_covers_zero_for_two_draws_of_one_distribution():
    rng = np.random.default_rng(4)
    ref = rng.normal(size=(40, 5))
    a, b = rng.normal(size=(40, 5)), rng.normal(size=(40, 5))
    d = fid_difference(a, b, ref, n_bootstrap=300)
    assert d.ci_low < 0 < d.ci_high


def test_fid_difference_refuses_unpaired_sets():
    with pytest.raises(ValueError, match="same shape"):
        fid_difference(np.zeros((5, 3)), np.zeros((4, 3)), np.zeros((5, 3)))


def test_polynomial_mmd2_equals_torch_fidelity_kid_on_full_sets():
    import torch
    from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, kid_features_to_metric

    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(10, 7)), rng.normal(size=(10, 7)) + 0.3
    tf = kid_features_to_metric(
        torch.from_numpy(x), torch.from_numpy(y), kid_subsets=1, kid_subset_size=10, verbose=False
    )[KEY_METRIC_KID_MEAN]
    assert polynomial_mmd2(x, y) == pytest.approx(tf, rel=1e-6)


def test_kid_difference_sign_and_zero():
    rng = np.random.default_rng(6)
    ref = rng.normal(size=(30, 6))
    near, far = rng.normal(size=(24, 6)), rng.normal(size=(24, 6)) + 2.0
    d = kid_difference(near, far, ref, subsets=100, seed=1)
    assert d.ci_high < 0
    same = kid_difference(near, near.copy(), ref, subsets=20)
    assert same.value == 0 and np.all(same.replicates == 0)
