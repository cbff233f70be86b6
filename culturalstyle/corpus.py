"""The culture-labelled corpus: a manifest table (pandas) of images under a root folder.

A `Corpus` is what every other module consumes. It is built by an importer (a folder tree, the
WikiArt/ArtGAN layout, or a CycleGAN dataset), which validates every file without stopping at the first
bad one: unusable files are skipped and listed in `corpus.problems` with a reason, while structural
mistakes (an empty culture folder, a culture label nobody asked for) are raised as `CorpusError` before any
work is done. Exact duplicates (sha256) and near duplicates (a 64-bit DCT perceptual hash) are reported,
and `make_splits` keeps each duplicate group, and each known artist, on one side of the split.
"""

from __future__ import annotations

import csv
import hashlib
import os
import warnings
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from .cache import atomic_path

MANIFEST_NAME = "manifest.csv"
PROBLEMS_NAME = "problems.csv"
COLUMNS = [
    "image_id",
    "path",
    "culture",
    "artist",
    "title",
    "date",
    "source",
    "license",
    "split",
    "sha256",
    "width",
    "height",
]
OPTIONAL_COLUMNS = ["phash", "artist_full"]
PROBLEM_COLUMNS = ["path", "kind", "reason"]
SPLITS = ("train", "val", "test")
CONTENT_SPLIT = "content"  # rows that are not art (content photos); make_splits leaves them alone
UNKNOWN_ARTISTS = {"", "unknown", "anonymous", "unidentified artist", "nan", "n/a", "none"}
NEAR_DUPLICATE_BITS = (
    6  # Hamming distance between 64-bit pHashes at or below which images are near duplicates
)

DEFAULT_WIKIARTSTYLE_MAP = {
    "Ukiyo_e": "ukiyo_e",
    "Early_Renaissance": "renaissance",
    "High_Renaissance": "renaissance",
    "Northern_Renaissance": "renaissance",
    "Mannerism_Late_Renaissance": "renaissance",
    "Impressionism": "impressionism",
    "Post_Impressionism": "impressionism",
}

_TEXT_COLUMNS = [
    "image_id",
    "path",
    "culture",
    "artist",
    "title",
    "date",
    "source",
    "license",
    "split",
    "sha256",
]


class CorpusError(ValueError):
    """A structural problem with a corpus (empty culture folder, unknown culture label, bad manifest)."""


def _empty_problems() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=str) for c in PROBLEM_COLUMNS})


def _normalise(df: pd.DataFrame) -> pd.DataFrame:
    """Manifest columns in a fixed order with fixed dtypes (text as str, sizes as int)."""
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise CorpusError(f"manifest lacks columns {missing}; required: {COLUMNS}")
    df = df.copy()
    for column in _TEXT_COLUMNS + [c for c in OPTIONAL_COLUMNS if c in df.columns]:
        df[column] = df[column].fillna("").astype(str)
    for column in ("width", "height"):
        df[column] = pd.to_numeric(df[column], errors="raise").fillna(0).astype(int)
    extra = [c for c in df.columns if c not in COLUMNS]
    df = df[COLUMNS + extra].reset_index(drop=True)
    duplicated = df["image_id"][df["image_id"].duplicated()].tolist()
    if duplicated:
        raise CorpusError(f"image_id must be unique; repeated: {duplicated[:5]}")
    return df


class Corpus:
    """A manifest DataFrame (`df`, columns `COLUMNS`) of images whose `path` is relative to `root`."""

    def __init__(self, df: pd.DataFrame, root: str | os.PathLike, problems: pd.DataFrame | None = None):
        self.df = _normalise(df)
        self.root = Path(root)
        self.problems = problems.reset_index(drop=True) if problems is not None else _empty_problems()

    # -- persistence -------------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike) -> Corpus:
        """Load a manifest CSV, or a directory holding `manifest.csv` (a sibling problems.csv is read too)."""
        path = Path(path)
        manifest = path / MANIFEST_NAME if path.is_dir() else path
        if not manifest.exists():
            raise FileNotFoundError(f"no corpus manifest at {manifest}")
        df = pd.read_csv(manifest, dtype=str, keep_default_na=False)
        problems_file = manifest.parent / PROBLEMS_NAME
        problems = None
        if problems_file.exists():
            problems = pd.read_csv(problems_file, dtype=str, keep_default_na=False)
        return cls(df, manifest.parent, problems)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the manifest (atomically) to a CSV path, or to `<dir>/manifest.csv`.

        Paths are rewritten relative to the manifest's folder so the saved corpus is self-contained; the
        problems table goes to a sibling `problems.csv` when it is not empty.
        """
        path = Path(path)
        manifest = path if path.suffix.lower() == ".csv" else path / MANIFEST_NAME
        folder = manifest.parent.resolve()
        df = self.df.copy()
        df["path"] = [_relative_to(self.root.resolve() / p, folder) for p in df["path"]]
        with atomic_path(manifest) as tmp:
            df.to_csv(tmp, index=False, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
        if len(self.problems):
            problems = self.problems.copy()
            problems["path"] = [
                _relative_to(Path(p), folder) if Path(p).is_absolute() else p for p in problems["path"]
            ]
            with atomic_path(folder / PROBLEMS_NAME) as tmp:
                problems.to_csv(tmp, index=False, lineterminator="\n")
        return manifest

    # -- access ------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.df)

    def __repr__(self) -> str:
        return f"Corpus({len(self)} images, cultures={self.cultures}, root={str(self.root)!r})"

    @property
    def cultures(self) -> list[str]:
        return sorted(self.df["culture"].unique().tolist())

    def abspath(self, image_id_or_row: str | pd.Series | dict) -> Path:
        """Absolute path of an image given its image_id or a manifest row."""
        if isinstance(image_id_or_row, str):
            rows = self.df.loc[self.df["image_id"] == image_id_or_row, "path"]
            if rows.empty:
                raise KeyError(f"no image with image_id {image_id_or_row!r}")
            rel = rows.iloc[0]
        else:
            rel = image_id_or_row["path"]
        return (self.root / rel).resolve()

    def paths(self) -> list[Path]:
        return [(self.root / p).resolve() for p in self.df["path"]]

    def filter(
        self, culture: str | Sequence[str] | None = None, split: str | Sequence[str] | None = None
    ) -> Corpus:
        """Rows of the given culture(s) and split(s); the problems table travels along."""
        mask = pd.Series(True, index=self.df.index)
        if culture is not None:
            wanted = [culture] if isinstance(culture, str) else list(culture)
            mask &= self.df["culture"].isin(wanted)
        if split is not None:
            wanted = [split] if isinstance(split, str) else list(split)
            mask &= self.df["split"].isin(wanted)
        return Corpus(self.df[mask], self.root, self.problems)

    def manifest_hash(self) -> str:
        """Hash of the sorted (sha256, culture, split, artist) rows: identifies the data, not its location."""
        rows = sorted(
            zip(self.df["sha256"], self.df["culture"], self.df["split"], self.df["artist"], strict=True)
        )
        digest = hashlib.sha256()
        for row in rows:
            digest.update("\t".join(row).encode() + b"\n")
        return digest.hexdigest()

    # -- reports -----------------------------------------------------------------------------------------
    def summary(self) -> dict[str, pd.DataFrame]:
        """Tidy count tables: per culture (with split columns), per artist, per split, problems per kind."""
        return summarize(self)

    def check(self, *, verify_hashes: bool = True, near_threshold: int = NEAR_DUPLICATE_BITS) -> pd.DataFrame:
        """Re-validate the corpus on disk; returns a problems DataFrame (empty when all is well)."""
        return check_corpus(self, verify_hashes=verify_hashes, near_threshold=near_threshold)


def _relative_to(path: Path, folder: Path) -> str:
    return Path(os.path.relpath(Path(path).resolve(), folder)).as_posix()


# --------------------------------------------------------------------------------------------------------
# perceptual hash and duplicates
# --------------------------------------------------------------------------------------------------------
def _dct_matrix(n: int) -> np.ndarray:
    """Orthonormal DCT-II matrix (row k = frequency k), so that dct2(x) = D @ x @ D.T."""
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    matrix = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    matrix[0] /= np.sqrt(2.0)
    return matrix


_DCT32 = _dct_matrix(32)


def phash(img: Image.Image) -> str:
    """64-bit DCT perceptual hash as 16 hex digits.

    Greyscale 32x32 thumbnail -> 2-D DCT -> the 8x8 lowest frequencies without the DC term's influence on
    the threshold -> one bit per coefficient: above the median or not. Robust to rescaling and JPEG
    re-encoding, so it finds the same artwork saved twice at different sizes.
    """
    grey = np.asarray(img.convert("L").resize((32, 32), Image.Resampling.LANCZOS), dtype=np.float64)
    coeffs = (_DCT32 @ grey @ _DCT32.T)[:8, :8].ravel()
    median = np.median(coeffs[1:])
    bits = coeffs > median
    value = 0
    for bit in bits:
        value = (value << 1) | int(bit)
    return f"{value:016x}"


def hamming(a: str, b: str) -> int:
    """Bits that differ between two hex hashes."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


def near_duplicate_pairs(
    hashes: Sequence[str], threshold: int = NEAR_DUPLICATE_BITS
) -> list[tuple[int, int, int]]:
    """(i, j, distance) for all i < j whose hashes differ in at most `threshold` bits.

    Splits the 64 bits into threshold + 1 bands: two hashes within the threshold agree exactly on at least
    one band (pigeonhole), so only hashes sharing a band value are compared — no all-pairs loop.
    """
    valid = [(i, int(h, 16)) for i, h in enumerate(hashes) if isinstance(h, str) and len(h) == 16]
    bands = threshold + 1
    edges = [int(e) for e in np.linspace(0, 64, bands + 1).round()]
    candidates: set[tuple[int, int]] = set()
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        mask = (1 << (hi - lo)) - 1
        buckets: dict[int, list[int]] = defaultdict(list)
        for i, value in valid:
            buckets[(value >> lo) & mask].append(i)
        for members in buckets.values():
            for a in range(len(members)):
                for b in range(a + 1, len(members)):
                    candidates.add((members[a], members[b]))
    values = dict(valid)
    pairs = []
    for i, j in sorted(candidates):
        distance = (values[i] ^ values[j]).bit_count()
        if distance <= threshold:
            pairs.append((i, j, distance))
    return pairs


def find_duplicates(corpus: Corpus, near_threshold: int = NEAR_DUPLICATE_BITS) -> pd.DataFrame:
    """Pairs of exact (same sha256) and near (pHash within `near_threshold` bits) duplicates.

    Columns: image_id_a, image_id_b, path_a, path_b, kind ("exact" or "near"), distance.
    """
    df = corpus.df
    rows = []
    seen: set[tuple[int, int]] = set()
    for _, group in df.groupby("sha256", sort=True):
        idx = group.index.tolist()
        for a in range(len(idx)):
            for b in range(a + 1, len(idx)):
                seen.add((idx[a], idx[b]))
                rows.append((idx[a], idx[b], "exact", 0))
    if "phash" in df.columns:
        for i, j, distance in near_duplicate_pairs(df["phash"].tolist(), near_threshold):
            if (i, j) not in seen:
                rows.append((i, j, "near", distance))
    out = pd.DataFrame(
        [
            (df.at[i, "image_id"], df.at[j, "image_id"], df.at[i, "path"], df.at[j, "path"], kind, dist)
            for i, j, kind, dist in rows
        ],
        columns=["image_id_a", "image_id_b", "path_a", "path_b", "kind", "distance"],
    )
    return out.astype({"distance": int})


def _duplicate_problems(dups: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "path": dups["path_b"].tolist(),
            "kind": [f"{k} duplicate" for k in dups["kind"]],
            "reason": [
                f"{k} duplicate of {a}" + (f" (pHash distance {d})" if k == "near" else "")
                for k, a, d in zip(dups["kind"], dups["path_a"], dups["distance"], strict=True)
            ],
        },
        columns=PROBLEM_COLUMNS,
    )


# --------------------------------------------------------------------------------------------------------
# splits
# --------------------------------------------------------------------------------------------------------
def artist_known(artist: str) -> bool:
    return str(artist).strip().lower() not in UNKNOWN_ARTISTS


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
    home = table.groupby("group")["culture"].agg(
        lambda s: sorted(s.value_counts().items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
    )
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
                if targets[split] > 0 and abs(counts[split] + size - targets[split]) < abs(
                    counts[split] - targets[split]
                ):
                    chosen = split
                    counts[split] += size
                    break
            assignment[g] = chosen
        if test_fraction > 0 and counts["test"] == 0 and len(members) >= 2:
            smallest = min(members, key=lambda g: (int(sizes[g]), group_key[g]))
            assignment[smallest] = "test"
            warnings.warn(
                f"culture {culture!r}: no artist group fits the test share {test_fraction:.0%} of "
                f"{n_culture} images; its smallest group ({int(sizes[smallest])} images) went to test",
                stacklevel=2,
            )
    df.loc[art, "split"] = [assignment[g] for g in groups]
    return Corpus(df, corpus.root, corpus.problems)


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


# --------------------------------------------------------------------------------------------------------
# summaries
# --------------------------------------------------------------------------------------------------------
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
