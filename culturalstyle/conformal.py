"""Conformal prediction sets of cultures: "this culture", "one of these", or "none of the known cultures".

A classifier that must name one culture gives a confident wrong label to a work of a culture it has never
seen, and rates noise as some culture. A conformal predictor returns a *set* of cultures instead, calibrated
so that it contains the true culture of a work by an unseen artist of a known culture with probability at
least 1 - alpha; an empty set means "none of the known cultures".

How it is calibrated here:
- Nonconformity of an image for culture c: `knn` (default), the mean distance to its k nearest training images
  of c in the embedding (far from every culture -> large for all -> empty set), or `classifier`, 1 - p(c) of a
  logistic-regression culture classifier (well calibrated for known cultures, but softmax sums to 1, so it
  rarely says "none").
- Mondrian (per-culture) thresholds: culture c's threshold is the conformal quantile, rank ceil((n_c+1)(1-alpha)),
  of the calibration scores of c's images, so coverage holds per culture, not just on average.
- Calibration never shares an artist with the fitted scorer: `cross` scores every image with a scorer fitted on
  artist-grouped folds that exclude its artist (cross-conformal; the final scorer is fitted on all images);
  `split` holds out one artist-grouped fold for calibration (split conformal; the scorer never sees it).

The guarantee assumes exchangeable artists (a new artist is like the calibration artists); works of one artist
are correlated, so coverage is estimated with artist-bootstrap intervals. With fewer than 1/alpha - 1
calibration images a culture's threshold is infinite (it is always in the set), which is reported.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

SCORES = ("knn", "classifier")
METHODS = ("cross", "split")
SEPARATOR = "|"  # between culture names in a set's label; the empty set's label is ""


@dataclass
class ConformalConfig:
    """Settings of a conformal culture predictor (a dataclass: round-trips through YAML into run records)."""

    alpha: float = 0.1  # miscoverage: sets contain the true culture with probability >= 1 - alpha
    score: str = "knn"  # knn | classifier
    k: int = 5  # neighbours per culture for the knn score
    method: str = "cross"  # cross | split
    n_folds: int = 5  # artist-grouped calibration folds
    seed: int = 0


def conformal_quantile(scores: np.ndarray, alpha: float) -> float:
    """The rank ceil((n + 1)(1 - alpha)) smallest score; infinite when n is too small for that rank."""
    scores = np.sort(np.asarray(scores, dtype=float))
    rank = math.ceil((len(scores) + 1) * (1 - alpha))
    return float(scores[rank - 1]) if rank <= len(scores) else math.inf


class _KNNScorer:
    """Mean Euclidean distance to the k nearest training images of each culture."""

    def __init__(self, k: int) -> None:
        self.k = k

    def fit(self, x: np.ndarray, y: np.ndarray, classes: Sequence[str]) -> _KNNScorer:
        self.members = {c: x[y == c] for c in classes}
        return self

    def scores(self, x: np.ndarray) -> np.ndarray:
        out = np.full((len(x), len(self.members)), np.inf)
        sq = np.einsum("ij,ij->i", x, x)
        for j, train in enumerate(self.members.values()):
            if not len(train):
                continue  # a culture absent from this fit: never in the set
            d2 = sq[:, None] + np.einsum("ij,ij->i", train, train)[None, :] - 2.0 * x @ train.T
            d = np.sqrt(np.maximum(d2, 0.0))
            k = min(self.k, d.shape[1])
            out[:, j] = np.partition(d, k - 1, axis=1)[:, :k].mean(axis=1)
        return out


class _ClassifierScorer:
    """1 - p(culture) of a logistic regression (the embedding is already standardised: no re-scaling)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def fit(self, x: np.ndarray, y: np.ndarray, classes: Sequence[str]) -> _ClassifierScorer:
        from .stats import CultureClassifier

        self.classes = list(classes)
        present = sorted(set(y))
        self.model = None
        if len(present) >= 2:
            self.model = CultureClassifier("logreg", standardize=False, seed=self.seed).fit(x, y)
        self.only = present[0] if len(present) == 1 else None
        return self

    def scores(self, x: np.ndarray) -> np.ndarray:
        out = np.full((len(x), len(self.classes)), np.inf)
        if self.model is None:
            out[:, self.classes.index(self.only)] = 0.0
            return out
        proba = self.model.predict_proba(x)
        for j, c in enumerate(self.model.classes_):
            out[:, self.classes.index(c)] = 1.0 - proba[:, j]
        return out


def _folds(y: np.ndarray, groups: np.ndarray, n_folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import StratifiedGroupKFold

    n_groups = len(np.unique(groups))
    if n_groups < 2:
        raise ValueError(f"artist-grouped calibration needs at least 2 artists, got {n_groups}")
    splitter = StratifiedGroupKFold(n_splits=min(n_folds, n_groups), shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*least populated class.*")
        return list(splitter.split(np.zeros(len(y)), y, groups))


class ConformalCultures:
    """Culture prediction sets with per-culture coverage 1 - alpha; fit on embeddings of known cultures.

    `fit(x, cultures, artists)` calibrates; `predict_sets(x)` gives an N x K boolean matrix (columns
    `classes_`), `predict_labels(x)` the sets as "a|b" strings ("" = none of the known cultures).
    """

    def __init__(self, config: ConformalConfig | None = None, **overrides: Any) -> None:
        self.config = replace(config or ConformalConfig(), **overrides)
        c = self.config
        if not 0 < c.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {c.alpha}")
        if c.score not in SCORES:
            raise ValueError(f"unknown nonconformity score {c.score!r}; choose one of {SCORES}")
        if c.method not in METHODS:
            raise ValueError(f"unknown calibration method {c.method!r}; choose one of {METHODS}")
        if c.k < 1 or c.n_folds < 2:
            raise ValueError(f"k must be >= 1 and n_folds >= 2, got k={c.k}, n_folds={c.n_folds}")
        self.classes_: list[str] | None = None

    def _scorer(self) -> Any:
        return (
            _KNNScorer(self.config.k) if self.config.score == "knn" else _ClassifierScorer(self.config.seed)
        )

    def fit(self, x: Any, cultures: Sequence[str], artists: Sequence[Any]) -> ConformalCultures:
        from .stats import _as_matrix, _labels, artist_groups

        x = _as_matrix(x)
        y = _labels(cultures, "cultures", len(x))
        groups = artist_groups(artists)
        if len(groups) != len(x):
            raise ValueError(f"artists must have one entry per row of X ({len(x)}), got {len(groups)}")
        self.classes_ = sorted(set(y))
        folds = _folds(y, groups, self.config.n_folds, self.config.seed)
        calibration = np.full(len(x), np.nan)
        column = np.array([self.classes_.index(c) for c in y])
        if self.config.method == "split":
            folds = folds[:1]
        for train, held in folds:
            scorer = self._scorer().fit(x[train], y[train], self.classes_)
            calibration[held] = scorer.scores(x[held])[np.arange(len(held)), column[held]]
        if self.config.method == "split":
            self.scorer_ = scorer  # the calibration fold stays unseen by the scorer
        else:
            self.scorer_ = self._scorer().fit(x, y, self.classes_)
        used = ~np.isnan(calibration)  # split: only the calibration fold was scored
        self.calibration_scores_ = {c: calibration[(y == c) & used] for c in self.classes_}
        self.thresholds_ = {
            c: conformal_quantile(s, self.config.alpha) for c, s in self.calibration_scores_.items()
        }
        self.n_calibration_ = {c: len(s) for c, s in self.calibration_scores_.items()}
        self.n_train_ = len(x)
        return self

    def _check(self) -> None:
        if self.classes_ is None:
            raise RuntimeError("ConformalCultures is not fitted; call fit(x, cultures, artists) first")

    def scores(self, x: Any) -> np.ndarray:
        """N x K nonconformity scores (columns `classes_`)."""
        from .stats import _as_matrix

        self._check()
        return self.scorer_.scores(_as_matrix(x))

    def predict_sets(self, x: Any) -> np.ndarray:
        """N x K booleans: culture `classes_[j]` is in image i's prediction set."""
        self._check()
        thresholds = np.array([self.thresholds_[c] for c in self.classes_])
        return self.scores(x) <= thresholds[None, :]

    def predict_labels(self, x: Any) -> list[str]:
        return set_labels(self.predict_sets(x), self.classes_)

    def thresholds_frame(self) -> pd.DataFrame:
        """Per culture: threshold and number of calibration images (infinite threshold: too few of them)."""
        self._check()
        return pd.DataFrame(
            {
                "culture": self.classes_,
                "threshold": [self.thresholds_[c] for c in self.classes_],
                "n_calibration": [self.n_calibration_[c] for c in self.classes_],
                "alpha": self.config.alpha,
                "score": self.config.score,
                "method": self.config.method,
            }
        )


def set_labels(sets: np.ndarray, classes: Sequence[str]) -> list[str]:
    """Boolean N x K set membership as "a|b" labels; the empty set is ""."""
    return [SEPARATOR.join(c for c, inside in zip(classes, row) if inside) for row in np.asarray(sets)]


def parse_set(label: Any) -> set[str]:
    """The inverse of `set_labels` for one label ("" or NaN from a CSV: the empty set)."""
    if not isinstance(label, str) or not label:
        return set()
    return set(label.split(SEPARATOR))


# ------------------------------------------------------------------------------------------ evaluation


def cross_validated_sets(
    x: Any,
    cultures: Sequence[str],
    artists: Sequence[Any],
    *,
    config: ConformalConfig | None = None,
    n_splits: int = 5,
    seed: int = 0,
    image_ids: Sequence[Any] | None = None,
    feature: str = "embedding",
) -> pd.DataFrame:
    """Prediction sets of every image by a predictor that never saw its artist (leave-artist-out).

    The outer folds are those of `stats.leave_artist_out` with the same seed (StratifiedGroupKFold by artist),
    so sets and classifier predictions are about the same held-out images. One row per image.
    """
    from .stats import _as_matrix, _labels, artist_groups

    config = config or ConformalConfig(seed=seed)
    x = _as_matrix(x)
    y = _labels(cultures, "cultures", len(x))
    groups = artist_groups(artists, image_ids)
    ids = np.asarray(list(image_ids) if image_ids is not None else range(len(x))).astype(str)
    labels = np.empty(len(x), dtype=object)
    fold_of = np.empty(len(x), dtype=int)
    for fold, (train, test) in enumerate(_folds(y, groups, n_splits, seed)):
        model = ConformalCultures(config).fit(x[train], y[train], groups[train])
        labels[test] = model.predict_labels(x[test])
        fold_of[test] = fold
    return _set_rows(ids, y, groups, labels, fold_of, feature, config)


def _set_rows(ids, y, groups, labels, fold_of, feature, config) -> pd.DataFrame:
    sets = [parse_set(label) for label in labels]
    return pd.DataFrame(
        {
            "feature": feature,
            "image_id": ids,
            "culture": y,
            "artist": groups,
            "fold": fold_of,
            "prediction_set": list(labels),
            "set_size": [len(s) for s in sets],
            "covered": [c in s for c, s in zip(y, sets)],
            "empty": [not s for s in sets],
            "alpha": config.alpha,
            "score": config.score,
        }
    )


def coverage_table(
    sets: pd.DataFrame, *, n_bootstrap: int = 1000, seed: int = 0, level: float = 0.95
) -> pd.DataFrame:
    """Per feature and culture (and `all`): empirical coverage, mean set size and share of empty sets,
    each with an artist-bootstrap CI, beside the target 1 - alpha."""
    from .significance import artist_bootstrap_mean

    rows = []
    for feature, part in sets.groupby("feature", sort=False):
        for culture in [*sorted(part["culture"].unique()), "all"]:
            g = part if culture == "all" else part[part["culture"] == culture]
            groups = g["artist"].to_numpy()
            row = {
                "feature": feature,
                "culture": culture,
                "n": len(g),
                "n_artists": int(g["artist"].nunique()),
                "target_coverage": 1 - float(g["alpha"].iloc[0]),
            }
            for name, column in (("coverage", "covered"), ("mean_set_size", "set_size"), ("empty", "empty")):
                value, low, high = artist_bootstrap_mean(
                    g[column].astype(float), groups, n_bootstrap=n_bootstrap, seed=seed, level=level
                )
                row.update({name: value, f"{name}_ci_low": low, f"{name}_ci_high": high})
            row["singleton_correct"] = float(((g["set_size"] == 1) & g["covered"]).mean())
            row.update(ci_level=level, n_bootstrap=n_bootstrap, score=g["score"].iloc[0])
            rows.append(row)
    return pd.DataFrame(rows)


def leave_one_culture_out(
    x: Any,
    cultures: Sequence[str],
    artists: Sequence[Any],
    *,
    config: ConformalConfig | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    image_ids: Sequence[Any] | None = None,
    feature: str = "embedding",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each culture held out entirely in turn, as if unseen: the predictor is calibrated on the others.

    Returns (summary, sets): per held-out culture the share of its works that get the empty set ("none of
    the known cultures", the unknown rate, artist-bootstrap CI), the mean set size and the most frequent
    non-empty set; and the per-image sets.
    """
    from .significance import artist_bootstrap_mean
    from .stats import _as_matrix, _labels, artist_groups

    config = config or ConformalConfig(seed=seed)
    x = _as_matrix(x)
    y = _labels(cultures, "cultures", len(x))
    groups = artist_groups(artists, image_ids)
    ids = np.asarray(list(image_ids) if image_ids is not None else range(len(x))).astype(str)
    names = sorted(set(y))
    if len(names) < 2:
        raise ValueError("leave-one-culture-out needs at least two cultures")
    rows, frames = [], []
    for held in names:
        inside = y != held
        model = ConformalCultures(config).fit(x[inside], y[inside], groups[inside])
        labels = np.asarray(model.predict_labels(x[~inside]), dtype=object)
        frame = _set_rows(ids[~inside], y[~inside], groups[~inside], labels, -1, feature, config)
        frame["held_out"] = held
        frames.append(frame)
        unknown, low, high = artist_bootstrap_mean(
            frame["empty"].astype(float),
            frame["artist"].to_numpy(),
            n_bootstrap=n_bootstrap,
            seed=seed,
            level=level,
        )
        non_empty = frame.loc[~frame["empty"], "prediction_set"]
        rows.append(
            {
                "feature": feature,
                "held_out": held,
                "n": len(frame),
                "n_artists": int(frame["artist"].nunique()),
                "known_cultures": SEPARATOR.join(model.classes_),
                "unknown_rate": unknown,
                "ci_low": low,
                "ci_high": high,
                "ci_level": level,
                "mean_set_size": float(frame["set_size"].mean()),
                "most_common_set": non_empty.mode().iloc[0] if len(non_empty) else "",
                "alpha": config.alpha,
                "score": config.score,
                "n_bootstrap": n_bootstrap,
            }
        )
    return pd.DataFrame(rows), pd.concat(frames, ignore_index=True)
