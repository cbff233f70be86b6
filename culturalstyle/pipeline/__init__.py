"""The study's steps as plain functions that the CLI and the notebooks both call.

Data flows one way:

    corpus -> style_space (backbone statistics, cached) -> embed (directory) -> compare (statistics, figures)
    corpus -> train_or_reuse (content-keyed run) -> translate -> evaluate_run / evaluate_translator -> report
    content images + style targets -> stylize (Gatys, AdaIN baselines)

Each CLI sub-command parses its arguments and makes one of these calls; the notebooks call the same
functions, and find earlier results through the same content-keyed caches (`train_or_reuse`,
`space_comparison`, `study_evaluation`), never by guessing at another notebook's files.
"""

from __future__ import annotations

from .compare import (
    CompareConfig,
    CompareResult,
    baseline_blocks,
    colour_baseline,
    compare,
    separability_table,
    space_comparison,
)
from .embed import embed, select_corpus
from .evaluation import EvaluationRun, evaluate_run, evaluate_translator, free_stem, unique_baselines
from .study_evaluation import (
    StudyEvaluation,
    StudyEvaluationConfig,
    copy_translations,
    study_evaluation,
    translator_weights,
)
from .style_space import ALL_LAYERS, PCAMap, StyleSpace, build_style_space, style_space
from .stylize import StylizeResult, stylize
from .translators import (
    shipped_translator,
    shipped_translators,
    train_or_reuse,
    translate,
    translate_split,
    translator_directions,
    translator_home,
    translator_key,
    translator_label,
    translator_run,
)

__all__ = [
    "ALL_LAYERS",
    "CompareConfig",
    "CompareResult",
    "EvaluationRun",
    "PCAMap",
    "StudyEvaluation",
    "StudyEvaluationConfig",
    "StyleSpace",
    "StylizeResult",
    "baseline_blocks",
    "build_style_space",
    "colour_baseline",
    "compare",
    "copy_translations",
    "embed",
    "evaluate_run",
    "evaluate_translator",
    "free_stem",
    "select_corpus",
    "separability_table",
    "shipped_translator",
    "shipped_translators",
    "space_comparison",
    "style_space",
    "study_evaluation",
    "stylize",
    "train_or_reuse",
    "translate",
    "translate_split",
    "translator_directions",
    "translator_home",
    "translator_key",
    "translator_label",
    "translator_run",
    "translator_weights",
    "unique_baselines",
]
