"""Evaluation of translations: FID/KID (torch-fidelity), LPIPS, ArtFID, paired differences, culture attribution.

Answers two questions for a set of translated images: does it look like the target culture (FID, KID,
culture sets, Gram-embedding shift), and does it keep the content of its source (LPIPS)? One file per
concept:

- `fidelity`: Inception features and cached reference statistics; `intervals`: bootstrap, percentile,
  centred and Wilson intervals, `MetricValue`;
- one file per registered metric: `fid`, `kid`, `lpips`, `artfid`, `paired` (translation minus identity),
  `attribution` (conformal culture sets), `palette_distance` (off by default); any other file here is
  imported too (after those), so a new metric is one file;
- `registry` (`Metric`, `METRICS`, `register_metric`), `inputs` (what a metric's compute receives),
  `translations` (the translations and their sources), `controls` (negative-control images),
  `evaluate` (`EvaluationConfig`, `evaluate`, `compare_runs`) and `report` (`report_markdown`).

Every name below is importable as `culturalstyle.metrics.NAME`, as it was before the package existed.
"""

from __future__ import annotations

import sys

# The built-in metrics register themselves on import, and registration order is the table's order of
# sections and of metrics within a section: keep this block first and in this order.
# isort: off
from . import fid, kid, lpips  # noqa: F401
from . import artfid as artfid_metric  # noqa: F401 (the name `artfid` is the formula, below)
from . import paired, attribution  # noqa: F401

# isort: on
from .artfid import ARTFID_NOTE, artfid
from .attribution import attribution_rows, centroid_shift
from .evaluate import EvaluationConfig, compare_runs, evaluate, evaluation_roles
from .fid import (
    fid_bootstrap,
    fid_from_features,
    fid_from_stats,
    fid_with_ci,
    frechet_distance,
    isometric_projection,
)
from .fidelity import (
    FEATURE_LAYER,
    FID_NETWORK,
    IMAGE_EXTENSIONS,
    INCEPTION_NOTE,
    IS_NOTE,
    REFSTATS_VERSION,
    RESIZE_POLICY,
    FeatureExtractor,
    MetricUnavailableError,
    ReferenceStats,
    culture_reference,
    fid_statistics,
    image_paths,
    inception_extractor,
    inception_features,
    inception_score,
    load_uint8,
    reference_stats,
    refstats_key,
)
from .inputs import Evaluation, MetricInputs, rows_for
from .intervals import (
    Z_95,
    MetricValue,
    bootstrap_indices,
    centred_ci,
    mean_with_ci,
    percentile_ci,
    wilson_interval,
)
from .kid import KID_MAX_SUBSET, KID_MIN_IMAGES, kid_subset_size, kid_with_ci
from .lpips import LPIPS_MIN_SIZE, LPIPS_NETWORK, lpips_distances, lpips_identity
from .paired import fid_difference, kid_difference, polynomial_mmd2
from .registry import (
    IDENTITY,
    METRICS,
    REAL_TARGET,
    RESULT_COLUMNS,
    TRANSLATION,
    Metric,
    Output,
    default_metrics,
    register_metric,
    unregister_metric,
)
from .report import report_markdown
from .translations import (
    folder_translations,
    load_translations,
    translation_size,
    translation_sources,
)


def _register_metric_files() -> None:
    """Import every other module of this package (in name order), so that a metric file dropped in here
    registers itself with no edit elsewhere; its rows come after the built-in ones."""
    import importlib
    import pkgutil

    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if f"{__name__}.{info.name}" not in sys.modules:
            importlib.import_module(f"{__name__}.{info.name}")


_register_metric_files()


__all__ = [
    "ARTFID_NOTE",
    "FEATURE_LAYER",
    "FID_NETWORK",
    "IDENTITY",
    "IMAGE_EXTENSIONS",
    "INCEPTION_NOTE",
    "IS_NOTE",
    "KID_MAX_SUBSET",
    "KID_MIN_IMAGES",
    "LPIPS_MIN_SIZE",
    "LPIPS_NETWORK",
    "METRICS",
    "REAL_TARGET",
    "REFSTATS_VERSION",
    "RESIZE_POLICY",
    "RESULT_COLUMNS",
    "TRANSLATION",
    "Z_95",
    "Evaluation",
    "EvaluationConfig",
    "FeatureExtractor",
    "Metric",
    "MetricInputs",
    "MetricUnavailableError",
    "MetricValue",
    "Output",
    "ReferenceStats",
    "artfid",
    "attribution_rows",
    "bootstrap_indices",
    "centred_ci",
    "centroid_shift",
    "compare_runs",
    "culture_reference",
    "default_metrics",
    "evaluate",
    "evaluation_roles",
    "fid_bootstrap",
    "fid_difference",
    "fid_from_features",
    "fid_from_stats",
    "fid_statistics",
    "fid_with_ci",
    "folder_translations",
    "frechet_distance",
    "image_paths",
    "inception_extractor",
    "inception_features",
    "inception_score",
    "isometric_projection",
    "kid_difference",
    "kid_subset_size",
    "kid_with_ci",
    "load_translations",
    "load_uint8",
    "lpips_distances",
    "lpips_identity",
    "mean_with_ci",
    "percentile_ci",
    "polynomial_mmd2",
    "reference_stats",
    "refstats_key",
    "register_metric",
    "report_markdown",
    "rows_for",
    "translation_size",
    "translation_sources",
    "unregister_metric",
    "wilson_interval",
]
