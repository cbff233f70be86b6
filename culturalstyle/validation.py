"""Validation of corpus images, shared by the importers and `check_corpus`.

Every file is decoded completely, its sha256 compared with the manifest's, and each problem becomes a row
(path, kind, reason) without stopping at the first one; the kinds are `ERROR_KINDS`, `WARNING_KINDS` and
`NOTE_KINDS`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .cache import content_sha256
from .corpus import CONTENT_SPLIT, PROBLEM_COLUMNS, SPLITS, Corpus
from .duplicates import NEAR_DUPLICATE_BITS, find_duplicates, phash
from .images import ImageError, ImageLimits, load_image, read_image_info
from .splits import split_leaks

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
