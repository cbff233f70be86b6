"""Style targets for Gatys and AdaIN: one image, several images averaged, or a whole culture of a corpus.

A culture-level target is what a single-image tool cannot offer: "render this photo as ukiyo-e" rather than
"as this one print". For Gatys the target is the mean (position-normalised) Gram matrix of every style layer
over the culture's training images; for AdaIN it is the mean of the images' relu4_1 channel means and the
pooled (mean within-image) channel variance. A single image and an explicit list of images use the same
formulas, so the three kinds differ only in which images they average.

Targets are computed once and cached on disk under `cache_dir("targets")`, keyed by the images' sha256s, the
resize size, the layer set and the network's weights sha256 (never by paths).

Several targets can also be *mixed* with weights (`mix_gram`, `mix_adain`): for Gatys the weighted mean of the
Gram matrices (minimising the weighted sum of per-style losses has the same minimiser), for AdaIN the weighted
mean of means and stds (Huang & Belongie's interpolation: a weighted sum of AdaIN outputs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..cache import TORCH, ContentCache, content_sha256, stable_hash

TARGET_CACHE_VERSION = 1
# one folder, the kind as the file name's prefix: targets/gram-<key>.pt, targets/adain-<key>.pt
TARGET_CACHES = {
    kind: ContentCache(
        "targets", TORCH, what="style-target cache entry", version=TARGET_CACHE_VERSION, prefix=f"{kind}-"
    )
    for kind in ("gram", "adain")
}
RESIZE_POLICY = "longer"  # style images: longer side to `size`, aspect kept (no crop: a crop loses texture)


@dataclass(frozen=True)
class StyleSource:
    """Which images make one style target. `kind` is "image", "images" or "culture"."""

    kind: str
    label: str
    paths: tuple[Path, ...]
    sha256s: tuple[str, ...]
    image_ids: tuple[str, ...]
    culture: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("image", "images", "culture"):
            raise ValueError(f"unknown style source kind {self.kind!r}")
        if not self.paths:
            raise ValueError(f"style target {self.label!r} has no images")
        if not (len(self.paths) == len(self.sha256s) == len(self.image_ids)):
            raise ValueError("paths, sha256s and image_ids must have the same length")

    @property
    def slug(self) -> str:
        """A file-name-safe short name ("ukiyo_e", "img-wave", "3img-1a2b3c4d")."""
        if self.kind == "culture":
            return str(self.culture)
        if self.kind == "image":
            return "img-" + "".join(c if c.isalnum() or c in "-_" else "_" for c in self.image_ids[0])[:40]
        return f"{len(self.paths)}img-{stable_hash(sorted(self.sha256s), 8)}"

    def describe(self) -> dict[str, Any]:
        """Provenance of the target for manifests and run records."""
        return {
            "kind": self.kind,
            "label": self.label,
            "culture": self.culture,
            "n_images": len(self.paths),
            "image_ids": list(self.image_ids),
            "sha256s": list(self.sha256s),
        }


def style_image(path: str | Path) -> StyleSource:
    """A target made of one image file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"style image {path} does not exist")
    return StyleSource("image", f"image:{path.name}", (path,), (content_sha256(path),), (path.stem,))


def style_images(paths: Sequence[str | Path], label: str | None = None) -> StyleSource:
    """A target averaging several image files (each image weighs the same)."""
    paths = [Path(p) for p in paths]
    if len(paths) == 1:
        return style_image(paths[0])
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"style image {p} does not exist")
    label = label or "images:" + ",".join(p.name for p in paths)
    return StyleSource(
        "images", label, tuple(paths), tuple(content_sha256(p) for p in paths), tuple(p.stem for p in paths)
    )


def style_culture(corpus: Any, culture: str, split: str | None = "train") -> StyleSource:
    """A target averaging every image of `culture` in `corpus` (its `split` rows; None = all rows)."""
    if culture not in set(corpus.df["culture"]):
        raise ValueError(
            f"culture {culture!r} is not in the corpus; available: {', '.join(sorted(corpus.cultures))}"
        )
    subset = corpus.filter(culture=culture)
    if split is not None:
        if "split" not in subset.df.columns:
            raise ValueError(
                f"the corpus has no split column; pass split=None to use every {culture!r} image"
            )
        chosen = corpus.filter(culture=culture, split=split)
        if len(chosen) == 0:
            splits = sorted(map(str, subset.df["split"].dropna().unique()))
            raise ValueError(
                f"culture {culture!r} has no images in split {split!r} (splits present: {splits or 'none'}); "
                "assign splits with `culturalstyle corpus split` or pass split=None"
            )
        subset = chosen
    rows = subset.df.sort_values("image_id")
    paths = tuple(Path(subset.abspath(row)) for _, row in rows.iterrows())
    # the cache is keyed on these: the manifest's hashes must be the files' (else ContentMismatchError)
    verified = dict(zip(subset.df["image_id"], subset.verified_hashes()))
    digests = tuple(verified[i] for i in rows["image_id"])
    label = f"culture:{culture}" + (f"[{split}]" if split else "")
    return StyleSource("culture", label, paths, digests, tuple(map(str, rows["image_id"])), culture=culture)


def parse_style(text: str, corpus: Any = None, split: str | None = "train") -> StyleSource:
    """`culture:NAME` (needs `corpus`), an image path, or several image paths joined by "+" (averaged)."""
    if text.startswith("culture:"):
        if corpus is None:
            raise ValueError(f"style {text!r} names a culture; give the corpus that holds it (--corpus DIR)")
        return style_culture(corpus, text.split(":", 1)[1], split=split)
    parts = [p for p in text.split("+") if p]
    return style_images(parts) if len(parts) > 1 else style_image(text)


# --------------------------------------------------------------------------------------------------------------
# Computed targets


@dataclass
class GramTarget:
    """Gatys style target: one C x C Gram matrix per style layer (float32, on CPU)."""

    grams: dict[str, torch.Tensor]
    size: int
    normalize: str
    label: str
    n_images: int
    key: str = ""


@dataclass
class AdaINTarget:
    """AdaIN style target: relu4_1 channel mean and std (C each, float32, on CPU)."""

    mean: torch.Tensor
    std: torch.Tensor
    size: int
    label: str
    n_images: int
    key: str = ""


def _target_problem(kind: str, payload: Any, layers: Sequence[str]) -> str | None:
    """Why a cached payload is not a target of `kind` for `layers` (None when it is)."""
    if kind == "gram":
        grams = payload.get("grams") if isinstance(payload, dict) else None
        if not isinstance(grams, dict) or set(grams) != set(layers):
            return f"expected Gram matrices for layers {sorted(layers)}"
        for layer, g in grams.items():
            if g.dim() != 2 or g.shape[0] != g.shape[1] or not torch.isfinite(g).all():
                return f"Gram matrix of {layer} has shape {tuple(g.shape)} or non-finite values"
        return None
    mean = payload.get("mean") if isinstance(payload, dict) else None
    std = payload.get("std") if isinstance(payload, dict) else None
    if not isinstance(mean, torch.Tensor) or not isinstance(std, torch.Tensor):
        return "expected a mean and a std tensor"
    if mean.dim() != 1 or std.shape != mean.shape or not (torch.isfinite(mean).all() and (std > 0).all()):
        return f"mean {tuple(mean.shape)} / std {tuple(std.shape)} are not C-vectors with positive stds"
    return None


CROP = "crop"  # the translators' preparation: shorter side to `size` (decoded-image cache), centre crop
TARGET_RESIZES = (RESIZE_POLICY, CROP)


def _load(path: Path, size: int) -> torch.Tensor:
    from ..features import load_for_features

    return load_for_features(path, size, RESIZE_POLICY).unsqueeze(0)


def _image_batches(source: StyleSource, size: int, resize: str, batch_size: int, progress: bool):
    """[0, 1] batches of `source`'s images: one at a time ("longer": shapes differ) or centre crops."""
    if resize == RESIZE_POLICY:
        for path in _progress(source, progress):
            yield _load(path, size)
        return
    from ..images import ImageCache

    images = ImageCache()
    chunk: list[torch.Tensor] = []
    for path, sha256 in zip(_progress(source, progress), source.sha256s):
        img = images.get(path, sha256, size)
        h, w = img.shape[-2:]
        top, left = (h - size) // 2, (w - size) // 2
        chunk.append(img[:, top : top + size, left : left + size].float() / 255.0)
        if len(chunk) == batch_size:
            yield torch.stack(chunk)
            chunk = []
    if chunk:
        yield torch.stack(chunk)


def target_key(
    kind: str,
    source: StyleSource,
    size: int,
    layers: Sequence[str],
    weights_sha256: str,
    resize: str = RESIZE_POLICY,
    **extra,
) -> str:
    """Cache key: sorted image sha256s (with multiplicity), size, resize, layers, network weights, settings."""
    return TARGET_CACHES[kind].key(
        {
            "kind": kind,
            "images": sorted(source.sha256s),
            "size": size,
            "resize": resize,
            "layers": sorted(layers),
            "weights": weights_sha256,
            **extra,
        }
    )


def gram_target(
    source: StyleSource,
    extractor: Any,
    size: int,
    layers: Sequence[str],
    *,
    normalize: str = "positions",
    resize: str = RESIZE_POLICY,
    batch_size: int = 8,
    cache: bool = True,
    progress: bool = False,
) -> GramTarget:
    """Mean Gram matrices of `source`'s images at `layers`: the one culture (or image-set) Gram target.

    resize "longer": each image's longer side to `size`, aspect kept (style transfer); "crop": shorter side to
    `size` and a centre `size` x `size` crop, in batches of `batch_size` (what translators train on).
    `extractor` is a `features.VGGFeatures` computing at least `layers`; its `weights_sha256` enters the key.
    """
    from ..features import gram

    layers = tuple(layers)
    missing = [layer for layer in layers if layer not in extractor.layers]
    if missing:
        raise ValueError(f"the extractor does not compute style layer(s) {missing}")
    if resize not in TARGET_RESIZES:
        raise ValueError(f"unknown target resize {resize!r}; choose one of {TARGET_RESIZES}")
    key = target_key("gram", source, size, layers, extractor.weights_sha256, resize, normalize=normalize)

    def compute() -> dict:
        sums: dict[str, torch.Tensor] = {}
        with torch.inference_mode():
            for batch in _image_batches(source, size, resize, batch_size, progress):
                acts = extractor(batch)
                for layer in layers:
                    g = gram(acts[layer], normalize).sum(0).cpu()
                    sums[layer] = sums[layer] + g if layer in sums else g.clone()
        # cloned outside inference mode: usable as buffers of a loss that is trained through
        return {"grams": {k: (v / len(source.paths)).clone() for k, v in sums.items()}}

    payload, _ = TARGET_CACHES["gram"].get_or_compute(
        key, compute, check=lambda p: _target_problem("gram", p, layers), enabled=cache
    )
    return GramTarget(payload["grams"], size, normalize, source.label, len(source.paths), key)


def adain_target(
    source: StyleSource,
    encoder: Any,
    size: int,
    *,
    layer: str = "relu4_1",
    eps: float = 1e-5,
    cache: bool = True,
    progress: bool = False,
) -> AdaINTarget:
    """relu4_1 statistics of `source`: mean of the images' channel means, sqrt of the pooled variance.

    The pooled variance is the mean of the per-image (within-image) channel variances, so averaging many
    images gives the typical texture contrast of the culture rather than the spread between images.
    """
    from ..features import channel_stats

    key = target_key("adain", source, size, (layer,), encoder.weights_sha256, eps=eps)

    def compute() -> dict:
        means, variances = [], []
        with torch.inference_mode():
            for path in _progress(source, progress):
                mean, std = channel_stats(encoder(_load(path, size))[layer], eps=eps)
                means.append(mean[0].cpu())
                variances.append(std[0].cpu() ** 2 - eps)
        pooled = torch.stack(variances).mean(0)
        return {"mean": torch.stack(means).mean(0), "std": torch.sqrt(pooled + eps)}

    payload, _ = TARGET_CACHES["adain"].get_or_compute(
        key, compute, check=lambda p: _target_problem("adain", p, (layer,)), enabled=cache
    )
    return AdaINTarget(payload["mean"], payload["std"], size, source.label, len(source.paths), key)


def _progress(source: StyleSource, progress: bool):
    if progress and len(source.paths) > 1:
        from tqdm.auto import tqdm

        return tqdm(source.paths, desc=f"target {source.label}", unit="img")
    return source.paths


def _check_mix(targets: Sequence[Any], weights: Sequence[float] | None) -> list[float]:
    if not targets:
        raise ValueError("no style targets to mix")
    if weights is None:
        return [1.0 / len(targets)] * len(targets)
    if len(weights) != len(targets):
        raise ValueError(f"{len(weights)} mixing weights for {len(targets)} style targets")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError(f"mixing weights must be non-negative with a positive sum, got {list(weights)}")
    total = float(sum(weights))
    return [float(w) / total for w in weights]


def mix_gram(targets: Sequence[GramTarget], weights: Sequence[float] | None = None) -> GramTarget:
    """Weighted mean of Gram targets (weights normalised to sum 1)."""
    w = _check_mix(targets, weights)
    if len(targets) == 1:
        return targets[0]
    layers = list(targets[0].grams)
    grams = {layer: sum(wi * t.grams[layer] for wi, t in zip(w, targets)) for layer in layers}
    label = " + ".join(f"{wi:.2g}*{t.label}" for wi, t in zip(w, targets))
    return GramTarget(grams, targets[0].size, targets[0].normalize, label, sum(t.n_images for t in targets))


def mix_adain(targets: Sequence[AdaINTarget], weights: Sequence[float] | None = None) -> AdaINTarget:
    """Weighted mean of AdaIN means and stds (equals the weighted sum of the AdaIN outputs)."""
    w = _check_mix(targets, weights)
    if len(targets) == 1:
        return targets[0]
    mean = sum(wi * t.mean for wi, t in zip(w, targets))
    std = sum(wi * t.std for wi, t in zip(w, targets))
    label = " + ".join(f"{wi:.2g}*{t.label}" for wi, t in zip(w, targets))
    return AdaINTarget(mean, std, targets[0].size, label, sum(t.n_images for t in targets))
