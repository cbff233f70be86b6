"""Image batch -> named statistics: the VGG19 style statistics and a registry of backbones.

- `vgg`: the store's VGG19 at named layers, Gram / channel statistics, and their cached extraction over a
  corpus (`extract`). `STYLE_LAYERS` and `CONTENT_LAYER` are defined there, once.
- `featureset`: what every extractor shares: image loading by resize policy, decoded batches, the per-image
  feature cache and the `FeatureSet` result.
- `backbones`: the `Backbone` contract (a batch of [0, 1] RGB images -> `{statistic: N x D}`), the registry
  `BACKBONES` with `register_backbone`, the built-in backbones (`vgg19-gram`, `vgg19-meanstd`,
  `inception-pool`, `colour-texture`);
- `local`: backbones a user registers from a local network file (torch.export .pt2 or TorchScript).

Everything public is re-exported here, so `from culturalstyle.features import extract, gram` keeps working.
"""

from __future__ import annotations

from .backbones import (
    BACKBONES,
    Backbone,
    ColourTextureBackbone,
    InceptionPoolBackbone,
    VGGGramBackbone,
    VGGMeanStdBackbone,
    available_backbones,
    backbone_cache_key,
    make_backbone,
    register_backbone,
    unregister_backbone,
)
from .featureset import (
    CACHE_VERSION,
    RESIZE_POLICIES,
    FeatureSet,
    _items,
    decoded_batches,
    feature_cache_key,
    load_for_features,
)
from .local import LocalBackbone, load_network_file, parse_backbone_file, register_local_backbone
from .vgg import (
    CONTENT_LAYER,
    NORMALIZATIONS,
    STATISTICS,
    STYLE_LAYERS,
    WEIGHTS_NAME,
    VGGFeatures,
    channel_stats,
    extract,
    from_triu,
    gram,
    layer_index,
    parameters_sha256,
    random_vgg,
    triu_vector,
)

__all__ = [
    "BACKBONES",
    "CACHE_VERSION",
    "CONTENT_LAYER",
    "NORMALIZATIONS",
    "RESIZE_POLICIES",
    "STATISTICS",
    "STYLE_LAYERS",
    "WEIGHTS_NAME",
    "Backbone",
    "ColourTextureBackbone",
    "FeatureSet",
    "InceptionPoolBackbone",
    "LocalBackbone",
    "VGGFeatures",
    "VGGGramBackbone",
    "VGGMeanStdBackbone",
    "_items",
    "available_backbones",
    "backbone_cache_key",
    "channel_stats",
    "decoded_batches",
    "extract",
    "feature_cache_key",
    "from_triu",
    "gram",
    "layer_index",
    "load_for_features",
    "load_network_file",
    "parse_backbone_file",
    "make_backbone",
    "parameters_sha256",
    "random_vgg",
    "register_backbone",
    "register_local_backbone",
    "triu_vector",
    "unregister_backbone",
]
