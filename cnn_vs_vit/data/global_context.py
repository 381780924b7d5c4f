"""A procedural task whose label is a relation between two distant regions (claim 3, global context).

Every 28x28 grey image holds four 3x3 squares on a black background, one in each corner. Each
square has a grey level and a texture (per-pixel noise). Exactly one row is a matching pair: either
the top-left and top-right squares are identical (label "top") or the bottom-left and bottom-right
ones are (label "bottom"); the other row holds two squares of different levels. Deciding the label
means comparing the left and the right edge of the image.

Why four squares and not a single same/different pair: with one pair, "same" images hold one
pattern twice and "different" images two patterns, so pooled local evidence is not exactly
uninformative (a pattern's evidence doubles, which changes its spread). Here both labels hold three
distinct squares, one of them twice, and the two labels are the same scene with the rows exchanged.
A model that only sees windows narrower than the gap between squares (a bag of local features) gets
exactly the same multiset of window contents from a scene and from its row-exchanged twin, so no
function of that bag beats chance (models/bag.py is that control; tests/test_global_context.py
checks the twin property).

Geometry, in pixels. The squares are 3x3 at x, y in {2, 23}: centred in the corner patches of a
7-px patch grid, so a patch-7 ViT sees every square whole in one token, even after the recipe's
±2 px translation, and the task does not measure patch alignment (claim 14 has its own rows; the
ResNet is indifferent to it). The border pixels stay background. A square's pixel and its
counterpart on the other side are 21 px apart, so a feature must see a window 22 px wide to compare
them; between squares there are 18 empty rows and columns, so no 7x7 window touches two. cnnvit's
ResNet sees 7 px after its first block, 13 after two, 25 after three and 49 after four (3x3
convolutions, stride 2 from the second stage); a ViT's attention relates any two patches in its
first block.
"""

import torch

from cnn_vs_vit.data.dataset import ImageDataset

NAME = "global-context"
CLASSES = ("top", "bottom")  # which row holds the identical pair
IMAGE_SIZE = 28
PATTERN = 3  # square side in pixels
TRAIN_SIZE, TEST_SIZE = 10_000, 2_000
_TRAIN_SEED, _TEST_SEED = 3, 4  # different seeds: test images are new scenes
_STARTS = {"left": 2, "right": 23, "top": 2, "bottom": 23}  # first pixel column / row of a square
LEVELS = (60, 99, 138, 177, 216)  # grey levels of the squares (the background is 0), 39 apart
TEXTURE = 15  # each pixel of a square is its level plus a uniform integer in [-15, 15]: levels never overlap


def load_global_context() -> ImageDataset:
    """10,000 train and 2,000 test images (N, 1, 28, 28), balanced between the two labels."""
    train_images, train_labels = draw_scenes(TRAIN_SIZE, _TRAIN_SEED)
    test_images, test_labels = draw_scenes(TEST_SIZE, _TEST_SEED)
    return ImageDataset(
        name=NAME,
        train_images=train_images,
        train_labels=train_labels,
        test_images=test_images,
        test_labels=test_labels,
        classes=CLASSES,
        flip_augment=False,  # a horizontal flip would keep the label but mirror every pattern; not needed
    )


def draw_scenes(count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 (count, 1, 28, 28) images and int64 (count,) labels (0 = top pair identical), balanced."""
    generator = torch.Generator().manual_seed(seed)
    labels = (torch.arange(count) % 2)[torch.randperm(count, generator=generator)]
    pair, first, second = _distinct_squares(count, generator)  # (count, 3, 3) each
    # The matching pair goes in the labelled row, the two different patterns in the other row.
    top = labels[:, None, None] == 0
    patterns = {
        ("top", "left"): torch.where(top, pair, first),
        ("top", "right"): torch.where(top, pair, second),
        ("bottom", "left"): torch.where(top, first, pair),
        ("bottom", "right"): torch.where(top, second, pair),
    }
    images = torch.zeros(count, 1, IMAGE_SIZE, IMAGE_SIZE, dtype=torch.uint8)
    for (row, column), square in patterns.items():
        y, x = _STARTS[row], _STARTS[column]
        images[:, 0, y : y + PATTERN, x : x + PATTERN] = square
    return images, labels


def _distinct_squares(count: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    """Three (count, 3, 3) uint8 textured squares per scene, of three different levels."""
    levels = torch.tensor(LEVELS)
    choice = torch.rand(count, len(LEVELS), generator=generator).argsort(dim=1)[:, :3]  # 3 distinct level indices
    texture = torch.randint(-TEXTURE, TEXTURE + 1, (count, 3, PATTERN, PATTERN), generator=generator)
    squares = (levels[choice][:, :, None, None] + texture).to(torch.uint8)  # within 45..231: no wrap-around
    return squares[:, 0], squares[:, 1], squares[:, 2]
