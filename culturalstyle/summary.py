"""Count tables and the markdown summary of a corpus (what `culturalstyle corpus summary` prints)."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from .corpus import CONTENT_SPLIT, Corpus, artist_known

_SPLIT_ORDER = {"train": 0, "val": 1, "test": 2, CONTENT_SPLIT: 3, "": 4}


def _split_columns(values: Iterable[str]) -> list[str]:
    return sorted(set(values), key=lambda s: (_SPLIT_ORDER.get(s, 5), s))


def summarize(corpus: Corpus) -> dict[str, pd.DataFrame]:
    """Count tables with explicit `n_*` columns.

    - `cultures`: culture, n_images, n_artists (known artists), then n_<split> for every split present;
    - `artists`: culture, artist, n_images, split(s) the artist's images are in;
    - `splits`: split, n_images, n_cultures, n_artists;
    - `problems`: kind, n.
    """
    df = corpus.df.copy()
    df["split_label"] = df["split"].replace("", "(none)")
    split_names = _split_columns(df["split"])
    known = df[df["artist"].map(artist_known)]
    cultures = []
    for culture, group in df.groupby("culture", sort=True):
        row = {
            "culture": culture,
            "n_images": len(group),
            "n_artists": int(known.loc[known["culture"] == culture, "artist"].nunique()),
        }
        for split in split_names:
            row[f"n_{split or '(none)'}"] = int((group["split"] == split).sum())
        cultures.append(row)
    artists = (
        df.assign(artist=df["artist"].where(df["artist"].map(artist_known), "(unknown)"))
        .groupby(["culture", "artist"], sort=True)
        .agg(
            n_images=("image_id", "size"),
            splits=("split_label", lambda s: "+".join(_split_columns(s.unique()))),
        )
        .reset_index()
    )
    splits = (
        df.groupby("split_label", sort=False)
        .agg(n_images=("image_id", "size"), n_cultures=("culture", "nunique"))
        .reset_index()
        .rename(columns={"split_label": "split"})
    )
    splits["n_artists"] = [
        int(known.loc[known["split"].replace("", "(none)") == s, "artist"].nunique()) for s in splits["split"]
    ]
    splits = splits.sort_values("split", key=lambda s: s.map(lambda v: _SPLIT_ORDER.get(v, 5))).reset_index(
        drop=True
    )
    problems = (
        corpus.problems.groupby("kind").size().rename("n").reset_index()
        if len(corpus.problems)
        else pd.DataFrame({"kind": pd.Series(dtype=str), "n": pd.Series(dtype=int)})
    )
    return {"cultures": pd.DataFrame(cultures), "artists": artists, "splits": splits, "problems": problems}


def markdown_table(df: pd.DataFrame) -> str:
    """A GitHub-flavoured markdown table (numbers right-aligned); no extra dependency."""
    headers = [str(c) for c in df.columns]
    body = [[str(v) for v in row] for row in df.itertuples(index=False)]
    numeric = [pd.api.types.is_numeric_dtype(df[c]) for c in df.columns]
    lines = ["| " + " | ".join(headers) + " |"]
    lines.append("|" + "|".join("---:" if num else "---" for num in numeric) + "|")
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


def format_summary(corpus: Corpus) -> str:
    """The text `culturalstyle corpus summary` prints (markdown; the dataset card embeds it verbatim)."""
    tables = summarize(corpus)
    known = corpus.df.loc[corpus.df["artist"].map(artist_known), "artist"].nunique()
    parts = [
        f"{len(corpus)} images, {len(corpus.cultures)} cultures, {known} known artists, "
        f"{len(corpus.problems)} problems",
        "",
        "### Per culture",
        "",
        markdown_table(tables["cultures"]),
        "",
        "### Per split",
        "",
        markdown_table(tables["splits"]),
        "",
        "### Per artist",
        "",
        markdown_table(tables["artists"]),
        "",
        "### Problems",
        "",
        markdown_table(tables["problems"]) if len(tables["problems"]) else "none",
    ]
    return "\n".join(parts) + "\n"
