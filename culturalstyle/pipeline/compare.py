"""`compare`: cross-culture statistics and figures of an embedding directory (what `culturalstyle compare`
writes), and the notebooks' content-keyed comparison of a style space (`space_comparison`), which lets a
later notebook reuse an earlier one's statistics by what they were computed from, never by a file path.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..cache import PICKLE, ContentCache, code_fingerprint

if TYPE_CHECKING:
    from ..stats import StyleSpaceComparison
    from .style_space import StyleSpace

COMPARISON_CACHE_VERSION = 1


COMPARISONS = ContentCache(
    "comparisons", PICKLE, what="style-space comparison", version=COMPARISON_CACHE_VERSION
)


@dataclass
class CompareConfig:
    """Settings of `compare` (the `culturalstyle compare` options)."""

    n_permutations: int | None = None  # None: 999, or more when Holm over the culture pairs needs more
    n_bootstrap: int = 1000
    n_splits: int = 5
    k: int = 5
    seed: int = 0
    thumbnails: int = 2
    formats: tuple[str, ...] = ("png", "pdf")
    subsample_above: int = 4000
    per_culture: int = 1000
    pca_components: int = 128
    backbones: tuple[str, ...] = ()
    reference: str = "vgg19-gram"
    alpha: float = 0.1
    conformal_score: str = "knn"
    device: str | None = None


@dataclass
class CompareResult:
    """What `compare` wrote: the output folder, its tables and figure names, and warnings for the user."""

    out: Path
    tables: dict[str, pd.DataFrame]
    backbone_tables: dict[str, pd.DataFrame]
    figures: list[str]
    n_permutations: int
    warnings: list[str] = field(default_factory=list)


def permutations_for(n_cultures: int, asked: int | None) -> tuple[int, str | None]:
    """Permutations per distance p-value for `n_cultures`, and a warning when Holm cannot reach 0.05."""
    from ..significance import enough_permutations, holm_floor, permutations_for_holm

    pairs = n_cultures * (n_cultures - 1) // 2
    n_permutations = asked or enough_permutations(999, max(pairs, 1))
    warning = None
    if pairs and holm_floor(pairs, n_permutations) >= 0.05:
        warning = (
            f"warning: with {n_permutations} permutations the smallest Holm-adjusted p over {pairs} culture pairs "
            f"is {holm_floor(pairs, n_permutations):.3g}: no distance can be significant at 0.05; use "
            f"--n-permutations {permutations_for_holm(pairs)} or more"
        )
    return n_permutations, warning


def compare(
    embedding_dir: str | Path, config: CompareConfig | None = None, *, out: str | Path | None = None
) -> CompareResult:
    """Statistics tables (CSV) and figures of an embedding directory in a new folder (default DIR/compare,
    compare-2, ...), with a run record; `config.backbones` adds the comparison of representations."""
    from .. import plots
    from ..embedding import ColourTextureBaseline, load_embedding_dir
    from ..runs import new_output_dir, unique_dir, write_record
    from ..stats import compare_style_space

    config = config or CompareConfig()
    run = load_embedding_dir(embedding_dir)
    backbones = list(config.backbones)
    out = new_output_dir(out) if out else unique_dir(Path(embedding_dir), "compare")
    n_permutations, warning = permutations_for(run.meta["culture"].nunique(), config.n_permutations)
    notes = {}
    if getattr(run, "store", None) is not None:  # embedded through the feature store (large corpus)
        from ..scale_stats import compare_scaled

        if backbones:
            raise SystemExit(
                f"{embedding_dir} was embedded through the feature store (large corpus): --backbones compares "
                "in-memory representations and is not available for it yet; compare backbones on a subset "
                "embedded with --mode exact"
            )
        comparison, notes = compare_scaled(
            run,
            seed=config.seed,
            n_permutations=n_permutations,
            n_bootstrap=config.n_bootstrap,
            n_splits=config.n_splits,
            k=config.k,
            subsample_above=config.subsample_above,
            per_culture=config.per_culture,
            n_components=config.pca_components,
        )
    else:
        embedding = run.style_embedding().fit(run.features)
        blocks = embedding.transform_layers(run.features)
        baseline = ColourTextureBaseline(bins=run.config.baseline_bins).fit_transform(run.baseline)
        grams = run.features if run.config.statistic == "gram" else None
        comparison = compare_style_space(
            blocks,
            run.meta,
            baseline=baseline,
            grams=grams,
            seed=config.seed,
            n_permutations=n_permutations,
            n_bootstrap=config.n_bootstrap,
            n_splits=config.n_splits,
            k=config.k,
        )
    for name, table in comparison.tables.items():
        table.to_csv(out / f"{name}.csv", index=False)
    coords = np.asarray(run.pca[:, :2], dtype=float)
    thumbnails = (
        thumbnails_near_centres(run.meta, coords, config.thumbnails) if config.thumbnails > 0 else None
    )
    formats = tuple(config.formats) or ("png",)
    figures = plots.comparison_figures(comparison, coords, run.meta["culture"], thumbnails=thumbnails)
    for name, fig in figures.items():
        plots.save_figure(fig, out / name, formats)
    weights_used = dict(run.record.get("weights", {}))
    backbone_tables: dict[str, pd.DataFrame] = {}
    if backbones:
        backbone_tables, backbone_figures, backbone_weights = compare_saved_backbones(run, backbones, config)
        weights_used.update(backbone_weights)
        for name, table in backbone_tables.items():
            table.to_csv(out / f"{name}.csv", index=False)
        for name, fig in backbone_figures.items():
            plots.save_figure(fig, out / name, formats)
        figures.update(backbone_figures)
    write_record(
        out,
        kind="compare",
        config={"dir": str(embedding_dir), "out": str(out), **asdict(config)},
        seed=config.seed,
        inputs={
            "embedding_dir": str(Path(embedding_dir).resolve()),
            "embedding_record": run.record.get("inputs", {}),
        },
        weights=weights_used,
        extra={
            "tables": sorted(comparison.tables) + sorted(backbone_tables),
            "figures": sorted(figures),
            "n_permutations": n_permutations,
            "backbones": backbones,
            "notes": notes,
        },
    )
    return CompareResult(
        out, comparison.tables, backbone_tables, sorted(figures), n_permutations, [warning] if warning else []
    )


def thumbnails_near_centres(meta: pd.DataFrame, coords: np.ndarray, per_culture: int, size: int = 96) -> dict:
    """The `per_culture` images nearest each culture's centroid in the 2-D plot (deterministic choice)."""
    from ..images import ImageError, load_image, resize_longer

    chosen: dict[int, object] = {}
    cultures = meta["culture"].astype(str).to_numpy()
    for culture in sorted(set(cultures)):
        rows = np.flatnonzero(cultures == culture)
        centre = coords[rows].mean(axis=0)
        for i in rows[np.argsort(np.linalg.norm(coords[rows] - centre, axis=1))][:per_culture]:
            try:
                chosen[int(i)] = np.asarray(resize_longer(load_image(meta["path"].iloc[i]), size))
            except (ImageError, FileNotFoundError):  # images moved since embedding: plot without them
                continue
    return chosen


def compare_saved_backbones(run: Any, names: list[str], config: CompareConfig) -> tuple[dict, dict, dict]:
    """Spaces of the named backbones (saved in the embedding directory, else extracted now) compared on the
    embedding's images; returns (tables, figures, weights used)."""
    from .. import representation_plots
    from ..conformal import ConformalConfig
    from ..representations import (
        backbone_record,
        build_backbone,
        compare_backbones,
        corpus_from_meta,
        read_backbone_features,
        space_from_features,
    )

    spaces, weights_used, corpus = {}, {}, None
    for name in names:
        folder = run.path / "backbones" / name
        if folder.is_dir():
            record, features = read_backbone_features(folder)
        else:
            backbone = build_backbone(name, layers=run.config.layers, device=config.device)
            corpus = corpus if corpus is not None else corpus_from_meta(run.meta)
            features = backbone.extract(
                corpus,
                size=run.config.size,
                resize_policy=run.config.resize_policy,
                batch_size=run.config.batch_size,
            )
            record = backbone_record(backbone)
        if record.get("weights_sha256"):
            weights_used[record["weights"]] = record["weights_sha256"]
        spaces[name] = space_from_features(record, features, seed=config.seed)
    comparison = compare_backbones(
        spaces,
        run.meta,
        reference=config.reference,
        n_splits=config.n_splits,
        k=config.k,
        seed=config.seed,
        n_bootstrap=config.n_bootstrap,
        conformal=ConformalConfig(alpha=config.alpha, score=config.conformal_score, seed=config.seed),
    )
    return comparison.tables, representation_plots.comparison_figures(comparison), weights_used


# ------------------------------------------------------------------------------------- the notebooks' path


def colour_baseline(corpus: Any, size: int, *, bins: int = 16) -> tuple[Any, np.ndarray]:
    """The fitted colour/texture baseline of `corpus` at `size` px and its standardised descriptors."""
    from ..embedding import ColourTextureBaseline

    baseline = ColourTextureBaseline(bins=bins, size=size)
    return baseline, baseline.fit_transform(baseline.features(corpus))


def space_key(space: StyleSpace) -> dict[str, Any]:
    """What a style space was computed from: its images (sha256, labels, order), statistics and embedding."""
    df = space.corpus.df
    return {
        "images": df["sha256"].astype(str).tolist(),
        "image_ids": df["image_id"].astype(str).tolist(),
        "cultures": df["culture"].astype(str).tolist(),
        "artists": df["artist"].astype(str).tolist(),
        "features": {k: v for k, v in space.features.config.items() if k != "cache"},
        "embedding": asdict(space.embedding.config),
    }


def space_comparison(
    space: StyleSpace,
    *,
    baseline_size: int | None = None,
    baseline_bins: int = 16,
    seed: int = 0,
    n_permutations: int | None = 999,
    n_bootstrap: int = 1000,
    n_splits: int = 5,
    k: int = 5,
) -> StyleSpaceComparison:
    """`stats.compare_style_space` of a style space with the colour/texture baseline (`baseline_size`
    px, default the space's image size), cached under `cache_dir("comparisons")` by content: the images,
    statistics, embedding and these settings. A notebook that asks for the same comparison gets the
    earlier result; any difference in what it was computed from recomputes it."""
    from .. import __version__
    from ..stats import StyleSpaceComparison, compare_style_space

    size = baseline_size or space.features.config.get("size")
    settings = {
        "baseline": {"size": size, "bins": baseline_bins},
        "seed": seed,
        "n_permutations": n_permutations,
        "n_bootstrap": n_bootstrap,
        "n_splits": n_splits,
        "k": k,
    }
    key = COMPARISONS.key(
        {
            "version": __version__,
            "code": code_fingerprint("stats", "significance", "embedding", "colour_texture"),
            "space": space_key(space),
            **settings,
        }
    )

    def check(value: Any) -> str | None:
        return None if isinstance(value, StyleSpaceComparison) else f"holds a {type(value).__name__}"

    cached = COMPARISONS.read(key, check)
    if cached is not None:
        return cached
    _, baseline = colour_baseline(space.corpus, size, bins=baseline_bins)
    comparison = compare_style_space(
        space.blocks,
        space.corpus.df,
        baseline=baseline,
        grams=dict(space.features) if space.backbone == "vgg19-gram" else None,
        seed=seed,
        n_permutations=n_permutations,
        n_bootstrap=n_bootstrap,
        n_splits=n_splits,
        k=k,
    )
    COMPARISONS.write(key, comparison)
    return comparison


def baseline_blocks(baseline: Any, descriptors: np.ndarray) -> dict[str, np.ndarray]:
    """Split standardised colour/texture baseline descriptors into `colour` and `texture` blocks."""
    names = baseline.feature_names()
    if descriptors.shape[1] != len(names):
        raise ValueError(f"expected {len(names)} baseline columns, got {descriptors.shape[1]}")
    texture = np.array([n.startswith(("grad_", "edge_", "local_contrast")) for n in names])
    return {"colour": descriptors[:, ~texture], "texture": descriptors[:, texture]}


def separability_table(by_layer: pd.DataFrame, baseline: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per (feature, classifier): leave-artist-out accuracy with its CI, ranked within classifier.

    `by_layer` and `baseline` are `ClassificationResult.table`s (Gram layers/concatenation and the
    network-free colour/texture features); `family` says which kind of statistic each row is.
    """
    frames = [by_layer.assign(family="gram")]
    if baseline is not None:
        frames.append(baseline.assign(family="colour/texture"))
    table = pd.concat(frames, ignore_index=True)
    table["rank"] = table.groupby("classifier")["accuracy"].rank(ascending=False, method="min").astype(int)
    return table.sort_values(["classifier", "rank"]).reset_index(drop=True)
