"""Fixed-size sketches of Gram statistics: a seeded sparse Johnson-Lindenstrauss projection per layer.

Why: relu5_1's Gram upper triangle has 131,328 entries, all five style layers 306,000 (1.2 MB per image); a
corpus of 80k images cannot hold them. Each layer's normalised and standardised upper triangle `x` (D entries)
becomes `y = R x` with `k = sketch_dim` entries. R is the block construction of the sparse JL transform
(Kane & Nelson 2014): the k outputs form `s = nonzeros` blocks of k/s buckets, and every input coordinate
lands in one bucket of each block with a random sign and weight 1/sqrt(s). For every fixed vector v

    E ||R v||^2 = ||v||^2,      Var(||R v||^2) = (2/k) (||v||^4 - sum_i v_i^4) <= (2/k) ||v||^4,

so every pairwise squared distance keeps its expectation and has relative standard deviation at most sqrt(2/k)
(2.2 % at k = 4096; a distance about half of that). Layers whose triangle has at most k entries (relu1_1: 2,080)
are kept exactly. `tests/test_sketch.py` measures the error on random and on real Gram vectors of the sample.

Per-feature standardisation (as `StyleEmbedding` does it) must happen before the projection, so its means and
standard deviations are estimated first on a seeded calibration sample of the corpus (`calibrate`, mergeable
across torchrun ranks). Triangle selection, standardisation and projection are one sparse matrix applied to the
flattened C x C Gram matrices batch by batch on the device: no N x D array ever exists.
"""

from __future__ import annotations

import warnings
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .streaming import Moments

DEFAULT_SKETCH_DIM = 4096
ENTRY_NORMALIZATIONS = ("signed_sqrt", "log", "none")


@dataclass
class SketchConfig:
    """How Gram triangles are sketched (a dataclass so it round-trips through YAML into run records)."""

    sketch_dim: int = DEFAULT_SKETCH_DIM  # outputs per layer; layers with <= sketch_dim entries stay exact
    nonzeros: int = 8  # blocks s of the sparse JL transform (must divide sketch_dim)
    seed: int = 0  # the projection is a pure function of (seed, layer name, channels, sketch_dim, nonzeros)
    calibration: int = 512  # images whose exact triangles fit the per-feature standardisation

    def __post_init__(self) -> None:
        if self.sketch_dim < 1 or self.nonzeros < 1:
            raise ValueError(f"sketch_dim and nonzeros must be >= 1, got {self.sketch_dim}, {self.nonzeros}")
        if self.sketch_dim % self.nonzeros:
            raise ValueError(f"nonzeros ({self.nonzeros}) must divide sketch_dim ({self.sketch_dim})")
        if self.calibration < 2:
            raise ValueError(f"calibration needs at least 2 images, got {self.calibration}")


def triu_dim(channels: int) -> int:
    """Entries of the upper triangle (diagonal included) of a C x C matrix."""
    return channels * (channels + 1) // 2


def normalise_entries(x: torch.Tensor, how: str) -> torch.Tensor:
    """The embedding's entry normalisation (`embedding._normalise`) on tensors."""
    if how == "signed_sqrt":
        return torch.sign(x) * torch.sqrt(torch.abs(x))
    if how == "log":
        return torch.sign(x) * torch.log1p(torch.abs(x))
    if how == "none":
        return x
    raise ValueError(f"unknown entry normalisation {how!r}; choose one of {ENTRY_NORMALIZATIONS}")


class LayerSketch:
    """One layer's map from flattened C x C Gram matrices (B x C^2) to B x `out_dim` standardised sketches.

    `center`/`scale` (length C(C+1)/2, triangle order of `np.triu_indices`) standardise each entry before the
    projection; without them the raw triangle is projected. `exact` layers return the standardised triangle.
    """

    def __init__(
        self,
        name: str,
        channels: int,
        config: SketchConfig,
        center: np.ndarray | None = None,
        scale: np.ndarray | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        self.name, self.channels, self.config = name, int(channels), config
        d = triu_dim(self.channels)
        center = np.zeros(d) if center is None else np.asarray(center, dtype=np.float64)
        scale = np.ones(d) if scale is None else np.asarray(scale, dtype=np.float64)
        if center.shape != (d,) or scale.shape != (d,):
            raise ValueError(
                f"layer {name}: center/scale need {d} entries, got {center.shape}, {scale.shape}"
            )
        if not (np.all(np.isfinite(scale)) and np.all(scale > 0)):
            raise ValueError(f"layer {name}: standardisation scales must be finite and > 0")
        self.in_dim = d
        self.exact = d <= config.sketch_dim
        self.out_dim = d if self.exact else config.sketch_dim
        rows, cols = np.triu_indices(self.channels)
        flat = rows.astype(np.int64) * self.channels + cols
        if self.exact:
            out_rows = np.arange(d, dtype=np.int64)
            in_cols = flat
            values = 1.0 / scale
            feature = np.arange(d)
        else:
            s = config.nonzeros
            buckets = config.sketch_dim // s
            rng = np.random.default_rng(
                [config.seed, zlib.crc32(name.encode()), self.channels, config.sketch_dim, s]
            )
            bucket = rng.integers(0, buckets, size=(s, d))
            sign = rng.integers(0, 2, size=(s, d)) * 2.0 - 1.0
            out_rows = (np.arange(s)[:, None] * buckets + bucket).reshape(-1)
            in_cols = np.tile(flat, s)
            feature = np.tile(np.arange(d), s)
            values = (sign / np.sqrt(s)).reshape(-1) / scale[feature]
        offset = -np.bincount(out_rows, weights=values * center[feature], minlength=self.out_dim)
        order = np.lexsort((in_cols, out_rows))
        crow = np.zeros(self.out_dim + 1, dtype=np.int64)
        np.cumsum(np.bincount(out_rows, minlength=self.out_dim), out=crow[1:])
        self.device = torch.device(device)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*[Ss]parse.*")
            self.matrix = torch.sparse_csr_tensor(
                torch.from_numpy(crow),
                torch.from_numpy(in_cols[order]),
                torch.from_numpy(values[order].astype(np.float32)),
                size=(self.out_dim, self.channels * self.channels),
                device=self.device,
            )
        self.offset = torch.from_numpy(offset.astype(np.float32)).to(self.device)

    def __call__(self, grams: torch.Tensor) -> torch.Tensor:
        """B x C x C (or B x C^2) normalised Gram matrices -> B x out_dim float32 sketches."""
        b = grams.shape[0]
        flat = grams.reshape(b, -1).to(self.device, torch.float32)
        if flat.shape[1] != self.channels * self.channels:
            raise ValueError(
                f"layer {self.name}: expected {self.channels} channels, got shape {tuple(grams.shape)}"
            )
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*[Ss]parse.*")
            projected = torch.sparse.mm(self.matrix, flat.T.contiguous()).T
        return projected + self.offset

    def describe(self) -> dict[str, Any]:
        return {
            "channels": self.channels,
            "in_dim": self.in_dim,
            "out_dim": self.out_dim,
            "exact": self.exact,
        }


def sketch_triangles(
    triangles: np.ndarray,
    name: str,
    config: SketchConfig,
    center: np.ndarray | None = None,
    scale: np.ndarray | None = None,
) -> np.ndarray:
    """Sketch N x C(C+1)/2 upper-triangle vectors on the CPU (tests, and sketching vectors held in memory)."""
    from .features import from_triu

    triangles = np.asarray(triangles, dtype=np.float32)
    channels = int(round((np.sqrt(8 * triangles.shape[1] + 1) - 1) / 2))
    if triu_dim(channels) != triangles.shape[1]:
        raise ValueError(f"{triangles.shape[1]} columns are not the upper triangle of a square matrix")
    sketch = LayerSketch(name, channels, config, center, scale)
    out = [sketch(torch.from_numpy(from_triu(chunk, channels))).numpy() for chunk in _chunks(triangles, 64)]
    return np.concatenate(out) if out else np.zeros((0, sketch.out_dim), np.float32)


def _chunks(array: np.ndarray, size: int) -> list[np.ndarray]:
    return [array[start : start + size] for start in range(0, len(array), size)]


def standardisation(moments: Moments) -> tuple[np.ndarray, np.ndarray]:
    """(center, scale) of per-feature standardisation from streaming moments; constant features get scale 1.

    Same rule as `StyleEmbedding.fit` (population std, constants left at 0 after centring).
    """
    std = np.sqrt(np.maximum(moments.variance(ddof=0), 0.0))
    std[std < 1e-12] = 1.0
    return moments.mean.copy(), std


class GramSketcher:
    """VGG activations -> per-layer standardised sketches, on the device, batch by batch.

    Two phases: `triangles(images)` gives exact normalised upper triangles (for the calibration sample, whose
    moments `calibrate` turns into the standardisation), then `__call__(images)` gives `{layer: B x out_dim}`.
    `fields` says each layer's output width (what the feature store allocates).
    """

    def __init__(
        self,
        extractor: Any,
        layers: Sequence[str],
        config: SketchConfig | None = None,
        *,
        gram_normalize: str = "positions",
        normalization: str = "signed_sqrt",
    ) -> None:
        from .features import gram

        self._gram = gram
        self.extractor = extractor
        self.layers = tuple(dict.fromkeys(layers))
        self.config = config or SketchConfig()
        self.gram_normalize, self.normalization = gram_normalize, normalization
        normalise_entries(torch.zeros(1), normalization)  # validate early
        self.channels = layer_channels(extractor, self.layers)
        self.sketches: dict[str, LayerSketch] | None = None

    @property
    def fields(self) -> dict[str, int]:
        return {
            layer: triu_dim(c) if triu_dim(c) <= self.config.sketch_dim else self.config.sketch_dim
            for layer, c in self.channels.items()
        }

    def _normalised_grams(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        acts = self.extractor(images)
        return {
            layer: normalise_entries(self._gram(acts[layer], self.gram_normalize), self.normalization)
            for layer in self.layers
        }

    def triangles(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Exact normalised upper triangles `{layer: B x C(C+1)/2}` (float32, on the device)."""
        out = {}
        for layer, g in self._normalised_grams(images).items():
            rows, cols = torch.triu_indices(g.shape[-1], g.shape[-1], device=g.device)
            out[layer] = g[:, rows, cols]
        return out

    def calibrate(self, moments: Mapping[str, Moments]) -> None:
        """Fix the per-feature standardisation from the calibration sample's moments and build the projections."""
        missing = [layer for layer in self.layers if layer not in moments]
        if missing:
            raise ValueError(f"calibration moments lack layer(s) {missing}")
        device = getattr(self.extractor, "device", "cpu")
        self.sketches = {}
        for layer in self.layers:
            center, scale = standardisation(moments[layer])
            self.sketches[layer] = LayerSketch(
                layer, self.channels[layer], self.config, center, scale, device
            )

    def sketch_grams(self, grams: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if self.sketches is None:
            raise RuntimeError("GramSketcher is not calibrated; call calibrate(moments) first")
        return {layer: self.sketches[layer](grams[layer]) for layer in self.layers}

    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.sketch_grams(self._normalised_grams(images))

    def sketch_triangles(self, triangles: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Sketches of exact triangles kept from the calibration pass (no second network pass)."""
        grams = {}
        for layer in self.layers:
            t = triangles[layer]
            c = self.channels[layer]
            rows, cols = torch.triu_indices(c, c, device=t.device)
            g = torch.zeros(t.shape[0], c, c, dtype=t.dtype, device=t.device)
            g[:, rows, cols] = t
            grams[layer] = g  # the projection reads the upper triangle only
        return self.sketch_grams(grams)

    def describe(self) -> dict[str, Any]:
        layers = {}
        for layer, c in self.channels.items():
            d = triu_dim(c)
            layers[layer] = {
                "channels": c,
                "in_dim": d,
                "out_dim": self.fields[layer],
                "exact": d <= self.config.sketch_dim,
            }
        return {
            "sketch_dim": self.config.sketch_dim,
            "nonzeros": self.config.nonzeros,
            "seed": self.config.seed,
            "calibration": self.config.calibration,
            "gram_normalize": self.gram_normalize,
            "normalization": self.normalization,
            "layers": layers,
        }


def layer_channels(extractor: Any, layers: Sequence[str]) -> dict[str, int]:
    """Output channels of each requested layer of a VGGFeatures, read from its convolutions."""
    from torch import nn

    channels: dict[str, int] = {}
    current = 3
    capture = {idx: name for name, idx in extractor.layer_index.items()}
    for idx, module in enumerate(extractor.net):
        if isinstance(module, nn.Conv2d):
            current = module.out_channels
        if idx in capture:
            channels[capture[idx]] = current
    missing = [layer for layer in layers if layer not in channels]
    if missing:
        raise ValueError(f"the extractor does not compute layer(s) {missing}")
    return {layer: channels[layer] for layer in layers}
