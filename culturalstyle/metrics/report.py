"""The Markdown report of one evaluation; its directions and metric explanations come from the registry."""

from __future__ import annotations

import math

import pandas as pd

from .artfid import ARTFID_NOTE
from .fidelity import INCEPTION_NOTE, IS_NOTE
from .registry import TRANSLATION, output_of

DIRECTION_WORDS = {"lower": "Lower is better for", "higher": "higher is better for"}


def column_label(row: pd.Series) -> str:
    """A row's column in reports and comparisons: the run (or method) for translations, else the method."""
    if row["role"] == TRANSLATION:
        return str(row["run"] or row["method"])
    return str(row["method"])


def metric_explanations(names: list[str], target: str) -> list[str]:
    """The direction sentence and one line per metric, from the registered outputs of `names`."""
    outputs = [o for o in (output_of(name) for name in names) if o is not None]
    parts = []
    for direction, words in DIRECTION_WORDS.items():
        named = [o.name for o in outputs if o.direction == direction]
        if named:
            parts.append(f"{words} {', '.join(named)}")
    neutral = [o.name for o in outputs if o.direction == "none"]
    if neutral:
        parts.append(
            f"no better direction (read against the baselines and controls) for {', '.join(neutral)}"
        )
    sentence = "; ".join(parts)
    sentence = sentence[:1].upper() + sentence[1:] + ". " if sentence else ""
    lines = [f"{sentence}n = generated / reference images."]
    lines += [f"- `{o.name}`: {o.description.replace('{target}', '{' + target + '}')}" for o in outputs]
    return lines


def _fmt(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    ax = abs(x)
    return f"{x:.3g}" if ax >= 100 or ax < 0.01 and ax != 0 else f"{x:.3f}"


def report_markdown(table: pd.DataFrame, title: str | None = None) -> str:
    """A short Markdown report of one evaluation: value [95% CI] (N generated / N reference) per method."""
    first = table.iloc[0]
    title = (
        title
        or f"Evaluation: {first['source']} → {first['target']} ({first['split']} split, {first['size']} px)"
    )
    labels = list(dict.fromkeys(table.apply(column_label, axis=1)))
    lines = [f"# {title}", "", "| metric | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]
    keyed = table.assign(label=table.apply(column_label, axis=1)).set_index(["metric", "label"])
    for metric in dict.fromkeys(table["metric"]):
        cells = []
        for label in labels:
            if (metric, label) not in keyed.index:
                cells.append("")
                continue
            r = keyed.loc[(metric, label)]
            r = r.iloc[0] if isinstance(r, pd.DataFrame) else r
            ci = f" [{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]" if not pd.isna(r["ci_low"]) else ""
            cells.append(f"{_fmt(r['value'])}{ci} (n={int(r['n_generated'])}/{int(r['n_reference'])})")
        lines.append(f"| {metric} | " + " | ".join(cells) + " |")
    kid = table[table["metric"] == "kid"]["details"]
    explained = metric_explanations(list(dict.fromkeys(table["metric"])), str(first["target"]))
    lines += [
        "",
        explained[0],
        "`identity` = the untranslated source images; `real-target` = real target images of another split "
        "against the same reference (the floor at this N).",
        *explained[1:],
        "",
        "Notes:",
        f"- Networks: {INCEPTION_NOTE}; LPIPS: {table[table['metric'] == 'lpips']['network'].iloc[0] if (table['metric'] == 'lpips').any() else 'not computed'}.",
        f"- {ARTFID_NOTE}",
        f"- KID: {kid.iloc[0] if len(kid) else 'not computed'}.",
        "- FID is biased upwards at small N; compare runs at equal N and against the real-target floor.",
        f"- {IS_NOTE}",
    ]
    return "\n".join(lines) + "\n"
