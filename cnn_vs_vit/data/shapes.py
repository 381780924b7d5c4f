"""A procedural dataset: which kind of shape is drawn, whatever its position, size and colour.

Every image is one object on a dark background. Position, size, object colour and background are
drawn independently of the class, so only the object's form tells the classes apart. Every class is
mirror-symmetric left-right, so horizontal flips keep labels. The same call always gives the same
tensors (fixed seeds), and images are drawn directly at the requested size.
"""

import torch

from cnn_vs_vit.data.dataset import ImageDataset

TRAIN_SIZE, TEST_SIZE = 4_000, 1_000
_TRAIN_SEED, _TEST_SEED = 1, 2  # different seeds: no test image repeats a training image
_RADIUS_RANGE = (0.18, 0.35)  # object radius, as a fraction of the image side
_BACKGROUND_MAX = 0.15  # background channels in [0, 0.15]: dark
_OBJECT_MIN = 0.4  # object channels in [0.4, 1]: always brighter than the background

# Each shape is a predicate on (u, v): pixel coordinates relative to the object's centre, in units of
# its radius (v grows downwards). Every shape spans about [-1, 1], so size alone tells no class apart.


def _circle(u, v):
    return u**2 + v**2 <= 1


def _ring(u, v):
    return (u**2 + v**2 <= 1) & (u**2 + v**2 >= 0.5**2)


def _square(u, v):
    return torch.maximum(u.abs(), v.abs()) <= 0.8


def _frame(u, v):
    edge = torch.maximum(u.abs(), v.abs())
    return (edge <= 0.8) & (edge >= 0.45)


def _diamond(u, v):
    return u.abs() + v.abs() <= 1


def _triangle(u, v):
    # Apex up at v = -1, base at v = 0.8 spanning u in [-1, 1].
    return (v <= 0.8) & (u.abs() <= (v + 1) / 1.8)


def _cross(u, v):
    return ((u.abs() <= 0.3) & (v.abs() <= 1)) | ((v.abs() <= 0.3) & (u.abs() <= 1))


def _bar(u, v):
    return (u.abs() <= 1) & (v.abs() <= 0.3)


SHAPES = {
    "circle": _circle,
    "ring": _ring,
    "square": _square,
    "frame": _frame,
    "diamond": _diamond,
    "triangle": _triangle,
    "cross": _cross,
    "bar": _bar,
}


def load_shapes(image_size: int = 32) -> ImageDataset:
    """4,000 train and 1,000 test RGB images (N, 3, image_size, image_size), balanced over the shapes."""
    train_images, train_labels = draw_shapes(TRAIN_SIZE, image_size, _TRAIN_SEED)
    test_images, test_labels = draw_shapes(TEST_SIZE, image_size, _TEST_SEED)
    return ImageDataset(
        name="shapes",
        train_images=train_images,
        train_labels=train_labels,
        test_images=test_images,
        test_labels=test_labels,
        classes=tuple(SHAPES),
        flip_augment=True,
    )


def draw_shapes(count: int, image_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 (count, 3, S, S) images and int64 (count,) labels, as balanced as count allows.

    Scene parameters are drawn in fractions of the image side, so one seed gives the same scenes
    at every image size.
    """
    generator = torch.Generator().manual_seed(seed)
    labels = (torch.arange(count) % len(SHAPES))[torch.randperm(count, generator=generator)]
    low, high = _RADIUS_RANGE
    radius = low + (high - low) * torch.rand(count, generator=generator)  # (count,)
    centre = radius[:, None] + (1 - 2 * radius[:, None]) * torch.rand(count, 2, generator=generator)  # (count, 2) x, y
    colour = _to_bytes(_OBJECT_MIN + (1 - _OBJECT_MIN) * torch.rand(count, 3, generator=generator))  # (count, 3)
    background = _to_bytes(_BACKGROUND_MAX * torch.rand(count, 3, generator=generator))  # (count, 3)

    pixel_centres = (torch.arange(image_size) + 0.5) / image_size  # (S,)
    inside = torch.empty(count, image_size, image_size, dtype=torch.bool)
    for label, shape in enumerate(SHAPES.values()):  # a loop over classes; each draws all its images at once
        chosen = (labels == label).nonzero().squeeze(1)  # (n,)
        scale = radius[chosen, None, None]
        u = (pixel_centres[None, None, :] - centre[chosen, 0, None, None]) / scale  # (n, 1, S)
        v = (pixel_centres[None, :, None] - centre[chosen, 1, None, None]) / scale  # (n, S, 1)
        inside[chosen] = shape(u, v)  # (n, S, S)
    images = torch.where(inside[:, None], colour[:, :, None, None], background[:, :, None, None])  # (count, 3, S, S)
    return images, labels


def _to_bytes(values: torch.Tensor) -> torch.Tensor:
    """Floats in [0, 1] -> uint8 in 0..255."""
    return (values * 255).round().to(torch.uint8)
