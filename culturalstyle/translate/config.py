"""Training configuration for the translators (CycleGAN, CUT, FastCUT), and the named presets.

A preset is just a `TrainConfig`; any field can be overridden from the CLI (`--set key=value`) or from a
notebook (`make_config("cpu", method="fastcut", lambda_gram=1.0)`), and the result round-trips through YAML.
Presets set sizes, widths and lengths; they apply to every method (`method` picks the translator model,
fields another method does not use are ignored by it).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import configs
from .losses import GAN_MODES
from .networks import UPSAMPLING

DEFAULT_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
# PatchNCE layers of the ResNet generator (see networks.ResnetGenerator.layer_index): the padded input, the
# two downsampling convolutions, the first and the fifth residual block (the paper's layers 0, 4, 8, 12, 16).
DEFAULT_NCE_LAYERS = ("input", "down1", "down2", "res1", "res5")
TIME_BUDGET_CLOCKS = ("cpu", "wall")


@dataclass
class TrainConfig:
    """Everything that determines a translator run (data, model, losses, optimisation, logging)."""

    # the translator model (translate.models.TRANSLATORS): cyclegan, cut or fastcut
    method: str = "cyclegan"
    # data: culture A = source, culture B = target, images resized (shorter side) then randomly cropped.
    source: str = ""
    target: str = ""
    split: str = "train"
    size: int = 256
    load_size: int = 286
    flip: bool = True
    # model
    ngf: int = 64
    ndf: int = 64
    n_blocks: int = 9
    d_layers: int = 3
    # generator decoder: "transpose" (the paper's transposed convolutions) or "resize" (bilinear x2 + 3x3
    # convolution: no checkerboard artefacts, as CUT's anti-aliased upsampling intends)
    upsample: str = "transpose"
    # losses (lambda_identity is a multiple of lambda_cycle, as in the paper: 0.5 -> 0.5 * 10)
    gan_mode: str = "lsgan"
    lambda_cycle: float = 10.0
    lambda_identity: float = 0.5
    lambda_gram: float = 0.0
    lambda_content: float = 0.0
    lambda_tv: float = 0.0
    style_layers: tuple[str, ...] = DEFAULT_STYLE_LAYERS
    content_layer: str = "relu4_2"
    # CUT / FastCUT (Park et al. 2020). None = the method's default: lambda_nce 1 (cut) or 10 (fastcut);
    # nce_idt (the identity NCE term on target images) on for cut, off for fastcut; flip_equivariance
    # (FastCUT's random horizontal flip of the generator input, undone on its features) off / on.
    lambda_nce: float | None = None
    nce_idt: bool | None = None
    flip_equivariance: bool | None = None
    nce_layers: tuple[str, ...] = DEFAULT_NCE_LAYERS
    nce_patches: int = 256
    nce_tau: float = 0.07
    nce_mlp_dim: int = 256
    # optimisation: constant lr, then linear decay to zero. `steps` (when set) overrides the epochs.
    batch_size: int = 1
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    epochs: int = 100
    epochs_decay: int = 100
    steps: int | None = None
    steps_decay: int | None = None
    pool_size: int = 50
    seed: int = 0
    device: str = "auto"
    amp: bool = True  # mixed precision, used on CUDA only
    channels_last: bool = False
    # outputs
    log_every: int = 50
    sample_every: int = 1000
    checkpoint_every: int = 2000
    keep_checkpoints: int = 3
    n_samples: int = 4
    tensorboard: bool = True
    progress: bool = True
    # evaluation during training: every `eval_every` steps (0 = off) translate the source culture's test
    # split (the first `eval_images`, 0 = all) at `eval_size` px (None = size) and compute FID/KID to the
    # target culture's test split; the lowest FID is kept as checkpoints/best.pt.
    eval_every: int = 0
    eval_size: int | None = None
    eval_images: int = 0
    eval_kid_subsets: int = 50
    # stop (checkpoint, like Ctrl-C) after this many seconds of this process's CPU time (`cpu`, robust to
    # other load on a shared machine) or of wall-clock time (`wall`); None = no budget.
    time_budget_s: float | None = None
    time_budget_clock: str = "cpu"

    def validate(self, require_cultures: bool = True) -> TrainConfig:
        """Check types and ranges; raise ValueError naming the offending field.

        `require_cultures=False` accepts a config whose source/target are still unset (a preset).
        """
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            _check_type(f.name, getattr(self, f.name), hints[f.name])
        problems = []
        if require_cultures and (not self.source or not self.target):
            problems.append("source and target cultures must both be set")
        elif self.source and self.source == self.target:
            problems.append(f"source and target are the same culture ({self.source!r})")
        if self.size < 4 or self.size % 4:
            problems.append(
                f"size must be a positive multiple of 4 (two stride-2 downsamplings), got {self.size}"
            )
        if self.load_size < self.size:
            problems.append(f"load_size ({self.load_size}) must be >= size ({self.size})")
        from .models import TRANSLATORS

        if self.method not in TRANSLATORS:
            problems.append(f"method must be one of {', '.join(TRANSLATORS)}, got {self.method!r}")
        else:
            problems += TRANSLATORS[self.method].check_config(self)
        if self.upsample not in UPSAMPLING:
            problems.append(f"upsample must be one of {', '.join(UPSAMPLING)}, got {self.upsample!r}")
        if self.gan_mode not in GAN_MODES:
            problems.append(f"gan_mode must be one of {', '.join(GAN_MODES)}, got {self.gan_mode!r}")
        for name in ("ngf", "ndf", "d_layers", "batch_size", "log_every", "sample_every", "checkpoint_every"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("nce_patches", "nce_mlp_dim", "eval_kid_subsets"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in (
            "n_blocks",
            "pool_size",
            "n_samples",
            "epochs",
            "epochs_decay",
            "keep_checkpoints",
            "eval_every",
            "eval_images",
        ):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("lambda_cycle", "lambda_identity", "lambda_gram", "lambda_content", "lambda_tv", "lr"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                problems.append(f"{name} must be a finite number >= 0, got {value}")
        if self.lambda_nce is not None and (not math.isfinite(self.lambda_nce) or self.lambda_nce < 0):
            problems.append(f"lambda_nce must be a finite number >= 0, got {self.lambda_nce}")
        if not (math.isfinite(self.nce_tau) and self.nce_tau > 0):
            problems.append(f"nce_tau must be a positive number, got {self.nce_tau}")
        if self.eval_size is not None and (self.eval_size < 32 or self.eval_size % 4):
            problems.append(f"eval_size must be a multiple of 4 and >= 32 px, got {self.eval_size}")
        if self.eval_images and self.eval_images < 4:
            problems.append(
                f"eval_images must be 0 (all) or >= 4 (KID needs 4 images), got {self.eval_images}"
            )
        if self.time_budget_s is not None and not (
            math.isfinite(self.time_budget_s) and self.time_budget_s > 0
        ):
            problems.append(f"time_budget_s must be a positive number of seconds, got {self.time_budget_s}")
        if self.time_budget_clock not in TIME_BUDGET_CLOCKS:
            problems.append(
                f"time_budget_clock must be one of {', '.join(TIME_BUDGET_CLOCKS)}, got {self.time_budget_clock!r}"
            )
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            problems.append(f"Adam betas must lie in [0, 1), got ({self.beta1}, {self.beta2})")
        if self.steps is not None:
            if self.steps < 1:
                problems.append(f"steps must be >= 1, got {self.steps}")
            decay = self.steps_decay if self.steps_decay is not None else 0
            if not 0 <= decay <= self.steps:
                problems.append(f"steps_decay must lie in [0, steps={self.steps}], got {self.steps_decay}")
        elif self.epochs + self.epochs_decay < 1:
            problems.append("epochs + epochs_decay must be >= 1")
        if problems:
            raise ValueError("invalid TrainConfig: " + "; ".join(problems))
        return self

    def schedule(self, steps_per_epoch: int) -> tuple[int, int]:
        """(total steps, steps of linear decay at the end) given the number of steps in one epoch."""
        if self.steps is not None:
            return self.steps, self.steps_decay or 0
        return (self.epochs + self.epochs_decay) * steps_per_epoch, self.epochs_decay * steps_per_epoch

    def save(self, path: str | Path) -> Path:
        return configs.save_yaml(self, path)

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        return configs.load_yaml(cls, path).validate()


def _check_type(name: str, value: Any, annotation: Any) -> None:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return
        annotation = next(a for a in args if a is not type(None))
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is tuple:
        if not isinstance(value, tuple) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"config field {name!r} must be a list of strings, got {value!r}")
        return
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
    }.get(annotation, True)
    if not ok:
        raise ValueError(f"config field {name!r} must be {annotation.__name__}, got {value!r}")


PRESETS: dict[str, TrainConfig] = {
    # For tests and CI: a few dozen steps of tiny networks on 32 px crops.
    "smoke": TrainConfig(
        size=32,
        load_size=36,
        ngf=8,
        ndf=8,
        n_blocks=2,
        steps=24,
        steps_decay=12,
        pool_size=50,
        log_every=4,
        sample_every=12,
        checkpoint_every=12,
        n_samples=2,
        tensorboard=True,
        nce_layers=("input", "down1", "down2", "res1", "res2"),  # only 2 residual blocks
        eval_every=12,
        eval_size=32,
        eval_images=8,
    ),
    # A useful overnight run on a laptop CPU: the paper's 128 px generator (6 blocks) at half width.
    # 20000 steps at batch 1 is about 200 epochs of the sample corpus's larger culture (91 ukiyo-e images),
    # the paper's epoch count; linear decay over the second half.
    "cpu": TrainConfig(
        size=128,
        load_size=143,
        ngf=32,
        ndf=64,
        n_blocks=6,
        steps=20000,
        steps_decay=10000,
        log_every=50,
        sample_every=1000,
        checkpoint_every=1000,
        eval_every=1000,
    ),
    # The paper's configuration (for a GPU): 256 px crops of 286 px images, 200 epochs, decay over the last 100.
    "paper": TrainConfig(
        size=256, load_size=286, ngf=64, ndf=64, n_blocks=9, epochs=100, epochs_decay=100, eval_every=5000
    ),
}


def make_config(
    preset: str = "smoke", overrides: dict[str, Any] | list[str] | None = None, **fields: Any
) -> TrainConfig:
    """A validated copy of preset `preset` with `overrides` ("key=value" strings or a dict) and keyword fields."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    config = dataclasses.replace(PRESETS[preset])
    config = configs.apply_overrides(config, overrides)
    config = configs.apply_overrides(config, fields)
    return config.validate(require_cultures=False)


__all__ = ["TrainConfig", "PRESETS", "DEFAULT_STYLE_LAYERS", "DEFAULT_NCE_LAYERS", "make_config"]
