"""Cross-culture statistics of a corpus embedded through the feature store (`scale`).

Up to `SUBSAMPLE_ABOVE` images the blocks are read from the store into memory and `stats.compare_style_space`
runs unchanged: the same tables, the same methods, on the (sketched) features. Above it nothing is quadratic in
N over the whole corpus:

- leave-artist-out classification, k-means/Davies-Bouldin/ARI/NMI and nearest neighbours (scikit-learn
  `NearestNeighbors`, same-artist neighbours excluded) run on all images, on the top `n_components` principal
  components of each layer's sketches and of their concatenation (randomized PCA over store chunks; the
  explained variance is reported with every row);
- the N x N tests (energy distance and MMD with permutation p-values and bootstrap CIs, within-culture spread,
  silhouette) run on a seeded stratified subsample of at most `per_culture` images per culture, in the full
  sketched space; every row reports the subsample sizes (`n_a`, `n_b`, `n`) next to the culture sizes
  (`n_total_a`, `n_total_b`, `n_total`);
- distances between mean Gram matrices need raw Gram matrices, which the store does not keep: that table is
  only produced by the exact path (`notes` says so).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from . import stats
from .streaming import stratified_indices

SUBSAMPLE_ABOVE = 4000
PER_CULTURE = 1000
PCA_COMPONENTS = 128


def _culture_sizes(cultures: np.ndarray) -> dict[str, int]:
    names, counts = np.unique(cultures, return_counts=True)
    return dict(zip(names.tolist(), counts.tolist()))


def _annotate_pairs(table: pd.DataFrame, sizes: dict[str, int], sample: str) -> pd.DataFrame:
    table = table.copy()
    table["n_total_a"] = table["culture_a"].map(sizes)
    table["n_total_b"] = table["culture_b"].map(sizes)
    table["sample"] = sample
    return table


def cluster_quality_large(
    x: np.ndarray, cultures: np.ndarray, subsample: np.ndarray, *, seed: int = 0, feature: str = "concat"
) -> pd.DataFrame:
    """`stats.cluster_quality` with the silhouette (quadratic) on the stratified subsample, the rest on all."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import (
        adjusted_rand_score,
        davies_bouldin_score,
        normalized_mutual_info_score,
        silhouette_score,
    )

    k = len(np.unique(cultures))
    clusters = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(x)
    counts = pd.Series(cultures).value_counts()
    return pd.DataFrame(
        [
            {
                "feature": feature,
                "n": len(x),
                "n_cultures": k,
                "n_min_culture": int(counts.min()),
                "silhouette": float(silhouette_score(x[subsample], cultures[subsample])),
                "n_silhouette": len(subsample),
                "davies_bouldin": float(davies_bouldin_score(x, cultures)),
                "kmeans_ari": float(adjusted_rand_score(cultures, clusters)),
                "kmeans_nmi": float(normalized_mutual_info_score(cultures, clusters)),
                "seed": seed,
            }
        ]
    )


def nearest_neighbours_large(
    x: np.ndarray,
    image_ids: np.ndarray,
    cultures: np.ndarray,
    artists: np.ndarray,
    *,
    k: int = 5,
    margin: int = 32,
) -> pd.DataFrame:
    """k nearest other-artist neighbours of every image (columns as `stats.nearest_neighbours`).

    One `NearestNeighbors.kneighbors` call for k + margin candidates; a query whose candidates are mostly its
    own artist's works falls back to an exact scan of all images (one row of distances).
    """
    from sklearn.neighbors import NearestNeighbors

    x = np.ascontiguousarray(x, dtype=np.float64)
    groups = stats.artist_groups(artists, image_ids)
    n = len(x)
    width = min(n, k + 1 + margin)
    distances, candidates = NearestNeighbors(n_neighbors=width, algorithm="brute").fit(x).kneighbors(x)
    sq = np.einsum("ij,ij->i", x, x)
    query, rank, neighbour, dist, n_candidates = [], [], [], [], []
    group_sizes = pd.Series(groups).value_counts()
    for i in range(n):
        keep = (candidates[i] != i) & (groups[candidates[i]] != groups[i])
        chosen, chosen_d = candidates[i][keep][:k], distances[i][keep][:k]
        if len(chosen) < k and keep.size < n:  # not enough other-artist candidates: scan everything
            d = np.sqrt(np.maximum(sq + sq[i] - 2.0 * (x @ x[i]), 0.0))
            allowed = np.flatnonzero(groups != groups[i])
            order = allowed[np.lexsort((image_ids[allowed], d[allowed]))][:k]
            chosen, chosen_d = order, d[order]
        for r, (j, dj) in enumerate(zip(chosen, chosen_d), start=1):
            query.append(i)
            rank.append(r)
            neighbour.append(j)
            dist.append(float(dj))
            n_candidates.append(n - int(group_sizes[groups[i]]))
    query, neighbour = np.asarray(query, dtype=int), np.asarray(neighbour, dtype=int)
    return pd.DataFrame(
        {
            "query_id": image_ids[query],
            "query_culture": cultures[query],
            "rank": rank,
            "neighbour_id": image_ids[neighbour],
            "neighbour_culture": cultures[neighbour],
            "distance": dist,
            "n_candidates": n_candidates,
        }
    )


def compare_scaled(
    run: Any,
    *,
    seed: int = 0,
    n_permutations: int = 999,
    n_bootstrap: int = 1000,
    n_splits: int = 5,
    k: int = 5,
    methods: tuple[str, ...] = stats.METHODS,
    subsample_above: int = SUBSAMPLE_ABOVE,
    per_culture: int = PER_CULTURE,
    n_components: int = PCA_COMPONENTS,
) -> tuple[stats.StyleSpaceComparison, dict[str, Any]]:
    """All cross-culture statistics of a `scale.ScaledEmbeddingRun`; returns (comparison, notes)."""
    from .embedding import ColourTextureBaseline

    meta = run.meta
    rows = run.rows
    cultures = meta["culture"].astype(str).to_numpy()
    artists = meta["artist"].to_numpy()
    ids = meta["image_id"].astype(str).to_numpy()
    embedding = run.embedding()
    baseline = ColourTextureBaseline(bins=run.config.baseline_bins).fit_transform(run.baseline)
    notes: dict[str, Any] = {
        "n_images": len(meta),
        "mean_gram_distances": "not computed: the feature store keeps sketches, not raw Gram matrices "
        "(embed with scale.mode=exact on a subset for per-layer mean-Gram distances)",
    }
    common = {"seed": seed, "n_bootstrap": n_bootstrap}
    if len(meta) <= subsample_above:
        values = {layer: run.store.read(layer, rows) for layer in embedding.layers}
        blocks = embedding.blocks(values)
        comparison = stats.compare_style_space(
            blocks,
            meta,
            baseline=baseline,
            seed=seed,
            n_permutations=n_permutations,
            n_bootstrap=n_bootstrap,
            n_splits=n_splits,
            k=k,
            methods=methods,
        )
        notes["method"] = f"exact statistics on all {len(meta)} images (<= {subsample_above})"
        return comparison, notes

    # coordinates for the linear-time statistics: top principal components per layer and of the concatenation
    spaces, variance = {}, {}
    for layer in embedding.layers:
        pca = embedding.pca(rows, n_components, layers=[layer], seed=seed, power_iterations=1)
        spaces[layer], variance[layer] = pca.scores, float(pca.explained_variance_ratio.sum())
    pca = embedding.pca(rows, n_components, seed=seed, power_iterations=2)
    concat, variance["concat"] = pca.scores, float(pca.explained_variance_ratio.sum())
    notes["pca"] = {"n_components": n_components, "explained_variance": variance}

    classify = {**common, "n_splits": n_splits, "methods": methods, "image_ids": ids}
    classify["classifier_kwargs"] = {"standardize": False}
    results = [stats.classify_by_layer(spaces, cultures, artists, concat=False, **classify)]
    results.append(stats.leave_artist_out(concat, cultures, artists, feature="concat", **classify))
    results.append(stats.leave_artist_out(baseline, cultures, artists, feature="colour_baseline", **classify))
    classification = stats.combine_results(results)
    table = classification.table
    table["space"] = [
        "colour descriptors" if f == "colour_baseline" else f"PCA {n_components} of sketches"
        for f in table["feature"]
    ]
    table["explained_variance"] = table["feature"].map(variance)

    subsample = stratified_indices(cultures, per_culture, seed=seed)
    sizes = _culture_sizes(cultures)
    sample = f"stratified, <= {per_culture} per culture (seed {seed})"
    sub_concat = stats.isometric_coordinates(np.concatenate(list(embedding.chunk_source(rows[subsample])())))
    sub_spaces = {"concat": sub_concat, "colour_baseline": baseline[subsample]}
    distances, spread = [], []
    for name, x in sub_spaces.items():
        for metric in ("energy", "mmd"):
            distances.append(
                _annotate_pairs(
                    stats.between_culture_distances(
                        x,
                        cultures[subsample],
                        metric=metric,
                        n_permutations=n_permutations,
                        feature=name,
                        **common,
                    ),
                    sizes,
                    sample,
                )
            )
        within = stats.within_culture_spread(x, cultures[subsample], feature=name, **common)
        within["n_total"] = within["culture"].map(sizes)
        within["sample"] = sample
        spread.append(within)
    quality = [
        cluster_quality_large(concat, cultures, subsample, seed=seed, feature="concat"),
        cluster_quality_large(baseline, cultures, subsample, seed=seed, feature="colour_baseline"),
    ]
    neighbours = nearest_neighbours_large(concat, ids, cultures, artists, k=k)
    tables = {
        "cluster_quality": pd.concat(quality, ignore_index=True),
        "classification": table,
        "confusion": classification.confusion_long(),
        "predictions": classification.predictions,
        "distances": pd.concat(distances, ignore_index=True),
        "spread": pd.concat(spread, ignore_index=True),
        "neighbours": neighbours,
        "neighbour_rates": stats.neighbour_culture_rates(neighbours),
    }
    notes["method"] = (
        f"{len(meta)} images > {subsample_above}: classification, clusters and neighbours on PCA "
        f"{n_components} of the sketches of all images; N x N tests on {len(subsample)} images ({sample})"
    )
    return stats.StyleSpaceComparison(tables, classification), notes
