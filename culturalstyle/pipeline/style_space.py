"""Corpus -> style space: the one implementation behind `culturalstyle embed`, the notebooks and attribution.

Statistics come from a registered backbone (`vgg19-gram` by default, `vgg19-meanstd` for `statistic:
meanstd`, cached per image by content), a `StyleEmbedding` normalises, standardises and weights them, and
`PCAMap`s give the 2-D maps that can also place new images (translations) with the transforms fitted on the
corpus. The embed directory's `embedding_pca.npy` and the notebooks' "all layers · PCA" map are the same
numbers, because they come from the same `PCAMap`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..embedding import EmbedConfig, StyleEmbedding
from ..pca import PCAMap

if TYPE_CHECKING:
    from ..corpus import Corpus
    from ..features import Backbone, FeatureSet

ALL_LAYERS = "all layers"


@dataclass
class StyleSpace:
    """Style space of a corpus: statistics, fitted embedding, per-layer blocks and 2-D maps.

    `coords[name]` are N x 2 maps in corpus row order: `"all layers · PCA"` and `"<layer> · PCA"` per layer
    (plus `"all layers · t-SNE"` when requested, which cannot place new images). `project(features)` places
    other images (e.g. translations) in every PCA map with the transforms fitted on this corpus; `pca` is the
    map of the whole embedding with all its saved components.
    """

    corpus: Corpus
    features: FeatureSet
    embedding: Any  # fitted StyleEmbedding (no reduction)
    vectors: np.ndarray  # N x D concatenated, standardised embedding
    blocks: dict[str, np.ndarray]  # layer -> N x d_layer standardised block
    coords: dict[str, np.ndarray] = field(default_factory=dict)
    _projectors: dict[str, Callable[[Any], np.ndarray]] = field(default_factory=dict, repr=False)
    backbone: str = "vgg19-gram"  # the registered backbone whose statistics these are
    pca: PCAMap | None = None
    model: Any = field(default=None, repr=False)  # the Backbone that computed `features`

    @property
    def cultures(self) -> np.ndarray:
        return self.corpus.df["culture"].to_numpy()

    def project(self, features: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """2-D coordinates of other images' features in every projectable map."""
        return {name: fn(features) for name, fn in self._projectors.items()}

    def embed(self, features: Mapping[str, np.ndarray]) -> np.ndarray:
        """Full (unreduced) embedding of other images' features, comparable with `vectors`."""
        return self.embedding.transform(features)

    def statistics(self, images: Any, *, batch_size: int | None = None, progress: bool = False) -> FeatureSet:
        """Statistics of other images (a Corpus or paths) with this space's backbone and settings."""
        cfg = self.features.config
        return self.model.extract(
            images,
            size=cfg.get("size"),
            resize_policy=cfg.get("resize_policy", "shorter"),
            batch_size=batch_size or 8,
            progress=progress,
        )


def backbone_name(config: EmbedConfig) -> str:
    """The registered backbone of an embedding config's statistic."""
    return "vgg19-meanstd" if config.statistic == "meanstd" else "vgg19-gram"


def make_style_backbone(
    config: EmbedConfig,
    *,
    backbone: str | Backbone | None = None,
    device: Any = None,
    weights_module: Any = None,
) -> Backbone:
    """The backbone of `config` (or the named/given one) with its layers, Gram normalisation and device."""
    from ..features import Backbone
    from ..representations import build_backbone

    if isinstance(backbone, Backbone):
        return backbone
    options: dict[str, Any] = {"normalize": config.gram_normalize}
    if weights_module is not None:
        options["weights_module"] = weights_module
    return build_backbone(
        backbone or backbone_name(config), layers=config.layers, device=device, options=options
    )


def style_space(
    corpus: Corpus,
    config: EmbedConfig | None = None,
    *,
    backbone: str | Backbone | None = None,
    device: Any = None,
    weights_module: Any = None,
    cache: bool = True,
    progress: bool = False,
    tsne: bool = False,
    maps: bool = True,
) -> StyleSpace:
    """Extract (cached) statistics of `corpus` with a registered backbone and build its embedding and maps.

    `config` gives layers, size, resize policy, statistic, Gram normalisation, the embedding's entry
    normalisation and layer weights, batch size, seed and `n_components` of the whole-embedding PCA.
    `backbone` (a name or a built Backbone) replaces the one `config.statistic` names; `weights_module` goes
    to the VGG19 backbones (tests: `features.random_vgg()`). `maps=False` skips the PCA maps (attribution
    needs only the embedding).
    """
    config = config or EmbedConfig()
    model = make_style_backbone(config, backbone=backbone, device=device, weights_module=weights_module)
    feats = model.extract(
        corpus,
        size=config.size,
        resize_policy=config.resize_policy,
        batch_size=config.batch_size,
        cache=cache,
        progress=progress,
    )
    layers = tuple(feats)
    embedding = StyleEmbedding(
        layers=layers,
        normalization=config.normalization,
        layer_weights=config.layer_weights,
        seed=config.seed,
    ).fit(feats)
    blocks = embedding.transform_layers(feats)
    vectors = np.concatenate([blocks[name] for name in embedding.layers_], axis=1)  # = transform(feats)
    space = StyleSpace(corpus, feats, embedding, vectors, blocks, backbone=model.name, model=model)
    if maps:
        _add_maps(space, whole_pca(space, config), tsne=tsne, seed=config.seed)
    return space


def whole_pca(space: StyleSpace, config: EmbedConfig) -> PCAMap:
    """PCA of the whole embedding with `config.n_components` components (at least the map's two): the
    notebooks' "all layers · PCA" map and the embed directory's `embedding_pca.npy`."""
    return PCAMap.fit(space.vectors, max(2, config.n_components))


def _add_maps(space: StyleSpace, whole: PCAMap, *, tsne: bool, seed: int) -> None:
    embedding = space.embedding
    space.pca = whole
    main = f"{ALL_LAYERS} · PCA"
    space.coords[main] = _two_columns(whole.scores)
    space._projectors[main] = lambda f, p=whole: _two_columns(p.transform(embedding.transform(f), 2))
    for layer, block in space.blocks.items():
        reducer = PCAMap.fit(block, 2)
        space.coords[f"{layer} · PCA"] = _two_columns(reducer.scores)
        space._projectors[f"{layer} · PCA"] = lambda f, p=reducer, k=layer: _two_columns(
            p.transform(embedding.transform_layers(f)[k])
        )
    if tsne:
        from sklearn.manifold import TSNE

        perplexity = min(30.0, max(2.0, (len(space.vectors) - 1) / 3.0))
        space.coords[f"{ALL_LAYERS} · t-SNE"] = TSNE(
            n_components=2, perplexity=perplexity, random_state=seed, init="pca"
        ).fit_transform(space.vectors)


def _two_columns(x: np.ndarray) -> np.ndarray:
    """The first two coordinates (zero-padded when the data have fewer than two components)."""
    x = np.asarray(x)[:, :2]
    return np.pad(x, ((0, 0), (0, 2 - x.shape[1]))) if x.shape[1] < 2 else x


def build_style_space(
    corpus: Corpus,
    *,
    layers: Sequence[str] | None = None,
    size: int = 256,
    resize_policy: str = "shorter",
    batch_size: int = 8,
    normalization: str | None = None,
    statistic: str = "gram",
    tsne: bool = False,
    seed: int = 0,
    weights_module: Any = None,
    progress: bool = False,
    backbone: str | None = None,
    device: Any = None,
) -> StyleSpace:
    """`style_space` with keyword settings (the notebooks' spelling); `normalization` defaults to the
    backbone's own (signed square root for Gram entries, none for mean/std)."""
    from ..features import STYLE_LAYERS

    config = EmbedConfig(
        layers=tuple(layers or STYLE_LAYERS),
        size=size,
        resize_policy=resize_policy,
        batch_size=batch_size,
        statistic=statistic,
        seed=seed,
    )
    model = make_style_backbone(config, backbone=backbone, device=device, weights_module=weights_module)
    config.normalization = normalization or model.normalization
    return style_space(corpus, config, backbone=model, progress=progress, tsne=tsne)
