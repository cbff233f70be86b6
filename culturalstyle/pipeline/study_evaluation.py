"""The study's evaluation of its translators (shipped ones first, then the trained run, with the
style-transfer baselines), computed once and found again by content: notebook 4 shows it, notebook 5 reads
its asymmetry and placement off the same result, whether or not notebook 4 ran in this study.

The result is a `cache.ContentCache` entry, `cache_dir("evaluations")/<key>.pkl` (the table, written last),
with its translations beside it in `<key>/` (translations/<name>/, evaluation.csv, complete.json), keyed by
the corpus's manifest hash, each translator's weights (sha256 of the newest checkpoint of a run, of the
generator files of an exported translator), every setting and a fingerprint of the code that computes it.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .. import runs
from ..cache import PICKLE, ContentCache, atomic_write_text, code_fingerprint, content_sha256
from .evaluation import evaluate_translator, unique_baselines
from .translators import translator_label

if TYPE_CHECKING:
    from ..corpus import Corpus

STUDY_EVALUATION_VERSION = 1
# the table is the entry (written last, so it marks a complete result); its translations lie beside it
EVALUATIONS = ContentCache("evaluations", PICKLE, what="study evaluation", version=STUDY_EVALUATION_VERSION)


@dataclass
class StudyEvaluationConfig:
    """What the study's evaluation depends on besides the corpus and the translators."""

    split: str = "test"
    directions: tuple[str, ...] = ("A2B", "B2A")
    baselines: tuple[str, ...] = ("adain",)
    baseline_size: int | None = None
    n_bootstrap: int = 50
    fid_size: int | None = 32
    shipped_fid_size: int | None = None
    seed: int = 0
    preset: str | None = None  # labels a smoke run as a code-path check


@dataclass
class StudyEvaluation:
    """The joined evaluation table, the translation corpora by name, and where they are cached."""

    table: pd.DataFrame
    translations: dict[str, Any]
    folder: Path
    status: str  # "computed" or "reused"
    translators: list[str] = field(default_factory=list)


def translator_weights(run_dir: str | Path) -> dict[str, str]:
    """sha256 of what a translator translates with: an exported translator's generator files, or a run's
    newest checkpoint (the one `evaluate_translator` uses)."""
    from ..translate.export import is_exported, read_export_info
    from ..translate.train import list_checkpoints

    run_dir = Path(run_dir)
    if is_exported(run_dir):
        files = [d["file"] for d in read_export_info(run_dir)["directions"].values()]
        return {f: content_sha256(run_dir / f) for f in files}
    checkpoints = list_checkpoints(run_dir)
    if not checkpoints:
        raise FileNotFoundError(f"translator run {run_dir} has no checkpoint to evaluate")
    return {checkpoints[0].name: content_sha256(checkpoints[0])}


def study_evaluation(
    corpus: Corpus,
    run_dir: str | Path,
    config: StudyEvaluationConfig | None = None,
    *,
    shipped: Sequence[str | Path] = (),
    progress: bool = False,
) -> StudyEvaluation:
    """The evaluation of the `shipped` translators (no baselines, at their own resolution unless
    `shipped_fid_size`) and of the run `run_dir` (with `config.baselines`), the identity and real-target
    baselines once per size; reused from the cache when everything it depends on is the same."""
    from .. import __version__, metrics

    config = config or StudyEvaluationConfig()
    translators = [Path(p) for p in shipped] + [Path(run_dir)]
    key = EVALUATIONS.key(
        {
            "version": __version__,
            "code": code_fingerprint(
                "metrics",
                "attribution",
                "nst",
                "translate",
                "conformal",
                "embedding",
                "losses",
                "pipeline",
            ),
            "corpus": corpus.manifest_hash(),
            "translators": [{"name": p.name, "weights": translator_weights(p)} for p in translators],
            "config": asdict(config),
        }
    )
    folder = EVALUATIONS.folder / key
    cached = _read(key, folder)
    if cached is not None:
        return StudyEvaluation(*cached, folder, "reused", [p.name for p in translators])
    work = folder.with_name(f"{key}.partial-{runs.timestamp()}")
    tables = []
    for shipped_dir in translators[:-1]:
        table, _ = evaluate_translator(
            corpus,
            shipped_dir,
            work,
            directions=config.directions,
            split=config.split,
            baselines=[],
            config=metrics.EvaluationConfig(
                split=config.split,
                size=config.shipped_fid_size,
                n_bootstrap=config.n_bootstrap,
                seed=config.seed,
            ),
            progress=progress,
        )
        tables.append(table)
    table, _ = evaluate_translator(
        corpus,
        run_dir,
        work,
        directions=config.directions,
        split=config.split,
        baselines=config.baselines,
        baseline_size=config.baseline_size,
        config=metrics.EvaluationConfig(
            split=config.split, size=config.fid_size, n_bootstrap=config.n_bootstrap, seed=config.seed
        ),
        label=translator_label(run_dir, config.preset),
        progress=progress,
    )
    tables.append(table)
    evaluation = unique_baselines(pd.concat(tables, ignore_index=True))
    atomic_write_text(work / "evaluation.csv", evaluation.to_csv(index=False))
    atomic_write_text(
        work / "complete.json",
        json.dumps(
            {"key": key, "translators": [str(p) for p in translators], "config": asdict(config)}, indent=2
        ),
    )
    if folder.exists():  # an entry whose table was lost or damaged: replaced
        shutil.rmtree(folder)
    work.rename(folder)
    EVALUATIONS.write(key, evaluation)
    table, translations = _read(key, folder)
    return StudyEvaluation(table, translations, folder, "computed", [p.name for p in translators])


def _read(key: str, folder: Path) -> tuple[pd.DataFrame, dict[str, Any]] | None:
    """(table, translations) of a complete cache entry, or None (absent, partial or damaged)."""
    from ..corpus import Corpus

    if not (folder / "complete.json").exists():
        return None

    def check(value: Any) -> str | None:
        return None if isinstance(value, pd.DataFrame) and len(value) else "not an evaluation table"

    table = EVALUATIONS.read(key, check)
    if table is None:
        return None
    parent = folder / "translations"
    names = sorted(p for p in parent.iterdir() if (p / "manifest.csv").exists()) if parent.is_dir() else []
    return table, {p.name: Corpus.load(p) for p in names}


def copy_translations(
    evaluation: StudyEvaluation, folder: str | Path, *, overwrite: bool = False
) -> dict[str, Any]:
    """Copy the evaluation's translations into `folder/<name>/` (a notebook's own outputs, for the study's
    gallery; an earlier copy is replaced only with `overwrite`); returns the copies as corpora by name."""
    from ..corpus import Corpus

    folder = Path(folder)
    copies = {}
    for name, translations in evaluation.translations.items():
        if overwrite and (folder / name).exists():
            shutil.rmtree(folder / name)
        target = runs.new_output_dir(folder / name)
        shutil.copytree(translations.root, target, dirs_exist_ok=True)
        copies[name] = Corpus.load(target)
    return copies
