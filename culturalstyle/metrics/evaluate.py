"""`evaluate`: every enabled registered metric for every role of one run of translations, as one table.

Roles: the translations, the `identity` baseline (the untranslated sources: the "do nothing" translator),
the `real-target` baseline (real target images of another split against the same reference: the floor at
this N) and the negative controls (noise, pixel-shuffled sources: images any honest metric must rate
badly). Which metrics run is `EvaluationConfig.metrics` (None = the registered defaults) plus
`extra_metrics`; the older flags (`attribution`, `paired_bootstrap=0`) still switch theirs off. The table
has one tidy row per (metric output, role), ordered by registry section, then role, then metric.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from . import registry
from .artfid import ARTFID_NOTE
from .fidelity import INCEPTION_NOTE, IS_NOTE, FeatureExtractor, reference_stats
from .inputs import Evaluation, MetricInputs
from .intervals import bootstrap_indices
from .kid import KID_MIN_IMAGES
from .registry import (
    BASELINE,
    IDENTITY,
    NEGATIVE_CONTROL,
    REAL_TARGET,
    RESULT_COLUMNS,
    TRANSLATION,
)
from .report import column_label
from .translations import _column, _label, load_translations, translation_size, translation_sources

if TYPE_CHECKING:
    from ..corpus import Corpus


@dataclass
class EvaluationConfig:
    """Settings of one evaluation; saved in the run record next to the results."""

    split: str = "test"
    size: int | None = None  # FID/KID resolution; None = the translations' shorter side
    n_bootstrap: int = 200
    kid_subsets: int = 100
    kid_subset_size: int | None = None  # None = adapted to the set sizes (see kid_subset_size)
    lpips_size: int | None = None  # None = the translation's shorter side, at least 64 px
    attribution: bool = True
    attribution_size: int | None = None  # Gram resolution for attribution; None = the FID/KID resolution
    attribution_alpha: float = 0.1  # conformal culture sets: contain the true culture with prob. >= 1 - alpha
    attribution_score: str = "knn"  # conformal nonconformity: knn (can say "none") | classifier
    baselines: bool = True
    negative_controls: bool = True  # noise and pixel-shuffled sources, scored like translations
    paired_bootstrap: int = 500  # replicates of the paired translation-minus-identity FID/KID differences
    seed: int = 0
    batch_size: int = 32
    metrics: tuple[str, ...] | None = None  # registered names; None = registry.default_metrics()
    extra_metrics: tuple[str, ...] = ()  # added to `metrics`, e.g. ("palette_distance",): off by default


def evaluate(
    translations: Any,
    source: str | None = None,
    target: str | None = None,
    corpus: Corpus | str | os.PathLike | None = None,
    split: str | None = None,
    *,
    config: EvaluationConfig | None = None,
    extractor: FeatureExtractor | None = None,
    lpips_net: Any = None,
    attribution_model: Any = None,
    device: str | torch.device | None = None,
) -> pd.DataFrame:
    """Evaluate one run of translations against the target culture; one tidy row per metric and method.

    Default metrics: FID (bootstrap CI), KID (adapted subset size), LPIPS source↔translation, ArtFID, the
    paired translation-minus-identity FID/KID differences, and culture attribution (share whose conformal
    culture set is exactly {target}, share with the empty set "none of the known cultures", Gram-embedding
    shift source→target); `registry.METRICS` lists all. Reference statistics come from the cache.
    """
    from ..corpus import Corpus

    config = config or EvaluationConfig()
    if split is not None:
        config = EvaluationConfig(**{**config.__dict__, "split": split})
    if target is None:
        raise ValueError("evaluate needs the target culture (target=...)")
    if corpus is None:
        raise ValueError("evaluate needs the corpus the translations were made from (corpus=...)")
    corpus = corpus if isinstance(corpus, Corpus) else Corpus.load(corpus)
    enabled = registry.enabled_metrics(config.metrics, config.extra_metrics, config)
    trans = load_translations(translations)
    if target not in corpus.cultures:
        raise ValueError(f"target culture {target!r} is not in the corpus (cultures: {corpus.cultures})")
    sources = translation_sources(trans, corpus, source)
    if source is None and sources is not None:
        source = sources["culture"].mode().iloc[0]
    size = config.size or translation_size(trans.paths())
    rng = np.random.default_rng(config.seed)
    n = len(trans)
    evaluation = Evaluation(
        config=config,
        corpus=corpus,
        translations=trans,
        source=source,
        target=target,
        size=size,
        sources=sources,
        bootstrap=bootstrap_indices(n, config.n_bootstrap, rng) if config.n_bootstrap > 0 else None,
        given_extractor=extractor,
        lpips_net=lpips_net,
        attribution_model=attribution_model,
        device=device,
    )
    roles = evaluation_roles(evaluation, rng)
    rows: list[dict[str, Any]] = []
    for section in registry.sections(enabled):
        for inputs in roles:
            for metric in section:
                if all(inputs.has(need) for need in metric.needs):
                    rows.extend(metric.compute(inputs))

    if not rows:
        raise ValueError(f"no metric applies to these translations (enabled: {[m.name for m in enabled]})")
    table = pd.DataFrame(rows)
    table["source"] = source or ""
    table["target"] = target
    table["split"] = config.split
    table["size"] = size
    table = table[RESULT_COLUMNS]
    table.attrs.update(
        {
            "notes": [INCEPTION_NOTE, ARTFID_NOTE, IS_NOTE],
            "config": config.__dict__.copy(),
            "translations_manifest_hash": _safe_manifest_hash(trans),
            "corpus_manifest_hash": corpus.manifest_hash(),
        }
    )
    return table


def evaluation_roles(evaluation: Evaluation, rng: np.random.Generator) -> list[MetricInputs]:
    """The image sets of one evaluation, in table order: translations, baselines, negative controls.

    `rng` is the evaluation's generator after the translations' bootstrap resamples were drawn (it picks
    the real-target floor's images, as before the registry existed, so tables stay comparable)."""
    from ..corpus import Corpus

    ev, config, corpus = evaluation, evaluation.config, evaluation.corpus
    trans, sources = ev.translations, ev.sources
    paired = sources is not None
    method = _label(_column(trans.df, "method"), "translation")
    run = _label(_column(trans.df, "run"), str(trans.root))
    roles = [MetricInputs(ev, method, run, TRANSLATION, TRANSLATION, trans, paired, ev.bootstrap)]
    if ev.has_identity:
        roles.append(
            MetricInputs(
                ev,
                IDENTITY,
                "",
                BASELINE,
                IDENTITY,
                Corpus(sources, corpus.root),
                paired=True,
                bootstrap=ev.bootstrap,
                load_features=lambda: ev.identity_features,
            )
        )
    if config.baselines:
        roles.append(_real_target(ev, rng))
    if config.negative_controls and paired:  # controls stand in for the sources' translations
        from .controls import KINDS, negative_control

        for kind in KINDS:
            images = negative_control(kind, trans, sources, corpus.root, seed=config.seed)
            roles.append(MetricInputs(ev, kind, "", NEGATIVE_CONTROL, kind, images, True, ev.bootstrap))
    return roles


def _real_target(ev: Evaluation, rng: np.random.Generator) -> MetricInputs:
    """Real target images of the other split (a random N of them when there are more than N)."""
    from ..corpus import Corpus

    config, target, n = ev.config, ev.target, ev.n
    other = "train" if config.split != "train" else "test"
    floor = ev.corpus.filter(culture=target, split=other)
    role = MetricInputs(ev, REAL_TARGET, "", BASELINE, REAL_TARGET, None)
    if len(floor) < KID_MIN_IMAGES:
        warnings.warn(
            f"no floor baseline: the corpus has {len(floor)} {target} images in split {other!r}",
            stacklevel=4,
        )
        return role
    note = f"real {target} {other} images vs {target} {config.split}"
    if len(floor) > n:  # match the translations' N (FID depends on N); only these run Inception
        pick = np.sort(rng.choice(len(floor), n, replace=False))
        note += f" (random {n} of {len(floor)}, seed {config.seed}, to match the translations' N)"
        floor = Corpus(floor.df.iloc[pick], ev.corpus.root)
    role.images, role.note = floor, note
    role.load_features = lambda: reference_stats(floor, size=ev.size, extractor=ev.extractor).features
    return role


def _safe_manifest_hash(corpus: Corpus) -> str:
    try:
        return corpus.manifest_hash()
    except (KeyError, TypeError):
        return ""


def compare_runs(results: Sequence[pd.DataFrame | str | os.PathLike]) -> pd.DataFrame:
    """Several evaluations side by side: index = metric, columns = (run or baseline, field).

    Accepts evaluate() tables (also several concatenated into one) or CSV files written by
    `culturalstyle evaluate`. Columns are labelled by run (translations) or baseline name, plus
    "(source→target)" when more than one direction is present. Identical baseline rows are shown once;
    any other repeated (label, metric) gets a numbered label ("run-a #2").
    """
    tables = [
        t if isinstance(t, pd.DataFrame) else pd.read_csv(t, keep_default_na=False, na_values=[""])
        for t in results
    ]
    if not tables or all(len(t) == 0 for t in tables):
        raise ValueError("compare_runs needs at least one non-empty evaluation table")
    rows = pd.concat(tables, ignore_index=True)
    label = rows.apply(column_label, axis=1)
    if len(rows[["source", "target"]].drop_duplicates()) > 1:
        label = label + " (" + rows["source"].astype(str) + "→" + rows["target"].astype(str) + ")"
    rows["label"] = label
    fields = ["value", "ci_low", "ci_high", "n_generated", "n_reference"]
    is_baseline = rows["role"] != TRANSLATION
    keep = ~is_baseline | ~rows.duplicated(["label", "metric", *fields])
    rows = rows[keep].copy()
    repeat = rows.groupby(["label", "metric"]).cumcount()
    rows.loc[repeat > 0, "label"] = rows["label"] + " #" + (repeat + 1).astype(str)
    labels = list(dict.fromkeys(rows["label"]))
    metrics_order = list(dict.fromkeys(rows["metric"]))
    wide = rows.pivot(index="metric", columns="label", values=fields)
    wide = wide.swaplevel(axis=1)
    columns = pd.MultiIndex.from_product([labels, fields])
    return wide.reindex(index=metrics_order, columns=columns)
