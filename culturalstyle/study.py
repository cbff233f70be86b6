"""Building blocks of the study notebooks that no other module owns.

The notebooks stay thin: they read parameters, call these functions and the package's modules, and write
figures and tables through `Outputs`. Everything with logic in it lives here (or in the modules re-exported
here), where it is tested:

- `Outputs` (`notebook_outputs`): one notebook's figures (PNG + PDF, captions, the profile's caveat) and
  tables (CSV) under the study's results directory, and its run record with input and weights hashes;
- `load_corpus`: the study corpus (the bundled sample by default) restricted to the compared cultures;
- `StyleSpace`: Gram embeddings of a corpus with 2-D maps (all layers and per layer) that can also place new
  images (translations) in the same maps;
- `translation_study`: translator runs trained once and reused, their evaluation with baselines, nearest
  real images, translation asymmetry and where translated images land in the style space of real art.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .notebook_outputs import (  # noqa: F401 - the notebooks' API
    CAPTIONS_NAME,
    SAMPLE_CAVEAT,
    Outputs,
    default_results_dir,
    earlier_table,
    images_hash,
    profile_caveat,
    repository_root,
    show_caveat,
)
from .translation_study import (  # noqa: F401 - the notebooks' API
    asymmetry_table,
    evaluate_translator,
    loss_curves,
    nearest_real,
    nearest_real_table,
    placement_summary,
    placement_table,
    shipped_translator,
    shipped_translators,
    side_by_side,
    translator_directions,
    translator_key,
    translator_label,
    translator_run,
    unique_baselines,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .corpus import Corpus
    from .features import FeatureSet

EXCLUDED_CULTURES = ("content_photo",)  # photographs used as content images, not an art culture
ALL_LAYERS = "all layers"


# ------------------------------------------------------------------------------------------------- corpus


def default_corpus_path() -> Path:
    """The bundled sample corpus (`data/sample` of the repository)."""
    path = Path(__file__).resolve().parents[1] / "data" / "sample"
    if not (path / "manifest.csv").exists():
        raise FileNotFoundError(
            f"the bundled sample corpus is not at {path}; pass the corpus path explicitly (corpus=...)"
        )
    return path


def load_corpus(
    path: str | Path | None = None,
    cultures: Sequence[str] | None = None,
    exclude: Sequence[str] = EXCLUDED_CULTURES,
) -> Corpus:
    """The study corpus: `path` (default: the bundled sample) restricted to `cultures` (default: all but
    `exclude`). Unknown culture names are an error, so a typo cannot silently drop a culture."""
    from .corpus import Corpus

    corpus = Corpus.load(path if path is not None else default_corpus_path())
    if cultures:
        unknown = sorted(set(cultures) - set(corpus.cultures))
        if unknown:
            raise ValueError(
                f"culture(s) {unknown} are not in the corpus {corpus.root}; it has {corpus.cultures}"
            )
        return corpus.filter(culture=list(cultures))
    keep = [c for c in corpus.cultures if c not in set(exclude)]
    return corpus.filter(culture=keep)


def sample_rows(corpus: Corpus, n_per_culture: int, seed: int = 0) -> pd.DataFrame:
    """Up to `n_per_culture` random rows per culture (seeded), cultures in sorted order."""
    rng = np.random.default_rng(seed)
    parts = []
    for culture in corpus.cultures:
        group = corpus.df[corpus.df["culture"] == culture]
        take = rng.choice(len(group), size=min(n_per_culture, len(group)), replace=False)
        parts.append(group.iloc[np.sort(take)])
    return pd.concat(parts, ignore_index=True)


def parse_year(text: Any) -> float:
    """A representative year from a free-text date: the first 3-4 digit year ("c. 1503-1506" -> 1503),
    or the middle of a century ("late 10th c." -> 950, "18th century" -> 1750); NaN when there is none
    (e.g. a dynasty name). Used only to plot periods, with the number of parsed dates reported."""
    import re

    value = str(text or "")
    year = re.search(r"(?<!\d)(\d{3,4})(?!\d|th|st|nd|rd)", value)
    if year:
        return float(year.group(1))
    century = re.search(r"(\d{1,2})(?:st|nd|rd|th)\s*(?:c\b|c\.|century)", value, re.IGNORECASE)
    if century:
        return (int(century.group(1)) - 1) * 100 + 50.0
    return float("nan")


def image_grid(
    rows: Sequence[Sequence[Path | None]],
    *,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    size: int = 128,
    title: str | None = None,
) -> Figure:
    """A matplotlib grid of images (each centre-cropped to a square), with row and column labels."""
    import matplotlib.pyplot as plt

    from .images import center_crop, load_image, resize_shorter

    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(1.6 * n_cols + 1.2, 1.6 * n_rows + 0.4), squeeze=False)
    for i, row in enumerate(rows):
        for j in range(n_cols):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            path = row[j] if j < len(row) else None
            if path is not None:
                ax.imshow(center_crop(resize_shorter(load_image(path), size), size))
            if j == 0 and row_labels is not None:
                ax.set_ylabel(row_labels[i], rotation=0, ha="right", va="center", fontsize=9)
            if i == 0 and col_labels is not None:
                ax.set_title(col_labels[j], fontsize=9)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------------- style space


@dataclass
class StyleSpace:
    """Gram-statistic style space of a corpus: embedding, per-layer blocks and 2-D maps.

    `coords[name]` are N x 2 maps in corpus row order: `"all layers · PCA"` and `"<layer> · PCA"` per layer
    (plus `"all layers · t-SNE"` when requested, which cannot place new images). `project(features)` places
    other images (e.g. translations) in every PCA map with the transforms fitted on this corpus.
    """

    corpus: Corpus
    features: FeatureSet
    embedding: Any  # fitted StyleEmbedding (no reduction)
    vectors: np.ndarray  # N x D concatenated, standardised embedding
    blocks: dict[str, np.ndarray]  # layer -> N x d_layer standardised block
    coords: dict[str, np.ndarray] = field(default_factory=dict)
    _projectors: dict[str, Callable[[Any], np.ndarray]] = field(default_factory=dict, repr=False)
    backbone: str = "vgg19-gram"  # the registered backbone whose statistics these are

    @property
    def cultures(self) -> np.ndarray:
        return self.corpus.df["culture"].to_numpy()

    def project(self, features: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """2-D coordinates of other images' features in every projectable map."""
        return {name: fn(features) for name, fn in self._projectors.items()}

    def embed(self, features: Mapping[str, np.ndarray]) -> np.ndarray:
        """Full (unreduced) embedding of other images' features, comparable with `vectors`."""
        return self.embedding.transform(features)


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
    """Extract (cached) statistics of `corpus` with a registered backbone and build its embedding and maps.

    `backbone` defaults to `vgg19-gram` (`statistic="meanstd"`: `vgg19-meanstd`); `layers` go to backbones that
    take layers, `weights_module` to the VGG19 ones (tests: `features.random_vgg()`). `normalization` defaults
    to the backbone's own (signed square root for Gram entries). The same registry path serves
    `culturalstyle compare --backbones`, so notebooks and CLI compute the same statistics.
    """
    from sklearn.decomposition import PCA

    from .embedding import StyleEmbedding
    from .features import STYLE_LAYERS
    from .representations import build_backbone

    name = backbone or ("vgg19-meanstd" if statistic == "meanstd" else "vgg19-gram")
    model = build_backbone(
        name,
        layers=tuple(layers or STYLE_LAYERS),
        device=device,
        options={"weights_module": weights_module} if weights_module is not None else None,
    )
    feats = model.extract(
        corpus, size=size, resize_policy=resize_policy, batch_size=batch_size, progress=progress
    )
    layers = tuple(feats)
    embedding = StyleEmbedding(
        layers=layers, normalization=normalization or model.normalization, seed=seed
    ).fit(feats)
    vectors = embedding.transform(feats)
    blocks = embedding.transform_layers(feats)
    space = StyleSpace(corpus, feats, embedding, vectors, blocks, backbone=name)

    def pca_map(x: np.ndarray) -> PCA:
        return PCA(n_components=2, random_state=seed).fit(x)

    whole = pca_map(vectors)
    space.coords[f"{ALL_LAYERS} · PCA"] = whole.transform(vectors)
    space._projectors[f"{ALL_LAYERS} · PCA"] = lambda f, p=whole: p.transform(embedding.transform(f))
    for layer in layers:
        reducer = pca_map(blocks[layer])
        space.coords[f"{layer} · PCA"] = reducer.transform(blocks[layer])
        space._projectors[f"{layer} · PCA"] = lambda f, p=reducer, k=layer: p.transform(
            embedding.transform_layers(f)[k]
        )
    if tsne:
        from sklearn.manifold import TSNE

        perplexity = min(30.0, max(2.0, (len(vectors) - 1) / 3.0))
        space.coords[f"{ALL_LAYERS} · t-SNE"] = TSNE(
            n_components=2, perplexity=perplexity, random_state=seed, init="pca"
        ).fit_transform(vectors)
    return space


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


def write_json(path: str | Path, payload: Any) -> Path:
    """Small JSON side outputs (e.g. a run's pointer) written atomically."""
    from .cache import atomic_write_text

    return atomic_write_text(path, json.dumps(payload, indent=2, default=str))
