"""The metric registry: every metric `evaluate` can compute, by name, with its direction and its needs.

A metric is one file that builds a `Metric` and calls `register_metric`; `evaluate` then computes it for
every role (the translations, the identity and real-target baselines, the negative controls) whose inputs
it needs, and the report's "lower/higher is better" text and metric explanations are generated from the
registered `Output`s. Adding a metric therefore touches that one file (and its test), nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .inputs import MetricInputs

# The kinds of image set a role scores (the table's `method` column for baselines and controls) ...
TRANSLATION = "translation"
IDENTITY = "identity"  # untranslated source images: the "do nothing" translator
REAL_TARGET = "real-target"  # real target images of another split: the floor at this N
# ... and the table's `role` column
BASELINE = "baseline"
NEGATIVE_CONTROL = "negative-control"

DIRECTIONS = ("lower", "higher", "none")

# What a metric can need; evaluate skips a metric for a role that lacks one of them.
NEEDS = {
    "images": "the role's image set (real-target: only when the other split has enough images)",
    "inception": "Inception features of the role's images and of the target culture's reference split",
    "source_pairs": "the source image of each scored image (translations, identity, negative controls)",
    "identity": "the untranslated source images' features, paired image by image (not for baselines)",
    "style_space": "the Gram style space of the training split (the metric fits it; needs the source culture)",
    "target_images": "the target culture's images of the evaluation split",
}

RESULT_COLUMNS = [
    "metric",
    "value",
    "ci_low",
    "ci_high",
    "n_generated",
    "n_reference",
    "method",
    "run",
    "role",
    "source",
    "target",
    "split",
    "size",
    "network",
    "weights_sha256",
    "details",
]


@dataclass(frozen=True)
class Output:
    """One `metric` value a registered metric writes into the table (most metrics write one, named after it)."""

    name: str
    direction: str  # "lower" | "higher" (is better) | "none" (no better direction: read with the controls)
    description: str


@dataclass(frozen=True)
class Metric:
    """A registered metric: `compute(inputs)` returns the table rows of one role (`[]` when it does not apply).

    `needs` names inputs (keys of NEEDS) and other metrics whose values it reads (ArtFID reads FID and LPIPS;
    they must be enabled too). `section` groups rows in the table: sections appear in registration order,
    each with the roles in order and, within a role, the section's metrics in registration order. `switch`
    maps an older EvaluationConfig flag onto the metric (False: off whatever `metrics` says).
    """

    name: str
    direction: str
    description: str
    needs: tuple[str, ...]
    compute: Callable[[MetricInputs], list[dict[str, Any]]]
    section: str = ""  # "" = a section of its own, after the earlier ones
    default: bool = True  # computed unless EvaluationConfig.metrics says otherwise
    outputs: tuple[Output, ...] = ()  # () = one output named and described like the metric
    switch: Callable[[Any], bool] | None = None

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(
                f"metric {self.name!r}: direction must be one of {DIRECTIONS}, not {self.direction!r}"
            )

    @property
    def table_section(self) -> str:
        return self.section or self.name

    @property
    def written(self) -> tuple[Output, ...]:
        """The outputs this metric writes into the table's `metric` column."""
        return self.outputs or (Output(self.name, self.direction, self.description),)


METRICS: dict[str, Metric] = {}


def register_metric(metric: Metric, *, replace: bool = False) -> Metric:
    """Make `metric` available to `evaluate` by name (`replace=True` to redefine one, e.g. in a test)."""
    if metric.name in METRICS and not replace:
        raise ValueError(f"a metric named {metric.name!r} is already registered")
    unknown = [n for n in metric.needs if n not in NEEDS and n not in METRICS and n != metric.name]
    if unknown:
        raise ValueError(
            f"metric {metric.name!r} needs {unknown}: neither inputs ({', '.join(NEEDS)}) nor registered metrics"
        )
    METRICS[metric.name] = metric
    return metric


def unregister_metric(name: str) -> None:
    """Remove a registered metric (tests that register a temporary one clean up with this)."""
    METRICS.pop(name, None)


def default_metrics() -> list[str]:
    """Names of the metrics computed when EvaluationConfig.metrics is None, in registration order."""
    return [name for name, metric in METRICS.items() if metric.default]


def check_metric_names(names: Sequence[str]) -> None:
    """Refuse names no metric is registered under, listing the registered ones."""
    unknown = sorted({n for n in names if n not in METRICS})
    if unknown:
        raise ValueError(f"unknown metric(s) {', '.join(unknown)}; registered: {', '.join(METRICS)}")


def enabled_metrics(names: Sequence[str] | None, extra: Sequence[str], config: Any) -> list[Metric]:
    """The metrics to compute, in registration order: `names` (None = the defaults) plus `extra`, minus
    those whose `switch` turns them off for `config`. Unknown names and missing dependencies are errors."""
    wanted = list(default_metrics() if names is None else names) + list(extra)
    check_metric_names(wanted)
    chosen = [m for name, m in METRICS.items() if name in wanted and (m.switch is None or m.switch(config))]
    names_on = {m.name for m in chosen}
    for metric in chosen:
        missing = [n for n in metric.needs if n in METRICS and n not in names_on]
        if missing:
            raise ValueError(f"metric {metric.name!r} needs {', '.join(missing)}; enable them too")
    return chosen


def output_of(name: str) -> Output | None:
    """The registered output written under `name` in the `metric` column (None if no metric writes it)."""
    for metric in METRICS.values():
        for output in metric.written:
            if output.name == name:
                return output
    return None


def sections(metrics: Sequence[Metric]) -> list[list[Metric]]:
    """`metrics` grouped by table section, sections in the order their first metric was registered."""
    grouped: dict[str, list[Metric]] = {}
    for metric in METRICS.values():
        if metric in metrics:
            grouped.setdefault(metric.table_section, []).append(metric)
    return list(grouped.values())
