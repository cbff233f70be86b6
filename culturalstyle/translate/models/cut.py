"""CUT (Park et al., ECCV 2020): one-sided translation with a PatchNCE loss, LSGAN and the CycleGAN PatchGAN.

The generator is the same ResNet generator as CycleGAN's. PatchNCE compares the generator encoder's features
of the source (keys) and of the translation (queries) at `nce_layers` (see `ResnetGenerator.layer_index`;
the paper's layers 0, 4, 8, 12, 16 are input, down1, down2, res1, res5), `nce_patches` = 256 positions per
layer, through a 2-layer MLP head per layer, temperature `nce_tau` = 0.07. CUT: lambda_NCE 1 plus the
identity NCE term on target images (G(y) should keep y's patches), total NCE = (X + Y) / 2. FastCUT
(`fastcut.py`): lambda_NCE 10, no identity term, flip-equivariance augmentation. No history pool (as in the
paper); the discriminator is updated first, then generator and heads, as in the reference code.

Cheaper than the reference without changing the method: the source's key features come from the
generator's own forward pass (captured at the NCE layers) instead of a second encoder pass; the queries of
the translation and of the identity image are encoded in one batched pass. Random draws (patch positions,
flips) come from a generator seeded by (seed, step, rank), so a resumed run is bit-identical.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from .. import losses as L
from ..networks import generator_layer_index
from ..patchnce import PatchSampleMLP, patch_nce
from ..sampling import seed_from
from . import register_translator
from .base import Batch, ModelContext, Translator


@register_translator("cut")
class CUT(Translator):
    loss_names = ("G_gan_AB", "nce", "nce_idt", "gram", "content", "tv", "G_total", "D_B")
    generators = {"A2B": "G"}
    progress = {"G": ("G_total",), "nce": ("nce", "nce_idt"), "D": ("D_B",)}
    defaults: ClassVar[dict[str, Any]] = {"lambda_nce": 1.0, "nce_idt": True, "flip_equivariance": False}

    def __init__(self, config, context: ModelContext) -> None:
        super().__init__(config, context)
        settings = self.hyperparameters()
        self.lambda_nce = float(settings["lambda_nce"])
        self.nce_idt = bool(settings["nce_idt"])
        self.flip_equivariance = bool(settings["flip_equivariance"])
        self.G = self.add_network("G", self.new_generator())
        self.D = self.add_network("D_B", self.new_discriminator())
        self.layers = [self.G.layer_index(name) for name in config.nce_layers]
        with torch.no_grad():  # the heads' input widths: one tiny pass (CUT creates its heads lazily)
            probe = torch.zeros(1, 3, 16, 16, device=self.device)
            channels = [
                f.shape[1] for f in self.G(probe, normalized=True, layers=self.layers, encode_only=True)
            ]
        self.F = self.add_network(
            "F", PatchSampleMLP(channels, config.nce_mlp_dim, seed=seed_from(config.seed, "patch-mlp"))
        )
        self.optimizers = {"G": self.adam([self.G]), "F": self.adam([self.F]), "D": self.adam([self.D])}
        self.train_G, self.train_F, self.train_D = (self.wrap(net) for net in (self.G, self.F, self.D))
        if context.seed_losses is not None:
            context.seed_losses.require([config.target])

    @classmethod
    def check_config(cls, config) -> list[str]:
        problems = []
        if not config.nce_layers:
            problems.append("nce_layers must name at least one generator layer")
        if len(set(config.nce_layers)) != len(config.nce_layers):
            problems.append(f"nce_layers has duplicates: {list(config.nce_layers)}")
        for name in config.nce_layers:
            try:
                generator_layer_index(name, config.n_blocks)
            except ValueError as error:
                problems.append(f"nce_layers: {error} (n_blocks={config.n_blocks})")
        return problems

    def hyperparameters(self) -> dict[str, Any]:
        cfg = self.config
        chosen = {
            "lambda_nce": cfg.lambda_nce,
            "nce_idt": cfg.nce_idt,
            "flip_equivariance": cfg.flip_equivariance,
        }
        settings = {k: (self.defaults[k] if v is None else v) for k, v in chosen.items()}
        return settings | {
            "nce_layers": list(cfg.nce_layers),
            "nce_patches": cfg.nce_patches,
            "nce_tau": cfg.nce_tau,
            "nce_mlp_dim": cfg.nce_mlp_dim,
        }

    def _nce(
        self, keys: list[torch.Tensor], queries: list[torch.Tensor], generator: torch.Generator
    ) -> torch.Tensor:
        cfg = self.config
        return self.lambda_nce * patch_nce(
            self.train_F, keys, queries, num_patches=cfg.nce_patches, tau=cfg.nce_tau, generator=generator
        )

    def step(self, batch: Batch) -> torch.Tensor:
        """One update of the discriminator, then of the generator and the MLP heads."""
        self.mark(None)
        cfg = self.config
        real_A, real_B = batch.real_A, batch.real_B
        n = real_A.shape[0]
        zero = torch.zeros((), device=self.device)
        draws = torch.Generator().manual_seed(seed_from(cfg.seed, "cut-step", batch.step, self.context.rank))
        flipped = self.flip_equivariance and bool(torch.rand(1, generator=draws) < 0.5)
        use_nce = self.lambda_nce > 0
        real = torch.cat([real_A, real_B]) if self.nce_idt else real_A
        v: dict[str, torch.Tensor] = {}

        with self.autocast():
            g_input = real.flip(-1) if flipped else real
            if use_nce and not flipped:
                fake, keys = self.train_G(g_input, normalized=True, layers=self.layers)
            else:
                fake = self.train_G(g_input, normalized=True)
                keys = None
            fake_B = fake[:n]

        # discriminator: LSGAN on [real B, translation], no history pool
        self.D.requires_grad_(True)
        with self.autocast():
            pred_real, pred_fake = self.train_D(torch.cat([real_B, fake_B.detach()]), normalized=True).split(
                n
            )
            v["D_B"] = 0.5 * (
                L.adversarial_loss(pred_real, True, cfg.gan_mode)
                + L.adversarial_loss(pred_fake, False, cfg.gan_mode)
            )
        self.optimise(v["D_B"], [self.optimizers["D"]], "discriminators")

        # generator and heads
        self.D.requires_grad_(False)
        with self.autocast():
            v["G_gan_AB"] = L.adversarial_loss(
                self.D(fake_B, normalized=True), True, cfg.gan_mode, generator=True
            )
            v["nce"] = v["nce_idt"] = zero
            if use_nce:
                if keys is None:  # flipped input: the keys are the unflipped images' features
                    keys = self.train_G(real, normalized=True, layers=self.layers, encode_only=True)
                queries = self.train_G(fake, normalized=True, layers=self.layers, encode_only=True)
                if flipped:
                    queries = [q.flip(-1) for q in queries]
                v["nce"] = self._nce([k[:n] for k in keys], [q[:n] for q in queries], draws)
                if self.nce_idt:
                    v["nce_idt"] = self._nce([k[n:] for k in keys], [q[n:] for q in queries], draws)
                    v["nce"], v["nce_idt"] = 0.5 * v["nce"], 0.5 * v["nce_idt"]
            v["gram"] = v["content"] = v["tv"] = zero
            seed = self.context.seed_losses
            if seed is not None and seed.enabled:
                v["gram"], v["content"], v["tv"] = seed([fake_B], [real_A], [cfg.target])
            v["G_total"] = v["G_gan_AB"] + v["nce"] + v["nce_idt"] + v["gram"] + v["content"] + v["tv"]
        self.optimise(v["G_total"], [self.optimizers["G"], self.optimizers["F"]], "generators")
        return self.pack(v)
