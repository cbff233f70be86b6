"""Perceptual hashes and duplicate pairs: the same artwork saved twice, exactly or at another size/quality.

Exact duplicates share a sha256; near duplicates have 64-bit DCT perceptual hashes within a few bits. The
corpus reports both and `make_splits` keeps every duplicate group on one side of the split.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

# Hamming distance between 64-bit pHashes at or below which images are near duplicates
NEAR_DUPLICATE_BITS = 6


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


def find_duplicates(corpus: Any, near_threshold: int = NEAR_DUPLICATE_BITS) -> pd.DataFrame:
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
