"""Significance tools shared by the style-space statistics: permutation counts that can reject after
multiple-testing correction, artist (cluster) bootstrap, and paired tests of two classifiers.

Why these exist:
- A permutation p-value is at least 1 / (n_permutations + 1). After Holm correction over m tests the
  smallest attainable adjusted p-value is m / (n_permutations + 1): with 99 permutations and 6 culture pairs it
  is 0.06, so nothing can ever be significant at 0.05. `permutations_for_holm` gives the count that can reach
  p < level, and `holm_floor` the resolution limit reported beside every p-value.
- Images of one artist are not independent; confidence intervals resample artists (clusters), not images.
- Two representations classified the same images in the same folds: their accuracies are paired, so the
  question "is A better than B?" is answered by McNemar's exact test on the discordant images and by a paired
  artist bootstrap of the accuracy difference, not by comparing two overlapping intervals.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd


def permutations_for_holm(n_tests: int, level: float = 0.05) -> int:
    """The fewest permutations with which Holm over `n_tests` can give an adjusted p < `level`.

    The smallest Holm-adjusted permutation p-value is n_tests / (n + 1), so n + 1 > n_tests / level.
    """
    if n_tests < 1:
        raise ValueError(f"n_tests must be >= 1, got {n_tests}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    n = max(1, math.floor(n_tests / level) - 2)  # just below the answer; float rounding is stepped over
    while n_tests / (n + 1) >= level:
        n += 1
    return n


def holm_floor(n_tests: int, n_permutations: int) -> float:
    """Smallest Holm-adjusted p-value attainable with `n_permutations` over `n_tests` tests."""
    return min(1.0, n_tests / (n_permutations + 1))


def enough_permutations(requested: int | None, n_tests: int, level: float = 0.05) -> int:
    """`requested` raised to `permutations_for_holm(n_tests, level)` when it is too small (None: just that)."""
    needed = permutations_for_holm(n_tests, level)
    return needed if requested is None else max(int(requested), needed)


# ------------------------------------------------------------------------------------------ artist bootstrap


def artist_bootstrap_weights(groups: Sequence[Any], n_bootstrap: int, seed: int = 0) -> np.ndarray:
    """B x N image weights of a cluster bootstrap: artists drawn with replacement, each image weighted by
    how often its artist was drawn. Any weighted mean over images is then one bootstrap replicate."""
    if n_bootstrap < 1:
        raise ValueError(f"n_bootstrap must be >= 1, got {n_bootstrap}")
    _, index = np.unique(np.asarray(groups, dtype=str), return_inverse=True)
    n_groups = int(index.max()) + 1 if len(index) else 0
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_groups, size=(n_bootstrap, n_groups))
    counts = np.zeros((n_bootstrap, n_groups))
    np.add.at(counts, (np.repeat(np.arange(n_bootstrap), n_groups), draws.ravel()), 1.0)
    return counts[:, index]


def weighted_means(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Row-wise weighted means of `values` (N) under bootstrap `weights` (B x N); NaN where a row weighs 0."""
    values = np.asarray(values, dtype=float)
    total = weights.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (weights @ values) / np.where(total > 0, total, np.nan)


def percentile_interval(replicates: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    finite = np.asarray(replicates, dtype=float)
    finite = finite[np.isfinite(finite)]
    if not finite.size:
        return math.nan, math.nan
    tail = (1 - level) / 2
    return float(np.quantile(finite, tail)), float(np.quantile(finite, 1 - tail))


def artist_bootstrap_mean(
    values: Sequence[float],
    groups: Sequence[Any],
    *,
    n_bootstrap: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float, float]:
    """(mean, ci_low, ci_high) of per-image `values` with an artist-bootstrap percentile interval."""
    values = np.asarray(values, dtype=float)
    if len(values) != len(groups):
        raise ValueError(f"{len(values)} values for {len(groups)} group labels")
    if not len(values):
        return math.nan, math.nan, math.nan
    weights = artist_bootstrap_weights(groups, n_bootstrap, seed)
    low, high = percentile_interval(weighted_means(values, weights), level)
    return float(values.mean()), low, high


def balanced_accuracy_replicates(
    correct: np.ndarray, labels: Sequence[Any], weights: np.ndarray
) -> np.ndarray:
    """Balanced accuracy (mean per-class recall) under each row of bootstrap `weights`."""
    labels = np.asarray(labels, dtype=str)
    recalls = [weighted_means(correct[labels == c], weights[:, labels == c]) for c in np.unique(labels)]
    with np.errstate(invalid="ignore"):
        stacked = np.vstack(recalls)
        counted = np.isfinite(stacked).sum(axis=0)
        return np.where(counted > 0, np.nansum(stacked, axis=0) / np.maximum(counted, 1), np.nan)


# --------------------------------------------------------------------------------------------- paired tests


def mcnemar_exact(a_correct: Sequence[bool], b_correct: Sequence[bool]) -> dict[str, Any]:
    """McNemar's exact test of two classifiers on the same images (two-sided binomial on discordant pairs).

    Assumes independent images; with several works per artist prefer the paired artist bootstrap.
    """
    from scipy.stats import binomtest

    a, b = np.asarray(a_correct, dtype=bool), np.asarray(b_correct, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"paired tests need the same images: {a.shape} vs {b.shape}")
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
    discordant = only_a + only_b
    p = 1.0 if discordant == 0 else float(binomtest(only_a, discordant, 0.5).pvalue)
    return {"n_only_a_correct": only_a, "n_only_b_correct": only_b, "mcnemar_p": p}


def paired_bootstrap_difference(
    a_correct: Sequence[bool],
    b_correct: Sequence[bool],
    groups: Sequence[Any],
    *,
    n_bootstrap: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, float]:
    """Accuracy difference a - b with a paired artist-bootstrap CI and two-sided p-value.

    Both classifiers' results are resampled with the same artists in each replicate (that is the pairing).
    The p-value is that of the centred bootstrap: (1 + #{|d* - d| >= |d|}) / (1 + B).
    """
    a = np.asarray(a_correct, dtype=float)
    b = np.asarray(b_correct, dtype=float)
    if a.shape != b.shape or len(a) != len(groups):
        raise ValueError("paired tests need one a, one b and one artist per image")
    difference = float(a.mean() - b.mean())
    weights = artist_bootstrap_weights(groups, n_bootstrap, seed)
    replicates = weighted_means(a - b, weights)
    low, high = percentile_interval(replicates, level)
    extreme = int(np.sum(np.abs(replicates - difference) >= abs(difference) - 1e-12))
    p = (1 + extreme) / (1 + n_bootstrap) if difference != 0 else 1.0
    return {"difference": difference, "ci_low": low, "ci_high": high, "bootstrap_p": float(min(1.0, p))}


def paired_accuracy_tests(
    predictions: pd.DataFrame,
    reference: str,
    others: Sequence[str] | None = None,
    *,
    classifier: str = "logreg",
    n_bootstrap: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    feature_column: str = "feature",
) -> pd.DataFrame:
    """Each feature (representation) against `reference` on the same out-of-fold predictions.

    `predictions` is `ClassificationResult.predictions` (feature, classifier, image_id, culture, artist,
    predicted). One row per comparison: both accuracies, the discordant counts, McNemar's exact p, the paired
    artist-bootstrap difference (other - reference) with CI and p, and Holm-adjusted p-values over the
    comparisons of the table.
    """
    from .stats import holm

    rows = predictions[predictions["classifier"] == classifier]
    features = list(dict.fromkeys(rows[feature_column]))
    if reference not in features:
        raise ValueError(f"reference {reference!r} has no {classifier} predictions (have {features})")
    others = [f for f in (others or features) if f != reference]
    missing = sorted(set(others) - set(features))
    if missing:
        raise ValueError(f"no {classifier} predictions for {missing} (have {features})")
    base = rows[rows[feature_column] == reference].set_index("image_id")
    out = []
    for other in others:
        part = rows[rows[feature_column] == other].set_index("image_id")
        if set(part.index) != set(base.index):
            raise ValueError(f"{other!r} and {reference!r} were not evaluated on the same images")
        part = part.loc[base.index]
        ref_ok = (base["predicted"] == base["culture"]).to_numpy()
        other_ok = (part["predicted"] == part["culture"]).to_numpy()
        mc = mcnemar_exact(other_ok, ref_ok)
        boot = paired_bootstrap_difference(
            other_ok, ref_ok, base["artist"].to_numpy(), n_bootstrap=n_bootstrap, seed=seed, level=level
        )
        out.append(
            {
                "feature": other,
                "reference": reference,
                "classifier": classifier,
                "n": len(base),
                "n_artists": int(base["artist"].nunique()),
                "accuracy": float(other_ok.mean()),
                "reference_accuracy": float(ref_ok.mean()),
                "difference": boot["difference"],
                "ci_low": boot["ci_low"],
                "ci_high": boot["ci_high"],
                "ci_level": level,
                "bootstrap_p": boot["bootstrap_p"],
                "n_bootstrap": n_bootstrap,
                "n_only_feature_correct": mc["n_only_a_correct"],
                "n_only_reference_correct": mc["n_only_b_correct"],
                "mcnemar_p": mc["mcnemar_p"],
                "seed": seed,
            }
        )
    table = pd.DataFrame(out)
    if len(table):
        table["bootstrap_p_holm"] = holm(table["bootstrap_p"])
        table["mcnemar_p_holm"] = holm(table["mcnemar_p"])
        table["bootstrap_p_floor"] = 1.0 / (n_bootstrap + 1)
    return table
