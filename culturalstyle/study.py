"""Transitional: the notebooks' former API, now re-exported from where each piece lives (removed once the
notebook sources call `culturalstyle.pipeline` and the modules below directly)."""

from __future__ import annotations

from .notebook_outputs import (  # noqa: F401
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
from .pipeline import (  # noqa: F401
    ALL_LAYERS,
    StyleSpace,
    baseline_blocks,
    build_style_space,
    evaluate_translator,
    separability_table,
    shipped_translator,
    shipped_translators,
    translator_directions,
    translator_key,
    translator_label,
    translator_run,
    unique_baselines,
)
from .plots import image_grid  # noqa: F401
from .runs import write_json  # noqa: F401
from .study_corpus import (  # noqa: F401
    EXCLUDED_CULTURES,
    default_corpus_path,
    load_corpus,
    parse_year,
    sample_rows,
)
from .translation_plots import loss_curves  # noqa: F401
from .translation_study import (  # noqa: F401
    asymmetry_table,
    nearest_real,
    nearest_real_table,
    placement_summary,
    placement_table,
    side_by_side,
)
