"""Figures of the style-space study. Every function returns a matplotlib Figure and shows its sample sizes.

The functions take the tidy tables of `culturalstyle.stats` (or plain arrays), so notebooks and the
`culturalstyle compare` command draw the same figures from the same numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def _figure(width: float = 6.0, height: float = 5.0) -> tuple[Figure, Any]:
    # Figure() without pyplot: no global state, no GUI backend needed (safe in CLI runs and tests).
    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.add_subplot(1, 1, 1)


def culture_colours(cultures: Sequence[str]) -> dict[str, Any]:
    """A fixed colour per culture name (`palette.culture_colour`), the same in every figure and the explorer."""
    from .palette import culture_colours as by_name

    return by_name(cultures)


def _covariance_ellipse(ax: Any, points: np.ndarray, colour: Any, n_std: float = 2.0) -> None:
    from matplotlib.patches import Ellipse

    cov = np.cov(points, rowvar=False)
    values, vectors = np.linalg.eigh(cov)
    values = np.maximum(values, 0.0)
    angle = np.degrees(np.arctan2(vectors[1, -1], vectors[0, -1]))
    width, height = 2 * n_std * np.sqrt(values[::-1])
    ax.add_patch(
        Ellipse(
            points.mean(0), width, height, angle=angle, facecolor=colour, alpha=0.12, edgecolor=colour, lw=1.5
        )
    )


def _hull(ax: Any, points: np.ndarray, colour: Any) -> None:
    from scipy.spatial import ConvexHull, QhullError

    try:
        hull = ConvexHull(points)
    except (QhullError, ValueError):  # collinear or too few points: no hull to draw
        return
    vertices = np.append(hull.vertices, hull.vertices[0])
    ax.fill(points[vertices, 0], points[vertices, 1], color=colour, alpha=0.1)
    ax.plot(points[vertices, 0], points[vertices, 1], color=colour, lw=1)


def style_scatter(
    coords: Any,
    cultures: Sequence[str],
    *,
    region: str = "ellipse",
    thumbnails: Mapping[int, Any] | None = None,
    thumbnail_zoom: float = 0.35,
    title: str = "Style space",
    axis_labels: tuple[str, str] = ("component 1", "component 2"),
) -> Figure:
    """2-D style space coloured by culture, with a 2-sigma ellipse or convex hull per culture.

    `thumbnails` maps row index -> image (H x W x 3 array, PIL image or CHW tensor) for a chosen subset; they
    are drawn at their points. The legend gives each culture's n, the title the total n.
    """
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    coords = np.asarray(coords, dtype=float)
    if coords.ndim != 2 or coords.shape[1] != 2:
        raise ValueError(f"style_scatter needs N x 2 coordinates, got shape {coords.shape}")
    labels = np.asarray(cultures).astype(str)
    if len(labels) != len(coords):
        raise ValueError(f"{len(labels)} culture labels for {len(coords)} points")
    if region not in ("ellipse", "hull", "none"):
        raise ValueError(f"unknown region {region!r}; choose ellipse, hull or none")
    fig, ax = _figure(7, 6)
    colours = culture_colours(labels)
    for name, colour in colours.items():
        points = coords[labels == name]
        ax.scatter(
            points[:, 0], points[:, 1], s=18, color=colour, label=f"{name} (n={len(points)})", alpha=0.85
        )
        if len(points) >= 3 and region == "ellipse":
            _covariance_ellipse(ax, points, colour)
        elif len(points) >= 3 and region == "hull":
            _hull(ax, points, colour)
    for index, image in (thumbnails or {}).items():
        array = _image_array(image)
        box = AnnotationBbox(
            OffsetImage(array, zoom=thumbnail_zoom),
            coords[index],
            frameon=True,
            bboxprops={"edgecolor": colours[labels[index]], "lw": 2},
        )
        ax.add_artist(box)
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    ax.set_title(f"{title} (n={len(coords)})")
    ax.legend(loc="best", fontsize="small")
    return fig


def _image_array(image: Any) -> np.ndarray:
    """H x W x 3 array from a PIL image, an H x W x 3 array or a CHW tensor in [0, 1]."""
    if hasattr(image, "detach"):
        image = image.detach().cpu().numpy().transpose(1, 2, 0)
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"thumbnails must be H x W x 3 images, got shape {array.shape}")
    return array


def _culture_sizes(table: pd.DataFrame) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for row in table.itertuples(index=False):
        sizes[row.culture_a], sizes[row.culture_b] = int(row.n_a), int(row.n_b)
    return sizes


def distance_heatmap(
    table: pd.DataFrame, *, value: str = "distance", p_column: str = "p_value", title: str | None = None
) -> Figure:
    """Culture x culture heatmap of a `stats.between_culture_distances` table, annotated with p-values.

    Tick labels carry each culture's n; the title the metric and the number of permutations.
    """
    from .stats import distance_matrix

    square = distance_matrix(table, value)
    p_square = distance_matrix(table, p_column)
    sizes = _culture_sizes(table)
    p_label = "p_Holm" if p_column == "p_holm" else "p"
    fig, ax = _figure(1.4 * len(square) + 2.5, 1.2 * len(square) + 1.8)
    image = ax.imshow(square.values, cmap="viridis")
    fig.colorbar(image, ax=ax, label=value)
    names = [f"{name}\n(n={sizes[name]})" for name in square.index]
    ax.set_xticks(range(len(square)), names, rotation=30, ha="right")
    ax.set_yticks(range(len(square)), names)
    high = np.nanmax(square.values) if square.size else 0
    for i in range(len(square)):
        for j in range(len(square)):
            if i == j:
                continue
            text = f"{square.iat[i, j]:.3g}\n{p_label}={p_square.iat[i, j]:.3g}"
            colour = "black" if square.iat[i, j] > 0.6 * high else "white"
            ax.text(j, i, text, ha="center", va="center", fontsize="small", color=colour)
    metric = table["metric"].iloc[0] if "metric" in table else value
    permutations = int(table["n_permutations"].iloc[0]) if "n_permutations" in table else None
    suffix = f", {permutations} permutations" if permutations else ""
    ax.set_title(title or f"{metric} distance between cultures{suffix}")
    return fig


def culture_dendrogram(
    table: pd.DataFrame, *, value: str = "distance", method: str = "average", title: str | None = None
) -> Figure:
    """Hierarchical clustering of cultures from a pairwise distance table; leaves carry each culture's n."""
    from scipy.cluster.hierarchy import dendrogram, linkage
    from scipy.spatial.distance import squareform

    from .stats import distance_matrix

    square = distance_matrix(table, value)
    if len(square) < 2:
        raise ValueError("a dendrogram needs at least two cultures")
    sizes = _culture_sizes(table)
    condensed = squareform(np.maximum(square.values, 0.0), checks=False)
    fig, ax = _figure(6, 4)
    dendrogram(
        linkage(condensed, method=method),
        labels=[f"{name} (n={sizes[name]})" for name in square.index],
        ax=ax,
        orientation="right",
        color_threshold=0,
        above_threshold_color="0.3",
    )
    metric = table["metric"].iloc[0] if "metric" in table else value
    ax.set_xlabel(f"{metric} distance ({method} linkage)")
    ax.set_title(title or f"Cultures clustered by {metric} distance (n={sum(sizes.values())})")
    return fig


def layer_separability(table: pd.DataFrame, *, metric: str = "accuracy", title: str | None = None) -> Figure:
    """Bar chart of leave-artist-out accuracy per feature (layer, concat, baseline) and classifier, with CIs
    and the majority-class baseline; the title gives n images and n artists."""
    features = list(dict.fromkeys(table["feature"]))
    methods = list(dict.fromkeys(table["classifier"]))
    fig, ax = _figure(max(6.0, 1.1 * len(features) + 2), 4.5)
    width = 0.8 / len(methods)
    for k, method in enumerate(methods):
        rows = table[table["classifier"] == method].set_index("feature").reindex(features)
        positions = np.arange(len(features)) + (k - (len(methods) - 1) / 2) * width
        heights = rows[metric].to_numpy(dtype=float)
        error = None
        if metric == "accuracy" and {"ci_low", "ci_high"} <= set(rows.columns):
            error = np.vstack(
                [heights - rows["ci_low"].to_numpy(float), rows["ci_high"].to_numpy(float) - heights]
            )
        ax.bar(positions, heights, width, yerr=error, capsize=3, label=method)
    if "majority_baseline" in table:
        ax.axhline(
            float(table["majority_baseline"].max()), color="0.3", ls="--", lw=1, label="majority class"
        )
    ax.set_xticks(range(len(features)), features, rotation=20, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(metric.replace("_", " "))
    n, artists = int(table["n"].max()), int(table["n_artists"].max()) if "n_artists" in table else None
    folds = f", {int(table['n_folds'].max())} artist-disjoint folds" if "n_folds" in table else ""
    subtitle = f"n={n} images" + (f", {artists} artists" if artists else "") + folds
    ax.set_title(title or f"Culture separability by layer ({subtitle})")
    ax.legend(fontsize="small")
    return fig


def confusion_matrix_plot(
    matrix: pd.DataFrame, *, normalize: bool = True, title: str | None = None
) -> Figure:
    """Confusion matrix (rows true, columns predicted) as row shares with counts; rows carry n per culture."""
    counts = matrix.to_numpy(dtype=float)
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    shown = shares if normalize else counts
    fig, ax = _figure(1.3 * len(matrix) + 2.5, 1.1 * len(matrix) + 1.8)
    image = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    fig.colorbar(image, ax=ax, label="share of true culture" if normalize else "count")
    ax.set_xticks(range(matrix.shape[1]), [str(c) for c in matrix.columns], rotation=30, ha="right")
    ax.set_yticks(range(len(matrix)), [f"{name} (n={int(t)})" for name, t in zip(matrix.index, totals[:, 0])])
    for i in range(counts.shape[0]):
        for j in range(counts.shape[1]):
            label = f"{shares[i, j]:.2f}\n({int(counts[i, j])})" if normalize else f"{int(counts[i, j])}"
            ax.text(
                j,
                i,
                label,
                ha="center",
                va="center",
                color="white" if shown[i, j] > 0.5 * shown.max() else "black",
            )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or f"Confusion matrix (n={int(counts.sum())})")
    return fig


def mean_gram_heatmap(
    table: pd.DataFrame, *, value: str = "relative_distance", title: str | None = None
) -> Figure:
    """Culture pair x layer heatmap of a `stats.mean_gram_distances` table, every cell annotated with its
    value and 95 % CI.

    The relative distance is ‖mean Gram(A) − mean Gram(B)‖_F / ‖mean Gram(all images)‖_F per layer, so
    layers with larger activations are comparable; 0 means identical mean style statistics.
    """
    needed = {"culture_a", "culture_b", "layer", value}
    if not needed <= set(table.columns):
        raise ValueError(f"mean Gram table lacks column(s) {sorted(needed - set(table.columns))}")
    table = table.assign(pair=table["culture_a"] + " – " + table["culture_b"])
    scale = table[value] / table["distance"] if value != "distance" and "distance" in table else 1.0
    table = table.assign(
        shown_low=table.get("ci_low", np.nan) * scale, shown_high=table.get("ci_high", np.nan) * scale
    )
    layers = list(dict.fromkeys(table["layer"]))
    pairs = list(dict.fromkeys(table["pair"]))
    grid = table.pivot_table(index="pair", columns="layer", values=value).reindex(index=pairs, columns=layers)
    fig, ax = _figure(1.5 * len(layers) + 4.2, 0.55 * len(pairs) + 1.9)
    image = ax.imshow(grid.to_numpy(), cmap="viridis", aspect="auto", vmin=0)
    label = (
        "relative distance\n‖mean Gram A − mean Gram B‖_F / ‖overall mean Gram‖_F"
        if value == "relative_distance"
        else value.replace("_", " ")
    )
    fig.colorbar(image, ax=ax, label=label)
    high = np.nanmax(grid.to_numpy()) if grid.size else 0
    for row in table.itertuples():
        i, j = pairs.index(row.pair), layers.index(row.layer)
        v = getattr(row, value)
        text = f"{v:.2f}"
        if np.isfinite(row.shown_low) and np.isfinite(row.shown_high):
            text += f"\n[{row.shown_low:.2f}, {row.shown_high:.2f}]"
        ax.text(
            j, i, text, ha="center", va="center", fontsize=7, color="black" if v > 0.6 * high else "white"
        )
    ax.set_xticks(range(len(layers)), layers, rotation=30)
    ax.set_yticks(range(len(pairs)), pairs)
    ax.set_xlabel("VGG19 layer")
    sizes = _culture_sizes(table) if {"n_a", "n_b"} <= set(table.columns) else {}
    n = ", ".join(f"{k} {v}" for k, v in sorted(sizes.items()))
    ax.set_title(
        title or f"Distance between the cultures' mean Gram matrices per layer (95% bootstrap CI)\nn: {n}",
        fontsize=9,
    )
    return fig


def save_figure(
    fig: Figure, path_stem: Any, formats: Sequence[str] = ("png", "pdf"), dpi: int = 150
) -> list[Any]:
    """Save `fig` as `path_stem.<format>` for every format, atomically; returns the paths."""
    from pathlib import Path

    from .cache import atomic_path

    paths = []
    for fmt in formats:
        target = Path(f"{path_stem}.{fmt}")
        with atomic_path(target) as tmp:
            fig.savefig(tmp, format=fmt, dpi=dpi)
        paths.append(target)
    return paths


def comparison_figures(
    comparison: Any,
    coords: Any,
    cultures: Sequence[str],
    *,
    thumbnails: Mapping[int, Any] | None = None,
    classifier: str = "logreg",
) -> dict[str, Figure]:
    """The standard figures of a `stats.compare_style_space` result, keyed by file stem.

    `coords` are 2-D style-space coordinates (e.g. the first two PCA components) in the rows' order.
    """
    tables = comparison.tables
    figures = {
        "style_space": style_scatter(coords, cultures, thumbnails=thumbnails, axis_labels=("PC 1", "PC 2")),
        "layer_separability": layer_separability(tables["classification"]),
    }
    distances = tables["distances"]
    for (feature, metric), table in distances.groupby(["feature", "metric"], sort=False):
        title = f"{metric} distance between cultures ({feature}, {int(table['n_permutations'].iloc[0])} permutations)"
        p_column = "p_holm" if "p_holm" in table else "p_value"
        if "p_holm_floor" in table:  # the resolution limit of the permutation test, beside its p-values
            title += f"\nHolm-adjusted p over {len(table)} pairs; smallest attainable {table['p_holm_floor'].iloc[0]:.3g}"
        figures[f"distances_{feature}_{metric}"] = distance_heatmap(table, title=title, p_column=p_column)
        if len(set(table["culture_a"]) | set(table["culture_b"])) >= 3 and metric == "energy":
            figures[f"dendrogram_{feature}_{metric}"] = culture_dendrogram(table)
    for (feature, method), matrix in comparison.classification.confusion.items():
        if method == classifier and feature in ("concat", "colour_baseline"):
            figures[f"confusion_{feature}_{method}"] = confusion_matrix_plot(
                matrix,
                title=f"Leave-artist-out confusion, {feature} / {method} (n={int(matrix.values.sum())})",
            )
    return figures


def image_grid(
    rows: Sequence[Sequence[Path | None]],
    *,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    size: int = 128,
    title: str | None = None,
) -> Figure:
    """A matplotlib grid of images (each centre-cropped to a square), with row and column labels."""
    import matplotlib.pyplot as plt

    from .images import center_crop, load_image, resize_shorter

    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(1.6 * n_cols + 1.2, 1.6 * n_rows + 0.4), squeeze=False)
    for i, row in enumerate(rows):
        for j in range(n_cols):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            path = row[j] if j < len(row) else None
            if path is not None:
                ax.imshow(center_crop(resize_shorter(load_image(path), size), size))
            if j == 0 and row_labels is not None:
                ax.set_ylabel(row_labels[i], rotation=0, ha="right", va="center", fontsize=9)
            if i == 0 and col_labels is not None:
                ax.set_title(col_labels[j], fontsize=9)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig
