"""Building blocks of the study notebooks that no other module owns.

The notebooks stay thin: they read parameters, call these functions and the package's modules, and write
figures and tables through `Outputs`. Everything with logic in it lives here, where it is tested:

- `Outputs`: one notebook's `figures/` (PNG + PDF) and `tables/` (CSV) under the study's results directory;
- `load_corpus`: the study corpus (the bundled sample by default) restricted to the compared cultures;
- `StyleSpace`: Gram embeddings of a corpus with 2-D maps (all layers and per layer) that can also place new
  images (translations) in the same maps;
- `translator_run`: a translator run keyed by its config and corpus, trained once, resumed if interrupted,
  reused afterwards, so a second reproduction does not train again;
- tables and figures of the synthesis: which statistics separate cultures, translation asymmetry, where
  translated images land in the style space of real art.
"""

from __future__ import annotations

import datetime as _dt
import json
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from . import runs
from .cache import atomic_path, cache_dir, stable_hash

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .corpus import Corpus
    from .features import FeatureSet

EXCLUDED_CULTURES = ("content_photo",)  # photographs used as content images, not an art culture
ALL_LAYERS = "all layers"


# ------------------------------------------------------------------------------------------------ outputs


class Outputs:
    """Where one notebook writes: `<results_dir>/<notebook>/{figures,tables}/`.

    The notebook's folder must be new (or empty) unless `overwrite`: results are never silently replaced.
    """

    def __init__(self, results_dir: str | Path | None, notebook: str, *, overwrite: bool = False):
        if results_dir is None:
            results_dir = Path("results") / "notebooks" / _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        self.root = Path(results_dir)
        self.notebook = notebook
        self.folder = runs.new_output_dir(self.root / notebook, force=overwrite)
        self.figures = self.folder / "figures"
        self.tables = self.folder / "tables"
        self.figures.mkdir(exist_ok=True)
        self.tables.mkdir(exist_ok=True)

    def figure(self, fig: Figure, name: str, *, dpi: int = 150) -> Path:
        """Save `fig` as `figures/<name>.png` and `.pdf`; returns the PNG path."""
        png = self.figures / f"{name}.png"
        for path, kwargs in ((png, {"dpi": dpi}), (png.with_suffix(".pdf"), {})):
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=path.suffix[1:], bbox_inches="tight", **kwargs)
        return png

    def table(self, df: pd.DataFrame, name: str) -> Path:
        """Save `df` as `tables/<name>.csv` (no index: tables are tidy, every column named)."""
        path = self.tables / f"{name}.csv"
        with atomic_path(path) as tmp:
            df.to_csv(tmp, index=False)
        return path

    def file(self, name: str) -> Path:
        """A path for any other output (an HTML explorer, a translations folder) in the notebook's folder."""
        return self.folder / name

    def record(self, parameters: Mapping[str, Any], **extra: Any) -> Path:
        """The notebook's run record: its parameters, seed and environment versions."""
        return runs.write_record(
            self.folder,
            kind=f"notebook:{self.notebook}",
            config=dict(parameters),
            seed=parameters.get("seed"),
            extra=extra or None,
        )


def earlier_table(results_dir: str | Path | None, notebook: str, name: str) -> pd.DataFrame | None:
    """A table an earlier notebook of the same study wrote (`<results_dir>/<notebook>/tables/<name>.csv`),
    or None when there is none; lets a later notebook reuse a result instead of recomputing it."""
    if results_dir is None:
        return None
    path = Path(results_dir) / notebook / "tables" / f"{name}.csv"
    return pd.read_csv(path) if path.exists() else None


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


# ---------------------------------------------------------------------------------------------- translators


def translator_key(config: Any, corpus: Corpus) -> str:
    """Content key of a translator run: its full config and the corpus's manifest hash."""
    from . import __version__
    from .configs import to_dict

    settings = to_dict(config)
    settings.pop("progress", None)  # display only
    return stable_hash({"config": settings, "corpus": corpus.manifest_hash(), "version": __version__})


def translator_run(
    corpus: Corpus,
    source: str,
    target: str,
    *,
    preset: str = "smoke",
    overrides: Mapping[str, Any] | Sequence[str] | None = None,
    seed: int = 0,
    runs_root: str | Path | None = None,
    progress: bool = False,
) -> tuple[Path, str]:
    """The run directory of this translator, training it only if no run with the same key exists.

    Runs live in `runs_root` (default: the cache's `translators/`) named `<source>2<target>-<preset>-<key>`.
    An interrupted run is resumed; a complete one is reused as is. A folder left without any checkpoint
    (killed before the first) is moved aside and training starts over. Returns (run_dir, status) with
    status "trained", "resumed" or "reused".
    """
    from .translate import make_config
    from .translate.train import list_checkpoints, load_checkpoint, resume, train

    if isinstance(overrides, Mapping):
        overrides = dict(overrides)
    config = make_config(
        preset, overrides or None, source=source, target=target, seed=seed, progress=progress
    )
    root = Path(runs_root) if runs_root is not None else cache_dir("translators")
    run_dir = root / f"{source}2{target}-{preset}-{translator_key(config, corpus)}"
    if run_dir.exists() and list_checkpoints(run_dir):
        state, _ = load_checkpoint(run_dir)
        if int(state["step"]) >= int(state["total_steps"]):
            return run_dir, "reused"
        resume(run_dir, corpus=corpus)
        return run_dir, "resumed"
    if run_dir.exists():
        aside = run_dir.with_name(f"{run_dir.name}.incomplete-{runs.timestamp()}")
        shutil.move(str(run_dir), aside)
    root.mkdir(parents=True, exist_ok=True)
    train(config, corpus, run_dir)
    return run_dir, "trained"


def loss_curves(losses: pd.DataFrame, *, smooth: int = 5, title: str = "") -> Figure:
    """Training losses per step (generator, discriminator, cycle, identity ...), rolling mean over `smooth`."""
    import matplotlib.pyplot as plt

    skip = {"step", "lr", "images_per_s"}
    columns = [
        c
        for c in losses.columns
        if c not in skip and pd.api.types.is_numeric_dtype(losses[c]) and losses[c].fillna(0).abs().sum() > 0
    ]
    if "step" not in losses.columns or not columns:
        raise ValueError(f"losses table needs a 'step' column and loss columns; got {list(losses.columns)}")
    groups = {
        "adversarial": [c for c in columns if c.startswith(("G_gan", "D_"))],
        "cycle / identity": [c for c in columns if c.startswith(("cycle", "identity"))],
    }
    groups["total and seed losses"] = [
        c for c in columns if c not in groups["adversarial"] + groups["cycle / identity"]
    ]
    groups = {k: v for k, v in groups.items() if v}
    fig, axes = plt.subplots(1, len(groups), figsize=(5 * len(groups), 3.4), squeeze=False)
    for ax, (name, cols) in zip(axes[0], groups.items()):
        for c in cols:
            ax.plot(losses["step"], losses[c].rolling(smooth, min_periods=1).mean(), label=c)
        ax.set_title(name)
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def evaluate_translator(
    corpus: Corpus,
    run_dir: str | Path,
    out_folder: str | Path,
    *,
    directions: Sequence[str] = ("A2B", "B2A"),
    split: str = "test",
    baselines: Sequence[str] = ("adain",),
    baseline_size: int | None = None,
    config: Any = None,
    overwrite: bool = False,
    progress: bool = False,
) -> tuple[pd.DataFrame, dict[str, Corpus]]:
    """Translate the `split` images of each direction's source culture with the run, and evaluate them
    (FID/KID/LPIPS/ArtFID/attribution with the identity and real-target baselines) next to the style-transfer
    `baselines` ("adain" and/or "gatys", culture-level targets from the training split) on the same images,
    with their longer side `baseline_size` (default: the run's resolution, at least 128 px so that the short
    side of a scroll-format output stays above the metrics' 32 px minimum). Every evaluation row records
    the resolution it was computed at (`size`).

    Translations go to new folders `<out_folder>/translations/<name>/` (replaced only with `overwrite`). Returns the concatenated evaluation
    table (one row per metric, method and direction) and the translation corpora keyed by name.
    """
    from . import metrics
    from .nst.adain import AdaINConfig
    from .nst.gatys import GatysConfig
    from .nst.run import ContentImage, stylize_all
    from .nst.targets import style_culture
    from .translate import TrainConfig
    from .translate.apply import translate_images

    run_config = TrainConfig.load(Path(run_dir) / "config.yaml")
    unknown = sorted(set(directions) - {"A2B", "B2A"})
    if unknown:
        raise ValueError(f"unknown direction(s) {unknown}; use A2B and/or B2A")
    unknown = sorted(set(baselines) - {"adain", "gatys"})
    if unknown:
        raise ValueError(f"unknown baseline(s) {unknown}; use adain and/or gatys")
    folder = Path(out_folder) / "translations"
    if overwrite and folder.exists():
        shutil.rmtree(folder)  # explicitly asked for: this notebook's own translations, made again below
    tables, translations = [], {}
    for direction in directions:
        source, target = (
            (run_config.source, run_config.target)
            if direction == "A2B"
            else (run_config.target, run_config.source)
        )
        inputs = corpus.filter(culture=source, split=split)
        if len(inputs) == 0:
            raise ValueError(f"no {source!r} images in split {split!r} to translate")
        name = f"cyclegan-{source}2{target}"
        out = runs.new_output_dir(folder / name)
        translations[name] = translate_images(run_dir, inputs, direction, out, progress=progress)
        tables.append(
            metrics.evaluate(translations[name], source=source, target=target, corpus=corpus, config=config)
        )
        contents = [
            ContentImage(
                str(r["image_id"]), corpus.abspath(r), str(r["sha256"]), str(r["split"]), str(r["license"])
            )
            for _, r in inputs.df.iterrows()
        ]
        for method in baselines:
            name = f"{method}-{source}2{target}"
            out = runs.new_output_dir(folder / name)
            size = baseline_size or max(run_config.size, 128)
            nst_config = AdaINConfig(size=size) if method == "adain" else GatysConfig(size=size)
            translations[name] = stylize_all(
                contents, [style_culture(corpus, target, "train")], method, out, nst_config, progress=progress
            )
            tables.append(
                metrics.evaluate(
                    translations[name], source=source, target=target, corpus=corpus, config=config
                )
            )
    return pd.concat(tables, ignore_index=True), translations


def nearest_real(
    space: StyleSpace, features: Mapping[str, np.ndarray], culture: str, split: str | None = "train"
) -> list[str]:
    """For each image of `features`, the image_id of the nearest real `culture` image (style space)."""
    df = space.corpus.df
    mask = (df["culture"] == culture).to_numpy()
    if split is not None:
        mask = mask & (df["split"] == split).to_numpy()
    if not mask.any():
        raise ValueError(f"no real {culture!r} images (split {split!r}) in the style space")
    candidates = space.vectors[mask]
    query = space.embed(features)
    nearest = np.argmin(((query[:, None, :] - candidates[None, :, :]) ** 2).sum(axis=2), axis=1)
    return df["image_id"].to_numpy()[mask][nearest].tolist()


# ------------------------------------------------------------------------------------------------ synthesis


def asymmetry_table(evaluation: pd.DataFrame, a: str, b: str) -> pd.DataFrame:
    """Is A→B easier than B→A? Per method and metric, the translation rows of both directions side by side.

    `evaluation` holds `metrics.evaluate` rows of both directions (columns metric, method, value, ci_low,
    ci_high, source, target, role, n_generated); only rows with role "translation" are compared.
    `difference` is A→B minus B→A; `cis_overlap` says whether the two confidence intervals overlap (then the
    data do not show an asymmetry at this N); it is empty when a metric has no CI.
    """
    rows = evaluation[evaluation["role"] == "translation"] if "role" in evaluation else evaluation
    if "method" not in rows:
        rows = rows.assign(method="translation")
    out = []
    for (method, metric), group in rows.groupby(["method", "metric"], sort=True):
        ab = group[(group["source"] == a) & (group["target"] == b)]
        ba = group[(group["source"] == b) & (group["target"] == a)]
        if ab.empty or ba.empty:
            continue
        x, y = ab.iloc[0], ba.iloc[0]
        bounds = [x.get("ci_low"), x.get("ci_high"), y.get("ci_low"), y.get("ci_high")]
        have_ci = all(v is not None and pd.notna(v) for v in bounds)
        out.append(
            {
                "method": method,
                "metric": metric,
                f"{a}→{b}": x["value"],
                f"{a}→{b} ci_low": x.get("ci_low"),
                f"{a}→{b} ci_high": x.get("ci_high"),
                f"n {a}→{b}": x.get("n_generated"),
                f"{b}→{a}": y["value"],
                f"{b}→{a} ci_low": y.get("ci_low"),
                f"{b}→{a} ci_high": y.get("ci_high"),
                f"n {b}→{a}": y.get("n_generated"),
                "difference": x["value"] - y["value"],
                "cis_overlap": bool(max(bounds[0], bounds[2]) <= min(bounds[1], bounds[3]))
                if have_ci
                else None,
            }
        )
    return pd.DataFrame(out)


def placement_table(
    space_vectors: np.ndarray,
    cultures: Sequence[str],
    translated_vectors: np.ndarray,
    sources: Sequence[str],
    targets: Sequence[str],
    *,
    k: int = 5,
    methods: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Where translations land among real art: per translation, distance to the source and target culture
    centroids, `progress` = fraction of the way from source to target centroid (projection onto the
    centroid axis: 0 = at the source centroid, 1 = at the target's), and the culture vote of its k nearest
    real neighbours."""
    cultures = np.asarray(cultures)
    translated_vectors = np.asarray(translated_vectors, dtype=float)
    if len(translated_vectors) != len(sources) or len(sources) != len(targets):
        raise ValueError("translated_vectors, sources and targets must have one entry per translation")
    centroids = {c: space_vectors[cultures == c].mean(axis=0) for c in np.unique(cultures)}
    missing = sorted((set(sources) | set(targets)) - set(centroids))
    if missing:
        raise ValueError(f"culture(s) {missing} have no real images in the style space")
    dists = np.linalg.norm(translated_vectors[:, None, :] - space_vectors[None, :, :], axis=2)
    nearest = np.argsort(dists, axis=1)[:, :k]
    rows = []
    for i, (s, t) in enumerate(zip(sources, targets)):
        cs, ct = centroids[s], centroids[t]
        axis = ct - cs
        progress = float(np.dot(translated_vectors[i] - cs, axis) / np.dot(axis, axis))
        votes = pd.Series(cultures[nearest[i]]).value_counts()
        rows.append(
            {
                "source": s,
                "target": t,
                "method": methods[i] if methods is not None else "translation",
                "dist_source_centroid": float(np.linalg.norm(translated_vectors[i] - cs)),
                "dist_target_centroid": float(np.linalg.norm(translated_vectors[i] - ct)),
                "progress": progress,
                "knn_culture": votes.index[0],
                "knn_target_share": float((cultures[nearest[i]] == t).mean()),
                "k": k,
            }
        )
    return pd.DataFrame(rows)


def placement_summary(placement: pd.DataFrame) -> pd.DataFrame:
    """Per (method, source, target): mean progress with a normal-approximation 95 % CI, share of
    translations nearer the target centroid than the source's, share whose k-NN majority is the target."""
    out = []
    for (method, s, t), g in placement.groupby(["method", "source", "target"], sort=True):
        n = len(g)
        mean = g["progress"].mean()
        half = 1.96 * g["progress"].std(ddof=1) / np.sqrt(n) if n > 1 else np.nan
        out.append(
            {
                "method": method,
                "source": s,
                "target": t,
                "n": n,
                "progress_mean": mean,
                "progress_ci_low": mean - half,
                "progress_ci_high": mean + half,
                "share_nearer_target": float((g["dist_target_centroid"] < g["dist_source_centroid"]).mean()),
                "share_knn_target": float((g["knn_culture"] == t).mean()),
            }
        )
    return pd.DataFrame(out)


def write_json(path: str | Path, payload: Any) -> Path:
    """Small JSON side outputs (e.g. a run's pointer) written atomically."""
    from .cache import atomic_write_text

    return atomic_write_text(path, json.dumps(payload, indent=2, default=str))
