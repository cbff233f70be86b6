"""Robust image loading shared by every module, plus small resize/crop/tensor helpers and an on-disk cache.

Real art corpora contain CMYK scans, 16-bit PNGs, palette images with transparency, EXIF-rotated photos,
truncated downloads and the occasional gigapixel scan. `load_image` turns every readable file into an
8-bit RGB PIL image (oriented as the viewer sees it) and turns every unreadable one into an `ImageError`
that names the file and a short reason, so corpus validation can record it and carry on.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, UnidentifiedImageError

from .cache import NPY, ContentCache, atomic_path, cache_dir, content_sha256

if TYPE_CHECKING:  # torch is imported lazily so `culturalstyle corpus` stays light
    import torch

# Reasons recorded in problem reports (the first word of ImageError.reason).
CORRUPT = "corrupt"
TRUNCATED = "truncated"
NOT_AN_IMAGE = "not an image"
TOO_SMALL = "too small"
TOO_LARGE = "too large"
MISSING = "missing"

# File signatures of formats Pillow reads: a file that starts like an image but cannot be parsed is
# "corrupt"; anything else is "not an image".
_MAGIC = (
    b"\xff\xd8\xff",  # JPEG
    b"\x89PNG\r\n\x1a\n",
    b"GIF87a",
    b"GIF89a",
    b"BM",
    b"II*\x00",  # TIFF little-endian
    b"MM\x00*",  # TIFF big-endian
    b"RIFF",  # WebP
)

RESIZE_POLICIES = ("shorter", "longer", "exact")

# EXIF orientation tag -> the transpose that makes the image upright (as viewers display it).
_ORIENT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


class ImageError(ValueError):
    """An image file that cannot be used; `reason` starts with one of the reason constants above."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    @property
    def kind(self) -> str:
        """The reason's category (corrupt, truncated, not an image, too small, too large, missing)."""
        for kind in (CORRUPT, TRUNCATED, NOT_AN_IMAGE, TOO_SMALL, TOO_LARGE, MISSING):
            if self.reason.startswith(kind):
                return kind
        return CORRUPT


class ContentMismatchError(ValueError):
    """A file whose bytes are not the ones its manifest row (and so every cache key) says they are."""

    def __init__(self, path: str | os.PathLike, expected: str, actual: str, row: str | None = None):
        self.path, self.expected, self.actual, self.row = Path(path), expected, actual, row
        where = f"{row}: " if row else ""
        super().__init__(
            f"{where}{self.path} has sha256 {actual} but the manifest says {expected!r}; the manifest no "
            "longer describes this file (replaced or edited after import, or rows mixed up), so cached results "
            "keyed on it would be wrong. Run `culturalstyle corpus check CORPUS` to list every such row, then "
            "re-import the corpus or restore the file."
        )


def verified_sha256(path: str | os.PathLike, expected: str | None = None, *, row: str | None = None) -> str:
    """The file's content sha256, checked against `expected` (a manifest's claim) when one is given.

    Every reader that keys a cache on a manifest's hash calls this first, so a stale, swapped or zeroed hash is
    an error (`ContentMismatchError`) instead of another image's cached result. Hashing is memoised per
    process by file identity (`cache.content_sha256`), so a warm run hashes each file once.
    """
    path = Path(path)
    if not path.exists():
        raise ImageError(path, f"{MISSING}: file does not exist" + (f" ({row})" if row else ""))
    if path.is_dir():
        raise ImageError(path, f"{NOT_AN_IMAGE}: is a directory" + (f" ({row})" if row else ""))
    actual = content_sha256(path)
    if expected is not None and not (isinstance(expected, float) and math.isnan(expected)):
        expected = str(expected).strip()
        if expected and expected.lower() != actual:
            raise ContentMismatchError(path, expected, actual, row)
    return actual


@dataclass(frozen=True)
class ImageLimits:
    """Limits applied on load. `max_pixels=None` follows PIL's `Image.MAX_IMAGE_PIXELS` at call time."""

    min_side: int = 32
    max_side: int | None = 4096
    max_pixels: int | None = None


@dataclass(frozen=True)
class ImageInfo:
    """Header facts about a file, read without decoding the pixels."""

    format: str
    mode: str
    width: int  # after EXIF orientation
    height: int
    orientation: int  # EXIF orientation tag (1 = upright)


def _looks_like_image(path: Path) -> bool:
    with open(path, "rb") as handle:
        head = handle.read(16)
    return any(head.startswith(magic) for magic in _MAGIC)


def _pixel_limit(max_pixels: int | None) -> int | None:
    return max_pixels if max_pixels is not None else Image.MAX_IMAGE_PIXELS


def _open(path: Path, max_pixels: int | None) -> Image.Image:
    """Open lazily with our own bomb guard (PIL's global guard is bypassed so we can name the file)."""
    if not path.exists():
        raise ImageError(path, f"{MISSING}: file does not exist")
    if path.is_dir():
        raise ImageError(path, f"{NOT_AN_IMAGE}: is a directory")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
    except Image.DecompressionBombError as error:
        raise ImageError(path, f"{TOO_LARGE}: {error}") from error
    except UnidentifiedImageError as error:
        if _looks_like_image(path):
            raise ImageError(path, f"{CORRUPT}: image header cannot be parsed") from error
        raise ImageError(path, f"{NOT_AN_IMAGE}: no known image format") from error
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageError(path, f"{CORRUPT}: {error}") from error
    except Exception as error:  # noqa: BLE001 - malformed headers can raise struct.error, IndexError, ...
        raise ImageError(path, f"{CORRUPT}: {type(error).__name__}: {error}") from error
    limit = _pixel_limit(max_pixels)
    width, height = img.size
    if limit is not None and width * height > limit:
        img.close()
        raise ImageError(
            path,
            f"{TOO_LARGE}: {width}x{height} = {width * height} pixels exceeds the limit of {limit} "
            "(decompression-bomb guard)",
        )
    return img


def _verify_png(path: Path) -> None:
    """PNG chunk CRCs (Pillow's `load` skips them, so a flipped byte in pixel data would decode silently)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(path) as check:
            check.verify()


def _orientation(img: Image.Image) -> int:
    try:
        return int(img.getexif().get(0x0112, 1) or 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block must not make a good image unreadable
        return 1


def read_image_info(path: str | os.PathLike, *, max_pixels: int | None = None) -> ImageInfo:
    """Format, mode and oriented size from the header only (cheap; does not detect truncation)."""
    path = Path(path)
    img = _open(path, max_pixels)
    with img:
        orientation = _orientation(img)
        width, height = img.size
        if orientation in (5, 6, 7, 8):  # 90-degree rotations swap the sides
            width, height = height, width
        return ImageInfo(str(img.format), img.mode, width, height, orientation)


def _to_rgb8(img: Image.Image) -> Image.Image:
    """Any PIL mode to 8-bit RGB; transparency is composited on white."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        mode = img.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float64)
        # 16-bit data (PNG, TIFF) spans 0..65535; scale to 0..255 instead of clipping.
        scale = 257.0 if mode.startswith("I;16") or arr.max(initial=0) > 255 else 1.0
        arr = np.clip(np.rint(arr / scale), 0, 255).astype(np.uint8)
        return Image.fromarray(arr, "L").convert("RGB")
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        if arr.max(initial=0) <= 1.0:
            arr = arr * 255.0
        return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), "L").convert("RGB")
    if mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if mode == "1":
        return img.convert("L").convert("RGB")
    return img.convert("RGB")  # L, CMYK, YCbCr, LAB, HSV


def load_image(
    path: str | os.PathLike,
    *,
    max_side: int | None = 4096,
    min_side: int = 32,
    max_pixels: int | None = None,
) -> Image.Image:
    """Decode `path` to an upright 8-bit RGB image whose long side is at most `max_side`.

    Huge images are reduced while decoding (JPEG DCT scaling via `draft`) so they never occupy full-size
    memory; images above `max_pixels` (default: PIL's `Image.MAX_IMAGE_PIXELS`) are refused outright.
    `max_pixels` can only tighten PIL's own guard (which refuses above 2 x `Image.MAX_IMAGE_PIXELS`);
    to accept larger scans, raise `PIL.Image.MAX_IMAGE_PIXELS` deliberately.
    Raises `ImageError(path, reason)` for missing, corrupt, truncated, non-image, too small or too large files.
    """
    path = Path(path)
    img = _open(path, max_pixels)
    try:
        return _decode(path, img, max_side, min_side)
    except ImageError:
        raise
    except MemoryError as error:
        raise ImageError(path, f"{TOO_LARGE}: out of memory while decoding") from error
    except Exception as error:  # noqa: BLE001 - a malformed file may raise anything inside a codec
        raise ImageError(path, f"{CORRUPT}: {type(error).__name__}: {error}") from error
    finally:
        img.close()


def _decode(path: Path, img: Image.Image, max_side: int | None, min_side: int) -> Image.Image:
    """The body of `load_image` on an opened file; codec errors are classified as truncated or corrupt."""
    orientation = _orientation(img)
    width, height = img.size
    if min(width, height) < min_side:
        raise ImageError(path, f"{TOO_SMALL}: {width}x{height} px, minimum side is {min_side}")
    if max_side is not None and max(width, height) > max_side and img.format == "JPEG":
        scale = max_side / max(width, height)
        img.draft("RGB", (math.ceil(width * scale), math.ceil(height * scale)))
    try:
        if img.format == "PNG":
            _verify_png(path)
        img.load()
    except OSError as error:
        text = str(error)
        if "truncated" in text.lower() or "premature end" in text.lower():
            raise ImageError(path, f"{TRUNCATED}: {text}") from error
        raise ImageError(path, f"{CORRUPT}: {text}") from error
    except EOFError as error:
        raise ImageError(path, f"{TRUNCATED}: unexpected end of file ({error})") from error
    except (SyntaxError, ValueError) as error:
        raise ImageError(path, f"{CORRUPT}: {error}") from error
    rgb = _to_rgb8(img)
    if orientation in _ORIENT:
        rgb = rgb.transpose(_ORIENT[orientation])
    if max_side is not None and max(rgb.size) > max_side:
        rgb = resize_longer(rgb, max_side)
    return rgb if rgb is not img else img.copy()


def _scaled_size(width: int, height: int, scale: float) -> tuple[int, int]:
    return max(1, round(width * scale)), max(1, round(height * scale))


def resize_shorter(img: Image.Image, size: int) -> Image.Image:
    """Resize so the shorter side equals `size`, keeping the aspect ratio (Lanczos, antialiased)."""
    width, height = img.size
    new = _scaled_size(width, height, size / min(width, height))
    new = (size, new[1]) if width <= height else (new[0], size)
    return img if new == img.size else img.resize(new, Image.Resampling.LANCZOS, reducing_gap=3.0)


def resize_longer(img: Image.Image, size: int) -> Image.Image:
    """Resize so the longer side equals `size`, keeping the aspect ratio."""
    width, height = img.size
    new = _scaled_size(width, height, size / max(width, height))
    new = (size, new[1]) if width >= height else (new[0], size)
    return img if new == img.size else img.resize(new, Image.Resampling.LANCZOS, reducing_gap=3.0)


def resize(img: Image.Image, size: int, policy: str = "shorter") -> Image.Image:
    """Resize by policy: `shorter` side to size, `longer` side to size, or `exact` size x size (squashes)."""
    if policy == "shorter":
        return resize_shorter(img, size)
    if policy == "longer":
        return resize_longer(img, size)
    if policy == "exact":
        return img if img.size == (size, size) else img.resize((size, size), Image.Resampling.LANCZOS)
    raise ValueError(f"unknown resize policy {policy!r}; choose one of {RESIZE_POLICIES}")


def center_crop(img: Image.Image, size: int) -> Image.Image:
    """The central `size` x `size` square (the image must be at least that large on both sides)."""
    width, height = img.size
    if width < size or height < size:
        raise ValueError(f"cannot crop {size}x{size} from a {width}x{height} image")
    left, top = (width - size) // 2, (height - size) // 2
    return img.crop((left, top, left + size, top + size))


def to_tensor(img: Image.Image) -> torch.Tensor:
    """PIL RGB image to a float32 CHW tensor in [0, 1]."""
    import torch

    arr = np.asarray(img.convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div_(255.0)


def to_pil(tensor: torch.Tensor) -> Image.Image:
    """A CHW (or 1xCHW) tensor, float in [0, 1] or uint8, to a PIL RGB image."""
    import torch

    t = tensor.detach().cpu()
    if t.dim() == 4:
        if t.shape[0] != 1:
            raise ValueError(f"to_pil takes one image, got a batch of {t.shape[0]}")
        t = t[0]
    if t.dim() != 3 or t.shape[0] not in (1, 3):
        raise ValueError(f"expected a CHW tensor with 1 or 3 channels, got shape {tuple(t.shape)}")
    if t.dtype != torch.uint8:
        t = (t.float().clamp(0, 1) * 255.0).round().to(torch.uint8)
    if t.shape[0] == 1:
        t = t.expand(3, -1, -1)
    return Image.fromarray(t.permute(1, 2, 0).contiguous().numpy(), "RGB")


def save_image(image: Image.Image | torch.Tensor, path: str | os.PathLike, *, quality: int = 95) -> Path:
    """Save a PIL image or CHW tensor atomically; the format follows the suffix (JPEG quality `quality`)."""
    path = Path(path)
    img = image if isinstance(image, Image.Image) else to_pil(image)
    img = _to_rgb8(img)
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"{path}: unknown image suffix {path.suffix!r}")
    options = {"quality": quality, "optimize": True} if fmt == "JPEG" else {}
    with atomic_path(path) as tmp:
        img.save(tmp, format=fmt, **options)
    return path


def _entry_problem(arr: np.ndarray, size: int, policy: str) -> str | None:
    """Why a decoded-image cache entry cannot be what was asked for (None when it can)."""
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        return f"expected a uint8 H x W x 3 array, found {arr.dtype} {arr.shape}"
    height, width = arr.shape[:2]
    side = {"shorter": min(height, width), "longer": max(height, width)}.get(policy)
    if (policy == "exact" and (height, width) != (size, size)) or (side is not None and side != size):
        return f"{width}x{height} px does not match size {size} ({policy} side)"
    return None


class ImageCache:
    """Decoded, resized images on disk, keyed by (file sha256, size, policy) — never by path.

    Repeated epochs and studies then skip JPEG decoding and resampling. Entries are uint8 CHW arrays in
    `.npy` files written atomically, so concurrent DataLoader workers can share one cache safely.
    `decodes`, `hits` and `misses` count what happened in this process.
    """

    VERSION = 1  # bump when the decode/resize pipeline changes, so stale entries are not reused

    def __init__(self, root: str | os.PathLike | None = None, limits: ImageLimits | None = None):
        self.root = Path(root) if root is not None else cache_dir("images")
        self.entries = ContentCache(
            "images",
            NPY,
            what="decoded-image cache entry",
            version=self.VERSION,
            key_length=16,
            fan_out=True,
            root=self.root,
        )
        self.limits = limits or ImageLimits(max_side=None)
        self.decodes = 0
        self.hits = 0
        self.misses = 0

    def key(self, sha256: str, size: int, policy: str = "shorter") -> str:
        return self.entries.key({"sha256": sha256, "size": int(size), "policy": policy})

    def entry_path(self, sha256: str, size: int, policy: str = "shorter") -> Path:
        return self.entries.path(self.key(sha256, size, policy))

    def get_array(
        self, path: str | os.PathLike, sha256: str | None = None, size: int = 256, policy: str = "shorter"
    ) -> np.ndarray:
        """uint8 HWC array of `path` resized by `policy` to `size`, from the cache when present.

        `sha256` (the manifest's) is verified against the file first (`verified_sha256`); a damaged entry is
        decoded again and replaced.
        """
        sha256 = verified_sha256(path, sha256)

        def decode() -> np.ndarray:
            img = load_image(
                path,
                max_side=max(4 * size, 1024),
                min_side=self.limits.min_side,
                max_pixels=self.limits.max_pixels,
            )
            self.decodes += 1
            return np.ascontiguousarray(np.asarray(resize(img, size, policy), dtype=np.uint8))

        arr, hit = self.entries.get_or_compute(
            self.key(sha256, size, policy), decode, check=lambda a: _entry_problem(a, size, policy)
        )
        if hit:
            self.hits += 1
        else:
            self.misses += 1
        return arr

    def get(
        self, path: str | os.PathLike, sha256: str | None = None, size: int = 256, policy: str = "shorter"
    ) -> torch.Tensor:
        """uint8 CHW tensor (see `get_array`)."""
        import torch

        arr = self.get_array(path, sha256, size, policy)
        return torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()
