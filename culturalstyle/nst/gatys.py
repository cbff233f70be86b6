"""Gatys et al. optimisation-based style transfer on the store's normalised VGG19.

The output image is optimised so that its relu4_2 activations match the content image's and its
position-normalised Gram matrices at relu1_1..relu5_1 match the style target's, plus a total-variation
smoothness term:

    loss = content_weight * mse(F_c(x), F_c(content))
         + style_weight * sum_l w_l * mse(G_l(x), G_l*) / sum_l w_l
         + tv_weight * (mean(dx^2) + mean(dy^2))

The style target `G_l*` comes from `targets` (one image, several images averaged, or a culture's mean Gram) and
is computed once per pass size before the loop, never per step. Optimisers: L-BFGS (default; one iteration per
step, no line search, history 100) or Adam. Coarse-to-fine `passes` run the optimisation at size/2^k first and
upsample the result as the start of the next pass, which transfers large-scale structure cheaply.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F

from ..features import CONTENT_LAYER, STYLE_LAYERS, gram
from ..losses import tv_l2_mean
from .common import preserve_colour
from .targets import GramTarget, StyleSource, gram_target, mix_gram

OPTIMIZERS = ("lbfgs", "adam")
INITS = ("content", "style", "noise")
DEFAULT_LR = {"lbfgs": 1.0, "adam": 0.02}


@dataclass
class GatysConfig:
    """Settings of one Gatys run (recorded in every output's provenance)."""

    size: int = 512  # longer side of the output, px
    steps: int = 300  # optimiser steps per pass
    optimizer: str = "lbfgs"
    lr: float | None = None  # None: 1.0 for L-BFGS, 0.02 for Adam (pixel values are in [0, 1])
    init: str = "content"
    content_layer: str = CONTENT_LAYER
    style_layers: tuple[str, ...] = STYLE_LAYERS
    layer_weights: dict[str, float] = field(default_factory=dict)  # missing layers weigh 1.0
    content_weight: float = 1.0
    style_weight: float = 3.0  # balanced on the sample at 128-256 px: 1 keeps more content, 10+ loses it
    tv_weight: float = 10.0
    gram_normalize: str = "positions"
    passes: int = 1  # coarse-to-fine: pass k runs at size / 2^(passes-1-k)
    preserve_colour: bool = False
    seed: int = 0
    patience: int = 30  # stop a pass after this many steps without `min_improvement`
    min_improvement: float = 1e-4  # relative decrease of the total loss that counts as progress

    def validate(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose one of {OPTIMIZERS}")
        if self.init not in INITS:
            raise ValueError(f"unknown init {self.init!r}; choose one of {INITS}")
        if self.steps < 1 or self.passes < 1:
            raise ValueError(f"steps and passes must be >= 1, got steps={self.steps}, passes={self.passes}")
        if self.size / 2 ** (self.passes - 1) < 32:
            raise ValueError(
                f"{self.passes} passes at size {self.size} make the first pass smaller than 32 px"
            )
        unknown = set(self.layer_weights) - set(self.style_layers)
        if unknown:
            raise ValueError(f"layer_weights name layers that are not style layers: {sorted(unknown)}")
        for name in ("content_weight", "style_weight", "tv_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")

    @property
    def learning_rate(self) -> float:
        return DEFAULT_LR[self.optimizer] if self.lr is None else float(self.lr)

    def pass_sizes(self) -> list[int]:
        return [round(self.size / 2 ** (self.passes - 1 - k)) for k in range(self.passes)]


@dataclass
class GatysResult:
    """The stylised image (1 x 3 x H x W in [0, 1], CPU), per-step loss history and timing."""

    image: torch.Tensor
    history: pd.DataFrame
    target_label: str
    steps_run: int
    stopped_early: bool
    seconds: float
    timing: dict[str, float]
    config: dict[str, Any]


def resize_longer_tensor(x: torch.Tensor, size: int) -> torch.Tensor:
    """Resize a B x 3 x H x W tensor so its longer side is `size` (antialiased bilinear)."""
    h, w = x.shape[-2:]
    scale = size / max(h, w)
    new = (max(1, round(h * scale)), max(1, round(w * scale)))
    if new == (h, w):
        return x
    return F.interpolate(x, size=new, mode="bilinear", align_corners=False, antialias=scale < 1).clamp(0, 1)


class Gatys:
    """Gatys style transfer with one VGG19 extractor reused for targets and optimisation.

    `extractor` defaults to `features.VGGFeatures` on the store's `vgg19-gatys` computing the content and style
    layers; pass one built on a tiny random network in tests.
    """

    def __init__(
        self,
        extractor: Any = None,
        device: str | torch.device | None = None,
        config: GatysConfig | None = None,
    ):
        from ..features import VGGFeatures

        self.config = config or GatysConfig()
        self.config.validate()
        layers = (*self.config.style_layers, self.config.content_layer)
        if extractor is None:
            extractor = VGGFeatures(layers, device=device)
        missing = [layer for layer in layers if layer not in extractor.layers]
        if missing:
            raise ValueError(f"the extractor does not compute layer(s) {missing}")
        self.extractor = extractor
        self.device = extractor.device

    # ----------------------------------------------------------------------------------------------------------
    def targets(
        self,
        styles: StyleSource | Sequence[StyleSource],
        size: int,
        mix: Sequence[float] | None = None,
        progress: bool = False,
    ) -> GramTarget:
        """Gram target at `size` for one style source or a weighted mix of several (cached on disk)."""
        styles = [styles] if isinstance(styles, StyleSource) else list(styles)
        computed = [
            gram_target(
                s,
                self.extractor,
                size,
                self.config.style_layers,
                normalize=self.config.gram_normalize,
                progress=progress,
            )
            for s in styles
        ]
        return mix_gram(computed, mix)

    def stylize(
        self,
        content: torch.Tensor,
        style: StyleSource | Sequence[StyleSource] | GramTarget,
        *,
        mix: Sequence[float] | None = None,
        progress: bool = True,
        profile: bool = False,
    ) -> GatysResult:
        """Stylise `content` (1 x 3 x H x W in [0, 1]; resized so its longer side is `config.size`).

        `style`: style source(s) (targets computed per pass size, cached) or a precomputed `GramTarget` (used
        for every pass as is). `mix` weighs several sources. `profile` times forward/backward separately.
        """
        cfg = self.config
        if content.dim() != 4 or content.shape[:2] != (1, 3):
            raise ValueError(f"content must be 1 x 3 x H x W, got shape {tuple(content.shape)}")
        generator = torch.Generator().manual_seed(cfg.seed)
        full = resize_longer_tensor(content.float().cpu(), cfg.size)
        start_time = time.perf_counter()
        timing = {"forward_s": 0.0, "backward_s": 0.0, "targets_s": 0.0, "loop_s": 0.0}
        rows: list[dict[str, Any]] = []
        x: torch.Tensor | None = None
        steps_run, stopped_early, label = 0, False, ""
        for pass_index, size in enumerate(cfg.pass_sizes()):
            c = resize_longer_tensor(full, size).to(self.device)
            t0 = time.perf_counter()
            target = (
                style if isinstance(style, GramTarget) else self.targets(style, size, mix, progress=progress)
            )
            timing["targets_s"] += time.perf_counter() - t0
            label = target.label
            if x is None:
                x = self._initial(c, style, size, generator)
            else:
                x = F.interpolate(x, size=c.shape[-2:], mode="bicubic", align_corners=False).clamp(0, 1)
            x, n, early = self._optimise(x, c, target, pass_index, size, rows, timing, progress, profile)
            steps_run += n
            stopped_early = stopped_early or early
        assert x is not None
        image = x.detach().clamp(0, 1).cpu()
        if cfg.preserve_colour:
            image = preserve_colour(image, full)
        timing["total_s"] = time.perf_counter() - start_time
        return GatysResult(
            image=image,
            history=pd.DataFrame(rows),
            target_label=label,
            steps_run=steps_run,
            stopped_early=stopped_early,
            seconds=timing["total_s"],
            timing=timing,
            config=asdict(cfg),
        )

    # ----------------------------------------------------------------------------------------------------------
    def _initial(
        self, content: torch.Tensor, style: Any, size: int, generator: torch.Generator
    ) -> torch.Tensor:
        init = self.config.init
        if init == "content":
            return content.clone()
        if init == "noise":
            return torch.rand(content.shape, generator=generator).to(self.device)
        if isinstance(style, GramTarget):
            raise ValueError("init='style' needs style source images, not a precomputed Gram target")
        source = style if isinstance(style, StyleSource) else style[0]
        from ..features import load_for_features

        img = load_for_features(source.paths[0], max(content.shape[-2:]), "shorter").unsqueeze(0)
        return F.interpolate(img, size=content.shape[-2:], mode="bilinear", align_corners=False).to(
            self.device
        )

    def _optimise(
        self,
        x0: torch.Tensor,
        content: torch.Tensor,
        target: GramTarget,
        pass_index: int,
        size: int,
        rows: list[dict[str, Any]],
        timing: dict[str, float],
        progress: bool,
        profile: bool,
    ) -> tuple[torch.Tensor, int, bool]:
        cfg = self.config
        layers = cfg.style_layers
        weights = torch.tensor([float(cfg.layer_weights.get(layer, 1.0)) for layer in layers])
        weights = (weights / weights.sum()).tolist()
        grams = {layer: target.grams[layer].to(self.device).unsqueeze(0) for layer in layers}
        with torch.no_grad():
            content_features = self.extractor(content)[cfg.content_layer].detach()
        x = x0.detach().clone().requires_grad_(True)
        if cfg.optimizer == "lbfgs":
            optimizer = torch.optim.LBFGS(
                [x],
                lr=cfg.learning_rate,
                max_iter=1,
                history_size=100,
                tolerance_grad=0.0,
                tolerance_change=0.0,
            )
        else:
            optimizer = torch.optim.Adam([x], lr=cfg.learning_rate)
        sync = torch.cuda.synchronize if (profile and x.is_cuda) else (lambda: None)
        state: dict[str, Any] = {"best": math.inf, "best_x": x.detach().clone()}

        def closure() -> torch.Tensor:
            optimizer.zero_grad(set_to_none=True)
            t0 = time.perf_counter()
            content_loss, style_loss, tv_loss, loss = self._loss_terms(x, content_features, grams, weights)
            if profile:
                sync()
            t1 = time.perf_counter()
            loss.backward()
            if not x.grad.is_contiguous():  # a channels-last network returns NHWC-strided input gradients
                x.grad = x.grad.contiguous()
            if profile:
                sync()
            timing["forward_s"] += t1 - t0
            timing["backward_s"] += time.perf_counter() - t1
            total = float(loss.detach())
            state["terms"] = (
                float(content_loss.detach()),
                float(style_loss.detach()),
                float(tv_loss.detach()),
                total,
            )
            if total < state["best"]:
                state["best"], state["best_x"] = total, x.detach().clone()
            return loss

        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(
                total=cfg.steps,
                desc=f"gatys pass {pass_index + 1}/{cfg.passes} {size}px",
                unit="step",
                leave=False,
            )
        reference, since, stopped_early, step = math.inf, 0, False, 0
        loop_start = time.perf_counter()
        try:
            for step in range(1, cfg.steps + 1):
                optimizer.step(closure)
                if cfg.optimizer == "adam":
                    with torch.no_grad():
                        x.clamp_(0, 1)
                c_loss, s_loss, tv, total = state["terms"]
                if not math.isfinite(total):
                    raise RuntimeError(
                        f"Gatys loss became {total} at step {step}; lower the learning rate or the loss weights"
                    )
                rows.append(
                    {
                        "pass": pass_index,
                        "size": size,
                        "step": step,
                        "content": c_loss,
                        "style": s_loss,
                        "tv": tv,
                        "total": total,
                    }
                )
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(
                        content=f"{c_loss:.3g}",
                        style=f"{s_loss:.3g}",
                        tv=f"{tv:.3g}",
                        total=f"{total:.3g}",
                        refresh=False,
                    )
                if total < reference * (1 - cfg.min_improvement):
                    reference, since = total, 0
                else:
                    since += 1
                    if since >= cfg.patience:
                        stopped_early = True
                        break
        finally:
            timing["loop_s"] += time.perf_counter() - loop_start
            if bar is not None:
                bar.close()
        # The loss seen in a closure belongs to the image *before* the step that followed, so keep the best one.
        with torch.no_grad():
            total = float(self._loss_terms(x, content_features, grams, weights)[3])
        best = x.detach() if total <= state["best"] else state["best_x"]
        return best, step, stopped_early

    def _loss_terms(
        self,
        x: torch.Tensor,
        content_features: torch.Tensor,
        grams: dict[str, torch.Tensor],
        weights: list[float],
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(content, style, tv, weighted total) losses of image `x`; one VGG forward pass."""
        cfg = self.config
        feats = self.extractor(x)
        content_loss = F.mse_loss(feats[cfg.content_layer], content_features)
        style_loss = sum(
            w * F.mse_loss(gram(feats[layer], cfg.gram_normalize), grams[layer])
            for w, layer in zip(weights, cfg.style_layers)
        )
        tv_loss = tv_l2_mean(x)
        total = cfg.content_weight * content_loss + cfg.style_weight * style_loss + cfg.tv_weight * tv_loss
        return content_loss, style_loss, tv_loss, total


def stylize(
    content: torch.Tensor,
    style: StyleSource | Sequence[StyleSource] | GramTarget,
    config: GatysConfig | None = None,
    *,
    mix: Sequence[float] | None = None,
    extractor: Any = None,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> GatysResult:
    """One-call Gatys transfer: `Gatys(extractor, device, config).stylize(content, style, mix=mix)`."""
    return Gatys(extractor, device, config).stylize(content, style, mix=mix, progress=progress)
