"""Importers: build a Corpus from a folder tree, the WikiArt/ArtGAN layout or a CycleGAN dataset.

Every file is validated without stopping at the first bad one: unusable files (and symlinks out of the
root) are skipped and listed in `corpus.problems` with a reason, while structural mistakes (an empty
culture folder, a culture label nobody asked for) raise `CorpusError` before any image is decoded.
"""

from __future__ import annotations

import csv
import os
import re
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd
from PIL import Image

from .cache import content_sha256
from .corpus import (
    COLUMNS,
    PROBLEM_COLUMNS,
    Corpus,
    CorpusError,
    _outside_root_rows,
    _relative_to,
)
from .duplicates import NEAR_DUPLICATE_BITS, find_duplicates
from .images import ImageError, ImageLimits
from .validation import _duplicate_problems, _progress, _validate

DEFAULT_WIKIART_STYLE_MAP = {
    "Ukiyo_e": "ukiyo_e",
    "Early_Renaissance": "renaissance",
    "High_Renaissance": "renaissance",
    "Northern_Renaissance": "renaissance",
    "Mannerism_Late_Renaissance": "renaissance",
    "Impressionism": "impressionism",
    "Post_Impressionism": "impressionism",
}


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
