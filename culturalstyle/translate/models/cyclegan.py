"""CycleGAN (Zhu et al., 2017): two generators, two PatchGAN discriminators, cycle and identity L1.

Adversarial loss `gan_mode` (LSGAN by default), cycle L1 weighted by lambda_cycle per direction, identity L1
weighted by lambda_identity x lambda_cycle, history pools of `pool_size` fakes per discriminator. Each
generator runs once on [source, identity input] together (instance norm is per sample, so batching them is
exact) and each discriminator once on [real, pooled fake].
"""

from __future__ import annotations

from typing import Any

import torch

from .. import losses as L
from ..sampling import ImagePool, seed_from
from . import register_translator
from .base import Batch, ModelContext, Translator


@register_translator("cyclegan")
class CycleGAN(Translator):
    loss_names = (
        "G_gan_AB",
        "G_gan_BA",
        "cycle_A",
        "cycle_B",
        "identity_A",
        "identity_B",
        "gram",
        "content",
        "tv",
        "G_total",
        "D_A",
        "D_B",
    )
    generators = {"A2B": "G_AB", "B2A": "G_BA"}
    progress = {"G": ("G_total",), "cyc": ("cycle_A", "cycle_B"), "D": ("D_A", "D_B")}

    def __init__(self, config, context: ModelContext) -> None:
        super().__init__(config, context)
        self.G_AB = self.add_network("G_AB", self.new_generator())
        self.G_BA = self.add_network("G_BA", self.new_generator())
        self.D_A = self.add_network("D_A", self.new_discriminator())
        self.D_B = self.add_network("D_B", self.new_discriminator())
        self.optimizers = {"G": self.adam([self.G_AB, self.G_BA]), "D": self.adam([self.D_A, self.D_B])}
        self.pool_A = ImagePool(config.pool_size, seed=seed_from(config.seed, "pool_A", context.rank))
        self.pool_B = ImagePool(config.pool_size, seed=seed_from(config.seed, "pool_B", context.rank))
        # DDP wraps the modules whose gradients are synchronised; the discriminators are called unwrapped
        # in the generator step (their parameters take no gradient there).
        self.train_G_AB, self.train_G_BA, self.train_D_A, self.train_D_B = (
            self.wrap(net) for net in (self.G_AB, self.G_BA, self.D_A, self.D_B)
        )
        if context.seed_losses is not None:
            context.seed_losses.require([config.target, config.source])

    def hyperparameters(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "lambda_cycle": cfg.lambda_cycle,
            "lambda_identity": cfg.lambda_identity,
            "pool_size": cfg.pool_size,
        }

    def step(self, batch: Batch) -> torch.Tensor:
        """One update of both generators, then both discriminators."""
        self.mark(None)
        cfg = self.config
        real_A, real_B = batch.real_A, batch.real_B
        n = real_A.shape[0]
        lam = cfg.lambda_cycle
        lam_idt = cfg.lambda_identity * cfg.lambda_cycle
        zero = torch.zeros((), device=self.device)
        seed = self.context.seed_losses

        for net in (self.D_A, self.D_B):
            net.requires_grad_(False)
        with self.autocast():
            if lam_idt > 0:  # one batched pass per generator gives the translation and the identity mapping
                fake_B, same_B = self.train_G_AB(torch.cat([real_A, real_B]), normalized=True).split(n)
                fake_A, same_A = self.train_G_BA(torch.cat([real_B, real_A]), normalized=True).split(n)
            else:
                fake_B = self.train_G_AB(real_A, normalized=True)
                fake_A = self.train_G_BA(real_B, normalized=True)
            rec_A = self.train_G_BA(fake_B, normalized=True)
            rec_B = self.train_G_AB(fake_A, normalized=True)
            v = {
                "G_gan_AB": L.adversarial_loss(
                    self.D_B(fake_B, normalized=True), True, cfg.gan_mode, generator=True
                ),
                "G_gan_BA": L.adversarial_loss(
                    self.D_A(fake_A, normalized=True), True, cfg.gan_mode, generator=True
                ),
                "cycle_A": lam * L.l1(rec_A, real_A),
                "cycle_B": lam * L.l1(rec_B, real_B),
            }
            if lam_idt > 0:
                v["identity_A"] = lam_idt * L.l1(same_A, real_A)
                v["identity_B"] = lam_idt * L.l1(same_B, real_B)
            else:
                v["identity_A"] = v["identity_B"] = zero
            v["gram"] = v["content"] = v["tv"] = zero
            if seed is not None and seed.enabled:
                v["gram"], v["content"], v["tv"] = seed(
                    [fake_B, fake_A], [real_A, real_B], [cfg.target, cfg.source]
                )
            v["G_total"] = sum(v[k] for k in self.loss_names[:9])
        self.optimise(v["G_total"], [self.optimizers["G"]], "generators")

        for net in (self.D_A, self.D_B):
            net.requires_grad_(True)
        pooled_B = self.pool_B.query(fake_B.detach())
        pooled_A = self.pool_A.query(fake_A.detach())
        with self.autocast():
            pred_real_B, pred_fake_B = self.train_D_B(
                torch.cat([real_B, pooled_B.to(real_B.dtype)]), normalized=True
            ).split(n)
            pred_real_A, pred_fake_A = self.train_D_A(
                torch.cat([real_A, pooled_A.to(real_A.dtype)]), normalized=True
            ).split(n)
            v["D_B"] = 0.5 * (
                L.adversarial_loss(pred_real_B, True, cfg.gan_mode)
                + L.adversarial_loss(pred_fake_B, False, cfg.gan_mode)
            )
            v["D_A"] = 0.5 * (
                L.adversarial_loss(pred_real_A, True, cfg.gan_mode)
                + L.adversarial_loss(pred_fake_A, False, cfg.gan_mode)
            )
        self.optimise(v["D_A"] + v["D_B"], [self.optimizers["D"]], "discriminators")
        return self.pack(v)

    @torch.no_grad()
    def sample_columns(self, direction: str, x: torch.Tensor) -> list[torch.Tensor]:
        forward = self.generator(direction)
        backward = self.generator("B2A" if direction == "A2B" else "A2B")
        y = forward(x, normalized=True)
        return [x, y, backward(y, normalized=True)]

    def rank_state(self) -> dict[str, Any]:
        return {"pool_A": self.pool_A.state_dict(), "pool_B": self.pool_B.state_dict()}

    def load_rank_state(self, state: dict[str, Any]) -> None:
        self.pool_A.load_state_dict(state["pool_A"], self.device)
        self.pool_B.load_state_dict(state["pool_B"], self.device)
