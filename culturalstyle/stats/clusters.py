"""Cluster quality of the culture labels in style space (silhouette, Davies-Bouldin, ARI/NMI of k-means)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .common import _as_matrix, _labels


def cluster_quality(
    x: Any, cultures: Sequence[str], *, seed: int = 0, n_init: int = 10, feature: str = "embedding"
) -> pd.DataFrame:
    """How well culture labels form clusters: silhouette and Davies-Bouldin of the labels, ARI/NMI of k-means.

    k-means uses k = number of cultures. Silhouette is in [-1, 1] (higher = better separated); Davies-Bouldin
    is >= 0 (lower = better); ARI/NMI compare the unsupervised clusters with the cultures.
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import (
        adjusted_rand_score,
        davies_bouldin_score,
        normalized_mutual_info_score,
        silhouette_score,
    )

    x = _as_matrix(x)
    labels = _labels(cultures, "cultures", len(x))
    k = len(np.unique(labels))
    if k < 2 or k >= len(x):
        raise ValueError(
            f"cluster quality needs 2 <= cultures < images; got {k} cultures and {len(x)} images"
        )
    clusters = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit_predict(x)
    counts = pd.Series(labels).value_counts()
    return pd.DataFrame(
        [
            {
                "feature": feature,
                "n": len(x),
                "n_cultures": k,
                "n_min_culture": int(counts.min()),
                "silhouette": float(silhouette_score(x, labels)),
                "davies_bouldin": float(davies_bouldin_score(x, labels)),
                "kmeans_ari": float(adjusted_rand_score(labels, clusters)),
                "kmeans_nmi": float(normalized_mutual_info_score(labels, clusters)),
                "seed": seed,
            }
        ]
    )
