"""PatchNCE (Park et al., ECCV 2020): contrastive loss between patches of a translation and of its source.

For each chosen generator layer, `num_patches` positions are sampled; the features at those positions
(source: keys, translation: queries) go through a per-layer 2-layer MLP head and are L2-normalised. Each
query's positive is the key at the same position of the same image, its negatives the keys at the other
sampled positions of that image; the loss is the cross-entropy of picking the positive, at temperature tau.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def patch_nce_loss(query: torch.Tensor, key: torch.Tensor, tau: float = 0.07) -> torch.Tensor:
    """Per-patch PatchNCE loss of B x P x C queries against B x P x C keys (both L2-normalised).

    Returns B*P values (mean them). The keys are detached: gradients flow through the queries only. As in the
    reference implementation, a query's own position among the negatives is masked out (logit -10 / tau).
    """
    if query.shape != key.shape or query.dim() != 3:
        raise ValueError(
            f"query and key must both be B x P x C, got {tuple(query.shape)} and {tuple(key.shape)}"
        )
    key = key.detach()
    b, p, _ = query.shape
    positive = (query * key).sum(-1, keepdim=True)  # B x P x 1
    negatives = torch.bmm(query, key.transpose(1, 2))  # B x P x P
    diagonal = torch.eye(p, dtype=torch.bool, device=query.device)[None]
    negatives = negatives.masked_fill(diagonal, -10.0)
    logits = torch.cat([positive, negatives], dim=2).reshape(b * p, p + 1) / tau
    target = torch.zeros(b * p, dtype=torch.long, device=query.device)
    return F.cross_entropy(logits.float(), target, reduction="none")


class PatchSampleMLP(nn.Module):
    """One 2-layer MLP head (Linear-ReLU-Linear) per feature layer, and the patch sampling.

    The heads are created from the layers' channel counts, which the caller learns by running the generator
    once (CUT creates them lazily on the first batch). Their initial weights (Normal(0, 0.02), zero bias, as
    CUT's `init_net`) come from a generator seeded with `seed`, not from the global RNG, so building the
    model never depends on what ran before and a resumed run is bit-identical.
    """

    def __init__(self, channels: Sequence[int], dim: int = 256, seed: int = 0, std: float = 0.02) -> None:
        super().__init__()
        self.channels, self.dim = list(channels), dim
        self.heads = nn.ModuleList(
            nn.Sequential(nn.Linear(c, dim), nn.ReLU(inplace=True), nn.Linear(dim, dim))
            for c in self.channels
        )
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for layer in self.modules():
                if isinstance(layer, nn.Linear):
                    layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator) * std)
                    layer.bias.zero_()

    @staticmethod
    def sample_ids(
        features: Sequence[torch.Tensor], num_patches: int, generator: torch.Generator
    ) -> list[torch.Tensor]:
        """Random distinct positions per layer (at most H*W), drawn on the CPU from `generator`."""
        ids = []
        for feat in features:
            positions = feat.shape[2] * feat.shape[3]
            ids.append(torch.randperm(positions, generator=generator)[: min(num_patches, positions)])
        return ids

    def forward(self, features: Sequence[torch.Tensor], ids: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """B x P x dim normalised projections of each layer's features at positions `ids`."""
        out = []
        for feat, index, head in zip(features, ids, self.heads):
            flat = feat.permute(0, 2, 3, 1).flatten(1, 2)  # B x HW x C
            picked = flat[:, index.to(feat.device), :]
            out.append(F.normalize(head(picked.float()), dim=-1, eps=1e-7))
        return out


def patch_nce(
    mlp: PatchSampleMLP | nn.Module,
    source_features: Sequence[torch.Tensor],
    translated_features: Sequence[torch.Tensor],
    *,
    num_patches: int,
    tau: float,
    generator: torch.Generator,
) -> torch.Tensor:
    """Mean over layers of the mean PatchNCE loss (unweighted; CUT multiplies by lambda_NCE)."""
    base = mlp.module if hasattr(mlp, "module") else mlp  # DistributedDataParallel
    ids = base.sample_ids(source_features, num_patches, generator)
    keys = mlp(source_features, ids)
    queries = mlp(translated_features, ids)
    losses = [patch_nce_loss(q, k, tau).mean() for q, k in zip(queries, keys)]
    return torch.stack(losses).mean()
