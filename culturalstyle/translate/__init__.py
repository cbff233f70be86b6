"""Cross-culture translators: CycleGAN (ResNet generator, PatchGAN discriminator) with optional seed losses.

`translate.train.train(config, corpus, run_dir)` / `translate.train.resume(run_dir)` train a translator into
a run directory;
`translate_images(run_dir, inputs, direction, out_dir)` applies one and returns a Corpus with provenance.
Heavy modules are imported on first use.
"""

from __future__ import annotations

from .config import PRESETS, TrainConfig, make_config

__all__ = ["PRESETS", "TrainConfig", "make_config", "translate_images"]


def __getattr__(name: str):
    if name == "translate_images":
        from .apply import translate_images

        return translate_images
    raise AttributeError(name)
