"""Backbones: one contract for "image batch -> named statistics", and a registry of them by name.

A backbone turns a float batch N x 3 x H x W of RGB in [0, 1] into `{statistic: N x D float32}` (`compute`),
and a corpus into a `FeatureSet` of the same statistics, cached on disk per image by content (`extract`):
image sha256, size, resize policy, backbone name, its settings and its weights' sha256, never paths. Every
backbone sees identically decoded and resized images (`featureset.decoded_batches`), so representations are compared
on the same pixels. `embedding()` gives the `StyleEmbedding` that suits its statistics (signed square root for
second moments such as Gram entries, none for first moments and pooled features); every block is then
standardised and weighted by 1/sqrt(dim), so no backbone wins by having more dimensions.

Registered here: `vgg19-gram` (Gatys' Gram statistics, the study's style space), `vgg19-meanstd` (AdaIN's
channel mean/std at the same layers), `inception-pool` (the FID Inception's 2048-d pool features: a content
network, the baseline for "is the separation about style at all?") and `colour-texture` (no network: colour
histograms and texture statistics). Networks that cannot ship offline (CLIP, DINOv2, CSD, ...) are registered
by a user from a local network file (torch.export .pt2 or TorchScript) with `register_local_backbone` (or `--backbone-file` on the CLI).
A new representation is one `register_backbone` call with a `Backbone` subclass.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ..cache import stable_hash
from .featureset import (
    FEATURE_CACHE,
    FeatureSet,
    _drop_inconsistent,
    _items,
    _read_cache,
    check_settings,
    decoded_batches,
)
from .vgg import (
    STYLE_LAYERS,
    VGGFeatures,
    channel_stats,
    extract,
    gram,
    parameters_sha256,
    triu_vector,
)

BACKBONE_CACHE_VERSION = 1  # bump when the generic cache entries change meaning
FAMILIES = ("style", "content", "colour", "custom")


class Backbone:
    """Base class of every registered representation: `compute` one batch, `extract` a corpus (cached).

    Subclasses set `family` (style / content / colour / custom: what a comparison of backbones is about),
    `normalization` (the StyleEmbedding entry normalisation for their statistics), `weights_name` and
    `weights_sha256` (recorded in run records and cache keys), and implement `compute` and `settings`.
    """

    name: str = ""
    family: str = "custom"
    normalization: str = "none"
    weights_name: str = "none"
    weights_sha256: str = ""
    version: int = 1  # bump in a subclass when its `compute` changes meaning (invalidates its cache)

    def __init__(self, device: str | torch.device | None = None) -> None:
        from ..device import default_device

        self.device = default_device(device)

    def settings(self) -> dict[str, Any]:
        """Everything besides the weights that changes the statistics (enters the cache key)."""
        return {}

    def compute(self, images: torch.Tensor) -> dict[str, np.ndarray]:
        """Named statistics `{name: N x D float32}` of a float batch N x 3 x H x W of RGB in [0, 1]."""
        raise NotImplementedError

    def extract(
        self,
        corpus: Any,
        *,
        size: int | None = 256,
        resize_policy: str = "shorter",
        batch_size: int = 8,
        cache: bool = True,
        progress: bool = False,
    ) -> FeatureSet:
        """Statistics of every image of `corpus` (a Corpus or a list of paths), in row order, cached per image."""
        return extract_statistics(
            self,
            corpus,
            size=size,
            resize_policy=resize_policy,
            batch_size=batch_size,
            cache=cache,
            progress=progress,
        )

    def embedding(self, seed: int = 0) -> Any:
        """An unfitted StyleEmbedding suited to these statistics (fit it on the corpus, then transform)."""
        from ..embedding import StyleEmbedding

        return StyleEmbedding(normalization=self.normalization, seed=seed)

    def describe(self) -> dict[str, Any]:
        """What a run record needs to know about this backbone."""
        return {
            "backbone": self.name,
            "family": self.family,
            "settings": self.settings(),
            "weights": self.weights_name,
            "weights_sha256": self.weights_sha256,
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, weights={self.weights_name!r})"


# ------------------------------------------------------------------------------------------------ registry

BACKBONES: dict[str, Callable[..., Backbone]] = {}


def register_backbone(
    name: str, factory: Callable[..., Backbone] | None = None, *, overwrite: bool = False
) -> Any:
    """Register `factory` (a Backbone subclass or a callable returning one) under `name`.

    Usable as a decorator (`@register_backbone("my-net")`). A name that is taken is refused unless
    `overwrite`, so a plugin cannot silently replace a built-in representation.
    """

    def add(item: Callable[..., Backbone]) -> Callable[..., Backbone]:
        if not name or any(ch.isspace() or ch in ",=" for ch in name):
            raise ValueError(f"backbone name {name!r} must be non-empty without spaces, commas or '='")
        if name in BACKBONES and not overwrite:
            raise ValueError(f"a backbone named {name!r} is already registered (pass overwrite=True)")
        BACKBONES[name] = item
        return item

    return add if factory is None else add(factory)


def unregister_backbone(name: str) -> None:
    """Remove a registered backbone (tests and plugins that register temporary ones)."""
    BACKBONES.pop(name, None)


def available_backbones() -> list[str]:
    return list(BACKBONES)


def _accepts(factory: Callable[..., Any], option: str) -> bool:
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return True
    return option in parameters or any(p.kind == p.VAR_KEYWORD for p in parameters.values())


def make_backbone(name: str, *, strict: bool = True, **options: Any) -> Backbone:
    """An instance of the registered backbone `name`, built with `options`.

    With `strict=False`, options the backbone does not take are dropped: lets a study pass shared settings
    (`layers`, `device`) to every backbone. An unknown name is an error listing the registered ones.
    """
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; registered: {', '.join(BACKBONES) or 'none'}")
    factory = BACKBONES[name]
    if not strict:
        options = {k: v for k, v in options.items() if _accepts(factory, k)}
    backbone = factory(**options)
    if not isinstance(backbone, Backbone):
        raise TypeError(f"backbone {name!r} built a {type(backbone).__name__}, not a Backbone")
    backbone.name = name
    return backbone


# --------------------------------------------------------------------------------------- generic extraction


def backbone_cache_key(backbone: Backbone, image_sha256: str, size: int | None, resize_policy: str) -> str:
    """Cache key of one image's statistics under one backbone: content hashes and settings, never paths."""
    return stable_hash(
        {
            "v": BACKBONE_CACHE_VERSION,
            "backbone": backbone.name or type(backbone).__name__,
            "version": backbone.version,
            "settings": backbone.settings(),
            "weights": backbone.weights_sha256,
            "image": image_sha256,
            "size": size,
            "resize": resize_policy,
        },
        length=32,
    )


def extract_statistics(
    backbone: Backbone,
    corpus: Any,
    *,
    size: int | None = 256,
    resize_policy: str = "shorter",
    batch_size: int = 8,
    cache: bool = True,
    progress: bool = False,
) -> FeatureSet:
    """`backbone.compute` over a corpus, batch by batch, with the per-image on-disk cache.

    `FeatureSet.cache_hits` / `network_images` say how many images came from the cache vs. the backbone.
    """
    check_settings(size, resize_policy, batch_size)
    items = _items(corpus)
    if not items:
        raise ValueError(f"backbone {backbone.name!r} got an empty corpus")
    keys = [backbone_cache_key(backbone, it.sha256, size, resize_policy) for it in items]
    results: list[dict[str, np.ndarray] | None] = [None] * len(items)
    if cache:
        results = _drop_inconsistent([_read_cache(key) for key in keys], keys)  # damaged entries: misses
    todo = [i for i, r in enumerate(results) if r is None]
    if todo:
        paths = [items[i].path for i in todo]
        batches = decoded_batches(
            paths, size, resize_policy, batch_size, progress=progress, desc=backbone.name or "backbone"
        )
        for positions, images in batches:
            with torch.inference_mode():
                out = backbone.compute(images)
            for j, position in enumerate(positions):
                i = todo[position]
                results[i] = {name: np.asarray(v[j], dtype=np.float32) for name, v in out.items()}
                if cache:
                    FEATURE_CACHE.write(keys[i], results[i])
    names = list(results[0])
    inconsistent = [items[i].path for i, r in enumerate(results) if list(r) != names]
    if inconsistent:
        raise ValueError(
            f"backbone {backbone.name!r} returned different statistics for {inconsistent[0]} "
            f"than for the first image ({names})"
        )
    data = {name: np.stack([r[name] for r in results]) for name in names}
    config = {
        "backbone": backbone.name,
        "statistics": names,
        "size": size,
        "resize_policy": resize_policy,
        "settings": backbone.settings(),
        "weights": backbone.weights_name,
        "weights_sha256": backbone.weights_sha256,
    }
    out = FeatureSet(data, [it.image_id for it in items], config)
    out.cache_hits = len(items) - len(todo)
    out.network_images = len(todo)
    return out


# -------------------------------------------------------------------------------------------- VGG19 backbones


class _VGGBackbone(Backbone):
    """Shared by the two VGG19 statistics: same network, same layers, same cached `features.extract`."""

    family = "style"
    statistic = "gram"

    def __init__(
        self,
        layers: Sequence[str] = STYLE_LAYERS,
        normalize: str = "positions",
        weights_module: nn.Sequential | None = None,
        device: str | torch.device | None = None,
        extractor: VGGFeatures | None = None,
    ) -> None:
        super().__init__(device if extractor is None else extractor.device)
        # `extractor`: an already built VGGFeatures (its network is shared; `layers` picks among its layers)
        self.vgg = extractor or VGGFeatures(layers, device=self.device, weights_module=weights_module)
        self.layers = tuple(layers) if extractor is not None else tuple(self.vgg.layers)
        self.normalize = normalize
        self.weights_name, self.weights_sha256 = self.vgg.weights_name, self.vgg.weights_sha256

    def settings(self) -> dict[str, Any]:
        return {"layers": list(self.layers), "statistic": self.statistic, "normalize": self.normalize}

    def extract(
        self,
        corpus: Any,
        *,
        size: int | None = 256,
        resize_policy: str = "shorter",
        batch_size: int = 8,
        cache: bool = True,
        progress: bool = False,
    ) -> FeatureSet:
        """The style space's own cached extraction (Gram and mean/std are cached together per image)."""
        out = extract(
            corpus,
            self.layers,
            size,
            resize_policy,
            batch_size,
            cache,
            statistic=self.statistic,
            normalize=self.normalize,
            triu=True,
            extractor=self.vgg,
            progress=progress,
        )
        out.config.update(backbone=self.name, statistics=list(self.layers), settings=self.settings())
        return out


class VGGGramBackbone(_VGGBackbone):
    """Gram matrices (upper triangles) of VGG19 activations: Gatys et al.'s style representation."""

    statistic = "gram"
    normalization = "signed_sqrt"  # Gram entries are second moments: the square root brings them to scale

    def compute(self, images: torch.Tensor) -> dict[str, np.ndarray]:
        acts = self.vgg(images)
        return {k: triu_vector(gram(acts[k], self.normalize)).astype(np.float32) for k in self.layers}


class VGGMeanStdBackbone(_VGGBackbone):
    """Channel means and standard deviations of VGG19 activations (AdaIN's style statistics), 2C per layer."""

    statistic = "meanstd"
    normalization = "none"  # first moments already on the activations' scale

    def compute(self, images: torch.Tensor) -> dict[str, np.ndarray]:
        acts = self.vgg(images)
        out = {}
        for k in self.layers:
            mean, std = channel_stats(acts[k])
            out[k] = torch.cat([mean, std], dim=1).cpu().numpy().astype(np.float32)
        return out


# ----------------------------------------------------------------------------------------- Inception pool


class InceptionPoolBackbone(Backbone):
    """The FID Inception's 2048-d pool features (weights store `inception-fid`): a content network.

    It was trained to recognise ImageNet objects, not styles; if it separates cultures as well as Gram
    statistics do, the separation may be about what is depicted rather than how. `module` (tests): any
    callable taking a uint8 N x 3 x H x W batch and returning a tensor (or a tuple whose first entry is one).
    """

    family = "content"
    normalization = "none"

    def __init__(self, module: Any = None, device: str | torch.device | None = None) -> None:
        super().__init__(device)
        if module is None:
            from .. import weights

            module = weights.load("inception-fid", device=self.device)
            self.weights_name, self.weights_sha256 = "inception-fid", weights.sha256("inception-fid")
        else:
            self.weights_name = "custom"
            self.weights_sha256 = (
                parameters_sha256(module) if isinstance(module, nn.Module) else type(module).__name__
            )
            if isinstance(module, nn.Module):
                module = module.to(self.device).eval()
        self.module = module

    def settings(self) -> dict[str, Any]:
        return {"feature": "pool 2048", "input": "uint8, network resizes to 299 px"}

    def compute(self, images: torch.Tensor) -> dict[str, np.ndarray]:
        batch = images.mul(255.0).round_().clamp_(0, 255).to(torch.uint8).to(self.device)
        out = self.module(batch)
        if isinstance(out, (tuple, list)):
            out = out[0]
        return {"pool": out.reshape(out.shape[0], -1).float().cpu().numpy()}


# -------------------------------------------------------------------------------------- colour and texture


class ColourTextureBackbone(Backbone):
    """`embedding.ColourTextureBaseline` descriptors as two blocks, `colour` and `texture`: no network."""

    family = "colour"
    normalization = "none"

    def __init__(self, bins: int = 16, device: str | torch.device | None = None) -> None:
        from ..embedding import ColourTextureBaseline

        super().__init__(device)
        self.baseline = ColourTextureBaseline(bins=bins)
        names = self.baseline.feature_names()
        self.texture = np.array([n.startswith(("grad_", "edge_", "local_contrast")) for n in names])

    def settings(self) -> dict[str, Any]:
        return {"bins": self.baseline.bins, "version": self.baseline.VERSION}

    def compute(self, images: torch.Tensor) -> dict[str, np.ndarray]:
        described = self.baseline.describe(images).astype(np.float32)
        return {"colour": described[:, ~self.texture], "texture": described[:, self.texture]}


register_backbone("vgg19-gram", VGGGramBackbone)
register_backbone("vgg19-meanstd", VGGMeanStdBackbone)
register_backbone("inception-pool", InceptionPoolBackbone)
register_backbone("colour-texture", ColourTextureBackbone)
