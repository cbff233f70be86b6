"""The translation part of the study: translator runs reused across studies, their evaluation next to
the style-transfer baselines, nearest real images, asymmetry of the two directions and where translations
land among real art. Notebooks 3-5 call these through `culturalstyle.study`.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from . import runs
from .cache import cache_dir, stable_hash

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .corpus import Corpus
    from .study import StyleSpace


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


def shipped_translator(name: str) -> Path:
    """The directory of a pretrained translator shipped with the repository (`data/translators/<name>`).

    Shipped translators are exported runs (see `translate.export`): generator weights with their sha256,
    config, training record and curves, and the command that trains them again.
    """
    from .translate.export import is_exported

    folder = Path(__file__).resolve().parents[1] / "data" / "translators"
    path = folder / name
    if not is_exported(path):
        available = sorted(p.name for p in folder.iterdir() if is_exported(p)) if folder.is_dir() else []
        raise FileNotFoundError(
            f"no shipped translator {name!r} in {folder}; available: {', '.join(available) or 'none'}"
        )
    return path


def shipped_translators(names: Sequence[str], source: str, target: str) -> list[Path]:
    """The shipped translators among `names` that translate `source` -> `target` (others are skipped,
    with a message: a study of other cultures has no shipped translator to compare with)."""
    from .translate import TrainConfig

    chosen = []
    for name in names:
        path = shipped_translator(name)
        config = TrainConfig.load(path / "config.yaml")
        if (config.source, config.target) == (source, target):
            chosen.append(path)
        else:
            print(
                f"shipped translator {name} ({config.source} -> {config.target}) skipped: not {source} -> {target}"
            )
    return chosen


def translator_label(run_dir: str | Path, preset: str | None = None) -> str:
    """The method label of a translator's rows: `shipped-<method>` for a shipped (exported) translator,
    `<method>-smoke (code-path check)` for a run of the smoke preset, else the method name."""
    from .translate import TrainConfig
    from .translate.export import is_exported

    method = TrainConfig.load(Path(run_dir) / "config.yaml").method
    if is_exported(run_dir) and Path(run_dir).resolve().parent.name == "translators":
        return f"shipped-{method}"
    if preset == "smoke":
        return f"{method}-smoke (code-path check)"
    return method


def translator_directions(run_dir: str | Path, wanted: Sequence[str] = ("A2B", "B2A")) -> list[str]:
    """The directions of `wanted` that this translator has (CUT/FastCUT are one-sided: A2B only)."""
    from .translate import TrainConfig
    from .translate.models import translator_class

    config = TrainConfig.load(Path(run_dir) / "config.yaml")
    return [d for d in wanted if d in translator_class(config.method).generators]


def loss_curves(losses: pd.DataFrame, *, smooth: int | None = None, title: str = "") -> Figure:
    """Training losses per step; see `translation_plots.loss_curves` (kept here for the notebooks)."""
    from .translation_plots import loss_curves as draw

    return draw(losses, smooth=smooth, title=title)


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
    label: str | None = None,
    checkpoint: str = "last",
) -> tuple[pd.DataFrame, dict[str, Corpus]]:
    """Translate the `split` images of each direction's source culture with the run, and evaluate them
    (FID/KID/LPIPS/ArtFID/attribution with the identity and real-target baselines) next to the style-transfer
    `baselines` ("adain" and/or "gatys", culture-level targets from the training split) on the same images,
    with their longer side `baseline_size` (default: the run's resolution, at least 128 px so that the short
    side of a scroll-format output stays above the metrics' 32 px minimum). Every evaluation row records
    the resolution it was computed at (`size`).

    `run_dir` is a training run or an exported/shipped translator; `label` names its rows and folders
    (default `translator_label`); directions the translator lacks (B2A of a one-sided CUT) are skipped.
    `checkpoint` picks `last`, `best` or a step of a run (an exported translator has one).
    Translations go to new folders `<out_folder>/translations/<name>/` (replaced only with `overwrite`).
    Returns the concatenated evaluation table (one row per metric, method and direction; the identity and
    real-target baselines once per source, target, split and size) and the translation corpora by name.
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
    label = label or translator_label(run_dir)
    directions = translator_directions(run_dir, directions)
    folder = Path(out_folder) / "translations"
    tables, translations = [], {}
    evaluated_baselines: set[tuple[str, str, int]] = set()

    def evaluate_once(trans: Corpus, source: str, target: str) -> pd.DataFrame:
        # The identity and real-target baselines depend only on (source, target, split, size): compute
        # them with the first method evaluated at that size and leave them out of the later ones.
        cfg = config or metrics.EvaluationConfig(split=split)
        size = cfg.size or metrics.translation_size(trans.paths())
        key = (source, target, size)
        if key in evaluated_baselines:
            cfg = dataclasses.replace(cfg, baselines=False)
        evaluated_baselines.add(key)
        return metrics.evaluate(trans, source=source, target=target, corpus=corpus, config=cfg)

    for direction in directions:
        source, target = (
            (run_config.source, run_config.target)
            if direction == "A2B"
            else (run_config.target, run_config.source)
        )
        inputs = corpus.filter(culture=source, split=split)
        if len(inputs) == 0:
            raise ValueError(f"no {source!r} images in split {split!r} to translate")
        name = f"{label.split(' ')[0]}-{source}2{target}"
        out = _fresh_folder(folder / name, overwrite)
        translated = translate_images(
            run_dir, inputs, direction, out, checkpoint=checkpoint, progress=progress
        )
        translated.df["method"] = label  # the rows of this translator carry its label
        translations[name] = translated
        tables.append(evaluate_once(translated, source, target))
        contents = [
            ContentImage(
                str(r["image_id"]), corpus.abspath(r), str(r["sha256"]), str(r["split"]), str(r["license"])
            )
            for _, r in inputs.df.iterrows()
        ]
        for method in baselines:
            name = f"{method}-{source}2{target}"
            out = _fresh_folder(folder / name, overwrite)
            size = baseline_size or max(run_config.size, 128)
            nst_config = AdaINConfig(size=size) if method == "adain" else GatysConfig(size=size)
            translations[name] = stylize_all(
                contents, [style_culture(corpus, target, "train")], method, out, nst_config, progress=progress
            )
            tables.append(evaluate_once(translations[name], source, target))
    return pd.concat(tables, ignore_index=True), translations


def _fresh_folder(path: Path, overwrite: bool) -> Path:
    """A new output folder; with `overwrite` (explicitly asked for) an earlier one of this name is replaced."""
    if overwrite and path.exists():
        shutil.rmtree(path)
    return runs.new_output_dir(path)


def unique_baselines(table: pd.DataFrame) -> pd.DataFrame:
    """One row per baseline metric and (source, target, split, size), when several evaluations are joined."""
    key = ["role", "metric", "method", "source", "target", "split", "size"]
    is_baseline = table["role"] == "baseline"
    baselines = table[is_baseline].drop_duplicates(subset=key, keep="first")
    return pd.concat([table[~is_baseline], baselines]).sort_index().reset_index(drop=True)


def nearest_real(
    space: StyleSpace, features: Mapping[str, np.ndarray], culture: str, split: str | None = "train"
) -> list[str]:
    """For each image of `features`, the image_id of the nearest real `culture` image (style space)."""
    return nearest_real_table(space, features, culture, split)["nearest_id"].tolist()


def nearest_real_table(
    space: StyleSpace,
    features: Mapping[str, np.ndarray],
    culture: str,
    split: str | None = "train",
    query_ids: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Per query image: the nearest real `culture` image of `split` in the full style embedding, its
    Euclidean distance, the runner-up's distance, and how many queries share that nearest image.

    `n_sharing` matters for reading a side-by-side grid: near-identical translations (a collapsed or
    untrained translator) honestly share one nearest real image, which the grid then says.
    """
    df = space.corpus.df
    mask = (df["culture"] == culture).to_numpy()
    if split is not None:
        mask = mask & (df["split"] == split).to_numpy()
    if not mask.any():
        raise ValueError(f"no real {culture!r} images (split {split!r}) in the style space")
    candidates = space.vectors[mask]
    ids = df["image_id"].to_numpy()[mask]
    query = space.embed(features)
    if query_ids is None:
        query_ids = getattr(features, "image_ids", None) or [str(i) for i in range(len(query))]
    if len(query_ids) != len(query):
        raise ValueError(f"{len(query_ids)} query ids for {len(query)} feature rows")
    # |q - c|^2 = |q|^2 - 2 q.c + |c|^2, without an N x M x D intermediate
    squared = (
        (query**2).sum(axis=1)[:, None] - 2.0 * query @ candidates.T + (candidates**2).sum(axis=1)[None, :]
    )
    distances = np.sqrt(np.maximum(squared, 0.0))
    order = np.argsort(distances, axis=1)
    nearest = order[:, 0]
    table = pd.DataFrame(
        {
            "query_id": list(query_ids),
            "nearest_id": ids[nearest],
            "distance": distances[np.arange(len(query)), nearest],
            "second_distance": (distances[np.arange(len(query)), order[:, 1]] if len(ids) > 1 else np.nan),
            "n_candidates": len(ids),
            "culture": culture,
            "split": split if split is not None else "",
        }
    )
    table["n_sharing"] = table.groupby("nearest_id")["query_id"].transform("count").astype(int)
    return table


def side_by_side(
    corpus: Corpus,
    translations: Corpus,
    space: StyleSpace,
    *,
    n_rows: int = 4,
    image_size: int = 256,
    batch_size: int = 8,
    thumb_size: int = 128,
    title: str | None = None,
) -> tuple[Figure, pd.DataFrame]:
    """Grid source | translation | nearest real target image (style space, training split) for the first
    `n_rows` translations, with each row's distance; also returns the nearest-real table of those rows."""
    from .features import extract
    from .study import image_grid

    rows = translations.df.head(n_rows)
    if rows.empty:
        raise ValueError(f"no translations in {translations.root}")
    subset = type(translations)(rows, translations.root)
    feats = extract(subset, space.features.config["layers"], size=image_size, batch_size=batch_size)
    target = str(rows["culture"].iloc[0])
    table = nearest_real_table(space, feats, target, "train", query_ids=rows["image_id"].tolist())
    table.insert(1, "source_image_id", rows["source_image_id"].astype(str).to_numpy())
    grid = [
        [corpus.abspath(s), subset.abspath(r), corpus.abspath(n)]
        for s, (_, r), n in zip(table["source_image_id"], rows.iterrows(), table["nearest_id"])
    ]
    labels = [
        f"{src.split('/')[-1]}\nd={d:.2f}" + (f"\nshared by {k}/{len(table)}" if k > 1 else "")
        for src, d, k in zip(table["source_image_id"], table["distance"], table["n_sharing"])
    ]
    n_cand = int(table["n_candidates"].iloc[0])
    fig = image_grid(
        grid,
        row_labels=labels,
        col_labels=["source", "translation", f"nearest real {target}\n(of {n_cand} train images)"],
        size=thumb_size,
        title=title or f"{translations.root.name}: first {len(table)} of {len(translations)} translations",
    )
    return fig, table


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
