"""Negative-control image sets for evaluation: images any honest metric must rate badly.

Two kinds, both at exactly the size of each translation they stand in for, so they enter every metric on
the same footing as the translation itself:

- `noise`: independent uniform noise per pixel and channel (no content, no style);
- `pixel-shuffled`: the translation's source image, resized like the translation, with its pixels randomly
  permuted (the source's colour histogram, none of its structure or texture).

They are written as PNG files into a content-keyed cache (`cache_dir("controls")`) and returned as a
translations-like Corpus (rows carry `source_image_id`), so FID/KID, LPIPS and culture attribution treat them
exactly like translations. A metric that rates one of them as on-target is a defect, not a row to hide.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from ..cache import PNG, ContentCache, sha256_file, stable_hash

NOISE = "noise"
PIXEL_SHUFFLED = "pixel-shuffled"
KINDS = (NOISE, PIXEL_SHUFFLED)
ROLE = "negative-control"
_VERSION = 1
CONTROL_CACHE = ContentCache("controls", PNG, what="negative-control image", version=_VERSION, key_length=24)


def control_key(kind: str, size: tuple[int, int], seed: int, source_sha256: str, index: int) -> str:
    """Cache key of one control: its kind, size and seed, its source image's content hash and its position."""
    return CONTROL_CACHE.key({"kind": kind, "size": size, "seed": seed, "source": source_sha256, "i": index})


def control_image(kind: str, size: tuple[int, int], seed: int, source: Path | None = None) -> np.ndarray:
    """One negative-control image (H×W×3 uint8) of `size` = (width, height), a pure function of its inputs."""
    width, height = size
    rng = np.random.default_rng(seed)
    if kind == NOISE:
        return rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    if kind == PIXEL_SHUFFLED:
        if source is None:
            raise ValueError("a pixel-shuffled control needs its source image")
        from ..images import load_image

        pixels = np.asarray(load_image(source).resize((width, height), Image.BICUBIC), dtype=np.uint8)
        flat = pixels.reshape(-1, 3)
        return flat[rng.permutation(len(flat))].reshape(height, width, 3)
    raise ValueError(f"unknown negative control {kind!r}; choose one of {', '.join(KINDS)}")


def negative_control(kind: str, translations: Any, sources: pd.DataFrame, root: Path, seed: int = 0) -> Any:
    """A Corpus of `kind` controls, one per translation (same size, same source_image_id), cached by content.

    `sources` are the corpus rows of each translation's source image in translation order (as
    `metrics.translations.translation_sources` returns them) and `root` the corpus root their paths are relative to.
    """
    from ..corpus import Corpus

    tdf = translations.df.reset_index(drop=True)
    if len(sources) != len(tdf):
        raise ValueError(f"{len(tdf)} translations but {len(sources)} source rows")
    names, hashes = [], []
    for i, row in tdf.iterrows():
        size = (int(row["width"]), int(row["height"]))
        src = sources.iloc[i]
        source_path = (Path(root) / src["path"]).resolve()
        key = control_key(kind, size, seed, src["sha256"], i)
        target = CONTROL_CACHE.path(key)
        if CONTROL_CACHE.read(key, check=lambda image, size=size: _size_problem(image, size)) is None:
            CONTROL_CACHE.write(key, control_image(kind, size, seed=_seed(seed, kind, i), source=source_path))
        names.append(target.name)
        hashes.append(sha256_file(target))
    df = pd.DataFrame(
        {
            "image_id": [f"{s}@{kind}" for s in sources["image_id"]],
            "path": names,
            "culture": tdf["culture"],
            "artist": "",
            "title": f"negative control: {kind}",
            "date": "",
            "source": f"control:{kind}",
            "license": "generated",
            "split": tdf["split"],
            "sha256": hashes,
            "width": tdf["width"],
            "height": tdf["height"],
            "source_image_id": sources["image_id"].to_numpy(),
            "run": "",
            "checkpoint": "",
            "method": kind,
            "direction": tdf["direction"] if "direction" in tdf else "",
        }
    )
    return Corpus(df, CONTROL_CACHE.folder)


def _seed(seed: int, kind: str, index: int) -> int:
    return int(stable_hash({"seed": seed, "kind": kind, "index": index}, 8), 16)


def _size_problem(image: np.ndarray, size: tuple[int, int]) -> str | None:
    """A cached control is reused only if it decodes at the expected (width, height) (else it is rewritten)."""
    found = (image.shape[1], image.shape[0])
    return None if found == tuple(size) else f"{found[0]}x{found[1]} px, expected {size[0]}x{size[1]}"


__all__ = ["NOISE", "PIXEL_SHUFFLED", "KINDS", "ROLE", "control_image", "negative_control"]
