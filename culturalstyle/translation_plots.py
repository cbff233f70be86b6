"""Figures of the translation study: metric estimates per method, training curves and progress, and
translated images placed among real art.

Every figure colours a method with `palette.method_style`, so CycleGAN, AdaIN, the baselines and any control
look the same in every figure and in the explorer; every figure gives its sample sizes and, where it shows
estimates, their confidence intervals.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .palette import METHOD_STYLES, method_key, method_style

# metric -> (axis label, what a better value is); labels say what the number measures and its direction.
METRIC_INFO: dict[str, tuple[str, str]] = {
    "fid": ("FID to real target images (Inception pool features)", "lower is better"),
    "kid": ("KID to real target images (Inception pool features)", "lower is better"),
    "lpips": ("LPIPS distance to the source image", "lower = more of the source kept"),
    "artfid": ("ArtFID = (1 + LPIPS)(1 + FID)", "lower is better"),
    "culture_share_target": ("share classified as the target culture", "higher is better"),
    "gram_shift": ("Gram-space shift (0 = source centroid, 1 = target)", "1 = at the target"),
}
ROLE_ORDER = {"translation": 0, "baseline": 1, "control": 2}


def _figure(width: float, height: float, ncols: int = 1, sharey: bool = False) -> tuple[Figure, list]:
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(1, ncols, sharey=sharey, squeeze=False)[0]
    return fig, list(axes)


def _method_order(method: str) -> tuple[int, str]:
    registered = list(METHOD_STYLES)
    key = method_key(method)
    return (registered.index(key) if key in registered else len(registered), str(method))


def unique_rows(evaluation: pd.DataFrame) -> pd.DataFrame:
    """One row per (metric, method, role, source, target, split, size): baselines evaluated once per method
    by older tables appear once."""
    keys = [c for c in ("metric", "method", "role", "source", "target", "split", "size") if c in evaluation]
    return evaluation.drop_duplicates(keys, keep="first").reset_index(drop=True)


def metric_intervals(
    evaluation: pd.DataFrame, metrics: Sequence[str] = ("fid", "lpips"), *, title: str | None = None
) -> Figure:
    """Point estimates with 95 % CIs of `metrics` for every method and direction of a `metrics.evaluate`
    table, one panel per metric, one row per (direction, method); baselines once per direction.

    Each row label gives the method, its role and n (generated / reference images); each value is printed
    beside its dot, so a value of 0 (the identity's LPIPS) is as visible as any other.
    """
    table = unique_rows(evaluation[evaluation["metric"].isin(metrics)])
    missing = [m for m in metrics if m not in set(table["metric"])]
    if missing:
        raise ValueError(f"the evaluation table has no rows for metric(s) {missing}")
    # a (method, role) can appear at several resolutions (a shipped 128 px translator beside a 32 px smoke
    # run, each with its own baselines and controls): the size is part of a row's key
    columns = ["source", "target", "method", "role"] + (["size"] if "size" in table else [])
    sized = "size" in table and table["size"].nunique() > 1
    keys = (
        table[columns]
        .drop_duplicates()
        .assign(
            _role=lambda d: d["role"].map(ROLE_ORDER).fillna(3),
            _method=lambda d: d["method"].map(_method_order),
        )
        .sort_values(["source", "target", "_role", "_method"])
    )
    rows: list[tuple | None] = []
    for _direction, group in keys.groupby(["source", "target"], sort=False):
        if rows:
            rows.append(None)  # a gap between directions
        rows.extend(tuple(getattr(r, c) for c in columns) for r in group.itertuples())
    fig, axes = _figure(4.6 * len(metrics) + 2.2, 0.34 * len(rows) + 1.6, len(metrics), sharey=True)
    positions = {key: -i for i, key in enumerate(rows) if key is not None}
    for ax, metric in zip(axes, metrics):
        part = table[table["metric"] == metric].set_index(columns)
        values = part["value"].to_numpy(float)
        lows, highs = part["ci_low"].to_numpy(float), part["ci_high"].to_numpy(float)
        span = np.nanmax(np.concatenate([values, highs])) - min(
            0.0, np.nanmin(np.concatenate([values, lows]))
        )
        for key, y in positions.items():
            if key not in part.index:
                ax.text(0, y, " n/a", va="center", fontsize=7, color="0.5")
                continue
            row = part.loc[key]
            style = method_style(key[2])
            low, high = float(row["ci_low"]), float(row["ci_high"])
            err = None
            if np.isfinite(low) and np.isfinite(high):
                err = [[max(row["value"] - low, 0.0)], [max(high - row["value"], 0.0)]]
            ax.errorbar(
                row["value"],
                y,
                xerr=err,
                fmt=style.marker,
                color=style.colour,
                ms=7,
                capsize=3,
                mfc=style.colour if key[3] == "translation" else "white",
            )
            right = high if np.isfinite(high) else row["value"]
            ax.text(right + 0.02 * span, y, f"{row['value']:.3g}", va="center", fontsize=7)
        label, better = METRIC_INFO.get(metric, (metric, ""))
        ax.set_xlabel(f"{label}\n({better})" if better else label, fontsize=8)
        ax.set_title(f"{metric.upper()} · 95% CI", fontsize=10)
        ax.grid(axis="x", color="0.9")
        lowest = min(0.0, float(np.nanmin(lows)) if np.isfinite(lows).any() else 0.0)
        ax.set_xlim(lowest - 0.03 * span, ax.get_xlim()[1] + 0.12 * span)  # room for a dot at 0 and labels
    labels = []
    for key in rows:
        if key is None:
            continue
        source, target, method, role = key[:4]
        mask = np.logical_and.reduce([table[c] == v for c, v in zip(columns, key)])
        n = table[mask].iloc[0]
        kind = "" if role == "translation" else f" ({role})"
        at = f" @{int(key[4])}px" if sized else ""
        labels.append(
            f"{source}→{target}  {method}{kind}{at}  n={int(n['n_generated'])}/{int(n['n_reference'])}"
        )
    axes[0].set_yticks(list(positions.values()), labels, fontsize=8)
    axes[0].set_ylim(min(positions.values()) - 0.7, 0.7)
    fig.suptitle(
        title or "Translation metrics per method and direction (n = generated / reference images)",
        fontsize=10,
    )
    return fig


def smoothing_window(n_rows: int) -> int:
    """Rolling-mean window of the loss curves: 5 logged steps, or 2 % of them for long runs."""
    return max(5, n_rows // 50)


def loss_curves(losses: pd.DataFrame, *, smooth: int | None = None, title: str = "") -> Figure:
    """Training losses per step (adversarial, cycle/identity, total and seed losses): the logged values
    faintly, their rolling mean over `smooth` logged steps (stated in the title) on top."""
    skip = {"step", "lr", "images_per_s"}
    columns = [
        c
        for c in losses.columns
        if c not in skip and pd.api.types.is_numeric_dtype(losses[c]) and losses[c].fillna(0).abs().sum() > 0
    ]
    if "step" not in losses.columns or not columns:
        raise ValueError(f"losses table needs a 'step' column and loss columns; got {list(losses.columns)}")
    window = smooth or smoothing_window(len(losses))
    groups = {
        "adversarial": [c for c in columns if c.startswith(("G_gan", "D_"))],
        "cycle / identity": [c for c in columns if c.startswith(("cycle", "identity"))],
    }
    groups["total and seed losses"] = [
        c for c in columns if c not in groups["adversarial"] + groups["cycle / identity"]
    ]
    groups = {k: v for k, v in groups.items() if v}
    units = {
        "adversarial": "LSGAN loss (mean squared error)",
        "cycle / identity": "λ-weighted L1 loss",
        "total and seed losses": "weighted loss",
    }
    fig, axes = _figure(5 * len(groups), 3.6, len(groups))
    from matplotlib import colormaps

    cycle = colormaps["tab10"]
    for ax, (name, cols) in zip(axes, groups.items()):
        for k, c in enumerate(cols):
            colour = cycle(k % 10)
            ax.plot(losses["step"], losses[c], color=colour, alpha=0.25, lw=0.8)
            ax.plot(losses["step"], losses[c].rolling(window, min_periods=1).mean(), color=colour, label=c)
        ax.set_title(name)
        ax.set_xlabel("training step")
        ax.set_ylabel(units[name])
        ax.legend(fontsize=7)
    suffix = f"faint: logged values; lines: rolling mean over {window} logged steps (n={len(losses)} logged)"
    fig.suptitle(f"{title}\n{suffix}" if title else suffix, fontsize=10)
    return fig


def sample_grid_steps(paths: Sequence[Path], max_grids: int = 6) -> list[Path]:
    """At most `max_grids` of a run's sample grids (`step_<n>_<direction>.png`), evenly spaced over
    training and always including the first and the last."""
    ordered = sorted(paths, key=lambda p: int(p.stem.split("_")[1]))
    if len(ordered) <= max_grids:
        return ordered
    picks = np.unique(np.linspace(0, len(ordered) - 1, max_grids).round().astype(int))
    return [ordered[i] for i in picks]


def training_progress(
    grids: Sequence[Path], *, source: str, target: str, sample_every: int | None = None
) -> Figure:
    """The run's sample grids side by side, one per sampled step: how translations changed over training.

    Each grid has one row per fixed image and the columns source | translation | reconstruction.
    """
    from PIL import Image

    if not grids:
        raise ValueError("no sample grids to show")
    images = [Image.open(p).convert("RGB") for p in grids]
    aspect = images[0].height / images[0].width
    fig, axes = _figure(2.4 * len(images) + 0.4, 2.4 * aspect + 1.0, len(images))
    for ax, image, path in zip(axes, images, grids):
        ax.imshow(np.asarray(image), interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"step {int(path.stem.split('_')[1])}", fontsize=9)
    every = f", sampled every {sample_every} steps" if sample_every else ""
    fig.suptitle(
        f"{source} → {target} over training ({len(images)} of the run's grids{every})\n"
        "each grid: rows = fixed images; columns = source | translation | reconstruction",
        fontsize=9,
    )
    return fig


def fid_over_training(metrics: pd.DataFrame, *, chosen_step: int | None = None, title: str = "") -> Figure:
    """FID and KID of the held-out translations at every evaluation during training (lower is better),
    with the KID interval and the chosen (exported) checkpoint marked."""
    if metrics.empty or not {"step", "fid", "kid"} <= set(metrics.columns):
        raise ValueError(f"metrics.csv needs step, fid and kid columns; got {list(metrics.columns)}")
    fig, axes = _figure(10, 3.4, ncols=2)
    n = f"n = {int(metrics['n_generated'].iloc[0])} translations vs {int(metrics['n_reference'].iloc[0])} references"
    axes[0].plot(metrics["step"], metrics["fid"], marker="o", ms=3, color="#e7298a")
    axes[1].plot(metrics["step"], metrics["kid"], marker="o", ms=3, color="#e7298a")
    if {"kid_ci_low", "kid_ci_high"} <= set(metrics.columns):
        axes[1].fill_between(
            metrics["step"],
            metrics["kid_ci_low"],
            metrics["kid_ci_high"],
            alpha=0.2,
            color="#e7298a",
            label="KID ± 1.96 SD of subsets",
        )
        axes[1].legend(fontsize=7)
    for ax, name in zip(axes, ("FID", "KID")):
        if chosen_step is not None:
            ax.axvline(chosen_step, color="#252525", ls="--", lw=1)
            ax.annotate(
                "shipped checkpoint", (chosen_step, ax.get_ylim()[1]), fontsize=7, ha="right", va="top"
            )
        ax.set_xlabel("training step")
        ax.set_ylabel(f"{name} to the target's test images (lower is better)")
        ax.set_title(f"{name} during training ({n})", fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def translations_in_space(
    coords: np.ndarray,
    cultures: Sequence[str],
    translated: np.ndarray,
    methods: Sequence[str],
    source_coords: np.ndarray,
    *,
    title: str = "Real art and translations",
    axis_labels: tuple[str, str] = ("PC 1", "PC 2"),
) -> Figure:
    """Real art coloured by culture (with 2-sigma ellipses) and translations drawn with their method's
    colour and marker, each with a thin arrow from its source image."""
    from .plots import style_scatter

    translated = np.asarray(translated, dtype=float)
    source_coords = np.asarray(source_coords, dtype=float)
    methods = np.asarray(methods).astype(str)
    if not (len(translated) == len(methods) == len(source_coords)):
        raise ValueError("translated, methods and source_coords need one row per translation")
    fig = style_scatter(coords, cultures, title=title, axis_labels=axis_labels)
    ax = fig.axes[0]
    ax.set_title(f"{title}\n({len(coords)} artworks, {len(translated)} translations)")
    for start, end in zip(source_coords, translated):
        ax.annotate("", end, start, arrowprops={"arrowstyle": "->", "color": "0.4", "lw": 0.5, "alpha": 0.5})
    for method in sorted(set(methods), key=_method_order):
        style = method_style(method)
        xy = translated[methods == method]
        ax.scatter(
            xy[:, 0],
            xy[:, 1],
            marker=style.marker,
            s=42,
            color=style.colour,
            edgecolors="white",
            linewidths=0.6,
            label=f"{method} translations (n={len(xy)})",
            zorder=3,
        )
    ax.legend(fontsize="small", loc="best")
    return fig


def stamp(fig: Figure, text: str) -> Figure:
    """A one-line footnote under a figure (the profile's caveat), so a copied PNG still carries it."""
    if text:
        fig.text(0.5, 0.0, text, ha="center", va="top", fontsize=7, color="#8a1c1c", wrap=True)
    return fig
