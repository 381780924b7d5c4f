"""The non-image task of the multimodal probe (claim 10): which of two marker tokens comes first.

A sequence is `length` token ids: filler tokens drawn uniformly from 0 .. vocabulary − 3, and the two
markers A = vocabulary − 2 and B = vocabulary − 1 at two distinct positions drawn uniformly; the label
is 1 when A comes before B. Given the tokens' counts, both orders are equally likely, so a
model blind to order (a bag of tokens, an encoder without positions) is right with probability 1/2
exactly: CHANCE. Doing better takes token-to-token interaction: finding both markers and comparing
their positions.
"""

from dataclasses import dataclass

import torch

CLASSES = 2  # A after B (0) or before it (1)
CHANCE = 0.5  # two equally likely orders, whatever the token counts


@dataclass(frozen=True)
class MarkerOrder:
    length: int = 12  # tokens per sequence
    vocabulary: int = 16  # token ids 0 .. vocabulary − 1, the last two being the markers

    def __post_init__(self):
        if self.length < 2 or self.vocabulary < 3:
            raise ValueError(f"a marker-order task needs length >= 2 and vocabulary >= 3, got {self}")

    def describe(self) -> str:
        return f"marker order (length {self.length}, vocabulary {self.vocabulary})"

    def sample(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """n sequences (int64 (n, length)) and their labels (int64 (n,)), drawn from `generator`."""
        first, second = self.vocabulary - 2, self.vocabulary - 1
        ids = torch.randint(0, first, (n, self.length), generator=generator)
        # The first two entries of a random permutation: two distinct, uniformly drawn positions.
        where = torch.rand(n, self.length, generator=generator).argsort(dim=1)[:, :2]  # (n, 2)
        rows = torch.arange(n)
        ids[rows, where[:, 0]] = first
        ids[rows, where[:, 1]] = second
        return ids, (where[:, 0] < where[:, 1]).long()
