"""Artist-disjoint train/val/test splits of a corpus.

Every known artist and every duplicate group (`culturalstyle.duplicates`: same sha256 or a near pHash) stays
on one side, so no statistic or translator is tested on an artist or an image it saw in training.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .corpus import CONTENT_SPLIT, PROBLEM_COLUMNS, Corpus, artist_known
from .duplicates import NEAR_DUPLICATE_BITS, find_duplicates, near_duplicate_pairs


def split_groups(corpus: Corpus, near_threshold: int = NEAR_DUPLICATE_BITS) -> np.ndarray:
    """Group label per row: rows sharing a known artist, a sha256 or a near-duplicate pHash share a group.

    Unknown artists are singletons (unless duplicated). Groups are what `make_splits` keeps together.
    """
    df = corpus.df
    parent = list(range(len(df)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)

    first_by_key: dict[tuple[str, str], int] = {}
    for i, (artist, sha) in enumerate(zip(df["artist"], df["sha256"], strict=True)):
        keys = [("sha", sha)] if sha else []
        if artist_known(artist):
            keys.append(("artist", str(artist).strip().lower()))
        for key in keys:
            if key in first_by_key:
                union(i, first_by_key[key])
            else:
                first_by_key[key] = i
    if "phash" in df.columns:
        for i, j, _ in near_duplicate_pairs(df["phash"].tolist(), near_threshold):
            union(i, j)
    return np.array([find(i) for i in range(len(df))])


def _majority(labels: pd.Series) -> str:
    """The most frequent label (ties broken alphabetically, so the result never depends on row order)."""
    counts = labels.value_counts()
    return min(counts.index, key=lambda label: (-counts[label], label))


def make_splits(
    corpus: Corpus,
    test_fraction: float = 0.2,
    val_fraction: float = 0.0,
    seed: int = 0,
    near_threshold: int = NEAR_DUPLICATE_BITS,
) -> Corpus:
    """Assign train/val/test, deterministic from `seed`, stratified by culture and artist-disjoint.

    Groups (see `split_groups`: one known artist, or one duplicate cluster) are shuffled per culture with
    the seed and each is put into test (then val) while that brings the split closer to its target share
    of the culture, else into train. A group spanning cultures is stratified under its majority culture.
    If a culture with two or more groups would get no test group, its smallest group goes to test (and a
    warning says the share is off). Rows whose split is "content" (content photos) are left unchanged.
    """
    if not 0 <= test_fraction < 1 or not 0 <= val_fraction < 1 or test_fraction + val_fraction >= 1:
        raise ValueError(f"bad split fractions: test={test_fraction}, val={val_fraction}")
    df = corpus.df.copy()
    art = df["split"] != CONTENT_SPLIT
    sub = Corpus(df[art], corpus.root)
    groups = split_groups(sub, near_threshold)
    table = sub.df.assign(group=groups)
    # Order groups by a key that does not depend on row order: the smallest sha256/image_id in the group.
    group_key = table.groupby("group")["image_id"].min()
    home = table.groupby("group")["culture"].agg(_majority)
    sizes = table.groupby("group").size()
    assignment: dict[int, str] = {}
    rng = np.random.default_rng(seed)
    for culture in sorted(home.unique()):
        members = sorted(home.index[home == culture], key=lambda g: group_key[g])
        order = [members[k] for k in rng.permutation(len(members))]
        n_culture = int(sizes[members].sum())
        targets = {"test": test_fraction * n_culture, "val": val_fraction * n_culture}
        counts = {"test": 0, "val": 0}
        for g in order:
            size = int(sizes[g])
            chosen = "train"
            for split in ("test", "val"):
                gap_now = abs(counts[split] - targets[split])
                if targets[split] > 0 and abs(counts[split] + size - targets[split]) < gap_now:
                    chosen = split
                    counts[split] += size
                    break
            assignment[g] = chosen
        if test_fraction > 0 and len(members) == 1:
            warnings.warn(
                f"culture {culture!r} is one artist/duplicate group ({n_culture} images); it cannot be split "
                "artist-disjointly and stays wholly in train",
                stacklevel=2,
            )
        if test_fraction > 0 and counts["test"] == 0 and len(members) >= 2:
            smallest = min(members, key=lambda g: (int(sizes[g]), group_key[g]))
            assignment[smallest] = "test"
            warnings.warn(
                f"culture {culture!r}: no artist group fits the test share {test_fraction:.0%} of "
                f"{n_culture} images; its smallest group ({int(sizes[smallest])} images) went to test",
                stacklevel=2,
            )
    df.loc[art, "split"] = [assignment[g] for g in groups]
    return corpus._like(df, corpus.problems)


def split_leaks(corpus: Corpus, near_threshold: int = NEAR_DUPLICATE_BITS) -> pd.DataFrame:
    """Known artists and duplicate groups that appear in more than one split (should be empty)."""
    df = corpus.df[corpus.df["split"] != CONTENT_SPLIT]
    rows = []
    for artist, group in df[df["artist"].map(artist_known)].groupby("artist"):
        splits = sorted(group["split"].unique())
        if len(splits) > 1:
            rows.append(
                (group["path"].iloc[0], "split leak", f"artist {artist!r} appears in splits {splits}")
            )
    dups = find_duplicates(Corpus(df, corpus.root), near_threshold)
    split_of = dict(zip(df["image_id"], df["split"], strict=True))
    for a, b, pa, pb, kind in zip(
        dups["image_id_a"], dups["image_id_b"], dups["path_a"], dups["path_b"], dups["kind"], strict=True
    ):
        if split_of[a] != split_of[b]:
            rows.append(
                (
                    pb,
                    "split leak",
                    f"{kind} duplicate of {pa} is in split {split_of[a]!r}, this one in {split_of[b]!r}",
                )
            )
    return pd.DataFrame(rows, columns=PROBLEM_COLUMNS)
