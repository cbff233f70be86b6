"""Input checks shared by the style-space statistics, and the artist groups of artist-disjoint analyses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd


def _labels(values: Sequence[Any], name: str, n: int) -> np.ndarray:
    array = np.asarray(values, dtype=object)
    if array.shape != (n,):
        raise ValueError(f"{name} must have one entry per row of X ({n}), got shape {array.shape}")
    return array.astype(str)


def _as_matrix(x: Any) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"expected an N x D embedding matrix, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("the embedding contains NaN or infinite values")
    return x


def artist_groups(artists: Sequence[Any], image_ids: Sequence[Any] | None = None) -> np.ndarray:
    """Group labels for artist-disjoint splits; images of unknown artist become singleton groups.

    Treating every anonymous image as its own artist is the conservative choice available: it keeps known
    artists disjoint without inventing a shared "unknown" artist that would leak nothing but also split nothing.
    """
    from ..corpus import artist_known  # one definition of "unknown artist" for splits and statistics

    artists = pd.Series(list(artists), dtype=object)
    ids = pd.Series(range(len(artists)) if image_ids is None else list(image_ids), dtype=object).astype(str)
    unknown = artists.isna() | ~artists.map(artist_known).astype(bool)
    # the same normalisation as corpus.split_groups: "Hokusai" and "hokusai " are one artist
    groups = artists.astype(str).str.strip().str.lower().where(~unknown, "unknown:" + ids)
    return groups.to_numpy(dtype=str)
