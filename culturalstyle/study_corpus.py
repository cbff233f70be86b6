"""The study's corpus: the bundled sample by default, restricted to the compared cultures, and the small
helpers the corpus overview uses (seeded example rows, a representative year of a free-text date)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from .corpus import Corpus

EXCLUDED_CULTURES = ("content_photo",)  # photographs used as content images, not an art culture


def default_corpus_path() -> Path:
    """The bundled sample corpus (`data/sample` of the repository)."""
    path = Path(__file__).resolve().parents[1] / "data" / "sample"
    if not (path / "manifest.csv").exists():
        raise FileNotFoundError(
            f"the bundled sample corpus is not at {path}; pass the corpus path explicitly (corpus=...)"
        )
    return path


def load_corpus(
    path: str | Path | None = None,
    cultures: Sequence[str] | None = None,
    exclude: Sequence[str] = EXCLUDED_CULTURES,
) -> Corpus:
    """The study corpus: `path` (default: the bundled sample) restricted to `cultures` (default: all but
    `exclude`). Unknown culture names are an error, so a typo cannot silently drop a culture."""
    from .corpus import Corpus

    corpus = Corpus.load(path if path is not None else default_corpus_path())
    if cultures:
        unknown = sorted(set(cultures) - set(corpus.cultures))
        if unknown:
            raise ValueError(
                f"culture(s) {unknown} are not in the corpus {corpus.root}; it has {corpus.cultures}"
            )
        return corpus.filter(culture=list(cultures))
    keep = [c for c in corpus.cultures if c not in set(exclude)]
    return corpus.filter(culture=keep)


def sample_rows(corpus: Corpus, n_per_culture: int, seed: int = 0) -> pd.DataFrame:
    """Up to `n_per_culture` random rows per culture (seeded), cultures in sorted order."""
    rng = np.random.default_rng(seed)
    parts = []
    for culture in corpus.cultures:
        group = corpus.df[corpus.df["culture"] == culture]
        take = rng.choice(len(group), size=min(n_per_culture, len(group)), replace=False)
        parts.append(group.iloc[np.sort(take)])
    return pd.concat(parts, ignore_index=True)


def parse_year(text: Any) -> float:
    """A representative year from a free-text date: the first 3-4 digit year ("c. 1503-1506" -> 1503),
    or the middle of a century ("late 10th c." -> 950, "18th century" -> 1750); NaN when there is none
    (e.g. a dynasty name). Used only to plot periods, with the number of parsed dates reported."""
    value = str(text or "")
    year = re.search(r"(?<!\d)(\d{3,4})(?!\d|th|st|nd|rd)", value)
    if year:
        return float(year.group(1))
    century = re.search(r"(\d{1,2})(?:st|nd|rd|th)\s*(?:c\b|c\.|century)", value, re.IGNORECASE)
    if century:
        return (int(century.group(1)) - 1) * 100 + 50.0
    return float("nan")
