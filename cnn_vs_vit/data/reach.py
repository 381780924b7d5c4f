"""A procedural task that needs reach, not a relation: a marker on the left says which of two squares on the
right holds the label (claim 3, global context; the issue "Rows 3 and 8 measure what they claim").

Every 28x28 grey image holds three 3x3 patterns on a black background: a marker on the left edge, and a
"high" (bright) and a "low" (dim) textured square on the right edge, one at the top and one at the
bottom, in either order. The marker is a bar along its top or its bottom row: it points at the square
to read, and the label is that square's level ("high" or "low").

Why this design (the relational task, data/global_context.py, left transformers on a loss plateau):
- First-order evidence from step 0: the marker points up in UP_SHARE (3/4) of the scenes, so the top
  square's level alone gives the label in 3/4 of them. Any model that reads the top-right corner
  learns that much at once, by plain gradient descent.
- The rest needs reach. Deciding the other 1/4 needs the marker and the square it points at together.
  A model whose logit is a sum of what it sees in separate regions, a(marker) + b(top) + c(bottom)
  (a CNN whose receptive field covers no two patterns, pooled and read linearly), is right in at most
  UP_SHARE of the scenes: the scenes (up, high, low) and (down, high, low) have opposite labels and
  differ only in the marker, (up, high, low) and (up, low, high) only in the squares, so the sums would
  have to order b(high) - b(low) against c(high) - c(low) both ways at once.
- A bag of local features is at chance: exchanging the two right squares gives a scene with the
  opposite label, the same marker and, as a multiset, the same windows, drawn with the same probability
  (the marker is drawn independently of the squares' order), so a model of the bag alone answers the
  same for both (tests/test_reach.py checks it on models/bag.py).
- REACH_LOCAL (UP_SHARE = 1, the marker always up) is the first-order control: the top square alone
  gives every label, so any architecture that can learn at all learns it.

Geometry, in pixels. The marker spans columns 2-4, rows 9-11; the squares columns 23-25, rows 2-4 and
23-25. Every pattern sits inside one cell of the 7-px patch grid and stays inside it under the
recipe's ±2 px translation, so a patch-7 ViT sees each whole in one token. A feature that sees the
marker and either square sees columns 2 to 25: a window at least 24 px wide (REACH). No 7x7 window
touches two patterns. cnnvit's ResNet sees 7 px after its first block, 13 after two, 25 after three
and 49 after four (3x3 convolutions, stride 2 from the second stage). Reading the label needs one unit
that sees a pixel of the marker's bar (row 9 or 11: lit or dark tells up from down) and a pixel of either
square (one square's level and the marker decide the label, since the other square holds the other
level); `reads_marker_and_square` checks that for a field exactly, unit by unit, so the least depth is
predicted from the geometry before any training: three blocks for cnnvit's ResNet (units 4 px apart, 25 px
wide, of which the ones centred at column 12 or 16 see columns 4 and 23), whatever the widths. Below it,
no unit sees two patterns, a pooled linear head is additive over them, and the additive cap above holds.
"""

import math
from typing import Protocol

import torch

from cnn_vs_vit.data.dataset import ImageDataset

REACH, REACH_LOCAL = "reach", "reach-local"
CLASSES = ("low", "high")  # the level of the square the marker points at
IMAGE_SIZE = 28
PATTERN = 3
MARKER_AT = (9, 2)  # first row, first column
SQUARES_AT = {"top": (2, 23), "bottom": (23, 23)}
REACH_PX = SQUARES_AT["top"][1] + PATTERN - MARKER_AT[1]  # columns 2..25: 24 px
UP_SHARE = 0.75
LEVELS = {"low": 80, "high": 180}
TEXTURE = 15  # each square pixel is its level plus a uniform integer in [-15, 15]
MARKER_LEVEL = 255
MARKER_BAR_ROWS = (MARKER_AT[0], MARKER_AT[0] + PATTERN - 1)  # the bar lights one of these rows
TRAIN_SIZE, TEST_SIZE = 10_000, 2_000
_TRAIN_SEED, _TEST_SEED = 5, 6


def load_reach() -> ImageDataset:
    return _dataset(REACH, UP_SHARE)


def load_reach_local() -> ImageDataset:
    return _dataset(REACH_LOCAL, 1.0)


def _dataset(name: str, up_share: float) -> ImageDataset:
    train_images, train_labels, _ = draw_scenes(TRAIN_SIZE, _TRAIN_SEED, up_share)
    test_images, test_labels, _ = draw_scenes(TEST_SIZE, _TEST_SEED, up_share)
    return ImageDataset(
        name=name,
        train_images=train_images,
        train_labels=train_labels,
        test_images=test_images,
        test_labels=test_labels,
        classes=CLASSES,
        flip_augment=False,
    )


def draw_scenes(count: int, seed: int, up_share: float = UP_SHARE) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """uint8 (count, 1, 28, 28) images, int64 labels (1 = the pointed-at square is high), balanced, and
    bool `up` (the marker points at the top square) in exactly round(up_share x count) scenes."""
    generator = torch.Generator().manual_seed(seed)
    labels = (torch.arange(count) % 2)[torch.randperm(count, generator=generator)]
    up = (torch.arange(count) < round(up_share * count))[torch.randperm(count, generator=generator)]
    top_high = torch.where(up, labels == 1, labels == 0)  # the other square holds the other level
    images = torch.zeros(count, 1, IMAGE_SIZE, IMAGE_SIZE, dtype=torch.uint8)
    for row, high in (("top", top_high), ("bottom", ~top_high)):
        level = torch.where(high, LEVELS["high"], LEVELS["low"])[:, None, None]
        texture = torch.randint(-TEXTURE, TEXTURE + 1, (count, PATTERN, PATTERN), generator=generator)
        y, x = SQUARES_AT[row]
        images[:, 0, y : y + PATTERN, x : x + PATTERN] = (level + texture).to(torch.uint8)
    y, x = MARKER_AT
    bar = torch.where(up, y, y + PATTERN - 1)  # the marker's lit row: its top or its bottom
    for column in range(x, x + PATTERN):
        images[torch.arange(count), 0, bar, column] = MARKER_LEVEL
    return images, labels, up


class Field(Protocol):
    """A feature map's receptive field along each axis (models.resnet.Field)."""

    jump: int

    def pixels(self, unit: int, image_size: int) -> range: ...


def reads_marker_and_square(field: Field) -> bool:
    """Whether some unit of a feature map with this field sees a pixel of the marker's bar and a pixel of a square."""
    units = range(math.ceil(IMAGE_SIZE / field.jump))
    marker_columns = set(range(MARKER_AT[1], MARKER_AT[1] + PATTERN))
    for y in units:
        rows = set(field.pixels(y, IMAGE_SIZE))
        for x in units:
            columns = set(field.pixels(x, IMAGE_SIZE))
            sees_marker = bool(rows & set(MARKER_BAR_ROWS)) and bool(columns & marker_columns)
            sees_square = any(
                rows & set(range(sy, sy + PATTERN)) and columns & set(range(sx, sx + PATTERN))
                for sy, sx in SQUARES_AT.values()
            )
            if sees_marker and sees_square:
                return True
    return False


def predicted_depth(fields: list[Field]) -> int | None:
    """The least depth (1-based block) whose units can read the label, from each block's field; None if none can."""
    return next((depth for depth, field in enumerate(fields, 1) if reads_marker_and_square(field)), None)
