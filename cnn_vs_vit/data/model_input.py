"""What a model sees: stored uint8 images as floats in [-1, 1], the range every model is trained and probed in."""

import torch


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 (B, C, H, W) in 0..255 -> float in [0, 1], where augmentation's zero fill means black."""
    return images.float().div_(255.0)


def normalize(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] -> [-1, 1]."""
    return x.mul(2.0).sub_(1.0)


def to_model_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 images -> what the model sees at evaluation (no augmentation)."""
    return normalize(to_unit(images))
