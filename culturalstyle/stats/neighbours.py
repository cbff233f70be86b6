"""Nearest-neighbour retrieval in style space and the culture mix of the neighbours found."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .common import _as_matrix, _labels, artist_groups


def nearest_neighbours(
    x: Any,
    image_ids: Sequence[Any],
    cultures: Sequence[str],
    *,
    artists: Sequence[Any] | None = None,
    queries: Sequence[Any] | None = None,
    k: int = 5,
    exclude_same_artist: bool = True,
    other_cultures_only: bool = False,
) -> pd.DataFrame:
    """The k most similar images (Euclidean in style space) for each query image id (default: all images).

    Same-artist neighbours are excluded by default: otherwise retrieval mostly finds the artist, not the style.
    `other_cultures_only` restricts neighbours to other cultures ("what looks like this elsewhere?").
    """
    x = _as_matrix(x)
    ids = _labels(image_ids, "image_ids", len(x))
    y = _labels(cultures, "cultures", len(x))
    groups = artist_groups(artists, ids) if artists is not None else ids
    position = {image_id: i for i, image_id in enumerate(ids)}
    query_ids = list(ids) if queries is None else [str(q) for q in queries]
    unknown = [q for q in query_ids if q not in position]
    if unknown:
        raise KeyError(f"unknown query image id(s): {unknown[:5]}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    rows = []
    sq = np.einsum("ij,ij->i", x, x)
    for q in query_ids:
        i = position[q]
        d = np.sqrt(np.maximum(sq + sq[i] - 2.0 * (x @ x[i]), 0.0))
        allowed = np.ones(len(x), dtype=bool)
        allowed[i] = False
        if exclude_same_artist and artists is not None:
            allowed &= groups != groups[i]
        if other_cultures_only:
            allowed &= y != y[i]
        candidates = np.flatnonzero(allowed)
        order = candidates[np.lexsort((ids[candidates], d[candidates]))][
            :k
        ]  # ties broken by id: deterministic
        for rank, j in enumerate(order, start=1):
            rows.append(
                {
                    "query_id": q,
                    "query_culture": y[i],
                    "rank": rank,
                    "neighbour_id": ids[j],
                    "neighbour_culture": y[j],
                    "distance": float(d[j]),
                    "n_candidates": len(candidates),
                }
            )
    return pd.DataFrame(rows)


def neighbour_culture_rates(neighbours: pd.DataFrame) -> pd.DataFrame:
    """From `nearest_neighbours`: for each query culture, the share of neighbours from each culture."""
    counts = neighbours.groupby(["query_culture", "neighbour_culture"]).size().rename("count").reset_index()
    totals = neighbours.groupby("query_culture").size().rename("n_neighbours")
    queries = neighbours.groupby("query_culture")["query_id"].nunique().rename("n_queries")
    out = counts.join(totals, on="query_culture").join(queries, on="query_culture")
    out["rate"] = out["count"] / out["n_neighbours"]
    return out
