"""The in-memory dataset every loader returns: whole splits as uint8 tensors, plus what they mean."""

import dataclasses
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

DIGIT_CLASSES = tuple(str(digit) for digit in range(10))  # class names of every digit dataset

# Images resized per chunk so a float copy of a large dataset never sits in memory at once.
_RESIZE_CHUNK = 1024


@dataclass(frozen=True, eq=False)  # eq=False: comparing tensor fields with == has no single truth value
class ImageDataset:
    """A train and a test split held whole in memory.

    Images are uint8 in 0..255, shape (N, C, H, W), contiguous; labels are int64 class indices
    into `classes`, shape (N,).
    """

    name: str
    train_images: torch.Tensor = field(repr=False)
    train_labels: torch.Tensor = field(repr=False)
    test_images: torch.Tensor = field(repr=False)
    test_labels: torch.Tensor = field(repr=False)
    classes: tuple[str, ...]
    flip_augment: bool  # whether a horizontal flip keeps the label (true for objects, false for digits)
    skipped_files: int = 0  # unreadable images left out (image folders loaded with skip_corrupt)

    def __post_init__(self) -> None:
        # Every consumer indexes these tensors directly, so a malformed split must fail here, not mid-training.
        for split, images, labels in (
            ("train", self.train_images, self.train_labels),
            ("test", self.test_images, self.test_labels),
        ):
            if images.dtype != torch.uint8 or images.dim() != 4:
                got = f"{images.dtype} {tuple(images.shape)}"
                raise ValueError(f"{self.name} {split} images must be uint8 (N, C, H, W), got {got}")
            if labels.dtype != torch.int64 or labels.shape != images.shape[:1]:
                got = f"{labels.dtype} {tuple(labels.shape)}"
                raise ValueError(f"{self.name} {split} labels must be int64 ({len(images)},), got {got}")
            if len(labels) and not 0 <= int(labels.min()) <= int(labels.max()) < len(self.classes):
                raise ValueError(f"{self.name} {split} labels fall outside 0..{len(self.classes) - 1}")
        if self.train_images.shape[1:] != self.test_images.shape[1:]:
            raise ValueError(f"{self.name} train and test images differ in shape")

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of every image."""
        return tuple(self.train_images.shape[1:])

    def resized(self, image_size: int) -> "ImageDataset":
        """This dataset with every image resized to (image_size, image_size); itself when already that size."""
        if self.image_shape[1:] == (image_size, image_size):
            return self
        return dataclasses.replace(
            self,
            train_images=resize_images(self.train_images, image_size),
            test_images=resize_images(self.test_images, image_size),
        )

    def with_channels(self, channels: int) -> "ImageDataset":
        """This dataset with `channels` channels (1 or 3); itself when it already has them.

        Grey to RGB repeats the grey channel (what torchvision's Grayscale(3) does); RGB to grey takes
        the ITU-R BT.601 luma 0.299 R + 0.587 G + 0.114 B (PIL's "L" conversion, rounded).
        """
        have = self.image_shape[0]
        if have == channels:
            return self
        if (have, channels) not in ((1, 3), (3, 1)):
            raise ValueError(f"{self.name} has {have}-channel images; only 1 <-> 3 channels convert, not to {channels}")
        convert = _grey_to_rgb if channels == 3 else _rgb_to_grey
        return dataclasses.replace(self, train_images=convert(self.train_images), test_images=convert(self.test_images))


def _grey_to_rgb(images: torch.Tensor) -> torch.Tensor:
    return images.expand(-1, 3, -1, -1).contiguous()  # (N, 3, H, W)


def _rgb_to_grey(images: torch.Tensor) -> torch.Tensor:
    luma = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    grey = torch.empty((len(images), 1, *images.shape[2:]), dtype=torch.uint8)
    for start in range(0, len(images), _RESIZE_CHUNK):  # a float copy per chunk, as resize_images does
        chunk = images[start : start + _RESIZE_CHUNK].float()
        grey[start : start + _RESIZE_CHUNK] = (chunk * luma).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
    return grey


def resize_images(images: torch.Tensor, image_size: int) -> torch.Tensor:
    """uint8 (N, C, H, W) -> uint8 (N, C, image_size, image_size), bilinear with antialiasing.

    Antialiasing matters when shrinking: without it, bilinear samples only 4 pixels and aliases fine detail.
    """
    resized = torch.empty((len(images), images.shape[1], image_size, image_size), dtype=torch.uint8)
    for start in range(0, len(images), _RESIZE_CHUNK):
        chunk = images[start : start + _RESIZE_CHUNK].float()
        chunk = F.interpolate(chunk, size=(image_size, image_size), mode="bilinear", antialias=True)
        resized[start : start + _RESIZE_CHUNK] = chunk.round().clamp(0, 255).to(torch.uint8)
    return resized
