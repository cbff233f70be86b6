"""Training data: a stateless unpaired batch sampler over images decoded once, and the history pool.

Nothing here draws from hidden global state: batch `step` is a pure function of (seed, step, rank) and the
pool draws from its own generator (saved in checkpoints), which is what makes resume bit-identical and DDP
sharding simple.
"""

from __future__ import annotations

from typing import Any

import torch

from ..cache import stable_hash


def seed_from(*parts: Any) -> int:
    """A 60-bit seed derived from any JSON-able parts (stable across processes and versions)."""
    return int(stable_hash(list(parts), length=15), 16)


class UnpairedBatches:
    """Batches of random crops from two cultures; batch `step` depends only on (seed, step, rank).

    One epoch is max(n_A, n_B) images per culture (as in CycleGAN's unaligned dataset); each epoch visits
    both cultures in a fresh seeded permutation, and the smaller culture wraps around. Under DDP each rank
    takes its own slice of the permutation. Images are decoded once, resized so the shorter side is
    `load_size` (cached on disk by `images.ImageCache`) and kept as uint8 tensors in memory.
    """

    def __init__(
        self,
        images_a: list[torch.Tensor],
        images_b: list[torch.Tensor],
        *,
        size: int,
        batch_size: int,
        flip: bool = True,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.images = (images_a, images_b)
        self.size, self.batch_size, self.flip, self.seed = size, batch_size, flip, seed
        self.rank, self.world_size = rank, world_size
        per_step = batch_size * world_size
        self.steps_per_epoch = max(1, max(len(images_a), len(images_b)) // per_step)
        self._perm_epoch = -1
        self._perms: tuple[torch.Tensor, torch.Tensor] | None = None

    def _permutations(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        if epoch != self._perm_epoch:
            self._perms = tuple(  # type: ignore[assignment]
                torch.randperm(
                    len(imgs),
                    generator=torch.Generator().manual_seed(seed_from(self.seed, "perm", epoch, side)),
                )
                for side, imgs in zip("AB", self.images)
            )
            self._perm_epoch = epoch
        return self._perms  # type: ignore[return-value]

    def indices(self, step: int) -> tuple[list[int], list[int]]:
        epoch, within = divmod(step, self.steps_per_epoch)
        start = (within * self.world_size + self.rank) * self.batch_size
        out = []
        for perm in self._permutations(epoch):
            out.append([int(perm[(start + j) % len(perm)]) for j in range(self.batch_size)])
        return out[0], out[1]

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 tensors (batch x 3 x size x size) for culture A and culture B at `step`."""
        generator = torch.Generator().manual_seed(seed_from(self.seed, "augment", step, self.rank))
        result = []
        for side, idx in zip(self.images, self.indices(step)):
            crops = []
            for i in idx:
                img = side[i]
                h, w = img.shape[-2:]
                top = int(torch.randint(0, h - self.size + 1, (1,), generator=generator))
                left = int(torch.randint(0, w - self.size + 1, (1,), generator=generator))
                crop = img[:, top : top + self.size, left : left + self.size]
                if self.flip and bool(torch.rand(1, generator=generator) < 0.5):
                    crop = crop.flip(-1)
                crops.append(crop)
            result.append(torch.stack(crops))
        return result[0], result[1]


def load_culture_images(
    corpus: Any, culture: str, split: str, load_size: int
) -> tuple[list[torch.Tensor], list[str]]:
    """uint8 CHW tensors (shorter side `load_size`) of one culture's images in `split`, sorted by image_id."""
    from ..images import ImageCache

    subset = corpus.filter(culture=culture, split=split).df.sort_values("image_id")
    cache = ImageCache()
    tensors = [cache.get(corpus.abspath(row), row["sha256"], load_size) for _, row in subset.iterrows()]
    return tensors, subset["image_id"].tolist()


def center_crops(corpus: Any, culture: str, split: str, size: int, limit: int = 0) -> torch.Tensor:
    """uint8 N x 3 x size x size centre crops (shorter side `size`) of a culture's images, sorted by image_id.

    `limit` > 0 keeps the first `limit` images. Used for the fixed sample grids and the held-out
    evaluation set.
    """
    from ..images import ImageCache

    rows = corpus.filter(culture=culture, split=split).df.sort_values("image_id")
    if limit > 0:
        rows = rows.head(limit)
    cache = ImageCache()
    crops = []
    for _, row in rows.iterrows():
        img = cache.get(corpus.abspath(row), row["sha256"], size)
        h, w = img.shape[-2:]
        top, left = (h - size) // 2, (w - size) // 2
        crops.append(img[:, top : top + size, left : left + size])
    if not crops:
        return torch.zeros((0, 3, size, size), dtype=torch.uint8)
    return torch.stack(crops)


def check_counts(
    corpus: Any, cultures: tuple[str, str], split: str, needed: int, what: str
) -> dict[str, int]:
    """Images per culture in `split`; a clear error when a culture is missing or has fewer than `needed`."""
    counts = {}
    for culture in cultures:
        if culture not in corpus.cultures:
            raise ValueError(
                f"culture {culture!r} is not in the corpus at {corpus.root}; it has: {', '.join(corpus.cultures)}"
            )
        n = len(corpus.filter(culture=culture, split=split))
        if n < needed:
            raise ValueError(
                f"culture {culture!r} has {n} image(s) in split {split!r} of the corpus at {corpus.root}, "
                f"but {what} needs at least {needed}; lower batch_size or add images"
            )
        counts[culture] = n
    return counts


class ImagePool:
    """History of up to `size` generated images (Shrivastava et al.): the discriminator sees a 50/50 mix of
    the newest fakes and older ones, which stabilises training. Draws from its own generator."""

    def __init__(self, size: int, seed: int = 0) -> None:
        self.size = size
        self.images: list[torch.Tensor] = []
        self.generator = torch.Generator().manual_seed(seed)

    def query(self, batch: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return batch
        out = []
        for image in batch.detach():
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif bool(torch.rand(1, generator=self.generator) > 0.5):
                k = int(torch.randint(0, self.size, (1,), generator=self.generator))
                out.append(self.images[k].clone())
                self.images[k] = image.clone()
            else:
                out.append(image)
        return torch.stack(out)

    def state_dict(self) -> dict:
        return {
            "size": self.size,
            "images": [img.cpu() for img in self.images],
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict, device: torch.device) -> None:
        self.size = int(state["size"])
        self.images = [img.to(device) for img in state["images"]]
        self.generator.set_state(state["generator"])
