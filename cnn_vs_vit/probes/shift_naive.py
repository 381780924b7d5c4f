"""The shift probe written the obvious way: one layer and one shift per forward pass.

Slow on purpose. It is the reference `probe_shift` is tested against (same numbers, computed
independently of its batching and hook reductions) and the baseline of benchmarks/probe_shift.py.
For L layers and S shifts (0 included) it runs L·S forward passes over all images and keeps one layer's
unshifted features for every image in memory.
"""

from collections.abc import Sequence

import pandas as pd
import torch
import torch.nn.functional as F

from ..data.model_input import to_model_input
from ..models import Backbone, capture_outputs


def shift_image_batch(images: torch.Tensor, shift: int, mode: str, margin: int) -> torch.Tensor:
    """uint8 (B, C, H, W) with its content moved by (shift, shift); crop fills with black from a `margin` canvas."""
    if mode == "circular":
        return torch.roll(images, shifts=(shift, shift), dims=(2, 3))
    H, W = images.shape[2:]
    canvas = F.pad(images, (margin,) * 4)
    return canvas[:, :, margin - shift : margin - shift + H, margin - shift : margin - shift + W]


@torch.inference_mode()
def naive_shift_errors(
    model: Backbone, images: torch.Tensor, *, shifts: Sequence[int], mode: str, batch_size: int = 256
) -> pd.DataFrame:
    """Mean equivariance and invariance error per (layer, shift): columns layer, kind, shift, equivariance_error,
    invariance_error. Same definitions as probe_shift (see its module docstring); [CLS] rows are "<layer>[cls]"."""
    model.eval()
    H, W = images.shape[2:]
    margin = max(shifts)
    rows = []
    for layer in model.feature_layers():

        def layer_output(shift: int) -> torch.Tensor:
            """This layer's output for every image shifted by `shift`: one pass per batch, this layer only."""
            outputs = []
            with capture_outputs([layer], lambda _layer, out: outputs.append(out.float().clone())):
                for start in range(0, len(images), batch_size):
                    model(to_model_input(shift_image_batch(images[start : start + batch_size], shift, mode, margin)))
            return torch.cat(outputs)

        unshifted = layer_output(0)
        grid_0, off_0 = layer.to_grid(unshifted, (H, W))
        for shift in shifts:
            grid_s, off_s = layer.to_grid(unshifted if shift == 0 else layer_output(shift), (H, W))
            row = {"layer": layer.name, "kind": layer.kind, "shift": shift, "equivariance_error": float("nan")}
            if grid_0 is None:
                row["invariance_error"] = _mean_relative(off_s, off_0)
            else:
                g = int(shift / layer.stride + 0.5)  # nearest grid shift, halves up
                if mode == "circular":
                    expected, actual = torch.roll(grid_0, (g, g), dims=(2, 3)), grid_s
                else:
                    h, w = grid_0.shape[2:]
                    expected, actual = grid_0[:, :, : h - g, : w - g], grid_s[:, :, g:, g:]
                if expected.numel():
                    row["equivariance_error"] = _mean_relative(actual, expected)
                row["invariance_error"] = _mean_relative(grid_s.mean((2, 3)), grid_0.mean((2, 3)))
            rows.append(row)
            if grid_0 is not None and off_0 is not None:
                rows.append(
                    {
                        "layer": f"{layer.name}[cls]",
                        "kind": "cls",
                        "shift": shift,
                        "equivariance_error": float("nan"),
                        "invariance_error": _mean_relative(off_s, off_0),
                    }
                )
    return pd.DataFrame(rows)


def _mean_relative(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """Mean over images (dim 0) of ‖actual − expected‖ / ‖expected‖, norms over each image's values."""
    actual, expected = actual.reshape(len(actual), -1), expected.reshape(len(expected), -1)
    return ((actual - expected).norm(dim=1) / expected.norm(dim=1).clamp_min(1e-12)).mean().item()
