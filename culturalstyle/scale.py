"""The style space at WikiArt scale: embed a corpus through the feature store with bounded memory.

Below `ScaleConfig.threshold` images (and in tests and notebooks) `pipeline.embed` keeps the exact
path: full Gram upper triangles in memory, `StyleEmbedding`, exact PCA. Above it (or with `mode: store`, or
under torchrun) the statistics go to a `store.FeatureStore` in one streaming pass (`extraction.fill_store`):

- Gram layers as calibrated sketches (`sketch.GramSketcher`; layers with <= sketch_dim entries stay exact),
  the colour/texture baseline from the same decoded pixels, bad images recorded, resumable, sharded by rank;
- the embedding is computed chunk by chunk from the store (`StoreEmbedding`): exact layers are standardised
  with the merged per-feature moments (the full-corpus standardisation, as `StyleEmbedding.fit`), sketched
  layers are already standardised (on the calibration sample) and are only centred; every block is weighted
  by w / sqrt(dim of the full triangle), so each layer contributes as in the exact embedding;
- PCA is a randomized SVD over chunks (`streaming.randomized_pca`), never an N x N or N x 306k matrix.

The embedding directory then holds metadata, PCA scores, the baseline and `store.json` (where the features
are); statistics read the store (`scale_stats`), nothing is held twice.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .sources import BASELINE_FIELD, embed_source, store_source_for
from .streaming import ChunkSource, randomized_pca

MODES = ("auto", "exact", "store")


@dataclass
class ScaleConfig:
    """When and how the store path is used (part of EmbedConfig, so it round-trips through YAML)."""

    mode: str = "auto"  # auto: store path above `threshold` images or under torchrun | exact | store
    threshold: int = 2000
    sketch_dim: int = 4096  # per Gram layer; layers with at most this many triangle entries stay exact
    sketch_nonzeros: int = 8
    calibration: int = 512  # images that fit the per-feature standardisation before sketching
    shard_size: int = 1024  # images per resumable unit of work

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown scale mode {self.mode!r}; choose one of {MODES}")

    def sketch(self, seed: int):
        from .sketch import SketchConfig

        return SketchConfig(self.sketch_dim, self.sketch_nonzeros, seed, self.calibration)


def use_store(config: Any, n_images: int) -> bool:
    """Whether `pipeline.embed` takes the store path for this config and corpus size."""
    from . import distributed

    scale = config.scale
    if scale.mode == "store":
        return True
    if distributed.rank_info().distributed:
        if scale.mode == "exact":
            raise ValueError(
                "the exact embedding path does not shard over torchrun ranks; use scale.mode=store"
            )
        return True
    return scale.mode == "auto" and n_images > scale.threshold


def backbone_store(
    backbone: Any,
    corpus: Any,
    *,
    size: int | None = 256,
    resize_policy: str = "shorter",
    sketch: Any = None,
    batch_size: int = 8,
    workers: int = 0,
    shard_size: int = 1024,
    progress: bool = False,
    root: Any = None,
) -> tuple[Any, Any]:
    """Extract `corpus` with a backbone (an instance or a registered name) into its feature store.

    Returns (store, FillReport). Resumable and torchrun-sharded like `embed`'s store path; the store is keyed
    by the corpus's content, the backbone's description and weights, size and resize policy.
    """
    from .extraction import corpus_items, fill_store, open_store
    from .features import make_backbone

    if isinstance(backbone, str):
        backbone = make_backbone(backbone)
    source = store_source_for(backbone, size=size, sketch=sketch)
    items = corpus_items(corpus)
    store = open_store(
        items, source, size=size, resize_policy=resize_policy, shard_size=shard_size, root=root
    )
    report = fill_store(store, items, source, batch_size=batch_size, workers=workers, progress=progress)
    return store, report


# ------------------------------------------------------------------------------------------------------------
# The embedding, chunk by chunk


class StoreEmbedding:
    """Per-layer blocks from store fields: centre, standardise (exact fields), weight by w / sqrt(full dim).

    `blocks(values)` maps one chunk `{field: rows x width}` to `{layer: rows x width}` float32; `concat` joins
    them in layer order. Everything is fitted from the store's merged moments (no pass over the data).
    """

    def __init__(
        self, store: Any, layers: Sequence[str], layer_weights: Mapping[str, float] | None = None
    ) -> None:
        self.store, self.layers = store, list(layers)
        weights = dict(layer_weights or {})
        described = store.config.get("source", {}).get("layers")
        sketch_layers = described if isinstance(described, dict) else {}  # sketch sources describe each layer
        self.mean, self.scale, self.weight, self.exact, self.full_dim = {}, {}, {}, {}, {}
        for layer in self.layers:
            if layer not in store.fields:
                raise KeyError(f"layer {layer} is not in the feature store (it has {sorted(store.fields)})")
            moments = store.moments(layer)
            spec = sketch_layers.get(layer, {})
            exact = bool(spec.get("exact", True))
            full = int(spec.get("in_dim", store.fields[layer].width))
            std = np.sqrt(np.maximum(moments.variance(ddof=0), 0.0))
            std[std < 1e-12] = 1.0
            self.mean[layer] = moments.mean.astype(np.float32)
            self.scale[layer] = (std if exact else np.ones_like(std)).astype(np.float32)
            self.exact[layer], self.full_dim[layer] = exact, full
            self.weight[layer] = float(weights.get(layer, 1.0)) / np.sqrt(full)
        self.dim = sum(store.fields[layer].width for layer in self.layers)

    def block(self, layer: str, values: np.ndarray) -> np.ndarray:
        return ((values - self.mean[layer]) / self.scale[layer] * self.weight[layer]).astype(np.float32)

    def blocks(self, values: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {layer: self.block(layer, values[layer]) for layer in self.layers}

    def concat(self, values: Mapping[str, np.ndarray]) -> np.ndarray:
        return np.concatenate([self.block(layer, values[layer]) for layer in self.layers], axis=1)

    def total_variance(self, layers: Sequence[str] | None = None) -> float:
        """Sum of per-coordinate variances (ddof=1) of the blocks: the denominator of explained variance."""
        total = 0.0
        for layer in layers or self.layers:
            moments = self.store.moments(layer)
            var = moments.m2 / max(moments.n - 1, 1)
            total += float((var / self.scale[layer].astype(np.float64) ** 2).sum() * self.weight[layer] ** 2)
        return total

    def chunk_source(
        self, rows: np.ndarray, layers: Sequence[str] | None = None, size: int = 1024
    ) -> ChunkSource:
        """Chunks of the concatenated blocks of `rows` (all layers, or `layers`), for PCA and statistics."""
        names = list(layers or self.layers)

        def source() -> Iterator[np.ndarray]:
            for _, values in self.store.chunks(names, rows, size):
                yield np.concatenate([self.block(layer, values[layer]) for layer in names], axis=1)

        return source

    def pca(
        self,
        rows: np.ndarray,
        n_components: int,
        *,
        layers: Sequence[str] | None = None,
        seed: int = 0,
        power_iterations: int = 2,
    ) -> Any:
        """Randomized PCA of the blocks of `rows` (all layers concatenated, or `layers`).

        Explained-variance ratios are exact fractions of the total variance when `rows` are all valid rows
        (the store's moments are over exactly those); for other row sets they are relative to what was found.
        """
        names = list(layers or self.layers)
        dim = sum(self.store.fields[layer].width for layer in names)
        total = self.total_variance(names) if _all_valid(self.store, rows) else None
        return randomized_pca(
            self.chunk_source(rows, names),
            len(rows),
            dim,
            n_components,
            total_variance=total,
            seed=seed,
            power_iterations=power_iterations,
        )


def _all_valid(store: Any, rows: np.ndarray) -> bool:
    valid = np.flatnonzero(store.valid)
    return len(valid) == len(rows) and np.array_equal(valid, np.sort(rows))


# ------------------------------------------------------------------------------------------------------------
# pipeline.embed's store path and its directory


def embed_corpus_to_store(
    selected: Any,
    out_dir: Any,
    config: Any,
    *,
    device: Any = None,
    weights_module: Any = None,
    workers: int = 0,
    progress: bool = False,
    cache: bool = True,
    store_root: Any = None,
) -> Path | None:
    """The store path of `pipeline.embed` (same directory contract; features stay in the store).

    Every torchrun rank calls it; rank 0 writes the directory and returns it, other ranks return None. The
    output directory is checked first but created only once extraction has finished, so rerunning the same
    command after a crash resumes the store and then writes the directory. `cache=False` extracts into a
    fresh store instead of reusing (or resuming) the one keyed by this corpus and config.
    """
    import pandas as pd

    from . import distributed
    from .extraction import corpus_items, fill_store, open_store
    from .features import VGGFeatures
    from .runs import new_output_dir

    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        new_output_dir(out_dir)  # raises the usual "already exists" error before any work
    info = distributed.init(device)
    run_device = distributed.device_for(info, device)
    extractor = VGGFeatures(config.layers, device=run_device, weights_module=weights_module)
    source = embed_source(config, extractor)
    items = corpus_items(selected)
    if not cache and store_root is None:
        from .runs import timestamp
        from .store import default_root

        fresh = f"uncached-{timestamp()}-{os.getpid()}" if info.is_main else None
        store_root = default_root() / distributed.broadcast_object(fresh)
    store = open_store(
        items,
        source,
        size=config.size,
        resize_policy=config.resize_policy,
        shard_size=config.scale.shard_size,
        root=store_root,
    )
    report = fill_store(
        store, items, source, batch_size=config.batch_size, workers=workers, progress=progress
    )
    reports = distributed.all_gather_object(report.as_dict())
    backbone_stores = {}
    for name in config.backbones:  # other representations, each in its own store (every rank takes part)
        if name == "vgg19-gram":
            continue  # that is the main store
        from .representations import build_backbone

        backbone = build_backbone(
            name, layers=config.layers, device=run_device, options={"weights_module": weights_module}
        )
        root = None if store_root is None else Path(store_root).parent / f"{Path(store_root).name}-{name}"
        extra, _ = backbone_store(
            backbone,
            selected,
            size=config.size,
            resize_policy=config.resize_policy,
            sketch=config.scale.sketch(config.seed),
            batch_size=config.batch_size,
            workers=workers,
            shard_size=config.scale.shard_size,
            progress=progress,
            root=root,
        )
        backbone_stores[name] = {"path": str(extra.path.resolve()), "key": extra.key}
    if not info.is_main:
        return None

    valid = store.valid
    rows = np.flatnonzero(valid)
    if len(rows) < 2:
        raise ValueError(f"only {len(rows)} usable images in the corpus; see {store.path / 'problems.csv'}")
    embedding = StoreEmbedding(store, config.layers, config.layer_weights)
    pca = embedding.pca(rows, config.n_components, seed=config.seed)

    out = new_output_dir(out_dir)
    from .embedding import META_COLUMNS, write_embed_record

    df = selected.df.reset_index(drop=True)
    meta = df[[c for c in META_COLUMNS if c in df.columns]].copy()
    meta["path"] = [str(p) for p in selected.paths()]
    meta["store_row"] = np.arange(len(df))
    meta.iloc[rows].reset_index(drop=True).to_parquet(out / "images.parquet", index=False)
    np.save(out / "embedding_pca.npy", pca.scores.astype(np.float32))
    pd.DataFrame(
        {
            "component": np.arange(1, len(pca.explained_variance_ratio) + 1),
            "explained_variance_ratio": pca.explained_variance_ratio,
        }
    ).to_csv(out / "pca_variance.csv", index=False)
    np.save(out / "baseline.npy", store.read(BASELINE_FIELD, None)[rows])
    (out / "baseline_features.txt").write_text("\n".join(source.baseline.feature_names()) + "\n")
    store.problems.to_csv(out / "problems.csv", index=False)
    (out / "store.json").write_text(
        json.dumps(
            {"path": str(store.path.resolve()), "key": store.key, "backbones": backbone_stores}, indent=2
        )
    )
    write_embed_record(
        out,
        config,
        selected,
        meta.iloc[rows],
        inputs={"n_problems": int((~valid).sum())},
        weights={extractor.weights_name: extractor.weights_sha256},
        extra={
            "path": "store",
            "store": {
                "path": str(store.path),
                "key": store.key,
                "bytes_per_row": store.bytes_per_row,
                "fields": {k: v.width for k, v in store.fields.items()},
                "config": store.config,
            },
            "extraction": reports,
            "feature_cache": {
                "hits": int(len(items) - sum(r["network_images"] for r in reports)),
                "network_images": int(sum(r["network_images"] for r in reports)),
            },
            "pca": {"method": "randomized SVD over store chunks", "power_iterations": 2},
            "device": str(run_device),
            "world_size": info.world_size,
        },
    )
    return out


@dataclass
class ScaledEmbeddingRun:
    """An embedding directory written by the store path: like `embedding.EmbeddingRun`, features in the store."""

    path: Path
    meta: Any
    baseline: np.ndarray
    baseline_names: list[str]
    pca: np.ndarray
    config: Any
    record: dict
    store: Any
    rows: np.ndarray  # store row of each meta row
    features: dict = field(default_factory=dict)  # empty: read blocks from the store
    backbones: list[str] = field(default_factory=list)  # other representations, each in its own store
    backbone_stores: dict = field(default_factory=dict)  # name -> FeatureStore

    def embedding(self) -> StoreEmbedding:
        return StoreEmbedding(self.store, self.config.layers, self.config.layer_weights)

    def style_embedding(self) -> Any:
        raise TypeError(
            f"{self.path} was embedded through the feature store (large corpus): its features are sketches in "
            f"{self.store.path}; use culturalstyle.scale_stats (as `culturalstyle compare` does)"
        )


def load_scaled_run(path: Any) -> ScaledEmbeddingRun:
    import pandas as pd

    from .configs import load_yaml
    from .embedding import EmbedConfig
    from .runs import read_record
    from .store import FeatureStore, StoreError

    path = Path(path)
    reference = json.loads((path / "store.json").read_text())
    store = FeatureStore(reference["path"])
    if store.key != reference["key"]:
        raise StoreError(
            f"{path}: the feature store at {reference['path']} holds other features (key changed)"
        )
    meta = pd.read_parquet(path / "images.parquet")
    others = {}
    for name, ref in reference.get("backbones", {}).items():
        others[name] = FeatureStore(ref["path"])
        if others[name].key != ref["key"]:
            raise StoreError(f"{path}: the {name} feature store at {ref['path']} holds other features")
    return ScaledEmbeddingRun(
        path,
        meta,
        np.load(path / "baseline.npy"),
        (path / "baseline_features.txt").read_text().split(),
        np.load(path / "embedding_pca.npy"),
        load_yaml(EmbedConfig, path / "config.yaml"),
        read_record(path),
        store,
        meta["store_row"].to_numpy(dtype=np.int64),
        backbones=sorted(others),
        backbone_stores=others,
    )
