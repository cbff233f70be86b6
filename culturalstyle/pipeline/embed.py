"""`embed`: a corpus into an embedding directory (what `culturalstyle embed` writes), built on `style_space`.

The directory holds images.parquet (metadata), features/<layer>.npy, embedding_pca.npy (+ pca_variance.csv),
baseline.npy (+ baseline_features.txt), config.yaml and run_record.json, and for every name in
`config.backbones` that backbone's statistics in backbones/<name>/. `embedding.load_embedding_dir` reads it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..embedding import META_COLUMNS, EmbedConfig, layer_vectors, write_embed_record
from .style_space import style_space, whole_pca

if TYPE_CHECKING:
    from ..corpus import Corpus


def select_corpus(corpus: Corpus, config: EmbedConfig) -> Corpus:
    """The rows of `config.cultures` and `config.split` (None: all); an unknown culture or nothing left is
    an error."""
    missing = sorted(set(config.cultures or ()) - set(corpus.cultures))
    if missing:
        raise ValueError(f"culture(s) {missing} not in the corpus (it has {corpus.cultures})")
    selected = corpus.filter(culture=config.cultures, split=config.split)
    if len(selected) == 0:
        raise ValueError(f"no images left after selecting cultures={config.cultures} split={config.split}")
    return selected


def embed(
    corpus: Corpus,
    out_dir: str | Path,
    config: EmbedConfig | None = None,
    *,
    device: Any = None,
    weights_module: Any = None,
    cache: bool = True,
    progress: bool = False,
    workers: int = 0,
) -> Path | None:
    """Embed `corpus` (its `config.cultures`/`config.split` rows) into the new directory `out_dir`.

    Refuses a non-empty `out_dir`. Large corpora (`config.scale`, or under torchrun) go through the feature
    store instead (`scale.embed_corpus_to_store`: sketches, streaming statistics, resumable; `workers`
    decoding processes; returns None on torchrun ranks other than 0).
    """
    import pandas as pd

    from .. import scale
    from ..embedding import ColourTextureBaseline
    from ..runs import new_output_dir

    config = config or EmbedConfig()
    selected = select_corpus(corpus, config)
    selected.require_usable("embed")  # empty culture labels, paths outside the corpus root: refused up front
    if scale.use_store(config, len(selected)):
        return scale.embed_corpus_to_store(
            selected,
            out_dir,
            config,
            device=device,
            weights_module=weights_module,
            workers=workers,
            progress=progress,
            cache=cache,
        )
    out = new_output_dir(out_dir)
    space = style_space(  # the directory keeps the whole embedding's PCA only: no per-layer maps
        selected,
        config,
        device=device,
        weights_module=weights_module,
        cache=cache,
        progress=progress,
        maps=False,
    )
    pca = whole_pca(space, config)
    featureset = space.features
    (out / "features").mkdir()
    for layer, array in layer_vectors(featureset, config.layers).items():
        np.save(out / "features" / f"{layer}.npy", array)
    np.save(out / "embedding_pca.npy", pca.scores.astype(np.float32))
    ratio = pca.explained_variance_ratio
    pd.DataFrame({"component": np.arange(1, len(ratio) + 1), "explained_variance_ratio": ratio}).to_csv(
        out / "pca_variance.csv", index=False
    )

    baseline = ColourTextureBaseline(
        bins=config.baseline_bins, size=config.size, resize_policy=config.resize_policy
    )
    np.save(out / "baseline.npy", baseline.features(selected, cache=cache).astype(np.float32))
    (out / "baseline_features.txt").write_text("\n".join(baseline.feature_names()) + "\n")

    model = space.model
    used_weights = {model.weights_name: model.weights_sha256}
    backbone_cache = {}
    if config.backbones:
        from ..representations import build_backbone, write_backbone_features

        for name in config.backbones:
            backbone = build_backbone(
                name, layers=config.layers, device=device, options={"weights_module": weights_module}
            )
            stats = backbone.extract(
                selected,
                size=config.size,
                resize_policy=config.resize_policy,
                batch_size=config.batch_size,
                cache=cache,
                progress=progress,
            )
            write_backbone_features(out / "backbones" / name, backbone, stats)
            if backbone.weights_sha256:
                used_weights[backbone.weights_name] = backbone.weights_sha256
            backbone_cache[name] = {"hits": stats.cache_hits, "network_images": stats.network_images}

    meta = selected.df[[c for c in META_COLUMNS if c in selected.df.columns]].copy()
    meta["path"] = [str(selected.abspath(row)) for _, row in selected.df.iterrows()]
    meta.reset_index(drop=True).to_parquet(out / "images.parquet", index=False)
    write_embed_record(
        out,
        config,
        selected,
        meta,
        weights=used_weights,
        extra={
            "feature_cache": {"hits": featureset.cache_hits, "network_images": featureset.network_images},
            "backbone_cache": backbone_cache,
            "baseline_cache_hits": baseline.cache_hits,
            "feature_config": _feature_config(featureset.config),
            "device": str(model.device),
        },
    )
    return out


def _feature_config(config: dict[str, Any]) -> dict[str, Any]:
    """The feature set's own settings, without the backbone bookkeeping the style-space path adds."""
    return {k: v for k, v in config.items() if k not in ("backbone", "statistics", "settings")}
