"""Evaluation at a resolution other than the training one (claim 13: resolution changes need
positional-embedding interpolation).

The test images are resized (data.dataset.resize_images: bilinear, antialiased) to each size and
the trained model is evaluated on them, unchanged but for its positional embeddings:

  CNN  -- variant "as_is": convolutions and global pooling run at any size.
  ViT  -- a larger (or smaller) image gives a larger (or smaller) patch grid, so the embedding table
          E of the training grid (h0 x w0, learned or the sincos table) must be mapped to the new grid:
          "interpolated"      E resampled bicubically to the new grid (vit.resample_grid_embedding, what
                              cnnvit's ViT does by itself with learned embeddings; Dosovitskiy et al. §3.2);
          "not_interpolated"  E kept where it was trained: the patch at (row, col) keeps E[row, col] for
                              row < h0, col < w0, and positions never seen in training get zero (no
                              positional signal). Every trained position keeps its own embedding and the
                              2-D layout is intact, so this is the strongest baseline without interpolation;
                              at a smaller grid it is the top-left crop of E.
          [CLS] keeps its embedding in both. At the training size both are exactly the model itself.
          A ViT without positional embeddings has nothing to map: both variants are the model itself.
          (cnnvit's sincos2d ViT on its own extends the formula to the new grid, which is neither
          variant; the variants here treat its training-grid table like a learned one.)

torchvision's ViT checks the image size and holds one embedding table; each variant swaps in the
mapped table and the new size for the duration of the evaluation.
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pandas as pd
import torch
from pydantic import PositiveInt
from torch import nn

from ..data import probe_sample
from ..data.dataset import resize_images
from ..errors import CnnvitError
from ..models import Backbone
from ..models.vit import ViT, resample_grid_embedding
from ..trained_run import TrainedRun
from ..training.evaluate import evaluate
from .plugin import Options, Planned, Probe
from .shift import default_max_shift

NAME = "resolution"
FORMAT_VERSION = 1
COST_STEPS = 50  # its time in training steps of the run it probes (plugin.Probe.cost)
DEFAULT_IMAGES = 1000
DEFAULT_BATCH_SIZE = 250
SCALES = (0.5, 1.5, 2.0)  # default sizes: these multiples of the training size, rounded to the patch size
VIT_VARIANTS = ("interpolated", "not_interpolated")
COLUMNS = ["model", "arch", "variant", "train_size", "image_size", "accuracy", "loss", "accuracy_drop", "n_images"]


def placed_embedding(patches: torch.Tensor, old: tuple[int, int], new: tuple[int, int]) -> torch.Tensor:
    """(1, old_h*old_w, D) grid embeddings -> (1, new_h*new_w, D): each kept at its (row, col), zero elsewhere."""
    D = patches.shape[-1]
    grid = patches.new_zeros(1, new[0], new[1], D)
    h, w = min(old[0], new[0]), min(old[1], new[1])
    grid[:, :h, :w] = patches.reshape(1, *old, D)[:, :h, :w]
    return grid.reshape(1, new[0] * new[1], D)


def mapped_embedding(
    embedding: torch.Tensor, prefix: int, old: tuple[int, int], new: tuple[int, int], variant: str
) -> torch.Tensor:
    """(1, prefix + old cells, D) -> (1, prefix + new cells, D) by `variant`; unchanged at the training grid."""
    if new == old:
        return embedding
    patches = embedding[:, prefix:]
    if variant == "interpolated":
        mapped = resample_grid_embedding(patches, old, new)
    else:
        mapped = placed_embedding(patches, old, new)
    return torch.cat([embedding[:, :prefix], mapped], dim=1)


def variants(model: Backbone) -> tuple[str, ...]:
    """Every variant for a model with position embeddings to map (Capabilities.position_embedding), else as_is."""
    return VIT_VARIANTS if model.capabilities.position_embedding else ("as_is",)


def patch_size(model: Backbone) -> int:
    """The ViT's patch size (1 for a model without token layers: any size goes)."""
    return model.token_patch() or 1


@contextmanager
def resolution_variant(model: Backbone, image_size: int, variant: str) -> Iterator[None]:
    """Inside the block, `model` runs on image_size x image_size images with its embeddings mapped by `variant`."""
    if variant not in variants(model):
        choices = ", ".join(variants(model))
        raise CnnvitError(f'variant "{variant}" does not apply to a {model.arch} model; use one of {choices}')
    if image_size % patch_size(model):
        raise CnnvitError(
            f"image size {image_size} is not divisible by the patch size {patch_size(model)}; choose a multiple of it"
        )
    if variant == "as_is":
        yield
    elif isinstance(model, ViT):
        with _cnnvit_positions(model, variant):
            yield
    elif hasattr(model, "net") and hasattr(model.net, "encoder"):
        with _torchvision_positions(model.net, image_size, patch_size(model), variant):
            yield
    else:
        raise CnnvitError(
            f"cannot map the positional embeddings of a {type(model).__name__}; use a cnnvit or torchvision ViT"
        )


@contextmanager
def _cnnvit_positions(model: ViT, variant: str) -> Iterator[None]:
    """Shadow ViT.position_embedding on this instance: every grid gets the training-grid table mapped by `variant`."""
    own = type(model).position_embedding

    def position_embedding(grid: tuple[int, int]) -> torch.Tensor | None:
        trained = own(model, model.grid)  # (1, prefix + h0*w0, D), or None without positional embeddings
        return None if trained is None else mapped_embedding(trained, model.prefix_tokens, model.grid, grid, variant)

    model.position_embedding = position_embedding  # an instance attribute wins over the method
    try:
        yield
    finally:
        del model.position_embedding


@contextmanager
def _torchvision_positions(net: nn.Module, image_size: int, patch: int, variant: str) -> Iterator[None]:
    """Swap torchvision's image size and embedding table for the mapped ones; restore them afterwards."""
    size, table = net.image_size, net.encoder.pos_embedding
    old, new = (size // patch,) * 2, (image_size // patch,) * 2
    net.image_size = image_size
    mapped = mapped_embedding(table.detach(), 1, old, new, variant)  # torchvision's table always holds [CLS] first
    net.encoder.pos_embedding = nn.Parameter(mapped, requires_grad=False)
    try:
        yield
    finally:
        net.image_size, net.encoder.pos_embedding = size, table


def default_sizes(model: Backbone, train_size: int) -> list[int]:
    """The training size and SCALES times it, rounded to multiples of the ViT patch size (for a CNN that of
    the vit-s preset at the training size, as the shift probe does, so both architectures see the same sizes)."""
    multiple = default_max_shift(model, (train_size, train_size))
    return sorted({train_size, *(max(multiple, round(train_size * s / multiple) * multiple) for s in SCALES)})


def resolve_sizes(sizes: Sequence[int] | None, model: Backbone, train_size: int) -> list[int]:
    """Sorted distinct sizes in pixels, the training size included; default_sizes when none are given."""
    for size in sizes or ():
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise CnnvitError(f"image size {size!r} is not a positive whole number of pixels; give e.g. 42")
    return sorted({train_size, *(sizes or default_sizes(model, train_size))})


def probe_resolution(
    model: Backbone,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    sizes: Sequence[int] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: torch.device | str = "cpu",
    model_name: str = "model",
) -> pd.DataFrame:
    """Accuracy of `model` on `images` (uint8 (N, C, S, S), its training size S) resized to each size, per variant.

    Returns one row per variant x size (COLUMNS): accuracy in [0, 1], mean cross-entropy loss (nats), and
    accuracy_drop = accuracy at the training size − accuracy at this size, for the same variant.
    """
    if images.dtype != torch.uint8 or images.dim() != 4 or len(images) == 0 or images.shape[2] != images.shape[3]:
        raise CnnvitError(
            f"images must be square uint8 (N, C, S, S) with N >= 1, got {images.dtype} {tuple(images.shape)}"
        )
    train_size = images.shape[2]
    sizes = resolve_sizes(sizes, model, train_size)
    rows = []
    for size in sizes:
        resized = images if size == train_size else resize_images(images, size)
        for variant in variants(model):
            with resolution_variant(model, size, variant):
                result = evaluate(model, resized, labels, device=torch.device(device), batch_size=batch_size)
            rows.append(
                {
                    "model": model_name,
                    "arch": model.arch,
                    "variant": variant,
                    "train_size": train_size,
                    "image_size": size,
                    "accuracy": result["accuracy"],
                    "loss": result["loss"],
                    "n_images": result["n"],
                }
            )
    frame = pd.DataFrame(rows)
    reference = frame[frame["image_size"] == train_size].set_index("variant")["accuracy"]
    frame["accuracy_drop"] = frame["variant"].map(reference) - frame["accuracy"]
    return frame[COLUMNS]


class ResolutionOptions(Options):
    sizes: list[int] | None = None  # image sizes in pixels; default_sizes when None
    images: int = DEFAULT_IMAGES
    batch_size: PositiveInt = DEFAULT_BATCH_SIZE


def plan(run: TrainedRun, options: ResolutionOptions, *, device: torch.device | str = "cpu", progress=None) -> Planned:
    """Accuracy of a run's model at other sizes on `options.images` test images (data.probe_sample)."""
    sample = probe_sample(run.dataset, options.images)
    x, y = sample.images, sample.labels
    sizes = resolve_sizes(options.sizes, run.model, x.shape[-1])
    arguments = {"version": FORMAT_VERSION, "sizes": sizes, "source": run.source}

    def compute():
        table = probe_resolution(
            run.model, x, y, sizes=sizes, batch_size=options.batch_size, device=device, model_name=run.label
        )
        summary = {
            "model": run.label,
            "dataset": run.dataset.name,
            "variants": list(variants(run.model)),
            "resize": "bilinear with antialiasing (data.dataset.resize_images)",
            "not_interpolated": "trained embeddings kept at their (row, col), zero at new positions",
            "interpolated": "trained embeddings resampled bicubically to the new grid",
        }
        return table, summary, {}

    return Planned(arguments, compute, sample)


def known(options: ResolutionOptions, source: dict) -> dict | None:
    """Given sizes resolve with the training size, which only the loaded dataset tells: then nothing is known."""
    return {"version": FORMAT_VERSION, "source": source} if options.sizes is None else None


PROBE = Probe(
    NAME,
    "accuracy at other image sizes; a ViT with and without positional-embedding interpolation",
    cost=COST_STEPS,
    options=ResolutionOptions,
    plan=plan,
    known=known,
)
