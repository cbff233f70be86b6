"""Evaluating translators: a run or translations folder scored with its report (`evaluate_run`, what
`culturalstyle evaluate` does), and a translator next to the style-transfer baselines on the same images
(`evaluate_translator`, the notebooks' evaluation). Translation itself is `translators.translate*`.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .. import runs
from .translators import translate_split, translator_directions, translator_label

if TYPE_CHECKING:
    from ..corpus import Corpus


def free_stem(folder: Path, stem: str, suffixes: tuple[str, ...]) -> str:
    """`stem`, or `stem-2`, `stem-3`, ... so that no file `stem<suffix>` exists yet (never overwrite)."""
    candidate, n = stem, 1
    while any((folder / f"{candidate}{suffix}").exists() for suffix in suffixes):
        n += 1
        candidate = f"{stem}-{n}"
    return candidate


def is_run(folder: Path) -> bool:
    """A translator training run (config.yaml, no translations manifest)."""
    return (folder / "config.yaml").exists() and not (folder / "manifest.csv").exists()


def recorded_corpus(folder: Path) -> str:
    """The corpus recorded in the run records of `folder` or its two parents."""
    for candidate in (folder, folder.parent, folder.parent.parent):
        record = candidate / "run_record.json"
        data = json.loads(record.read_text(encoding="utf-8")) if record.exists() else {}
        corpus = (data.get("inputs") or {}).get("corpus")
        if corpus:
            return str(corpus)
    raise ValueError(f"no --corpus given and none recorded in {folder}/run_record.json; pass --corpus PATH")


@dataclass
class EvaluationRun:
    """What `evaluate_run` wrote: the table and its CSV, Markdown report and run record."""

    table: pd.DataFrame
    csv: Path
    markdown: Path
    record: Path
    report: str


def evaluate_run(
    run_or_dir: str | Path,
    *,
    target: str,
    config: Any = None,
    source: str | None = None,
    corpus: str | Path | None = None,
    checkpoint: str = "latest",
    source_images: Path | None = None,
    method: str | None = None,
    device: Any = None,
) -> EvaluationRun:
    """Score a translator run (its `config.split` source images are translated first, into the run), a
    translations folder, or a plain folder of images (`source_images` pairs them by file name) against
    the real `target` images; the table, a Markdown report and a run record go next to the translations
    (or into the run) under new names. `config` is a `metrics.EvaluationConfig`."""
    from .. import metrics, weights
    from ..cache import atomic_write_text
    from ..corpus import Corpus

    config = config or metrics.EvaluationConfig()
    metrics.registry.check_metric_names(list(config.extra_metrics))  # before any translating
    folder = Path(run_or_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such run or translations folder")
    real = Corpus.load(corpus or recorded_corpus(folder))
    if source_images is not None and ((folder / "manifest.csv").exists() or is_run(folder)):
        raise ValueError(
            "--source-images is for a plain folder of images; translations with a manifest (or a run) "
            "already know their sources"
        )
    if is_run(folder):
        if source is None:
            from ..configs import load_yaml
            from ..translate.config import TrainConfig

            run_config = load_yaml(TrainConfig, folder / "config.yaml")
            source = run_config.source if target == run_config.target else run_config.target
        translations_dir = translate_split(folder, real, source, target, config.split, checkpoint)
        out_dir = folder
    elif not (folder / "manifest.csv").exists():
        translations_dir = metrics.folder_translations(
            folder, target=target, source=source, source_images=source_images, method=method
        )
        out_dir = folder
    else:
        translations_dir = folder
        # translations made by this command live in RUN/translations/NAME: report into the run itself
        out_dir = folder.parent.parent if is_run(folder.parent.parent) else folder
    table = metrics.evaluate(
        translations_dir, source=source, target=target, corpus=real, config=config, device=device
    )
    first = table.iloc[0]
    stem = free_stem(
        out_dir,
        f"evaluation-{first['source'] or folder.name}-to-{target}-{config.split}",
        (".csv", ".md", ".record.json"),
    )
    csv_path = out_dir / f"{stem}.csv"
    md_path = out_dir / f"{stem}.md"
    report = metrics.report_markdown(table)
    atomic_write_text(csv_path, table.to_csv(index=False, lineterminator="\n"))
    atomic_write_text(md_path, report)
    used = {metrics.FID_NETWORK: weights.sha256(metrics.FID_NETWORK)}
    if "lpips" in set(table["metric"]):
        used[metrics.LPIPS_NETWORK] = weights.sha256(metrics.LPIPS_NETWORK)
    if config.attribution:
        used["vgg19-gatys"] = weights.sha256("vgg19-gatys")
    record = runs.write_record(
        out_dir,
        kind="evaluation",
        config=config,
        seed=config.seed,
        inputs={
            "translations": str(Path(getattr(translations_dir, "root", translations_dir)).resolve()),
            "source_images": str(source_images.resolve()) if source_images else "",
            "translations_manifest_hash": table.attrs.get("translations_manifest_hash", ""),
            "corpus": str(real.root.resolve()),
            "corpus_manifest_hash": table.attrs.get("corpus_manifest_hash", ""),
        },
        weights=used,
        extra={"outputs": [csv_path.name, md_path.name]},
        name=f"{stem}.record.json",
    )
    return EvaluationRun(table, csv_path, md_path, Path(record), report)


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
    from .. import metrics
    from ..nst.adain import AdaINConfig
    from ..nst.gatys import GatysConfig
    from ..nst.run import ContentImage, stylize_all
    from ..nst.targets import style_culture
    from ..translate import TrainConfig
    from ..translate.apply import translate_images

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
