"""From stored uint8 images to the training batches a model sees: order and augmentation (normalisation:
data/model_input.py).

All randomness of a training step is drawn from a generator seeded by (seed, step), never from
global state, so a run resumed at step k sees exactly the batches an uninterrupted run sees.
"""

import torch

from ..data import random_flip, random_translate


def step_generator(seed: int, step: int, device: torch.device | str = "cpu") -> torch.Generator:
    """The generator for everything random in training step `step` of a run seeded `seed`."""
    return torch.Generator(device).manual_seed(seed * 1_000_003 + step)


class BatchOrder:
    """Batch k of a run: epochs are fresh permutations of the training subset, batches tile them.

    Indices are positions in the subset. A subset smaller than a batch simply wraps into the
    next epoch's permutation, so every batch has `batch_size` images whatever the fraction.
    """

    def __init__(self, n: int, batch_size: int, seed: int):
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self._epoch, self._permutation = -1, torch.empty(0, dtype=torch.long)

    def permutation(self, epoch: int) -> torch.Tensor:
        if epoch != self._epoch:
            generator = torch.Generator().manual_seed(self.seed * 7_919 + epoch)
            self._epoch, self._permutation = epoch, torch.randperm(self.n, generator=generator)
        return self._permutation

    def batch(self, step: int) -> torch.Tensor:
        start = step * self.batch_size
        parts, position = [], start
        while position < start + self.batch_size:
            epoch, offset = divmod(position, self.n)
            take = min(self.n - offset, start + self.batch_size - position)
            parts.append(self.permutation(epoch)[offset : offset + take])
            position += take
        return torch.cat(parts)


def augment(x: torch.Tensor, *, translate: int, flip: bool, generator: torch.Generator) -> torch.Tensor:
    """Per-image random translation (zero fill) and optional horizontal flip, batched. x: (B, C, H, W) in [0, 1]."""
    if translate:
        x = random_translate(x, translate, generator)
    if flip:
        x = random_flip(x, generator)
    return x
