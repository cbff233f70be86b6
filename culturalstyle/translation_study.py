"""What the translation part of the study reads off translations: the nearest real images in style space
(and the side-by-side grid that shows them), the asymmetry of the two directions, and where translations
land among real art. Producing translations (runs, evaluation) is `culturalstyle.pipeline`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .corpus import Corpus
    from .pipeline import StyleSpace


def nearest_real(
    space: StyleSpace, features: Mapping[str, np.ndarray], culture: str, split: str | None = "train"
) -> list[str]:
    """For each image of `features`, the image_id of the nearest real `culture` image (style space)."""
    return nearest_real_table(space, features, culture, split)["nearest_id"].tolist()


def nearest_real_table(
    space: StyleSpace,
    features: Mapping[str, np.ndarray],
    culture: str,
    split: str | None = "train",
    query_ids: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Per query image: the nearest real `culture` image of `split` in the full style embedding, its
    Euclidean distance, the runner-up's distance, and how many queries share that nearest image.

    `n_sharing` matters for reading a side-by-side grid: near-identical translations (a collapsed or
    untrained translator) honestly share one nearest real image, which the grid then says.
    """
    df = space.corpus.df
    mask = (df["culture"] == culture).to_numpy()
    if split is not None:
        mask = mask & (df["split"] == split).to_numpy()
    if not mask.any():
        raise ValueError(f"no real {culture!r} images (split {split!r}) in the style space")
    candidates = space.vectors[mask]
    ids = df["image_id"].to_numpy()[mask]
    query = space.embed(features)
    if query_ids is None:
        query_ids = getattr(features, "image_ids", None) or [str(i) for i in range(len(query))]
    if len(query_ids) != len(query):
        raise ValueError(f"{len(query_ids)} query ids for {len(query)} feature rows")
    # |q - c|^2 = |q|^2 - 2 q.c + |c|^2, without an N x M x D intermediate
    squared = (
        (query**2).sum(axis=1)[:, None] - 2.0 * query @ candidates.T + (candidates**2).sum(axis=1)[None, :]
    )
    distances = np.sqrt(np.maximum(squared, 0.0))
    order = np.argsort(distances, axis=1)
    nearest = order[:, 0]
    table = pd.DataFrame(
        {
            "query_id": list(query_ids),
            "nearest_id": ids[nearest],
            "distance": distances[np.arange(len(query)), nearest],
            "second_distance": (distances[np.arange(len(query)), order[:, 1]] if len(ids) > 1 else np.nan),
            "n_candidates": len(ids),
            "culture": culture,
            "split": split if split is not None else "",
        }
    )
    table["n_sharing"] = table.groupby("nearest_id")["query_id"].transform("count").astype(int)
    return table


def side_by_side(
    corpus: Corpus,
    translations: Corpus,
    space: StyleSpace,
    *,
    n_rows: int = 4,
    image_size: int | None = None,
    batch_size: int = 8,
    thumb_size: int = 128,
    title: str | None = None,
) -> tuple[Figure, pd.DataFrame]:
    """Grid source | translation | nearest real target image (style space, training split) for the first
    `n_rows` translations, with each row's distance; also returns the nearest-real table of those rows.

    The translations' statistics come from the space's own backbone and settings (`StyleSpace.statistics`);
    `image_size`, when given, must be the space's.
    """
    from .plots import image_grid

    size = space.features.config.get("size")
    if image_size is not None and image_size != size:
        raise ValueError(f"image_size {image_size} differs from the style space's {size} px")

    rows = translations.df.head(n_rows)
    if rows.empty:
        raise ValueError(f"no translations in {translations.root}")
    subset = type(translations)(rows, translations.root)
    feats = space.statistics(subset, batch_size=batch_size)
    target = str(rows["culture"].iloc[0])
    table = nearest_real_table(space, feats, target, "train", query_ids=rows["image_id"].tolist())
    table.insert(1, "source_image_id", rows["source_image_id"].astype(str).to_numpy())
    grid = [
        [corpus.abspath(s), subset.abspath(r), corpus.abspath(n)]
        for s, (_, r), n in zip(table["source_image_id"], rows.iterrows(), table["nearest_id"])
    ]
    labels = [
        f"{src.split('/')[-1]}\nd={d:.2f}" + (f"\nshared by {k}/{len(table)}" if k > 1 else "")
        for src, d, k in zip(table["source_image_id"], table["distance"], table["n_sharing"])
    ]
    n_cand = int(table["n_candidates"].iloc[0])
    fig = image_grid(
        grid,
        row_labels=labels,
        col_labels=["source", "translation", f"nearest real {target}\n(of {n_cand} train images)"],
        size=thumb_size,
        title=title or f"{translations.root.name}: first {len(table)} of {len(translations)} translations",
    )
    return fig, table


# ------------------------------------------------------------------------------------------------ synthesis


def asymmetry_table(evaluation: pd.DataFrame, a: str, b: str) -> pd.DataFrame:
    """Is A→B easier than B→A? Per method and metric, the translation rows of both directions side by side.

    `evaluation` holds `metrics.evaluate` rows of both directions (columns metric, method, value, ci_low,
    ci_high, source, target, role, n_generated); only rows with role "translation" are compared.
    `difference` is A→B minus B→A; `cis_overlap` says whether the two confidence intervals overlap (then the
    data do not show an asymmetry at this N); it is empty when a metric has no CI.
    """
    rows = evaluation[evaluation["role"] == "translation"] if "role" in evaluation else evaluation
    if "method" not in rows:
        rows = rows.assign(method="translation")
    out = []
    for (method, metric), group in rows.groupby(["method", "metric"], sort=True):
        ab = group[(group["source"] == a) & (group["target"] == b)]
        ba = group[(group["source"] == b) & (group["target"] == a)]
        if ab.empty or ba.empty:
            continue
        x, y = ab.iloc[0], ba.iloc[0]
        bounds = [x.get("ci_low"), x.get("ci_high"), y.get("ci_low"), y.get("ci_high")]
        have_ci = all(v is not None and pd.notna(v) for v in bounds)
        out.append(
            {
                "method": method,
                "metric": metric,
                f"{a}→{b}": x["value"],
                f"{a}→{b} ci_low": x.get("ci_low"),
                f"{a}→{b} ci_high": x.get("ci_high"),
                f"n {a}→{b}": x.get("n_generated"),
                f"{b}→{a}": y["value"],
                f"{b}→{a} ci_low": y.get("ci_low"),
                f"{b}→{a} ci_high": y.get("ci_high"),
                f"n {b}→{a}": y.get("n_generated"),
                "difference": x["value"] - y["value"],
                "cis_overlap": bool(max(bounds[0], bounds[2]) <= min(bounds[1], bounds[3]))
                if have_ci
                else None,
            }
        )
    return pd.DataFrame(out)


def placement_table(
    space_vectors: np.ndarray,
    cultures: Sequence[str],
    translated_vectors: np.ndarray,
    sources: Sequence[str],
    targets: Sequence[str],
    *,
    k: int = 5,
    methods: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Where translations land among real art: per translation, distance to the source and target culture
    centroids, `progress` = fraction of the way from source to target centroid (projection onto the
    centroid axis: 0 = at the source centroid, 1 = at the target's), and the culture vote of its k nearest
    real neighbours."""
    cultures = np.asarray(cultures)
    translated_vectors = np.asarray(translated_vectors, dtype=float)
    if len(translated_vectors) != len(sources) or len(sources) != len(targets):
        raise ValueError("translated_vectors, sources and targets must have one entry per translation")
    centroids = {c: space_vectors[cultures == c].mean(axis=0) for c in np.unique(cultures)}
    missing = sorted((set(sources) | set(targets)) - set(centroids))
    if missing:
        raise ValueError(f"culture(s) {missing} have no real images in the style space")
    dists = np.linalg.norm(translated_vectors[:, None, :] - space_vectors[None, :, :], axis=2)
    nearest = np.argsort(dists, axis=1)[:, :k]
    rows = []
    for i, (s, t) in enumerate(zip(sources, targets)):
        cs, ct = centroids[s], centroids[t]
        axis = ct - cs
        progress = float(np.dot(translated_vectors[i] - cs, axis) / np.dot(axis, axis))
        votes = pd.Series(cultures[nearest[i]]).value_counts()
        rows.append(
            {
                "source": s,
                "target": t,
                "method": methods[i] if methods is not None else "translation",
                "dist_source_centroid": float(np.linalg.norm(translated_vectors[i] - cs)),
                "dist_target_centroid": float(np.linalg.norm(translated_vectors[i] - ct)),
                "progress": progress,
                "knn_culture": votes.index[0],
                "knn_target_share": float((cultures[nearest[i]] == t).mean()),
                "k": k,
            }
        )
    return pd.DataFrame(rows)


def placement_summary(placement: pd.DataFrame) -> pd.DataFrame:
    """Per (method, source, target): mean progress with a normal-approximation 95 % CI, share of
    translations nearer the target centroid than the source's, share whose k-NN majority is the target."""
    out = []
    for (method, s, t), g in placement.groupby(["method", "source", "target"], sort=True):
        n = len(g)
        mean = g["progress"].mean()
        half = 1.96 * g["progress"].std(ddof=1) / np.sqrt(n) if n > 1 else np.nan
        out.append(
            {
                "method": method,
                "source": s,
                "target": t,
                "n": n,
                "progress_mean": mean,
                "progress_ci_low": mean - half,
                "progress_ci_high": mean + half,
                "share_nearer_target": float((g["dist_target_centroid"] < g["dist_source_centroid"]).mean()),
                "share_knn_target": float((g["knn_culture"] == t).mean()),
            }
        )
    return pd.DataFrame(out)
