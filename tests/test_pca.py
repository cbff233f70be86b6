"""One PCA sign convention for every map of the package (scikit-learn's)."""

from __future__ import annotations

import numpy as np

from culturalstyle.pca import orient


def test_orient_makes_each_components_largest_loading_positive():
    components = np.array([[0.1, 0.9], [-0.8, 0.2], [0.3, -0.1]])  # D x k: largest loadings -0.8 and 0.9
    scores = np.array([[1.0, 2.0], [-3.0, 4.0]])
    s, c = orient(scores, components)
    np.testing.assert_array_equal(c[:, 0], -components[:, 0])  # flipped
    np.testing.assert_array_equal(c[:, 1], components[:, 1])  # kept
    np.testing.assert_array_equal(s, scores * [-1.0, 1.0])  # scores follow their components
    zero_s, zero_c = orient(scores, np.zeros((3, 2)))
    np.testing.assert_array_equal(zero_s, scores)  # a zero component keeps its scores
