"""The translations an evaluation scores, and the source image of each: from a manifest, or a plain folder.

Sources come from the corpus by `source_image_id` (translations made by this toolkit), from files paired
by name (`folder_translations(..., source_images=...)`), or not at all (a plain folder: no LPIPS, identity
baseline or negative controls, which all need each image's source).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .fidelity import image_paths

if TYPE_CHECKING:
    from ..corpus import Corpus


def load_translations(translations: Any) -> Corpus:
    """A translations Corpus from a Corpus, a manifest CSV, or a folder holding `manifest.csv`."""
    from ..corpus import Corpus

    if isinstance(translations, Corpus):
        corpus = translations
    else:
        path = Path(translations)
        if path.is_dir() and not (path / "manifest.csv").exists():
            raise FileNotFoundError(
                f"{path} has no manifest.csv: pass a translations corpus (as written by "
                "translate.apply.translate_images) or a translator run directory to the CLI"
            )
        corpus = Corpus.load(path)
    if len(corpus) == 0:
        raise ValueError(f"the translations corpus at {corpus.root} is empty")
    return corpus


def folder_translations(
    folder: str | os.PathLike,
    *,
    target: str,
    source: str | None = None,
    source_images: str | os.PathLike | None = None,
    method: str | None = None,
) -> Corpus:
    """A translations Corpus for a plain folder of images made by another program (no manifest).

    Every image directly in `folder` is a translation to `target`. With `source_images`, each translation
    is paired with the source image of the same file stem (`a.png` with `a.jpg`) for LPIPS and the identity
    baseline; a translation without a source, or a stem that two source files share, is an error naming
    the files. Without it, only the metrics that need no source (FID, KID, attribution) are computed.
    """
    from PIL import Image

    from ..cache import sha256_file
    from ..corpus import COLUMNS, Corpus

    folder = Path(folder)
    files = image_paths(folder)
    pairs: dict[str, Path] = {}
    if source_images is not None:
        by_stem: dict[str, list[Path]] = {}
        for path in image_paths(source_images):
            by_stem.setdefault(path.stem, []).append(path)
        shared = {stem: paths for stem, paths in by_stem.items() if len(paths) > 1}
        if shared:
            stem, paths = next(iter(shared.items()))
            raise ValueError(
                f"{source_images}: {len(shared)} file stem(s) name several source images, e.g. "
                f"{', '.join(p.name for p in paths)}; pairing by file name needs one source per stem"
            )
        unmatched = [p.name for p in files if p.stem not in by_stem]
        if unmatched:
            raise ValueError(
                f"{len(unmatched)} translation(s) in {folder} have no source image of the same name in "
                f"{source_images}: {', '.join(unmatched[:5])}"
            )
        pairs = {p.stem: by_stem[p.stem][0].resolve() for p in files}
    rows = []
    for path in files:
        try:
            with Image.open(path) as img:
                width, height = img.size
        except Exception as error:  # noqa: BLE001 - any unreadable file is named, not a traceback
            raise ValueError(f"{path}: not a readable image ({error})") from error
        row = {c: "" for c in COLUMNS}
        row.update(
            image_id=f"{folder.name}/{path.name}",
            path=path.name,
            culture=target,
            source=f"folder:{folder.resolve()}",
            sha256=sha256_file(path),
            width=width,
            height=height,
            method=method or folder.name,
            run=str(folder.resolve()),
            source_culture=source or "",
        )
        if pairs:
            row["source_path"] = str(pairs[path.stem])
        rows.append(row)
    return Corpus(pd.DataFrame(rows), folder)


def _path_sources(translations: Corpus, source: str | None) -> pd.DataFrame:
    """Source rows of translations paired by file (`source_path`), shaped like corpus rows (absolute paths)."""
    from ..cache import sha256_file
    from ..corpus import COLUMNS

    recorded = _column(translations.df, "source_culture")
    rows = []
    for path, culture in zip(translations.df["source_path"].astype(str), recorded):
        row = {c: "" for c in COLUMNS}
        row.update(
            image_id=f"source:{Path(path).name}",
            path=path,
            culture=source or culture or "source",
            sha256=sha256_file(path),
            width=0,
            height=0,
        )
        rows.append(row)
    return pd.DataFrame(rows)


def _column(df: pd.DataFrame, name: str, default: str = "") -> pd.Series:
    if name in df.columns:
        return df[name].fillna(default).astype(str)
    return pd.Series([default] * len(df), index=df.index, dtype=str)


def _source_rows(translations: Corpus, corpus: Corpus) -> pd.DataFrame:
    """The corpus rows of each translation's source image, in translation order."""
    ids = _column(translations.df, "source_image_id")
    if (ids == "").any():
        raise ValueError(
            "the translations have no source_image_id for some rows; LPIPS and the identity baseline need the "
            "provenance columns written by translate_images"
        )
    table = corpus.df.drop_duplicates("image_id").set_index("image_id")
    missing = sorted(set(ids) - set(table.index))
    if missing:
        raise KeyError(
            f"{len(missing)} source image(s) of the translations are not in the corpus at {corpus.root}: "
            f"{missing[:5]}; pass the corpus the translations were made from"
        )
    rows = table.loc[ids.tolist()].reset_index()
    return rows


def translation_size(paths: Sequence[Path]) -> int:
    """Shorter side of the smallest translation (reference images are brought to this resolution)."""
    from PIL import Image

    sides = []
    for p in paths:
        with Image.open(p) as img:
            sides.append(min(img.size))
    return int(min(sides))


def _label(series: pd.Series, default: str) -> str:
    values = sorted({v for v in series if v})
    return ",".join(values) if values else default


def translation_sources(translations: Corpus, corpus: Corpus, source: str | None) -> pd.DataFrame | None:
    """The source row of each translation (by source_image_id, or by file pairing), None when unknown."""
    if (_column(translations.df, "source_image_id") != "").any():
        return _source_rows(translations, corpus)  # refuses translations of which only some have a source
    if "source_path" in translations.df and (_column(translations.df, "source_path") != "").all():
        return _path_sources(translations, source)
    return None
