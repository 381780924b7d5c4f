"""Training-time augmentation applied to whole batches of tensors (no per-image Python loop).

Randomness comes only from the caller's generator, so a run's augmentations replay exactly.
"""

import torch
import torch.nn.functional as F

from cnn_vs_vit.errors import CnnvitError


def random_translate(images: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Shift each image of a float (B, C, H, W) batch by its own integer (dx, dy), filling with zeros.

    dx and dy are drawn uniformly from [-max_shift, max_shift]; the pixel at (y, x) moves to
    (y + dy, x + dx), and pixels that move in from outside the image are 0. Returns (B, C, H, W);
    `images` itself when max_shift is 0.
    """
    if max_shift < 0:
        raise CnnvitError(f"translation max_shift {max_shift} is negative; give 0 (off) or a positive number of pixels")
    if max_shift == 0:
        return images
    B, C, H, W = images.shape
    shifts = torch.randint(-max_shift, max_shift + 1, (2, B), generator=generator, device=generator.device)
    dx, dy = shifts.to(images.device)  # (B,) each
    padded = F.pad(images, (max_shift,) * 4)  # (B, C, H + 2m, W + 2m), zeros around
    # Output (y, x) reads padded (y - dy + m, x - dx + m): a window of the padded image per sample.
    rows = torch.arange(H, device=images.device) - dy[:, None] + max_shift  # (B, H)
    cols = torch.arange(W, device=images.device) - dx[:, None] + max_shift  # (B, W)
    batch = torch.arange(B, device=images.device)[:, None, None, None]
    channel = torch.arange(C, device=images.device)[None, :, None, None]
    return padded[batch, channel, rows[:, None, :, None], cols[:, None, None, :]]  # (B, C, H, W)


def random_flip(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mirror each image of a (B, C, H, W) batch left-right with probability 0.5. Returns (B, C, H, W)."""
    flip = torch.rand(len(images), generator=generator, device=generator.device) < 0.5  # (B,)
    return torch.where(flip.to(images.device)[:, None, None, None], images.flip(-1), images)
