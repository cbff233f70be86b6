"""VGG19 activations at named layers, Gram / channel statistics, and a cached extractor over a corpus.

The network is the weights store's `vgg19-gatys` Sequential (AdaIN layout: a 1x1 input conv that maps [0, 1]
RGB to Caffe BGR, then pad/conv/ReLU triples and max-pools). Layer names (`relu1_1`, `conv4_2`, ...) are read
from the structure of the Sequential itself, so a tiny random network with the same layout works in tests, and
only the prefix up to the deepest requested layer is kept and run.

`extract` turns a corpus into per-layer statistics (Gram matrices or channel mean/std), not raw activations:
activations of a whole corpus do not fit in memory, and every downstream analysis needs only the statistics.
Results are cached on disk per image, keyed by content (image sha256, size, resize policy, layer set, weights
sha256), so a second run over images it has seen never calls the network; the cache, image loading and
`FeatureSet` live in `featureset`, shared with every backbone.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from .featureset import (
    FEATURE_CACHE,
    FeatureSet,
    _items,
    _read_cache,
    check_settings,
    decoded_batches,
    feature_cache_key,
)

STYLE_LAYERS: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_LAYER = "relu4_2"
WEIGHTS_NAME = "vgg19-gatys"
NORMALIZATIONS = ("positions", "positions_channels")
STATISTICS = ("gram", "meanstd")


def layer_index(network: nn.Sequential) -> dict[str, int]:
    """Map `conv{b}_{i}` / `relu{b}_{i}` / `pool{b}` to their index in a VGG-style Sequential.

    Blocks are counted by max-pools; a leading 1x1 conv (the input normalisation layer) is not named. For the
    store's `vgg19-gatys` this equals `weights.VGG19_LAYER_INDEX`.
    """
    names: dict[str, int] = {}
    block, conv = 1, 0
    for index, module in enumerate(network):
        if isinstance(module, nn.Conv2d):
            if index == 0 and tuple(module.kernel_size) == (1, 1):
                continue
            conv += 1
            names[f"conv{block}_{conv}"] = index
        elif isinstance(module, nn.ReLU) and conv > 0:
            names[f"relu{block}_{conv}"] = index
        elif isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
            names[f"pool{block}"] = index
            block, conv = block + 1, 0
    return names


def random_vgg(widths: Sequence[int] = (4, 8, 8, 16, 16), seed: int = 0) -> nn.Sequential:
    """A randomly initialised network in the store's VGG19 layout (convs per block 2, 2, 4, 4, 4).

    Same module structure and indices as `weights.load("vgg19-gatys")` but `widths` channels per block; for
    unit tests and benchmarks that must not depend on the pretrained weights.
    """
    if len(widths) != 5:
        raise ValueError(f"random_vgg needs 5 block widths, got {len(widths)}")
    generator = torch.Generator().manual_seed(seed)
    modules: list[nn.Module] = [nn.Conv2d(3, 3, 1)]
    channels = 3
    for block, (width, n_convs) in enumerate(zip(widths, (2, 2, 4, 4, 4))):
        if block > 0:
            modules.append(nn.MaxPool2d(2, 2, 0, ceil_mode=True))
        for _ in range(n_convs):
            modules += [nn.ReflectionPad2d(1), nn.Conv2d(channels, width, 3), nn.ReLU()]
            channels = width
    with torch.no_grad():
        for module in modules:
            if isinstance(module, nn.Conv2d):
                fan_in = module.in_channels * module.kernel_size[0] * module.kernel_size[1]
                module.weight.copy_(
                    torch.randn(module.weight.shape, generator=generator) * (2.0 / fan_in) ** 0.5
                )
                module.bias.copy_(torch.randn(module.bias.shape, generator=generator) * 0.05)
    return nn.Sequential(*modules).eval()


def gram(x: torch.Tensor, normalize: str = "positions") -> torch.Tensor:
    """Batched Gram matrices B x C x C of activations B x C x H x W, computed in float32.

    `normalize="positions"` divides by H*W (so images of different sizes are comparable);
    `"positions_channels"` additionally divides by C (the Gatys et al. convention up to a constant).
    Differentiable, so style-transfer losses can use it too.
    """
    if x.dim() != 4:
        raise ValueError(f"gram expects a B x C x H x W tensor, got shape {tuple(x.shape)}")
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"unknown Gram normalisation {normalize!r}; choose one of {NORMALIZATIONS}")
    b, c, h, w = x.shape
    x = x.float()
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        rows = x.permute(0, 2, 3, 1).reshape(b, h * w, c)  # a view: no copy for NHWC activations
        g = torch.bmm(rows.transpose(1, 2), rows)
    else:
        flat = x.reshape(b, c, h * w)
        g = torch.bmm(flat, flat.transpose(1, 2))
    denominator = h * w * (c if normalize == "positions_channels" else 1)
    return g / denominator


def channel_stats(x: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation (B x C each) over spatial positions, in float32.

    The std is sqrt(var + eps) (population variance), as in AdaIN; the cheap alternative to Gram matrices.
    """
    if x.dim() != 4:
        raise ValueError(f"channel_stats expects a B x C x H x W tensor, got shape {tuple(x.shape)}")
    x = x.float()
    mean = x.mean(dim=(2, 3))
    var = x.var(dim=(2, 3), unbiased=False)
    return mean, torch.sqrt(var + eps)


def triu_vector(g: np.ndarray | torch.Tensor) -> np.ndarray:
    """Upper triangle (diagonal included) of B x C x C matrices as B x C(C+1)/2 vectors."""
    g = g.detach().cpu().numpy() if isinstance(g, torch.Tensor) else np.asarray(g)
    c = g.shape[-1]
    rows, cols = np.triu_indices(c)
    return g[..., rows, cols]


def from_triu(v: np.ndarray, c: int) -> np.ndarray:
    """Inverse of `triu_vector`: symmetric B x C x C matrices from upper-triangle vectors."""
    v = np.asarray(v)
    rows, cols = np.triu_indices(c)
    out = np.zeros(v.shape[:-1] + (c, c), dtype=v.dtype)
    out[..., rows, cols] = v
    out[..., cols, rows] = v
    return out


def parameters_sha256(module: nn.Module) -> str:
    """Content hash of a module's parameters and buffers (cache key for networks not from the store)."""
    import hashlib

    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().cpu().contiguous().float().numpy().tobytes())
    return digest.hexdigest()


class VGGFeatures(nn.Module):
    """VGG19 truncated after the deepest requested layer; `forward(x)` returns {layer: activation}.

    `x` is float RGB in [0, 1], N x 3 x H x W (the network's first 1x1 conv does the Caffe normalisation).
    Parameters are frozen, but gradients flow to the input (style transfer optimises images through it); use
    `torch.inference_mode()` for feature extraction, as `extract` does. `calls` and `images_seen` count
    forward passes, which lets tests and benchmarks check that cached runs skip the network.
    """

    def __init__(
        self,
        layers: Sequence[str] = STYLE_LAYERS,
        device: str | torch.device | None = None,
        weights_module: nn.Sequential | None = None,
        channels_last: bool | None = None,
    ) -> None:
        super().__init__()
        from ..device import default_device

        if isinstance(layers, str):
            layers = (layers,)
        if not layers:
            raise ValueError("VGGFeatures needs at least one layer name")
        if weights_module is None:
            from .. import weights

            weights_module = weights.load(WEIGHTS_NAME)
            self.weights_name = WEIGHTS_NAME
            self.weights_sha256 = weights.sha256(WEIGHTS_NAME)
        else:
            self.weights_name = "custom"
            self.weights_sha256 = parameters_sha256(weights_module)
        if not isinstance(weights_module, nn.Sequential):
            raise TypeError(f"weights_module must be an nn.Sequential, got {type(weights_module).__name__}")
        index = layer_index(weights_module)
        unknown = [name for name in layers if name not in index]
        if unknown:
            raise ValueError(
                f"unknown VGG layer name(s) {unknown}; available: {', '.join(sorted(index, key=index.get))}"
            )
        self.layers: tuple[str, ...] = tuple(dict.fromkeys(layers))  # keep order, drop duplicates
        self.layer_index = {name: index[name] for name in self.layers}
        deepest = max(self.layer_index.values())
        self.device = default_device(device)
        self.channels_last = self.device.type == "cpu" if channels_last is None else channels_last
        # a private copy: moving, freezing and re-laying it out must not change the caller's module
        net = copy.deepcopy(nn.Sequential(*list(weights_module.children())[: deepest + 1]))
        for module in net:
            if isinstance(module, nn.ReLU):
                module.inplace = False  # a captured conv output must not be overwritten by its ReLU
        net = net.to(self.device).eval()
        if self.channels_last:
            net = net.to(memory_format=torch.channels_last)
        for parameter in net.parameters():
            parameter.requires_grad_(False)
        self.net = net
        self._capture = {idx: name for name, idx in self.layer_index.items()}
        self.calls = 0
        self.images_seen = 0

    def train(self, mode: bool = True) -> VGGFeatures:
        """Always stays in eval mode (no dropout/batch-norm in VGG, but keep it explicit)."""
        super().train(False)
        return self

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"VGGFeatures expects N x 3 x H x W RGB in [0, 1], got shape {tuple(x.shape)}")
        self.calls += 1
        self.images_seen += x.shape[0]
        x = x.to(self.device, torch.float32)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        out: dict[str, torch.Tensor] = {}
        for idx, module in enumerate(self.net):
            x = module(x)
            if idx in self._capture:
                out[self._capture[idx]] = x
        return {name: out[name] for name in self.layers}

    def conv_flops(self, height: int, width: int) -> int:
        """Floating-point operations (2 per multiply-add) of the conv layers for one H x W image."""
        flops, h, w = 0, height, width
        for module in self.net:
            if isinstance(module, nn.ReflectionPad2d):
                pad = module.padding
                h, w = h + pad[2] + pad[3], w + pad[0] + pad[1]
            elif isinstance(module, nn.Conv2d):
                kh, kw = module.kernel_size
                sh, sw = module.stride
                ph, pw = module.padding if isinstance(module.padding, tuple) else (0, 0)
                h, w = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
                per_output = 2 * module.in_channels // module.groups * kh * kw
                flops += per_output * module.out_channels * h * w
            elif isinstance(module, nn.MaxPool2d):
                k = module.kernel_size if isinstance(module.kernel_size, int) else module.kernel_size[0]
                s = module.stride if isinstance(module.stride, int) else module.stride[0]
                rounding = np.ceil if module.ceil_mode else np.floor
                h, w = int(rounding((h - k) / s)) + 1, int(rounding((w - k) / s)) + 1
        return int(flops)


# --------------------------------------------------------------------------------------------------------------
# Extraction over a corpus


def layer_channels(network: nn.Sequential, layer_index: dict[str, int]) -> dict[str, int]:
    """Channels of each named layer's output: those of the last convolution at or before it."""
    channels = {}
    for name, index in layer_index.items():
        convs = [m for m in list(network)[: index + 1] if isinstance(m, nn.Conv2d)]
        channels[name] = convs[-1].out_channels if convs else 3
    return channels


def _image_stats(acts: dict[str, torch.Tensor], normalize: str) -> list[dict[str, np.ndarray]]:
    """Per-image statistics of one batch: Gram upper triangle plus channel mean/std for every layer."""
    per_image: list[dict[str, np.ndarray]] = [{} for _ in range(next(iter(acts.values())).shape[0])]
    for layer, a in acts.items():
        g = triu_vector(gram(a, normalize)).astype(np.float32)
        mean, std = channel_stats(a)
        mean, std = mean.cpu().numpy(), std.cpu().numpy()
        for i, stats in enumerate(per_image):
            stats[f"{layer}.gram"] = g[i]
            stats[f"{layer}.mean"] = mean[i]
            stats[f"{layer}.std"] = std[i]
    return per_image


def extract(
    corpus: Any,
    layers: Sequence[str] = STYLE_LAYERS,
    size: int | None = 256,
    resize_policy: str = "shorter",
    batch_size: int = 8,
    cache: bool = True,
    *,
    statistic: str = "gram",
    normalize: str = "positions",
    triu: bool = False,
    extractor: VGGFeatures | None = None,
    weights_module: nn.Sequential | None = None,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> FeatureSet:
    """Style statistics of every image of `corpus` (a Corpus or a list of paths) at `layers`.

    Returns a FeatureSet `{layer: array}` in corpus row order: N x C x C Gram matrices (`statistic="gram"`) or
    N x 2C channel means and stds (`"meanstd"`). `triu=True` returns Gram matrices as their N x C(C+1)/2 upper
    triangles (half the memory; what embeddings use). Both statistics are cached together, so switching
    statistic reuses the cache. `size`/`resize_policy` are recorded in `FeatureSet.config`.
    """
    if statistic not in STATISTICS:
        raise ValueError(f"unknown statistic {statistic!r}; choose one of {STATISTICS}")
    check_settings(size, resize_policy, batch_size, why_16=" (VGG pools 4 times)")
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"unknown Gram normalisation {normalize!r}; choose one of {NORMALIZATIONS}")
    if extractor is None:
        extractor = VGGFeatures(layers, device=device, weights_module=weights_module)
    else:
        missing = [layer for layer in layers if layer not in extractor.layers]
        if missing:
            raise ValueError(f"the given extractor does not compute layer(s) {missing}")
    layers = tuple(dict.fromkeys(layers))
    items = _items(corpus)
    if not items:
        raise ValueError("extract got an empty corpus")
    keys = [
        feature_cache_key(it.sha256, size, layers, resize_policy, extractor.weights_sha256, normalize)
        for it in items
    ]

    results: list[dict[str, np.ndarray] | None] = [None] * len(items)
    hits = 0
    if cache:
        channels = layer_channels(extractor.net, {k: extractor.layer_index[k] for k in layers})
        for i, key in enumerate(keys):
            results[i] = _read_cache(key, channels)
            hits += results[i] is not None
    todo = [i for i, r in enumerate(results) if r is None]

    if todo:
        paths = [items[i].path for i in todo]
        with torch.inference_mode():
            for positions, images in decoded_batches(
                paths, size, resize_policy, batch_size, progress=progress, desc="vgg19"
            ):
                batch = [todo[p] for p in positions]
                acts = extractor(images)
                for i, stats in zip(batch, _image_stats({k: acts[k] for k in layers}, normalize)):
                    results[i] = stats
                    if cache:
                        FEATURE_CACHE.write(keys[i], stats)

    data: dict[str, np.ndarray] = {}
    for layer in layers:
        if statistic == "gram":
            vectors = np.stack([r[f"{layer}.gram"] for r in results])
            c = int(round((np.sqrt(8 * vectors.shape[1] + 1) - 1) / 2))
            data[layer] = vectors if triu else from_triu(vectors, c)
        else:
            data[layer] = np.stack([np.concatenate([r[f"{layer}.mean"], r[f"{layer}.std"]]) for r in results])
    config = {
        "layers": list(layers),
        "size": size,
        "resize_policy": resize_policy,
        "statistic": statistic,
        "normalize": normalize,
        "triu": bool(triu and statistic == "gram"),
        "weights": extractor.weights_name,
        "weights_sha256": extractor.weights_sha256,
    }
    out = FeatureSet(data, [it.image_id for it in items], config)
    out.cache_hits = hits
    out.network_images = len(todo)
    return out
