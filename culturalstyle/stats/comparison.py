"""The whole style-space comparison in one call (used by `culturalstyle compare` and the notebooks)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..significance import paired_accuracy_tests
from .classification import (
    METHODS,
    ClassificationResult,
    classify_by_layer,
    combine_results,
    leave_artist_out,
)
from .clusters import cluster_quality
from .distances import (
    between_culture_distances,
    coordinates_from_kernel,
    gram_frobenius_vectors,
    isometric_coordinates,
    linear_kernel,
    mean_gram_distances,
    within_culture_spread,
)
from .neighbours import nearest_neighbours, neighbour_culture_rates


@dataclass
class StyleSpaceComparison:
    """Tidy tables of a style-space comparison, plus the classification result (for confusion figures)."""

    tables: dict[str, pd.DataFrame]
    classification: ClassificationResult


def compare_style_space(
    blocks: dict[str, np.ndarray],
    meta: pd.DataFrame,
    *,
    baseline: np.ndarray | None = None,
    grams: dict[str, np.ndarray] | None = None,
    seed: int = 0,
    n_permutations: int | None = 999,
    n_bootstrap: int = 1000,
    n_splits: int = 5,
    k: int = 5,
    methods: Sequence[str] = METHODS,
) -> StyleSpaceComparison:
    """All cross-culture statistics for per-layer embedding blocks (StyleEmbedding.transform_layers).

    `meta` needs image_id, culture and artist columns in the row order of the blocks. The concatenation of the
    blocks is "concat"; the optional colour/texture `baseline` (standardised) is compared in the same tables;
    `grams` (layer -> Gram matrices or upper triangles) adds distances between mean Gram matrices. The blocks
    are already standardised and weighted, so the classifiers do not re-standardise (that would undo the
    layer weights). With a baseline, `paired_tests` answers "better than colour alone?" on the same folds and
    images (McNemar and a paired artist bootstrap of the accuracy difference concat - colour_baseline).
    `n_permutations=None` chooses enough permutations for Holm over the culture pairs to reach p < 0.05.
    """
    cultures = meta["culture"].astype(str).to_numpy()
    artists = meta["artist"].to_numpy()
    ids = meta["image_id"].astype(str).to_numpy()
    # Gram blocks have up to 131k columns but only N rows: replace each by exact N-dim isometric coordinates
    # (same distances and inner products), which makes every statistic below orders of magnitude cheaper.
    kernels = {name: linear_kernel(v) for name, v in blocks.items()}
    blocks = {name: coordinates_from_kernel(k) for name, k in kernels.items()}
    concat = coordinates_from_kernel(sum(kernels.values()))
    spaces = {"concat": concat}
    if baseline is not None:
        spaces["colour_baseline"] = np.asarray(baseline, dtype=np.float64)
    common = {"seed": seed, "n_bootstrap": n_bootstrap}
    classify = {**common, "n_splits": n_splits, "methods": methods, "image_ids": ids}
    classify["classifier_kwargs"] = {"standardize": False}
    results = [classify_by_layer(blocks, cultures, artists, concat=False, **classify)]
    results.append(leave_artist_out(concat, cultures, artists, feature="concat", **classify))
    if baseline is not None:
        results.append(
            leave_artist_out(
                spaces["colour_baseline"], cultures, artists, feature="colour_baseline", **classify
            )
        )
    classification = combine_results(results)

    quality, distances, spread = [], [], []
    for name, x in spaces.items():
        quality.append(cluster_quality(x, cultures, seed=seed, feature=name))
        for metric in ("energy", "mmd"):
            distances.append(
                between_culture_distances(
                    x, cultures, metric=metric, n_permutations=n_permutations, feature=name, **common
                )
            )
        spread.append(within_culture_spread(x, cultures, feature=name, **common))
    tables = {
        "cluster_quality": pd.concat(quality, ignore_index=True),
        "classification": classification.table,
        "confusion": classification.confusion_long(),
        "predictions": classification.predictions,
        "distances": pd.concat(distances, ignore_index=True),
        "spread": pd.concat(spread, ignore_index=True),
    }
    if baseline is not None:
        tables["paired_tests"] = pd.concat(
            [
                paired_accuracy_tests(
                    classification.predictions,
                    "colour_baseline",
                    ["concat"],
                    classifier=method,
                    n_bootstrap=n_bootstrap,
                    seed=seed,
                )
                for method in methods
            ],
            ignore_index=True,
        )
    if grams:
        frobenius = {layer: isometric_coordinates(gram_frobenius_vectors(v)) for layer, v in grams.items()}
        tables["mean_gram_distances"] = mean_gram_distances(
            frobenius, cultures, n_permutations=n_permutations, frobenius_vectors=True, **common
        )
    neighbours = nearest_neighbours(concat, ids, cultures, artists=artists, k=k)
    tables["neighbours"] = neighbours
    tables["neighbour_rates"] = neighbour_culture_rates(neighbours)
    return StyleSpaceComparison(tables, classification)
