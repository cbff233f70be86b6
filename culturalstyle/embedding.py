"""Style embeddings: per-layer Gram (or mean/std) statistics turned into comparable vectors, plus reducers.

`StyleEmbedding` follows scikit-learn's fit/transform convention: every data-dependent quantity (feature
standardisation, the reducer) is learnt in `fit`, so an embedding fitted on one corpus maps another corpus into
the same space. Its input is the `{layer: array}` mapping returned by `features.extract`.

Why per-layer weighting by 1/sqrt(dim): the upper triangle of relu5_1's Gram has 131k entries, relu1_1's only
2k; after standardisation each entry has unit variance, so without this scaling the deepest layers would
dominate every distance. With it, every layer contributes `weight**2` to the expected squared distance.

The network-free `ColourTextureBaseline` lives in `colour_texture` (re-exported here).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .colour_texture import ColourTextureBaseline, rgb_to_lab  # noqa: F401 - re-exported (old import path)
from .features.vgg import STYLE_LAYERS
from .pca import pca_scores  # noqa: F401 - re-exported (old import path)
from .scale import ScaleConfig

NORMALIZATIONS = ("signed_sqrt", "log", "none")
REDUCERS = ("pca", "tsne", "umap", "none")


def _normalise(x: np.ndarray, how: str) -> np.ndarray:
    if how == "signed_sqrt":
        return np.sign(x) * np.sqrt(np.abs(x))
    if how == "log":
        return np.sign(x) * np.log1p(np.abs(x))
    return x


def layer_vectors(
    features: Mapping[str, np.ndarray], layers: Sequence[str] | None = None
) -> dict[str, np.ndarray]:
    """Each layer as N x D vectors: Gram matrices (N x C x C) become their upper triangle, vectors stay."""
    from .features import triu_vector

    names = list(features) if layers is None else list(layers)
    missing = [name for name in names if name not in features]
    if missing:
        raise KeyError(f"layer(s) {missing} not in the features (have {list(features)})")
    out = {}
    for name in names:
        array = np.asarray(features[name])
        if array.ndim == 3:
            if array.shape[1] != array.shape[2]:
                raise ValueError(f"layer {name}: expected N x C x C Gram matrices, got shape {array.shape}")
            array = triu_vector(array)
        elif array.ndim != 2:
            raise ValueError(f"layer {name}: expected N x C x C or N x D, got shape {array.shape}")
        out[name] = array.astype(np.float32, copy=False)
    return out


def make_reducer(name: str, n_components: int = 2, seed: int = 0, **kwargs: Any) -> Any:
    """A scikit-learn style reducer by name: PCA (default), t-SNE, or UMAP (only if `umap-learn` is installed)."""
    if name == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=n_components, random_state=seed, **kwargs)
    if name == "tsne":
        from sklearn.manifold import TSNE

        kwargs.setdefault("init", "pca")
        return TSNE(n_components=n_components, random_state=seed, **kwargs)
    if name == "umap":
        try:
            import umap
        except ImportError as error:
            raise ImportError(
                "reducer 'umap' needs the optional package umap-learn (pip install umap-learn)"
            ) from error
        return umap.UMAP(n_components=n_components, random_state=seed, **kwargs)
    raise ValueError(f"unknown reducer {name!r}; choose one of {REDUCERS}")


@dataclass
class EmbeddingConfig:
    """Settings of a StyleEmbedding (a dataclass so it round-trips through YAML into run records)."""

    layers: tuple[str, ...] | None = None  # None: every layer in the features
    normalization: str = "signed_sqrt"  # signed_sqrt | log | none, applied to every entry before scaling
    layer_weights: dict[str, float] = field(default_factory=dict)  # missing layers weigh 1.0
    standardize: bool = True
    reducer: str = "none"  # none | pca | tsne | umap
    n_components: int = 2
    seed: int = 0


class StyleEmbedding:
    """Per-layer vectors -> normalise -> standardise -> weight by w/sqrt(dim) -> concatenate -> (reduce).

    `fit(features)` learns the per-feature means/stds and the reducer; `transform(features)` applies them;
    `transform_layers` gives the per-layer blocks (before reduction) for per-layer analyses.
    """

    def __init__(
        self,
        layers: Sequence[str] | None = None,
        normalization: str = "signed_sqrt",
        layer_weights: Mapping[str, float] | None = None,
        standardize: bool = True,
        reducer: str = "none",
        n_components: int = 2,
        seed: int = 0,
    ) -> None:
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"unknown normalization {normalization!r}; choose one of {NORMALIZATIONS}")
        if reducer not in REDUCERS:
            raise ValueError(f"unknown reducer {reducer!r}; choose one of {REDUCERS}")
        weights = dict(layer_weights or {})
        negative = {k: v for k, v in weights.items() if v < 0}
        if negative:
            raise ValueError(f"layer weights must be >= 0, got {negative}")
        self.config = EmbeddingConfig(
            tuple(layers) if layers is not None else None,
            normalization,
            weights,
            standardize,
            reducer,
            n_components,
            seed,
        )
        self.layers_: list[str] | None = None
        self.mean_: dict[str, np.ndarray] = {}
        self.scale_: dict[str, np.ndarray] = {}
        self.reducer_: Any = None
        self.dims_: dict[str, int] = {}

    @classmethod
    def from_config(cls, config: EmbeddingConfig) -> StyleEmbedding:
        return cls(**{k: getattr(config, k) for k in EmbeddingConfig.__dataclass_fields__})

    def _blocks(self, features: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        layers = self.layers_ if self.layers_ is not None else self.config.layers
        vectors = layer_vectors(features, layers)
        return {k: _normalise(v, self.config.normalization) for k, v in vectors.items()}

    def fit(self, features: Mapping[str, np.ndarray], y: Any = None) -> StyleEmbedding:
        blocks = self._blocks(features)
        self.layers_ = list(blocks)
        for name, x in blocks.items():
            if len(x) < 2 and self.config.standardize:
                raise ValueError("fitting a standardised embedding needs at least 2 images")
            self.dims_[name] = x.shape[1]
            if self.config.standardize:
                mean = x.mean(axis=0, dtype=np.float64)
                std = x.std(axis=0, dtype=np.float64)
                std[std < 1e-12] = 1.0  # constant features carry no information; leave them at 0
            else:
                mean, std = np.zeros(x.shape[1]), np.ones(x.shape[1])
            self.mean_[name], self.scale_[name] = mean.astype(np.float32), std.astype(np.float32)
        self.reducer_ = None
        if self.config.reducer != "none":
            self.reducer_ = make_reducer(self.config.reducer, self.config.n_components, self.config.seed)
            if self.config.reducer == "tsne":
                n = len(next(iter(blocks.values())))
                self.reducer_.perplexity = min(30.0, max(1.0, (n - 1) / 3.0))  # must stay below n
                from threadpoolctl import threadpool_limits

                # torch and scikit-learn each ship an OpenMP runtime; with both spinning, t-SNE's threads can
                # run 100x slower on few cores. One OpenMP thread for t-SNE avoids the contention.
                with threadpool_limits(limits=1, user_api="openmp"):
                    self.embedding_ = self.reducer_.fit_transform(self._concat(blocks))
            else:
                self.reducer_.fit(self._concat(blocks))
        return self

    def _check_fitted(self) -> None:
        if self.layers_ is None:
            raise RuntimeError("StyleEmbedding is not fitted; call fit(features) first")

    def _scaled(self, blocks: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = {}
        for name, x in blocks.items():
            if x.shape[1] != self.dims_[name]:
                raise ValueError(f"layer {name}: fitted on {self.dims_[name]} dims, got {x.shape[1]}")
            weight = float(self.config.layer_weights.get(name, 1.0)) / np.sqrt(self.dims_[name])
            out[name] = ((x - self.mean_[name]) / self.scale_[name] * weight).astype(np.float32)
        return out

    def _concat(self, blocks: dict[str, np.ndarray]) -> np.ndarray:
        scaled = self._scaled(blocks)
        return np.concatenate([scaled[name] for name in self.layers_], axis=1)

    def transform_layers(self, features: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Per-layer normalised, standardised, weighted blocks (no reduction)."""
        self._check_fitted()
        return self._scaled(self._blocks(features))

    def transform(self, features: Mapping[str, np.ndarray]) -> np.ndarray:
        """N x D concatenated embedding, reduced to `n_components` if a reducer was fitted."""
        self._check_fitted()
        x = self._concat(self._blocks(features))
        if self.reducer_ is None:
            return x
        if self.config.reducer == "tsne":
            raise NotImplementedError(
                "t-SNE cannot embed new points; use fit_transform, or reducer='pca'/'umap'"
            )
        return self.reducer_.transform(x)

    def fit_transform(self, features: Mapping[str, np.ndarray], y: Any = None) -> np.ndarray:
        self.fit(features)
        if self.config.reducer == "tsne":
            return self.embedding_
        return self.transform(features)


# --------------------------------------------------------------------------------------------------------------
# A corpus embedded into a directory (what `culturalstyle embed` writes and `culturalstyle compare` reads)

META_COLUMNS = ("image_id", "culture", "artist", "split", "sha256", "path", "title", "date")


@dataclass
class EmbedConfig:
    """Everything that determines an embedding run; saved as config.yaml and in the run record."""

    layers: tuple[str, ...] = STYLE_LAYERS
    size: int = 256
    resize_policy: str = "shorter"  # shorter (+ centre crop) | longer | native
    statistic: str = "gram"  # gram | meanstd
    gram_normalize: str = "positions"  # positions | positions_channels
    normalization: str = "signed_sqrt"  # signed_sqrt | log | none
    layer_weights: dict[str, float] = field(default_factory=dict)
    n_components: int = 50  # PCA components of the concatenated embedding that are saved
    batch_size: int = 8
    baseline_bins: int = 16
    cultures: tuple[str, ...] | None = None  # None: every culture of the corpus
    split: tuple[str, ...] | None = None  # None: every split
    seed: int = 0
    backbones: tuple[str, ...] = ()  # registered backbones whose statistics are saved too (backbones/<name>/)
    scale: ScaleConfig = field(default_factory=ScaleConfig)  # large corpora: feature store + sketches


@dataclass
class EmbeddingRun:
    """An embedding directory loaded back: per-image metadata, per-layer features, baseline, PCA coordinates."""

    path: Any
    meta: Any  # pandas DataFrame, one row per image, in the row order of every array
    features: dict[str, np.ndarray]  # layer -> N x D (Gram upper triangles or mean/std vectors)
    baseline: np.ndarray  # N x D raw colour/texture descriptors
    baseline_names: list[str]
    pca: np.ndarray  # N x n_components
    config: EmbedConfig
    record: dict
    backbones: list[str] = field(default_factory=list)  # saved under backbones/<name>/ (see representations)

    def style_embedding(self) -> StyleEmbedding:
        return StyleEmbedding(
            layers=self.config.layers,
            normalization=self.config.normalization,
            layer_weights=self.config.layer_weights,
            seed=self.config.seed,
        )


def embed_corpus(
    corpus: Any,
    out_dir: Any,
    config: EmbedConfig | None = None,
    *,
    device: Any = None,
    weights_module: Any = None,
    cache: bool = True,
    progress: bool = False,
    workers: int = 0,
) -> Any:
    """`pipeline.embed` (kept under this name): the corpus's style space written to the new `out_dir`."""
    from .pipeline import embed

    return embed(
        corpus,
        out_dir,
        config,
        device=device,
        weights_module=weights_module,
        cache=cache,
        progress=progress,
        workers=workers,
    )


def write_embed_record(
    out: Any,
    config: EmbedConfig,
    corpus: Any,
    meta: Any,
    *,
    weights: dict[str, str],
    extra: dict[str, Any],
    inputs: dict[str, Any] | None = None,
) -> Any:
    """`config.yaml` and the run record of an embed directory: the exact and the store path record the same
    inputs (corpus root, manifest hash, the embedded images' sha256 by image id) so their directories compare."""
    from .configs import save_yaml
    from .runs import write_record

    save_yaml(config, out / "config.yaml")
    return write_record(
        out,
        kind="embed",
        config=config,
        seed=config.seed,
        inputs={
            "corpus_root": str(corpus.root),
            "manifest_sha256": corpus.manifest_hash(),
            "n_images": len(meta),
            **(inputs or {}),
            "image_sha256": dict(zip(meta["image_id"], meta["sha256"])),
        },
        weights=weights,
        extra=extra,
    )


def load_embedding_dir(path: Any) -> EmbeddingRun:
    """Read back what `embed_corpus` wrote; a clear error names a directory that is not an embedding run."""
    from pathlib import Path

    import pandas as pd

    from .configs import load_yaml
    from .runs import read_record

    path = Path(path)
    if (path / "store.json").exists():  # written by the store path (large corpus)
        from .scale import load_scaled_run

        return load_scaled_run(path)
    needed = ["images.parquet", "config.yaml", "embedding_pca.npy", "baseline.npy", "features"]
    missing = [name for name in needed if not (path / name).exists()]
    if missing:
        raise FileNotFoundError(
            f"{path} is not an embedding directory (missing {', '.join(missing)}); "
            "create one with `culturalstyle embed CORPUS --out DIR`"
        )
    config = load_yaml(EmbedConfig, path / "config.yaml")
    meta = pd.read_parquet(path / "images.parquet")
    layer_features = {layer: np.load(path / "features" / f"{layer}.npy") for layer in config.layers}
    for layer, array in layer_features.items():
        if len(array) != len(meta):
            raise ValueError(f"{path}/features/{layer}.npy has {len(array)} rows for {len(meta)} images")
    names = (path / "baseline_features.txt").read_text().split()
    saved = sorted(p.name for p in (path / "backbones").iterdir()) if (path / "backbones").is_dir() else []
    return EmbeddingRun(
        path,
        meta,
        layer_features,
        np.load(path / "baseline.npy"),
        names,
        np.load(path / "embedding_pca.npy"),
        config,
        read_record(path),
        saved,
    )
