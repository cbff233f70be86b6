"""The culture-labelled corpus: a manifest table (pandas) of images under a root folder.

A `Corpus` is what every other module consumes. It is built by an importer (`culturalstyle.importers`: a
folder tree, the WikiArt/ArtGAN layout, or a CycleGAN dataset), which validates every file without stopping
at the first bad one. This module holds the manifest, its persistence, what every reader relies on (hashes
that are the files', paths inside the root, culture labels), `check`, and the artist-disjoint splits that
keep each duplicate group (`culturalstyle.duplicates`) and each known artist on one side. The importers and
summaries stay importable from here (`corpus.from_folder`, `corpus.format_summary`, ...).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .cache import atomic_path, atomic_write_text, content_sha256
from .duplicates import NEAR_DUPLICATE_BITS, find_duplicates, near_duplicate_pairs, phash
from .images import (
    ImageError,
    ImageLimits,
    load_image,
    read_image_info,
    verified_sha256,
)

# names that live in the importer and summary modules, importable from here as before (see __getattr__)
_MOVED = {
    "DEFAULT_WIKIART_STYLE_MAP": "importers",
    "from_folder": "importers",
    "from_wikiart": "importers",
    "from_cyclegan": "importers",
    "load_style_mapping": "importers",
    "parse_wikiart_name": "importers",
    "summarize": "summary",
    "format_summary": "summary",
    "markdown_table": "summary",
    "hamming": "duplicates",
}

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
        from .summary import summarize

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
                f"{_first(outside)}; fix the manifest (one saved away from its images before corpus.json "
                "existed: re-import it), or opt in with --allow-outside-root (API: allow_outside_root=True)"
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


def __getattr__(name: str):
    """`corpus.from_folder`, `corpus.format_summary`, ...: the importers and summaries build on this module, so
    they live in their own modules and are looked up on first use (no import cycle)."""
    if name in _MOVED:
        import importlib

        return getattr(importlib.import_module(f"{__package__}.{_MOVED[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
