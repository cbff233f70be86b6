"""Culture attribution of translations in Gram style space, with conformal culture sets.

A forced-choice classifier calls a translator's noise 100 % "target culture". Here every image gets a
conformal prediction set (`conformal.ConformalCultures`, calibrated on the real art of the training split with
artist-grouped folds): a translation is *on target* only when its set is exactly {target}; an empty set means
"none of the known cultures" (what noise and other negative controls should get); a set of several cultures
means the statistics cannot tell. Also reported: the projection on the source -> target centroid axis.

`CultureAttribution` is fitted once per evaluation and scores any image set (translations, baselines, negative
controls) with `rows(...)`; `metrics.attribution` wraps it as the registered `attribution` metric.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:
    from .corpus import Corpus
    from .metrics import EvaluationConfig

Z_95 = 1.959963984540054


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval of a proportion (well behaved at 0 %, 100 % and small n)."""
    if n == 0:
        return math.nan, math.nan
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def centroid_shift(
    embedded: np.ndarray, source_centroid: np.ndarray, target_centroid: np.ndarray
) -> np.ndarray:
    """Projection of each embedding on the source→target centroid axis: 0 = source centroid, 1 = target."""
    axis = np.asarray(target_centroid, np.float64) - np.asarray(source_centroid, np.float64)
    norm2 = float(axis @ axis)
    if norm2 == 0:
        raise ValueError("the source and target centroids coincide; the shift is undefined")
    return (np.asarray(embedded, np.float64) - source_centroid) @ axis / norm2


MIN_SIDE = 4  # a Gram matrix from fewer than 4 x 4 positions is mostly noise (relu5_1 at 32 px has 2 x 2)


def resolvable_layers(layers: Any, size: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(kept, dropped): VGG layers `relu{b}_{i}` whose maps at `size` px have at least MIN_SIDE per side
    (block b is downsampled 2^(b-1) times). Keeps the shallowest layer whatever the size."""
    kept, dropped = [], []
    for name in layers:
        block = int(name[4]) if name.startswith(("relu", "conv")) and name[4:5].isdigit() else 1
        (kept if size / 2 ** (block - 1) >= MIN_SIDE or not kept else dropped).append(name)
    return tuple(kept), tuple(dropped)


def minimum_calibration_images(alpha: float) -> int:
    """Fewest calibration images of a culture for a finite conformal threshold at `alpha`."""
    return math.ceil(1.0 / alpha) - 1


class CultureAttribution:
    """Gram embedding of the real art of the training split, conformal culture sets, centroids.

    Cultures with fewer training images than a finite threshold at `config.attribution_alpha` needs are left
    out of the known cultures (with a warning), since they would be in every set; the source and target
    cultures must have enough. `model` is the VGG feature extractor (default: the store's vgg19-gatys).
    """

    def __init__(
        self,
        corpus: Corpus,
        *,
        source: str,
        target: str,
        split: str,
        size: int,
        config: EvaluationConfig,
        model: Any = None,
        device: str | torch.device | None = None,
    ) -> None:
        from .conformal import ConformalConfig, ConformalCultures
        from .embedding import EmbedConfig
        from .features import STYLE_LAYERS, VGGFeatures, make_backbone
        from .pipeline import style_space

        self.vgg = model or VGGFeatures(STYLE_LAYERS, device=device)
        self.source, self.target = source, target
        self.size = config.attribution_size or size
        self.layers, self.dropped = resolvable_layers(self.vgg.layers, self.size)
        if self.dropped:
            warnings.warn(
                f"culture attribution at {self.size}px leaves out {list(self.dropped)}: fewer than "
                f"{MIN_SIDE}x{MIN_SIDE} positions, too few for a Gram matrix",
                stacklevel=3,
            )
        self.train_split = "train" if split != "train" else "val"
        alpha = config.attribution_alpha
        needed = minimum_calibration_images(alpha)
        train = corpus.filter(split=self.train_split)
        counts = train.df["culture"].value_counts()
        for culture in (source, target):
            if counts.get(culture, 0) < needed:
                raise ValueError(
                    f"culture attribution at alpha={alpha} needs at least {needed} {self.train_split!r} images "
                    f"of {culture!r} (have {counts.get(culture, 0)}); lower the confidence with "
                    "attribution_alpha or add images"
                )
        small = sorted(c for c, k in counts.items() if k < needed)
        if small:
            warnings.warn(
                f"culture attribution leaves out {small}: fewer than {needed} {self.train_split} images each",
                stacklevel=3,
            )
        self.train = train.filter(culture=[c for c, k in counts.items() if k >= needed])
        # the study's one corpus -> style space path, on the given network at the resolvable layers
        self.backbone = make_backbone("vgg19-gram", layers=self.layers, extractor=self.vgg)
        space = style_space(
            self.train,
            EmbedConfig(layers=self.layers, size=self.size, batch_size=16),
            backbone=self.backbone,
            maps=False,
        )
        self.embedding = space.embedding
        self.train_embedded = space.vectors
        cultures = self.train.df["culture"].to_numpy()
        # StyleEmbedding already standardises and weights its layers; the conformal scores use its geometry.
        self.sets_model = ConformalCultures(
            ConformalConfig(alpha=alpha, score=config.attribution_score, seed=config.seed)
        ).fit(self.train_embedded, cultures, self.train.df["artist"].to_numpy())
        self.c_source = self.train_embedded[cultures == source].mean(axis=0)
        self.c_target = self.train_embedded[cultures == target].mean(axis=0)
        self.n_pair = int(((cultures == source) | (cultures == target)).sum())
        self.network = (
            f"{self.vgg.weights_name} Gram ({','.join(self.layers)}) @ {self.size}px + conformal sets "
            f"({config.attribution_score}, alpha={alpha})"
        )
        self.config = config

    def _features(self, images: Any) -> Any:
        return self.backbone.extract(images, size=self.size, batch_size=16)

    def embed(self, images: Any) -> np.ndarray:
        return self.embedding.transform(self._features(images))

    def sets(self, images: Any) -> list[str]:
        """Each image's conformal culture set as an "a|b" label ("" = none of the known cultures)."""
        return self.sets_model.predict_labels(self.embed(images))

    def rows(
        self, images: Any, *, method: str, run: str, role: str, rng: np.random.Generator
    ) -> list[dict[str, Any]]:
        """culture_share_target (set exactly {target}), culture_share_unknown (empty set) and gram_shift."""
        from collections import Counter

        from .metrics import MetricValue, bootstrap_indices, mean_with_ci, rows_for

        embedded = self.embed(images)
        labels = self.sets_model.predict_labels(embedded)
        n = len(labels)
        known = self.sets_model.classes_
        label = {"method": method, "run": run, "role": role}
        found = ", ".join(f"{{{k}}}={v}" for k, v in sorted(Counter(labels).items(), key=lambda kv: -kv[1]))
        about = (
            f"conformal culture sets at alpha={self.config.attribution_alpha}, calibrated on {len(self.train)} "
            f"{self.train_split} images of {len(known)} cultures ({', '.join(known)}) with artist-grouped folds; "
            f"Wilson 95% CI; sets: {found}"
        )
        rows = []
        for metric, hits, meaning in (
            ("culture_share_target", sum(s == self.target for s in labels), f"set exactly {{{self.target}}}"),
            ("culture_share_unknown", sum(s == "" for s in labels), "empty set: none of the known cultures"),
        ):
            lo, hi = wilson_interval(hits, n)
            share = MetricValue(hits / n, lo, hi, n, len(self.train), f"{meaning}; {about}")
            rows.append(
                rows_for(metric, share, network=self.network, weights_sha=self.vgg.weights_sha256, **label)
            )
        shift = centroid_shift(embedded, self.c_source, self.c_target)
        idx = bootstrap_indices(n, self.config.n_bootstrap, rng) if self.config.n_bootstrap > 0 else None
        m = mean_with_ci(
            shift,
            idx,
            f"mean projection on the {self.source}->{self.target} axis between {self.train_split} centroids "
            f"(0 = {self.source}, 1 = {self.target}); 95% percentile bootstrap",
        )
        m.n_reference = self.n_pair
        rows.append(
            rows_for("gram_shift", m, network=self.network, weights_sha=self.vgg.weights_sha256, **label)
        )
        return rows


def attribution_rows(
    translations: Corpus,
    sources: Any,
    corpus: Corpus,
    *,
    source: str,
    target: str,
    split: str,
    method: str,
    run: str,
    config: EvaluationConfig,
    size: int,
    model: Any = None,
    device: str | torch.device | None = None,
    extra_sets: Sequence[tuple[str, str, str, Any]] = (),
    controls: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Attribution rows of the translations, the baselines (untranslated sources: expected off target;
    real target images of `split`, never seen in calibration: expected on target), `extra_sets`
    ((method, run, role, images), e.g. the negative controls of `metrics.evaluate`) and `controls`
    ({method name: images}, role "negative-control"; expected unknown or at least off target)."""
    from .corpus import Corpus as _Corpus
    from .metrics import IDENTITY, REAL_TARGET, TRANSLATION

    attribution = CultureAttribution(
        corpus,
        source=source,
        target=target,
        split=split,
        size=size,
        config=config,
        model=model,
        device=device,
    )
    sets: list[tuple[str, str, str, Any]] = [(method, run, TRANSLATION, translations)]
    if sources is not None:
        sets.append((IDENTITY, "", "baseline", _Corpus(sources, corpus.root)))
        sets.append((REAL_TARGET, "", "baseline", corpus.filter(culture=target, split=split)))
    sets.extend(extra_sets)
    for name, images in (controls or {}).items():
        sets.append((name, "", "negative-control", images))
    rng = np.random.default_rng(config.seed + 1)
    rows = []
    for label_method, label_run, role, images in sets:
        rows.extend(attribution.rows(images, method=label_method, run=label_run, role=role, rng=rng))
    return rows
