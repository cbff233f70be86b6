"""Figures of the backbone comparison (`representations.compare_backbones`): accuracy per backbone with
CIs and the paired test against the reference, and conformal coverage / unknown rates. Like `plots`, every
function returns a matplotlib Figure with its sample sizes in the title."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

FAMILY_COLOURS = {"style": "tab:blue", "content": "tab:orange", "colour": "tab:green", "custom": "tab:purple"}


def _figure(width: float, height: float, ncols: int = 1) -> tuple[Figure, Any]:
    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.subplots(1, ncols, squeeze=False)[0]


def backbone_accuracy(
    table: pd.DataFrame, paired: pd.DataFrame | None = None, *, title: str | None = None
) -> Figure:
    """Leave-artist-out accuracy and balanced accuracy per backbone (artist-bootstrap 95% CIs), coloured by
    family, with the majority-class and chance lines; above each bar the Holm-adjusted paired-bootstrap p
    of its difference from the reference backbone."""
    fig, (ax,) = _figure(max(6.0, 1.5 * len(table) + 2.5), 4.8)
    x = np.arange(len(table))
    width = 0.38
    for offset, (column, low, high, hatch, label) in enumerate(
        (
            ("accuracy", "ci_low", "ci_high", "", "accuracy"),
            ("balanced_accuracy", "balanced_ci_low", "balanced_ci_high", "//", "balanced accuracy"),
        )
    ):
        values = table[column].to_numpy(float)
        error = np.vstack([values - table[low].to_numpy(float), table[high].to_numpy(float) - values])
        colours = [FAMILY_COLOURS.get(f, "tab:gray") for f in table["family"]]
        ax.bar(
            x + (offset - 0.5) * width,
            values,
            width,
            yerr=error,
            capsize=3,
            color=colours,
            hatch=hatch,
            edgecolor="white",
            alpha=0.9 if offset == 0 else 0.6,
            label=label,
        )
    ax.axhline(float(table["majority_baseline"].max()), color="0.3", ls="--", lw=1, label="majority class")
    ax.axhline(
        1.0 / float(table["n_cultures"].max()), color="0.6", ls=":", lw=1, label="chance (1 / cultures)"
    )
    if paired is not None and len(paired):
        p = paired.set_index("backbone")["bootstrap_p_holm"]
        for i, name in enumerate(table["backbone"]):
            text = "reference" if name not in p.index else f"p_Holm={p[name]:.2g}"
            top = float(table["ci_high"].iloc[i])
            ax.text(i, min(top + 0.03, 1.07), text, ha="center", va="bottom", fontsize="small")
    ax.set_xticks(x, [f"{b}\n({f})" for b, f in zip(table["backbone"], table["family"])])
    ax.set_ylim(0, 1.15)
    ax.set_ylabel("leave-artist-out culture accuracy")
    first = table.iloc[0]
    ax.set_title(
        title
        or f"Which representation separates cultures? (n={int(first['n'])} images, {int(first['n_artists'])} "
        f"artists, {int(first['n_folds'])} artist-disjoint folds; 95% artist-bootstrap CIs)",
        fontsize="medium",
    )
    ax.legend(fontsize="small", loc="lower right")
    return fig


def conformal_summary(coverage: pd.DataFrame, unknown: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Left: empirical coverage per culture and backbone (95% CI) against the target 1 - alpha.
    Right: leave-one-culture-out unknown rate (share of the held-out culture's works with the empty set)."""
    fig, (left, right) = _figure(13.0, 4.8, ncols=2)
    backbones = list(dict.fromkeys(coverage["backbone"]))
    cultures = [c for c in dict.fromkeys(coverage["culture"]) if c != "all"] + ["all"]
    width = 0.8 / max(1, len(backbones))
    colours = {b: f"C{i}" for i, b in enumerate(backbones)}
    for k, name in enumerate(backbones):
        rows = coverage[coverage["backbone"] == name].set_index("culture").reindex(cultures)
        pos = np.arange(len(cultures)) + (k - (len(backbones) - 1) / 2) * width
        v = rows["coverage"].to_numpy(float)
        err = np.vstack(
            [v - rows["coverage_ci_low"].to_numpy(float), rows["coverage_ci_high"].to_numpy(float) - v]
        )
        left.errorbar(pos, v, yerr=err, fmt="o", color=colours[name], capsize=2, label=name)
        part = unknown[unknown["backbone"] == name]
        held = list(dict.fromkeys(unknown["held_out"]))
        part = part.set_index("held_out").reindex(held)
        pos = np.arange(len(held)) + (k - (len(backbones) - 1) / 2) * width
        u = part["unknown_rate"].to_numpy(float)
        uerr = np.vstack([u - part["ci_low"].to_numpy(float), part["ci_high"].to_numpy(float) - u])
        right.bar(pos, u, width, yerr=uerr, capsize=2, color=colours[name], label=name)
    target = float(coverage["target_coverage"].iloc[0])
    left.axhspan(target - 0.05, target + 0.05, color="0.9", zorder=0, label="target ± 0.05")
    left.axhline(target, color="0.3", ls="--", lw=1)
    n = coverage[coverage["culture"] != "all"].drop_duplicates("culture").set_index("culture")["n"]
    left.set_xticks(range(len(cultures)), [f"{c}\n(n={int(n[c])})" if c in n else c for c in cultures])
    left.set_ylim(max(0.0, min(0.5, float(coverage["coverage_ci_low"].min()) - 0.05)), 1.02)
    left.set_ylabel("coverage: true culture in the set")
    left.set_title(f"Conformal coverage, unseen artists (target {target:.2f})", fontsize="medium")
    left.legend(fontsize="x-small", loc="lower left")
    sizes = unknown.drop_duplicates("held_out").set_index("held_out")["n"]
    right.set_xticks(range(len(sizes)), [f"{c}\n(n={int(v)})" for c, v in sizes.items()])
    right.set_ylim(0, 1.05)
    right.set_ylabel("share with the empty set")
    right.set_title("Culture held out entirely: 'none of the known cultures'", fontsize="medium")
    if title:
        fig.suptitle(title)
    return fig


def comparison_figures(comparison: Any) -> dict[str, Figure]:
    """The standard figures of a `representations.BackboneComparison`, keyed by file stem."""
    tables = comparison.tables
    figures = {"backbone_accuracy": backbone_accuracy(tables["backbones"], tables.get("backbone_paired"))}
    if len(tables.get("conformal_coverage", [])):
        figures["conformal_coverage"] = conformal_summary(
            tables["conformal_coverage"], tables["conformal_unknown"]
        )
    return figures
