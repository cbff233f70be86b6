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
import json
import os
import re
import warnings
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from .cache import atomic_path, atomic_write_text, content_sha256
from .images import (
    ImageError,
    ImageLimits,
    load_image,
    read_image_info,
    verified_sha256,
)

MANIFEST_NAME = "manifest.csv"
PROBLEMS_NAME = "problems.csv"
ROOT_NAME = "corpus.json"  # beside a manifest whose images live outside its folder: {"image_root": "../art"}
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
# Hamming distance between 64-bit pHashes at or below which images are near duplicates
NEAR_DUPLICATE_BITS = 6

DEFAULT_WIKIART_STYLE_MAP = {
    "Ukiyo_e": "ukiyo_e",
    "Early_Renaissance": "renaissance",
    "High_Renaissance": "renaissance",
    "Northern_Renaissance": "renaissance",
    "Mannerism_Late_Renaissance": "renaissance",
    "Impressionism": "impressionism",
    "Post_Impressionism": "impressionism",
}

_TEXT_COLUMNS = [c for c in COLUMNS if c not in ("width", "height")]  # read as strings, never as numbers


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
    """A manifest DataFrame (`df`, columns `COLUMNS`) of images whose `path` is relative to `root`.

    Every image must lie inside `image_root` (default `root`; after `save` elsewhere, the folder the images
    were imported from), symlinks resolved: a manifest cannot pull arbitrary local files into outputs. Rows
    outside it are problems for `check` and errors for `require_usable`, unless `allow_outside_root`.
    """

    def __init__(
        self,
        df: pd.DataFrame,
        root: str | os.PathLike,
        problems: pd.DataFrame | None = None,
        *,
        image_root: str | os.PathLike | None = None,
        allow_outside_root: bool = False,
    ):
        self.df = _normalise(df)
        self.root = Path(root)
        self.problems = problems.reset_index(drop=True) if problems is not None else _empty_problems()
        self.image_root = Path(image_root) if image_root is not None else self.root
        self.allow_outside_root = bool(allow_outside_root)

    def _like(self, df: pd.DataFrame, problems: pd.DataFrame | None = None) -> Corpus:
        """A corpus of other rows with this one's root, image root and outside-root permission."""
        return Corpus(
            df,
            self.root,
            problems,
            image_root=self.image_root,
            allow_outside_root=self.allow_outside_root,
        )

    # -- persistence -------------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike, *, allow_outside_root: bool = False) -> Corpus:
        """Load a manifest CSV, or a directory holding `manifest.csv` (a sibling problems.csv is read too).

        `allow_outside_root=True` lets rows point outside the corpus's image root (they are still reported).
        """
        path = Path(path)
        manifest = path / MANIFEST_NAME if path.is_dir() else path
        if not manifest.exists():
            raise FileNotFoundError(f"no corpus manifest at {manifest}")
        df = pd.read_csv(manifest, dtype=str, keep_default_na=False)
        problems_file = problems_path(manifest)
        problems = None
        if problems_file.exists():
            problems = pd.read_csv(problems_file, dtype=str, keep_default_na=False)
        image_root = manifest.parent
        root_file = root_path(manifest)
        if root_file.exists():
            try:
                declared = json.loads(root_file.read_text(encoding="utf-8"))["image_root"]
            except (ValueError, KeyError, TypeError) as error:
                raise CorpusError(f'{root_file}: expected {{"image_root": "FOLDER"}} ({error})') from error
            image_root = manifest.parent / str(declared)
        return cls(
            df, manifest.parent, problems, image_root=image_root, allow_outside_root=allow_outside_root
        )

    def save(self, path: str | os.PathLike) -> Path:
        """Write the manifest (atomically) to a CSV path, or to `<dir>/manifest.csv`.

        Paths are rewritten relative to the manifest's folder so the saved corpus is self-contained; the
        problems table (paths rewritten likewise) goes beside it (`problems_path`) when it is not empty.
        """
        path = Path(path)
        manifest = path if path.suffix.lower() == ".csv" else path / MANIFEST_NAME
        manifest.parent.mkdir(parents=True, exist_ok=True)
        folder = manifest.parent.resolve()
        df = self.df.copy()
        df["path"] = [_relative_to(self.root.resolve() / p, folder) for p in df["path"]]
        with atomic_path(manifest) as tmp:
            df.to_csv(tmp, index=False, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
        image_root = _relative_to(self.image_root, folder)
        if image_root != ".":  # images stay where they are: say where, so containment still holds
            atomic_write_text(root_path(manifest), json.dumps({"image_root": image_root}) + "\n")
        else:
            root_path(manifest).unlink(missing_ok=True)
        if len(self.problems):
            problems = self.problems.copy()
            problems["path"] = [_relative_to(self.root / p, folder) for p in problems["path"]]
            with atomic_path(problems_path(manifest)) as tmp:
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
        return self._like(self.df[mask], self.problems)

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

    # -- integrity: what every reader relies on ---------------------------------------------------------------
    def outside_root(self) -> pd.DataFrame:
        """Problem rows (path, kind, reason) for images that resolve (symlinks too) outside `image_root`.

        The kind is "outside root" (an error), or "outside root (allowed)" (a warning) with `allow_outside_root`.
        """
        return _outside_root_rows(
            [(rel, self.root / rel) for rel in self.df["path"]], self.image_root, self.allow_outside_root
        )

    def unlabelled(self) -> pd.DataFrame:
        """Problem rows for images whose culture label is empty (every analysis groups by culture)."""
        empty = self.df[self.df["culture"].str.strip() == ""]
        return pd.DataFrame(
            [
                (p, "no culture", f"image_id {i!r} has an empty culture label")
                for p, i in zip(empty["path"], empty["image_id"], strict=True)
            ],
            columns=PROBLEM_COLUMNS,
        )

    def require_usable(self, what: str = "this corpus", *, labels: bool = True) -> None:
        """Raise CorpusError naming the rows when any culture label is empty (checked when `labels`) or any
        image lies outside the image root (without `allow_outside_root`; with it, a warning reports them)."""
        outside = self.outside_root()
        messages = []
        unlabelled = self.unlabelled() if labels else self.unlabelled().iloc[:0]
        if len(unlabelled):
            messages.append(
                f"{len(unlabelled)} row(s) have an empty culture label: {_first(unlabelled)}; label them in the "
                "manifest or leave them out (--cultures)"
            )
        if len(outside) and not self.allow_outside_root:
            messages.append(
                f"{len(outside)} row(s) point outside the corpus root {self.image_root.resolve()}: "
                f"{_first(outside)}; fix the manifest, or opt in with --allow-outside-root "
                "(API: allow_outside_root=True)"
            )
        if messages:
            raise CorpusError(
                f"cannot use {what}: " + "; ".join(messages) + " (see `culturalstyle corpus check`)"
            )
        if len(outside):
            warnings.warn(
                f"{what}: using {len(outside)} image(s) outside the corpus root "
                f"{self.image_root.resolve()} (allowed): {_first(outside)}",
                stacklevel=2,
            )

    def verified_hashes(self) -> list[str]:
        """Each row's file sha256, checked against the manifest's (`images.verified_sha256`), in row order.

        Readers that key caches on these hashes call this, so a replaced file or a swapped/zeroed hash raises
        `ContentMismatchError` naming the row instead of serving another image's cached result.
        """
        return [
            verified_sha256(self.root / rel, sha, row=f"image_id {image_id!r} (path {rel})")
            for image_id, rel, sha in zip(
                self.df["image_id"], self.df["path"], self.df["sha256"], strict=True
            )
        ]


def root_path(manifest: Path) -> Path:
    """Where a manifest records an image root outside its folder: `corpus.json`, else `<stem>.corpus.json`."""
    manifest = Path(manifest)
    name = ROOT_NAME if manifest.name == MANIFEST_NAME else f"{manifest.stem}.corpus.json"
    return manifest.parent / name


def _first(problems: pd.DataFrame, n: int = 5) -> str:
    shown = "; ".join(f"{p} ({r})" for p, r in zip(problems["path"][:n], problems["reason"][:n], strict=True))
    return shown + (f"; ... {len(problems) - n} more" if len(problems) > n else "")


def _outside_root_rows(entries: Iterable[tuple[str, Path]], image_root: Path, allowed: bool) -> pd.DataFrame:
    """(path, kind, reason) for each (label, file) whose resolved file is not inside `image_root`."""
    root = Path(image_root).resolve()
    rows = []
    for label, file in entries:
        resolved = Path(file).resolve()
        if not resolved.is_relative_to(root):
            via = " through a symlink" if Path(file).is_symlink() else ""
            rows.append(
                (
                    label,
                    "outside root (allowed)" if allowed else "outside root",
                    f"resolves{via} to {resolved}, outside the corpus root {root}",
                )
            )
    return pd.DataFrame(rows, columns=PROBLEM_COLUMNS)


def problems_path(manifest: Path) -> Path:
    """Where a manifest's problems table lives: `problems.csv` beside `manifest.csv`, else `<stem>.problems.csv`."""
    manifest = Path(manifest)
    name = PROBLEMS_NAME if manifest.name == MANIFEST_NAME else f"{manifest.stem}.problems.csv"
    return manifest.parent / name


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


# --------------------------------------------------------------------------------------------------------
# validation shared by the importers and `check`
# --------------------------------------------------------------------------------------------------------
ERROR_KINDS = (
    "missing",
    "corrupt",
    "truncated",
    "not an image",
    "too small",
    "too large",
    "sha256 mismatch",
    "bad split",
    "split leak",
    "empty culture",
    "no culture",
    "outside root",
    "metadata",
)
WARNING_KINDS = ("exact duplicate", "near duplicate", "unmapped style", "outside root (allowed)")
NOTE_KINDS = ("image root",)  # facts worth seeing that are neither errors nor warnings
_VALIDATION_SIDE = 256  # validation decodes every file completely but keeps only a small copy (for the pHash)


def _progress(items: list, progress: bool, desc: str):
    if not progress:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, unit="img")


def _validate(path: Path, limits: ImageLimits) -> tuple[int, int, str]:
    """(width, height, phash) of a usable image; raises ImageError otherwise."""
    info = read_image_info(path, max_pixels=limits.max_pixels)
    img = load_image(path, max_side=_VALIDATION_SIDE, min_side=limits.min_side, max_pixels=limits.max_pixels)
    return info.width, info.height, phash(img)


def _scan(
    entries: list[dict],
    root: Path,
    limits: ImageLimits | None,
    progress: bool,
    near_threshold: int,
    problems: list[tuple[str, str, str]],
    allow_outside_root: bool = False,
) -> Corpus:
    """Validate each entry (a dict with `abs` path and manifest fields); bad files become problem rows, and so
    do files resolving outside `root` (skipped, or imported and reported with `allow_outside_root`)."""
    limits = limits or ImageLimits()
    rows = []
    for entry in _progress(entries, progress, "validating"):
        path = entry.pop("abs")
        rel = _relative_to(path, root)
        outside = _outside_root_rows([(rel, path)], root, allow_outside_root)
        problems += list(outside.itertuples(index=False, name=None))
        if len(outside) and not allow_outside_root:
            continue  # a symlink out of the corpus: never imported unless the user opts in
        try:
            width, height, hash_ = _validate(path, limits)
        except ImageError as error:
            problems.append((rel, error.kind, error.reason))
            continue
        row = {column: "" for column in COLUMNS}
        row.update(entry)
        row.update(path=rel, sha256=content_sha256(path), width=width, height=height, phash=hash_)
        row.setdefault("image_id", "")
        if not row["image_id"]:
            row["image_id"] = str(Path(rel).with_suffix("").as_posix())
        rows.append(row)
    frame = pd.DataFrame(rows, columns=list(dict.fromkeys(COLUMNS + [k for r in rows for k in r])))
    corpus = Corpus(frame, root, allow_outside_root=allow_outside_root)
    dups = find_duplicates(corpus, near_threshold)
    problem_frame = pd.DataFrame(problems, columns=PROBLEM_COLUMNS)
    corpus.problems = pd.concat([problem_frame, _duplicate_problems(dups)], ignore_index=True)
    return corpus


def _image_root_note(corpus: Corpus) -> pd.DataFrame:
    """A note when the images live outside the manifest's folder (declared in `corpus.json`), so that a
    shared manifest cannot widen its own root unnoticed."""
    image_root, folder = corpus.image_root.resolve(), corpus.root.resolve()
    if image_root == folder:
        return pd.DataFrame(columns=PROBLEM_COLUMNS)
    return pd.DataFrame(
        [(".", "image root", f"images are read from {image_root}, not from the manifest's folder {folder}")],
        columns=PROBLEM_COLUMNS,
    )


def check_corpus(
    corpus: Corpus,
    *,
    verify_hashes: bool = True,
    near_threshold: int = NEAR_DUPLICATE_BITS,
    limits: ImageLimits | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Re-validate every manifest row on disk: missing/unreadable files, sha256 mismatches, unknown split
    names, empty culture labels, paths outside the corpus root, duplicates, and artists or duplicates that
    straddle splits. Never stops at the first problem."""
    limits = limits or ImageLimits()
    df = corpus.df
    rows: list[tuple[str, str, str]] = []
    hashes = []
    outside = corpus.outside_root()
    refused = set(outside["path"]) if not corpus.allow_outside_root else set()
    for record in _progress(list(df.itertuples(index=False)), progress, "checking"):
        path = corpus.root / record.path
        if record.path in refused:  # never read a file the manifest has no business pointing at
            hashes.append("")
            continue
        if record.split not in SPLITS + (CONTENT_SPLIT, ""):
            rows.append(
                (
                    record.path,
                    "bad split",
                    f"split {record.split!r} is not one of {SPLITS + (CONTENT_SPLIT,)}",
                )
            )
        try:
            _, _, hash_ = _validate(path, limits)
        except ImageError as error:
            rows.append((record.path, error.kind, error.reason))
            hashes.append("")
            continue
        hashes.append(hash_)
        if verify_hashes:
            actual = content_sha256(path)
            if actual != record.sha256:
                rows.append(
                    (record.path, "sha256 mismatch", f"manifest says {record.sha256!r}, file has {actual}")
                )
    checked = Corpus(df.assign(phash=hashes), corpus.root)
    problems = pd.DataFrame(rows, columns=PROBLEM_COLUMNS)
    return pd.concat(
        [
            _image_root_note(corpus),
            outside,
            corpus.unlabelled(),
            problems,
            _duplicate_problems(find_duplicates(checked, near_threshold)),
            split_leaks(checked, near_threshold),
        ],
        ignore_index=True,
    )


# --------------------------------------------------------------------------------------------------------
# importers
# --------------------------------------------------------------------------------------------------------
def _is_candidate(path: Path) -> bool:
    return path.is_file() and not path.name.startswith(".") and path.name not in ("Thumbs.db", "desktop.ini")


def _files_under(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*")
        if _is_candidate(p) and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def _check_culture_label(label: str, cultures: Sequence[str] | None, where: str) -> None:
    if cultures is not None and label not in cultures:
        raise CorpusError(f"unknown culture label {label!r} ({where}); allowed: {sorted(cultures)}")


def _read_metadata(metadata_csv: str | os.PathLike, root: Path) -> pd.DataFrame:
    meta = pd.read_csv(metadata_csv, dtype=str, keep_default_na=False)
    key = next((c for c in ("path", "file", "filename") if c in meta.columns), None)
    if key is None:
        raise CorpusError(
            f"{metadata_csv}: metadata CSV needs a 'path' (or 'file') column relative to {root}"
        )
    meta = meta.rename(
        columns={key: "path", "license_note": "license"} if "license" not in meta.columns else {key: "path"}
    )
    meta["path"] = [Path(p).as_posix() for p in meta["path"]]
    repeated = meta["path"][meta["path"].duplicated()].tolist()
    if repeated:
        raise CorpusError(f"{metadata_csv}: paths listed twice: {repeated[:5]}")
    return meta.set_index("path")


def from_folder(
    root: str | os.PathLike,
    metadata_csv: str | os.PathLike | None = None,
    *,
    cultures: Sequence[str] | None = None,
    limits: ImageLimits | None = None,
    near_threshold: int = NEAR_DUPLICATE_BITS,
    progress: bool = False,
    allow_outside_root: bool = False,
) -> Corpus:
    """Import `root/<culture>/<image>` (sub-folders inside a culture folder are allowed).

    The optional metadata CSV has a `path` column relative to `root` and any of artist, title, date, source,
    license, split, culture, image_id, artist_full. Structural errors are raised before any image is
    decoded (`CorpusError`): no culture folders, an empty culture folder, a culture label outside
    `cultures`, or a metadata culture that contradicts its folder. Unusable files are skipped and listed in
    `corpus.problems`, as are image files lying directly in `root` (other files there, such as a README or
    the manifest itself, are ignored), and symlinks to files outside `root` (imported, and still listed, only
    with `allow_outside_root`; the same holds for every importer).
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"corpus folder {root} does not exist")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise CorpusError(f"{root} has no culture folders; expected {root}/<culture>/<image files>")
    empty = [f.name for f in folders if not _files_under(f)]
    if empty:
        raise CorpusError(f"empty culture folder(s) in {root}: {empty}")
    for folder in folders:
        _check_culture_label(folder.name, cultures, f"folder {folder}")
    meta = _read_metadata(metadata_csv, root) if metadata_csv is not None else None
    problems: list[tuple[str, str, str]] = []
    if meta is not None and "culture" in meta.columns:
        for rel, label in meta["culture"].items():
            if label:
                _check_culture_label(label, cultures, f"metadata row {rel}")
                folder = rel.split("/", 1)[0]
                if folder != label:
                    raise CorpusError(
                        f"{metadata_csv}: row {rel} says culture {label!r} but the file is in folder {folder!r}"
                    )
    entries = []
    image_suffixes = set(Image.registered_extensions())
    for stray in sorted(p for p in root.iterdir() if _is_candidate(p) and p.suffix.lower() in image_suffixes):
        problems.append(
            (stray.name, "not in a culture folder", f"{stray.name} is not inside a culture folder; skipped")
        )
    for folder in folders:
        for path in _files_under(folder):
            rel = path.relative_to(root).as_posix()
            entry = {"abs": path, "culture": folder.name}
            if meta is not None and rel in meta.index:
                fields = meta.loc[rel].to_dict()
                entry.update({k: v for k, v in fields.items() if k != "culture" and v != ""})
            entries.append(entry)
    if meta is not None:
        on_disk = {e["abs"].relative_to(root).as_posix() for e in entries}
        for rel in meta.index:
            if rel not in on_disk:
                problems.append((rel, "missing", f"metadata row {rel} has no file under {root}"))
    corpus = _scan(entries, root, limits, progress, near_threshold, problems, allow_outside_root)
    _report_empty_cultures(corpus, [f.name for f in folders])
    return corpus


def _report_empty_cultures(corpus: Corpus, expected: Iterable[str]) -> None:
    """A culture whose every file was unusable is a problem row (and a warning), not a silent absence."""
    present = set(corpus.df["culture"])
    missing = [c for c in expected if c not in present]
    if missing:
        extra = pd.DataFrame(
            [
                (c, "empty culture", f"culture {c!r} has no usable image (see the other problems)")
                for c in missing
            ],
            columns=PROBLEM_COLUMNS,
        )
        corpus.problems = pd.concat([corpus.problems, extra], ignore_index=True)
        warnings.warn(f"cultures with no usable image: {missing}", stacklevel=3)


def load_style_mapping(path: str | os.PathLike | None = None) -> dict[str, str | None]:
    """The WikiArt style -> culture table: the defaults, overridden by a YAML ({Style: culture}) or CSV
    (columns style, culture) file. A style mapped to an empty value or null is excluded."""
    mapping: dict[str, str | None] = dict(DEFAULT_WIKIART_STYLE_MAP)
    if path is None:
        return mapping
    path = Path(path)
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict):
            raise CorpusError(f"{path}: expected a mapping of WikiArt style to culture")
    else:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
        if not {"style", "culture"} <= set(table.columns):
            raise CorpusError(f"{path}: style mapping CSV needs columns 'style' and 'culture'")
        loaded = dict(zip(table["style"], table["culture"], strict=True))
    for style, culture in loaded.items():
        mapping[str(style)] = str(culture) if culture not in (None, "") else None
    return mapping


_YEAR = re.compile(r"-(\d{4})$")


def parse_wikiart_name(filename: str) -> tuple[str, str, str]:
    """(artist, title, date) from `artist-slug_title-slug[-year].jpg` (WikiArt/ArtGAN file naming)."""
    stem = Path(filename).stem
    artist_slug, _, title_slug = stem.partition("_")
    date = ""
    match = _YEAR.search(title_slug)
    if match:
        date = match.group(1)
        title_slug = title_slug[: match.start()]
    artist = " ".join(word.capitalize() for word in artist_slug.split("-") if word)
    title = title_slug.replace("-", " ").strip()
    return artist, title, date


def _artgan_splits(folder: Path) -> dict[str, str]:
    """relative path -> split from ArtGAN's style_train.csv / style_val.csv (val is ArtGAN's test set)."""
    splits = {}
    for name, split in (("style_train.csv", "train"), ("style_val.csv", "test")):
        csv_path = folder / name
        if csv_path.exists():
            with open(csv_path, encoding="utf-8") as handle:
                for line in csv.reader(handle):
                    if line:
                        splits[Path(line[0]).as_posix()] = split
    return splits


def from_wikiart(
    root: str | os.PathLike,
    mapping: dict[str, str | None] | str | os.PathLike | None = None,
    *,
    csv_dir: str | os.PathLike | None = None,
    cultures: Sequence[str] | None = None,
    limits: ImageLimits | None = None,
    near_threshold: int = NEAR_DUPLICATE_BITS,
    progress: bool = False,
    allow_outside_root: bool = False,
) -> Corpus:
    """Import the WikiArt/ArtGAN layout `root/<Style>/<artist>_<title>.jpg`.

    Styles map to cultures through `mapping` (a dict, or a YAML/CSV file merged over
    `DEFAULT_WIKIART_STYLE_MAP`); unmapped style folders are skipped and noted once each in the problems.
    ArtGAN's `style_train.csv`/`style_val.csv` (in `csv_dir`, default `root`) give the source split
    (`train`/`test`); files they do not list get split "". Artist, title and year come from the file name.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"WikiArt folder {root} does not exist")
    table = mapping if isinstance(mapping, dict) else load_style_mapping(mapping)
    source_splits = _artgan_splits(Path(csv_dir) if csv_dir is not None else root)
    problems: list[tuple[str, str, str]] = []
    entries = []
    style_folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    used_cultures = set()
    for folder in style_folders:
        files = _files_under(folder)
        culture = table.get(folder.name)
        if culture is None:
            problems.append(
                (
                    folder.name,
                    "unmapped style",
                    f"style {folder.name!r} maps to no culture; {len(files)} files skipped",
                )
            )
            continue
        _check_culture_label(culture, cultures, f"style {folder.name}")
        if not files:
            raise CorpusError(f"empty style folder {folder} (mapped to culture {culture!r})")
        used_cultures.add(culture)
        for path in files:
            artist, title, date = parse_wikiart_name(path.name)
            rel = path.relative_to(root).as_posix()
            entries.append(
                {
                    "abs": path,
                    "culture": culture,
                    "artist": artist,
                    "title": title,
                    "date": date,
                    "source": f"wikiart:{rel}",
                    "license": "unknown: WikiArt hosts public-domain and copyrighted works; check each image",
                    "split": source_splits.get(rel, ""),
                }
            )
    if not entries:
        raise CorpusError(
            f"no WikiArt style folder under {root} maps to a culture (mapping: {sorted(k for k, v in table.items() if v)})"
        )
    corpus = _scan(entries, root, limits, progress, near_threshold, problems, allow_outside_root)
    _report_empty_cultures(corpus, sorted(used_cultures))
    return corpus


def from_cyclegan(
    root: str | os.PathLike,
    culture_a: str,
    culture_b: str,
    *,
    limits: ImageLimits | None = None,
    near_threshold: int = NEAR_DUPLICATE_BITS,
    progress: bool = False,
    allow_outside_root: bool = False,
) -> Corpus:
    """Import a CycleGAN dataset (`trainA`, `trainB`, optional `testA`/`testB`/`valA`/`valB`), keeping its
    split; side A is labelled `culture_a`, side B `culture_b`."""
    root = Path(root)
    if culture_a == culture_b:
        raise CorpusError(f"the two sides need different culture names, got {culture_a!r} twice")
    for required in ("trainA", "trainB"):
        if not (root / required).is_dir():
            raise CorpusError(f"{root} is not a CycleGAN dataset: {required}/ is missing")
    entries = []
    for split in ("train", "val", "test"):
        for side, culture in (("A", culture_a), ("B", culture_b)):
            folder = root / f"{split}{side}"
            if not folder.is_dir():
                continue
            files = _files_under(folder)
            if not files:
                raise CorpusError(f"empty CycleGAN folder {folder} (culture {culture!r})")
            entries += [
                {
                    "abs": p,
                    "culture": culture,
                    "split": split,
                    "source": f"cyclegan:{p.relative_to(root).as_posix()}",
                }
                for p in files
            ]
    corpus = _scan(entries, root, limits, progress, near_threshold, [], allow_outside_root)
    _report_empty_cultures(corpus, [culture_a, culture_b])
    return corpus
