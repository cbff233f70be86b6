"""The culture-labelled corpus: a manifest table (pandas) of images under a root folder.

A `Corpus` is what every other module consumes. It is built by an importer (`culturalstyle.importers`: a
folder tree, the WikiArt/ArtGAN layout, or a CycleGAN dataset), which validates every file without stopping
at the first bad one. This module holds the manifest, its persistence and what every reader relies on (hashes
that are the files', paths inside the root, culture labels, which artists are known). The modules built on it
stay importable from here (see `__getattr__`): the artist-disjoint splits (`culturalstyle.splits`:
`corpus.make_splits`, ...), the checks (`culturalstyle.validation`: `corpus.check_corpus`, `ERROR_KINDS`, ...),
the importers (`corpus.from_folder`, ...) and the summaries (`corpus.format_summary`, ...).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from .cache import atomic_path, atomic_write_text
from .duplicates import NEAR_DUPLICATE_BITS
from .images import verified_sha256

# names that live in the modules built on this one, importable from here as before (see __getattr__)
_MOVED = {
    "split_groups": "splits",
    "make_splits": "splits",
    "split_leaks": "splits",
    "ERROR_KINDS": "validation",
    "WARNING_KINDS": "validation",
    "NOTE_KINDS": "validation",
    "check_corpus": "validation",
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
    "find_duplicates": "duplicates",
    "near_duplicate_pairs": "duplicates",
    "phash": "duplicates",
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
        from .validation import check_corpus

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


def artist_known(artist: str) -> bool:
    return str(artist).strip().lower() not in UNKNOWN_ARTISTS


def __getattr__(name: str):
    """`corpus.make_splits`, `corpus.check_corpus`, `corpus.from_folder`, `corpus.format_summary`, ...: the
    splits, checks, importers and summaries build on this module, so they live in their own modules and are
    looked up on first use (no import cycle)."""
    if name in _MOVED:
        import importlib

        return getattr(importlib.import_module(f"{__package__}.{_MOVED[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
