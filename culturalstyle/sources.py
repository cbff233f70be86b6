"""What goes into a feature store: sources that turn an image batch on the device into `{field: B x width}`.

- `SketchSource`: VGG Gram sketches (`sketch.GramSketcher`), which first fit their standardisation on a seeded
  calibration sample (`extraction` runs that phase: exact triangles, merged across ranks, then sketched; no
  image goes through the network twice);
- `FunctionSource`: any `images -> {name: array}` callable with known widths, e.g. a registered backbone
  (`backbone_source`, `store_source_for`);
- `embed_source`: what `embed`'s store path stores for an EmbedConfig (Gram sketches or normalised mean/std
  vectors) plus the colour/texture baseline from the same decoded pixels (`WithBaseline`).

A source has `fields` ({name: store.Field}), `device`, `network` (whose `images_seen` counts network passes),
`describe()` (part of the store key), `compute(images)`, and, if `needs_calibration`, `calibration_rows`,
`calibrated_fields`, `exact`, `calibrate` and `from_exact`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from .store import Field
from .streaming import Moments

BASELINE_FIELD = "colour_texture"


class SketchSource:
    """Gram sketches of a VGG extractor; needs calibration (phase 1) before `compute`."""

    needs_calibration = True

    def __init__(self, sketcher: Any) -> None:
        self.sketcher = sketcher
        self.device = torch.device(getattr(sketcher.extractor, "device", "cpu"))

    @property
    def fields(self) -> dict[str, Field]:
        """Sketches are standardised (values of order 1): float16 keeps 3 significant digits at half the size."""
        return {name: Field(width, "float16") for name, width in self.sketcher.fields.items()}

    @property
    def network(self) -> Any:
        return self.sketcher.extractor

    @property
    def calibrated_fields(self) -> list[str]:
        return list(self.sketcher.layers)

    def calibration_rows(self, n_rows: int) -> np.ndarray:
        """A seeded uniform sample of min(calibration, n_rows) rows (sorted)."""
        n = min(self.sketcher.config.calibration, n_rows)
        rng = np.random.default_rng([self.sketcher.config.seed, n_rows, 1])
        return np.sort(rng.choice(n_rows, size=n, replace=False))

    def exact(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.sketcher.triangles(images)

    def calibrate(self, moments: Mapping[str, Moments]) -> None:
        self.sketcher.calibrate(moments)

    def from_exact(self, exact: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.sketcher.sketch_triangles(exact)

    def compute(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.sketcher(images)

    def describe(self) -> dict[str, Any]:
        network = self.sketcher.extractor
        return {
            "source": "vgg-gram-sketch",
            "weights": getattr(network, "weights_name", "custom"),
            "weights_sha256": getattr(network, "weights_sha256", ""),
            "layers": list(self.sketcher.layers),
            **self.sketcher.describe(),
        }


class FunctionSource:
    """Any `images -> {name: B x width}` callable with known widths (no calibration), stored as `dtype`
    (float32: raw statistics can have tiny variances next to large means, which float16 would erase)."""

    needs_calibration = False

    def __init__(
        self,
        function: Callable[[torch.Tensor], Mapping[str, Any]],
        fields: Mapping[str, int],
        description: Mapping[str, Any],
        device: str | torch.device = "cpu",
        network: Any = None,
        dtype: str = "float32",
    ) -> None:
        self.function, self.description = function, dict(description)
        self._fields = {name: Field(int(width), dtype) for name, width in fields.items()}
        self.device, self.network = torch.device(device), network

    @property
    def fields(self) -> dict[str, Field]:
        return dict(self._fields)

    def compute(self, images: torch.Tensor) -> dict[str, Any]:
        return dict(self.function(images))

    def describe(self) -> dict[str, Any]:
        return dict(self.description)


class WithBaseline:
    """A source plus the colour/texture baseline computed on the same decoded pixels (one decoding pass)."""

    def __init__(self, inner: Any, baseline: Any) -> None:
        self.inner, self.baseline = inner, baseline
        self.needs_calibration = inner.needs_calibration
        self.device = inner.device
        self.network = getattr(inner, "network", None)
        self.calibrated_fields = list(getattr(inner, "calibrated_fields", []))

    @property
    def fields(self) -> dict[str, Any]:
        return {**self.inner.fields, BASELINE_FIELD: Field(len(self.baseline.feature_names()), "float32")}

    def _baseline(self, images: torch.Tensor) -> dict[str, np.ndarray]:
        return {BASELINE_FIELD: self.baseline.describe(images).astype(np.float32)}

    def calibration_rows(self, n_rows: int) -> np.ndarray:
        return self.inner.calibration_rows(n_rows)

    def exact(self, images: torch.Tensor) -> dict[str, Any]:
        return {**self.inner.exact(images), **self._baseline(images)}

    def calibrate(self, moments: Mapping[str, Moments]) -> None:
        self.inner.calibrate(moments)

    def from_exact(self, exact: Mapping[str, Any]) -> dict[str, Any]:
        sketched = self.inner.from_exact({k: v for k, v in exact.items() if k != BASELINE_FIELD})
        baseline = exact[BASELINE_FIELD]
        if isinstance(baseline, torch.Tensor):
            baseline = baseline.cpu().numpy()
        return {**sketched, BASELINE_FIELD: baseline}

    def compute(self, images: torch.Tensor) -> dict[str, Any]:
        return {**self.inner.compute(images), **self._baseline(images)}

    def describe(self) -> dict[str, Any]:
        return {
            **self.inner.describe(),
            "baseline": {"bins": self.baseline.bins, "version": self.baseline.VERSION},
        }


def _normalised(function: Any, how: str) -> Any:
    from .sketch import normalise_entries

    def compute(images: torch.Tensor) -> dict[str, torch.Tensor]:
        return {
            k: normalise_entries(torch.as_tensor(v, dtype=torch.float32), how)
            for k, v in function(images).items()
        }

    return compute


def backbone_source(backbone: Any, *, size: int | None, normalization: str | None = None) -> Any:
    """A store source for any registered backbone: its statistics, entry-normalised, stored as float32.

    Widths come from one probe batch (a grey size x size image) that is not counted as a network pass.
    """
    how = normalization or getattr(backbone, "normalization", "none")
    compute = _normalised(backbone.compute, how)
    probe_side = size or 64
    network = getattr(backbone, "vgg", None)
    counters = (network.calls, network.images_seen) if network is not None else None
    with torch.inference_mode():
        probe = compute(torch.full((1, 3, probe_side, probe_side), 0.5))
    if network is not None:
        network.calls, network.images_seen = counters  # the probe is not an image of the corpus
    fields = {name: int(np.prod(value.shape[1:])) for name, value in probe.items()}
    description = {**backbone.describe(), "normalization": how}

    def flat(images: torch.Tensor) -> dict[str, torch.Tensor]:
        return {k: v.reshape(v.shape[0], -1) for k, v in compute(images).items()}

    return FunctionSource(flat, fields, description, backbone.device, network)


def store_source_for(backbone: Any, *, size: int | None, sketch: Any = None) -> Any:
    """The store source of any registered backbone: Gram backbones as calibrated sketches (`sketch`, a
    SketchConfig), every other one as its (entry-normalised) statistics."""
    from .features import VGGGramBackbone

    if isinstance(backbone, VGGGramBackbone):
        from .sketch import GramSketcher, SketchConfig

        sketcher = GramSketcher(
            backbone.vgg,
            backbone.layers,
            sketch or SketchConfig(),
            gram_normalize=backbone.normalize,
            normalization=backbone.normalization,
        )
        return SketchSource(sketcher)
    return backbone_source(backbone, size=size)


def embed_source(config: Any, extractor: Any) -> Any:
    """The store source of an EmbedConfig: Gram sketches (statistic gram) or normalised mean/std vectors,
    plus the colour/texture baseline."""
    from .embedding import ColourTextureBaseline

    if config.statistic == "gram":
        from .sketch import GramSketcher

        sketcher = GramSketcher(
            extractor,
            config.layers,
            config.scale.sketch(config.seed),
            gram_normalize=config.gram_normalize,
            normalization=config.normalization,
        )
        inner = SketchSource(sketcher)
    else:
        inner = _meanstd_source(extractor, config)
    baseline = ColourTextureBaseline(
        bins=config.baseline_bins, size=config.size, resize_policy=config.resize_policy
    )
    return WithBaseline(inner, baseline)


def _meanstd_source(extractor: Any, config: Any) -> Any:
    """Channel means and stds (2C per layer, as `features.extract(statistic="meanstd")`), entry-normalised."""
    from .features import channel_stats
    from .sketch import layer_channels

    layers = tuple(config.layers)

    def meanstd(images: torch.Tensor) -> dict[str, torch.Tensor]:
        acts = extractor(images)
        return {layer: torch.cat(channel_stats(acts[layer]), dim=1) for layer in layers}

    widths = {layer: 2 * c for layer, c in layer_channels(extractor, layers).items()}
    description = {
        "source": "vgg-meanstd",
        "weights": extractor.weights_name,
        "weights_sha256": extractor.weights_sha256,
        "layers": list(layers),
        "normalization": config.normalization,
    }
    return FunctionSource(
        _normalised(meanstd, config.normalization), widths, description, extractor.device, extractor
    )
