"""Which representation separates the cultures? The same images through several backbones, compared fairly.

Is "cultures separate in style space" about style at all? A content network (the FID Inception), AdaIN's
channel statistics, Gram statistics and a network-free colour/texture descriptor see the same decoded pixels
(`features.decoded_batches`), are embedded the same way (per-block standardisation and 1/sqrt(dim)
weighting), and are judged on the same artist-disjoint folds (same seed), so every comparison is paired:

- leave-artist-out culture accuracy and balanced accuracy, with artist-bootstrap CIs;
- retrieval precision@k: the share of each image's k nearest neighbours (other artists only) of its culture;
- silhouette of the culture labels;
- a paired test of every backbone against the reference (Gram): McNemar on the same held-out predictions and
  a paired artist bootstrap of the accuracy difference, Holm-adjusted over the backbones;
- conformal prediction sets (`conformal`): coverage and set size per culture at alpha, and the
  leave-one-culture-out unknown rate (each culture held out entirely: how often its works get the empty set).

Wide statistics (a Gram embedding has up to 300k columns) are replaced by exact N-dimensional isometric
coordinates first, which leaves distances, k-NN and L2-penalised linear classifiers unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .conformal import ConformalConfig, coverage_table, cross_validated_sets, leave_one_culture_out
from .significance import (
    artist_bootstrap_mean,
    artist_bootstrap_weights,
    balanced_accuracy_replicates,
    paired_accuracy_tests,
    percentile_interval,
)

REFERENCE = "vgg19-gram"
BUILTIN_BACKBONES = ("vgg19-gram", "vgg19-meanstd", "inception-pool", "colour-texture")


@dataclass
class BackboneSpace:
    """One backbone's embedding of a corpus: isometric coordinates (N x r), a 2-D PCA map, provenance."""

    name: str
    family: str
    coordinates: np.ndarray
    map2d: np.ndarray
    record: dict[str, Any] = field(default_factory=dict)
    features: Any = None  # the FeatureSet (None when loaded from an embedding directory)
    embedding: Any = None  # the fitted StyleEmbedding (places new images in this space)


def space_from_features(
    record: Mapping[str, Any], features: Mapping[str, np.ndarray], seed: int = 0
) -> BackboneSpace:
    """Embed one backbone's statistics as a space: its StyleEmbedding (`record["normalization"]`), fitted on
    these images without labels, then exact isometric coordinates and a 2-D PCA map.

    `record` is `Backbone.describe()` plus `normalization` (what `backbone_record` returns), as stored in an
    embedding directory, so spaces can be rebuilt from saved statistics without the network.
    """
    from .embedding import StyleEmbedding

    embedding = StyleEmbedding(normalization=record.get("normalization", "none"), seed=seed).fit(features)
    return space_from_embedding(record, features, embedding, embedding.transform(features))


def space_from_embedding(
    record: Mapping[str, Any], features: Mapping[str, np.ndarray], embedding: Any, vectors: np.ndarray
) -> BackboneSpace:
    """A backbone's space from its fitted embedding and embedded vectors: exact isometric coordinates and
    a 2-D PCA map."""
    from .embedding import pca_scores
    from .stats import coordinates_from_kernel, linear_kernel

    coordinates = coordinates_from_kernel(linear_kernel(vectors))
    map2d, _ = pca_scores(coordinates, 2)
    if map2d.shape[1] < 2:
        map2d = np.pad(map2d, ((0, 0), (0, 2 - map2d.shape[1])))
    record = dict(record)
    if hasattr(features, "cache_hits"):
        record.update(cache_hits=features.cache_hits, network_images=features.network_images)
    record["dim"] = int(vectors.shape[1])
    return BackboneSpace(
        str(record["backbone"]),
        str(record.get("family", "")),
        coordinates,
        map2d,
        record,
        features,
        embedding,
    )


def backbone_record(backbone: Any) -> dict[str, Any]:
    """What is needed to rebuild a backbone's space from its saved statistics, and to cite its weights."""
    return {**backbone.describe(), "normalization": backbone.normalization}


def write_backbone_features(folder: Any, backbone: Any, features: Mapping[str, np.ndarray]) -> Any:
    """Save one backbone's statistics as `<folder>/<statistic>.npy` plus `backbone.json` (its record)."""
    import json
    from pathlib import Path

    from .cache import atomic_write_text

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=False)
    for name, array in features.items():
        np.save(folder / f"{name}.npy", np.asarray(array, dtype=np.float32))
    record = {**backbone_record(backbone), "statistics": list(features)}
    atomic_write_text(folder / "backbone.json", json.dumps(record, indent=2, default=str))
    return folder


def read_backbone_features(folder: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(record, {statistic: array}) of a folder written by `write_backbone_features`."""
    import json
    from pathlib import Path

    folder = Path(folder)
    if not (folder / "backbone.json").exists():
        raise FileNotFoundError(f"{folder} holds no saved backbone statistics (backbone.json missing)")
    record = json.loads((folder / "backbone.json").read_text())
    return record, {name: np.load(folder / f"{name}.npy") for name in record["statistics"]}


def build_backbone(
    name: str,
    *,
    layers: Sequence[str] | None = None,
    device: Any = None,
    options: Mapping[str, Any] | None = None,
) -> Any:
    """A registered backbone with the study's shared settings (`layers` and `device` go to the backbones
    that take them) and its own `options`."""
    from .features import make_backbone

    shared: dict[str, Any] = {"device": device}
    if layers is not None:
        shared["layers"] = tuple(layers)
    return make_backbone(name, strict=False, **{**shared, **dict(options or {})})


def embed_backbones(
    corpus: Any,
    names: Sequence[str] | None = None,
    *,
    size: int | None = 256,
    resize_policy: str = "shorter",
    batch_size: int = 8,
    layers: Sequence[str] | None = None,
    device: Any = None,
    cache: bool = True,
    progress: bool = False,
    seed: int = 0,
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, BackboneSpace]:
    """Every backbone in `names` (default: the four built-ins) over `corpus` through `pipeline.style_space`
    (features cached per image, each backbone's own entry normalisation).

    `layers` goes to the backbones that take layers (the VGG19 ones, so Gram and mean/std are compared at the
    same depth); `options[name]` are extra constructor options of one backbone (tests: tiny networks).
    """
    from .embedding import EmbedConfig
    from .pipeline import style_space

    spaces = {}
    for name in names or BUILTIN_BACKBONES:
        backbone = build_backbone(name, layers=layers, device=device, options=(options or {}).get(name))
        config = EmbedConfig(
            size=size,
            resize_policy=resize_policy,
            batch_size=batch_size,
            normalization=backbone.normalization,
            seed=seed,
        )
        space = style_space(corpus, config, backbone=backbone, cache=cache, progress=progress, maps=False)
        spaces[name] = space_from_embedding(
            backbone_record(backbone), space.features, space.embedding, space.vectors
        )
    return spaces


def corpus_from_meta(meta: pd.DataFrame) -> Any:
    """A Corpus over the images of an embedding directory's metadata (absolute paths, recorded sha256)."""
    from .corpus import COLUMNS, Corpus

    df = meta.copy()
    for column in COLUMNS:
        if column not in df.columns:
            df[column] = 0 if column in ("width", "height") else ""
    return Corpus(df, "/")


# ---------------------------------------------------------------------------------------------- comparison


def retrieval_precision(
    x: np.ndarray, cultures: Sequence[str], groups: Sequence[str], k: int = 5
) -> np.ndarray:
    """Per image: the share of its k nearest neighbours (Euclidean, other artists only) of its own culture."""
    x = np.asarray(x, dtype=np.float64)
    y, groups = np.asarray(cultures, dtype=str), np.asarray(groups, dtype=str)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    sq = np.einsum("ij,ij->i", x, x)
    d = sq[:, None] + sq[None, :] - 2.0 * x @ x.T
    d[groups[:, None] == groups[None, :]] = np.inf  # itself and the same artist are not neighbours
    precision = np.full(len(x), np.nan)
    for i in range(len(x)):
        allowed = np.flatnonzero(np.isfinite(d[i]))
        if not len(allowed):
            continue
        nearest = allowed[np.lexsort((allowed, d[i, allowed]))][:k]  # ties broken by row: deterministic
        precision[i] = float(np.mean(y[nearest] == y[i]))
    return precision


@dataclass
class BackboneComparison:
    """Tidy tables of a backbone comparison (see `compare_backbones`)."""

    tables: dict[str, pd.DataFrame]
    reference: str


def compare_backbones(
    spaces: Mapping[str, Any],
    meta: pd.DataFrame,
    *,
    reference: str = REFERENCE,
    classifier: str = "logreg",
    n_splits: int = 5,
    k: int = 5,
    seed: int = 0,
    n_bootstrap: int = 1000,
    level: float = 0.95,
    conformal: ConformalConfig | None = None,
    families: Mapping[str, str] | None = None,
) -> BackboneComparison:
    """Compare representations of the same images (`spaces`: name -> BackboneSpace or N x D array).

    `meta` needs image_id, culture and artist in the rows' order. Tables: `backbones` (one row per backbone:
    accuracy and balanced accuracy with artist-bootstrap CIs, precision@k with CI, silhouette, conformal
    coverage / set size / unknown rate), `backbone_paired` (each backbone vs `reference` on the same
    predictions), `backbone_predictions`, `conformal_coverage` (per backbone and culture), `conformal_sets`,
    `conformal_unknown` (leave-one-culture-out per held-out culture) and `conformal_unknown_sets`.
    `conformal=None` uses `ConformalConfig(seed=seed)`.
    """
    from sklearn.metrics import silhouette_score

    from .stats import artist_groups, leave_artist_out

    if not spaces:
        raise ValueError("compare_backbones needs at least one representation")
    cultures = meta["culture"].astype(str).to_numpy()
    ids = meta["image_id"].astype(str).to_numpy()
    artists = meta["artist"].to_numpy()
    groups = artist_groups(artists, ids)
    config = conformal or ConformalConfig(seed=seed)
    weights = artist_bootstrap_weights(groups, n_bootstrap, seed)
    rows, predictions, coverage_sets, unknown, unknown_sets = [], [], [], [], []
    for name, space in spaces.items():
        x = np.asarray(getattr(space, "coordinates", space), dtype=np.float64)
        if len(x) != len(meta):
            raise ValueError(f"representation {name!r} has {len(x)} rows for {len(meta)} images")
        family = getattr(space, "family", None) or (families or {}).get(name, "")
        result = leave_artist_out(
            x,
            cultures,
            artists,
            methods=[classifier],
            n_splits=n_splits,
            seed=seed,
            n_bootstrap=n_bootstrap,
            level=level,
            feature=name,
            image_ids=ids,
            classifier_kwargs={"standardize": False},
        )
        predictions.append(result.predictions)
        row = result.table.iloc[0].to_dict()
        correct = (result.predictions["predicted"] == result.predictions["culture"]).to_numpy(float)
        low, high = percentile_interval(balanced_accuracy_replicates(correct, cultures, weights), level)
        precision = retrieval_precision(x, cultures, groups, k)
        p_mean, p_low, p_high = artist_bootstrap_mean(
            precision, groups, n_bootstrap=n_bootstrap, seed=seed, level=level
        )
        sets = cross_validated_sets(
            x, cultures, artists, config=config, n_splits=n_splits, seed=seed, image_ids=ids, feature=name
        )
        loco, loco_sets = leave_one_culture_out(
            x,
            cultures,
            artists,
            config=config,
            n_bootstrap=n_bootstrap,
            seed=seed,
            image_ids=ids,
            feature=name,
        )
        coverage_sets.append(sets)
        unknown.append(loco)
        unknown_sets.append(loco_sets)
        row.update(
            family=family,
            dim=int(getattr(space, "record", {}).get("dim", x.shape[1])),
            balanced_ci_low=low,
            balanced_ci_high=high,
            precision_at_k=p_mean,
            precision_ci_low=p_low,
            precision_ci_high=p_high,
            k=k,
            silhouette=float(silhouette_score(x, cultures)),
            conformal_coverage=float(sets["covered"].mean()),
            conformal_mean_set_size=float(sets["set_size"].mean()),
            conformal_empty_known=float(sets["empty"].mean()),
            loco_unknown_rate=float(np.average(loco["unknown_rate"], weights=loco["n"])),
            alpha=config.alpha,
            weights_sha256=getattr(space, "record", {}).get("weights_sha256", ""),
        )
        rows.append(row)
    table = pd.DataFrame(rows).rename(columns={"feature": "backbone"})
    first = ["backbone", "family", "dim", "classifier", "n", "n_artists", "n_cultures", "n_folds"]
    table = table[first + [c for c in table.columns if c not in first]]
    predictions_table = pd.concat(predictions, ignore_index=True)
    tables = {
        "backbones": table,
        "backbone_predictions": predictions_table.rename(columns={"feature": "backbone"}),
        "conformal_coverage": coverage_table(
            pd.concat(coverage_sets, ignore_index=True), n_bootstrap=n_bootstrap, seed=seed, level=level
        ).rename(columns={"feature": "backbone"}),
        "conformal_sets": pd.concat(coverage_sets, ignore_index=True).rename(columns={"feature": "backbone"}),
        "conformal_unknown": pd.concat(unknown, ignore_index=True).rename(columns={"feature": "backbone"}),
        "conformal_unknown_sets": pd.concat(unknown_sets, ignore_index=True).rename(
            columns={"feature": "backbone"}
        ),
    }
    if reference in spaces and len(spaces) > 1:
        paired = paired_accuracy_tests(
            predictions_table,
            reference,
            classifier=classifier,
            n_bootstrap=n_bootstrap,
            seed=seed,
            level=level,
        )
        tables["backbone_paired"] = paired.rename(columns={"feature": "backbone"})
    return BackboneComparison(tables, reference)
