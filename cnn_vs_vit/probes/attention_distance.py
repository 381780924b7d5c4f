"""Mean attention distance per layer and head (Dosovitskiy et al. 2020, App. D.7 and Fig. 7; claims 1 and 4).

For a query patch i, the attention-weighted distance to the patches it attends to:

  d_i = Σ_j A'_ij · ‖p_i − p_j‖,    p = patch centres in input pixels, ((row + ½)·P, (col + ½)·P)

averaged over query patches, then over images (mean with a 95% interval over images).

[CLS] (any prefix token) has no position, so it is left out as a query and as a key, and each query's
weights over the patches are renormalised to sum to 1: A'_ij = A_ij / Σ_{patches k} A_ik. What the
renormalisation hides is reported beside it: `prefix_attention`, the mean weight patch queries give to
the prefix tokens. Uniform attention over the patches gives the mean pairwise patch-centre distance
(self-pairs included); attention to oneself only gives 0.

Where the probabilities come from:
  cnnvit ViT        -- the explicit softmax path (interface.explicit_attention), read from each
                       block's `attn.attend` hook: exactly what the model computes.
  torchvision ViT   -- its nn.MultiheadAttention returns no weights on the fused path, so they are
                       recomputed from each encoder block's `ln_1` output with the module's own
                       in-projection: softmax(q·kᵀ / √d_head), as need_weights=True would give.
A model without attention (a ResNet) cannot be probed.
"""

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pandas as pd
import torch
from pydantic import PositiveInt
from torch import nn

from ..data import probe_sample
from ..data.model_input import to_model_input
from ..errors import CnnvitError
from ..models import Backbone, build_model, explicit_attention
from ..trained_run import TrainedRun
from .intervals import RunningMean
from .plugin import Options, Planned, Probe

NAME = "attention_distance"
FORMAT_VERSION = 1
COST_STEPS = 3  # its time in training steps of the run it probes (plugin.Probe.cost)
DEFAULT_IMAGES = 128
DEFAULT_BATCH_SIZE = 64
CLS_HANDLING = "prefix tokens excluded as queries and keys; each query's weights renormalised over the patches"

COLUMNS = [
    "model",
    "weights",
    "layer",
    "layer_index",
    "head",
    "mean_distance_px",
    "ci_low",
    "ci_high",
    "mean_distance_pct",
    "prefix_attention",
    "patch_size",
    "grid_h",
    "grid_w",
    "n_images",
    "cls_handling",
]


# ----------------------------------------------------------------------------- reading attention


def multihead_attention_probabilities(attention: nn.MultiheadAttention, x: torch.Tensor) -> torch.Tensor:
    """(B, heads, T, T) softmax probabilities of a batch-first self-attention module on tokens x (B, T, D).

    The same numbers as attention(x, x, x, need_weights=True, average_attn_weights=False)[1].
    """
    B, T, D = x.shape
    heads = attention.num_heads
    q, k, _ = nn.functional.linear(x, attention.in_proj_weight, attention.in_proj_bias).chunk(3, dim=-1)
    q = q.view(B, T, heads, D // heads).transpose(1, 2)  # (B, h, T, hd)
    k = k.view(B, T, heads, D // heads).transpose(1, 2)
    return (q @ k.transpose(-2, -1) / math.sqrt(D // heads)).softmax(dim=-1)  # (B, h, T, T)


def is_attention(module: nn.Module) -> bool:
    """A self-attention module: cnnvit's (with its `attend` hook) or torch's nn.MultiheadAttention."""
    return isinstance(module, nn.MultiheadAttention) or (hasattr(module, "attend") and hasattr(module, "explicit"))


def attention_modules(model: nn.Module, name: str = "model") -> tuple[list[nn.Module], list[nn.Module]]:
    """(cnnvit `attend` hooks, torchvision encoder blocks) in forward order; an error when there are neither."""
    cnnvit = [m.attend for m in model.modules() if is_attention(m) and not isinstance(m, nn.MultiheadAttention)]
    # torchvision's EncoderBlock: ln_1 feeds self_attention (an nn.MultiheadAttention) called as (x, x, x).
    torchvision = [
        m
        for m in model.modules()
        if isinstance(getattr(m, "self_attention", None), nn.MultiheadAttention) and hasattr(m, "ln_1")
    ]
    if not cnnvit and not torchvision:
        raise needs_a_vit(name, "attention layers")
    return cnnvit, torchvision


@contextmanager
def attention_probabilities(
    model: nn.Module, on_attention: Callable[[int, torch.Tensor], None], name: str = "model"
) -> Iterator[int]:
    """Call on_attention(layer index, (B, heads, T, T) probabilities) for every attention layer during the
    forward passes inside the block; yields the number of attention layers."""
    cnnvit, torchvision = attention_modules(model, name)
    if any(not b.self_attention.batch_first or not b.self_attention._qkv_same_embed_dim for b in torchvision):
        raise CnnvitError(f"{name}: only batch-first self-attention with one in-projection can be read")

    def given(index: int):  # cnnvit: the hook sees the probabilities themselves
        return lambda _module, _input, probabilities: on_attention(index, probabilities)

    def recomputed(index: int, attention: nn.MultiheadAttention):  # torchvision: from the ln_1 output it is fed
        return lambda _module, _input, tokens: on_attention(index, multihead_attention_probabilities(attention, tokens))

    handles = [attend.register_forward_hook(given(i)) for i, attend in enumerate(cnnvit)]
    handles += [b.ln_1.register_forward_hook(recomputed(i, b.self_attention)) for i, b in enumerate(torchvision)]
    try:
        with explicit_attention(model):  # the cnnvit modules' `attend` only sees the explicit path
            yield len(cnnvit) + len(torchvision)
    finally:
        for handle in handles:
            handle.remove()


# ----------------------------------------------------------------------------------- the measure


def patch_distances(grid: tuple[int, int], patch_size: int) -> torch.Tensor:
    """(h·w, h·w) Euclidean distances in pixels between patch centres, row-major."""
    h, w = grid
    rows, cols = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    centres = (torch.stack([rows.flatten(), cols.flatten()], dim=1).double() + 0.5) * patch_size  # (h·w, 2)
    return torch.cdist(centres, centres)


def attention_distance(
    probabilities: torch.Tensor, distances: torch.Tensor, prefix: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, h, T, T) probabilities -> ((h, B) mean distance over query patches, (h, B) weight on prefix tokens)."""
    probabilities = probabilities.double()
    patches = probabilities[..., prefix:, prefix:]  # (B, h, N, N): patch queries and keys only
    weights = patches / patches.sum(-1, keepdim=True)
    per_query = (weights * distances).sum(-1)  # (B, h, N) pixels
    prefix_weight = probabilities[..., prefix:, :prefix].sum(-1)  # (B, h, N)
    return per_query.mean(-1).T, prefix_weight.mean(-1).T


def needs_a_vit(name: str, missing: str) -> CnnvitError:
    return CnnvitError(
        f"{name} has no {missing}: the attention-distance probe needs a ViT (a vit-* preset or torchvision:vit_b_16)"
    )


def token_grid(model: Backbone, name: str) -> tuple[int, int]:
    """(patch size, prefix tokens) from the model's first token layer."""
    tokens = [layer for layer in model.feature_layers() if layer.kind == "tokens"]
    if not tokens:
        raise needs_a_vit(name, "token layers")
    return tokens[0].stride, tokens[0].prefix_tokens


@torch.inference_mode()
def mean_attention_distance(
    model: Backbone,
    images: torch.Tensor,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: torch.device | str = "cpu",
    model_name: str = "model",
    weights: str = "trained",
) -> pd.DataFrame:
    """Mean attention distance of every attention layer and head over `images` (uint8 (N, C, H, W)).

    Returns one row per layer x head (COLUMNS): mean_distance_px (pixels, with its 95% interval over
    images), mean_distance_pct (% of the image side), prefix_attention, the grid, and how [CLS] is handled.
    `weights` only labels the rows (e.g. "trained" or "init").
    """
    if images.dtype != torch.uint8 or images.dim() != 4 or len(images) == 0:
        raise CnnvitError(f"images must be uint8 (N, C, H, W) with N >= 1, got {images.dtype} {tuple(images.shape)}")
    attention_modules(model, model_name)  # a ResNet stops here, with the message that names the need
    H, W = images.shape[2:]
    patch, prefix = token_grid(model, model_name)
    grid = (H // patch, W // patch)
    distances = patch_distances(grid, patch).to(device)
    statistics: dict[int, tuple[RunningMean, RunningMean]] = {}

    def on_attention(index: int, probabilities: torch.Tensor) -> None:
        distance, prefix_weight = attention_distance(probabilities, distances, prefix)
        heads = distance.shape[0]
        stats = statistics.setdefault(index, (RunningMean(heads), RunningMean(heads)))
        stats[0].add(distance)
        stats[1].add(prefix_weight)

    was_training = model.training
    model.eval()
    try:
        with attention_probabilities(model, on_attention, model_name):
            for start in range(0, len(images), batch_size):
                model(to_model_input(images[start : start + batch_size].to(device)))
    finally:
        model.train(was_training)

    rows = []
    for index in sorted(statistics):
        distance, prefix_weight = statistics[index]
        for head, (mean, (low, high), attention_to_prefix, n) in enumerate(
            zip(distance.mean(), distance.interval(), prefix_weight.mean(), distance.n_images())
        ):
            rows.append(
                {
                    "model": model_name,
                    "weights": weights,
                    "layer": f"block{index + 1}",
                    "layer_index": index,
                    "head": head,
                    "mean_distance_px": mean,
                    "ci_low": low,
                    "ci_high": high,
                    "mean_distance_pct": 100 * mean / min(H, W),
                    "prefix_attention": attention_to_prefix if prefix else 0.0,
                    "patch_size": patch,
                    "grid_h": grid[0],
                    "grid_w": grid[1],
                    "n_images": n,
                    "cls_handling": CLS_HANDLING if prefix else "no prefix tokens",
                }
            )
    return pd.DataFrame(rows, columns=COLUMNS)


class AttentionDistanceOptions(Options):
    images: int = DEFAULT_IMAGES
    batch_size: PositiveInt = DEFAULT_BATCH_SIZE
    # Also measure the same model at initialisation (rebuilt with the run's seed, exactly as training built it;
    # rows with weights="init"): claim 1 asks whether training shrinks the distance.
    include_init: bool = True


def plan(
    run: TrainedRun, options: AttentionDistanceOptions, *, device: torch.device | str = "cpu", progress=None
) -> Planned:
    """Mean attention distance of a run's ViT on `options.images` test images (data.probe_sample)."""
    sample = probe_sample(run.dataset, options.images)
    x = sample.images
    arguments = known(options, run.source)

    def measure(model: Backbone, weights: str) -> pd.DataFrame:
        return mean_attention_distance(
            model, x, batch_size=options.batch_size, device=device, model_name=run.label, weights=weights
        )

    def compute():
        frames = [measure(run.model, "trained")]
        if options.include_init:
            frames.insert(0, measure(initial_model(run), "init"))
        summary = {
            "model": run.label,
            "dataset": run.dataset.name,
            "cls_handling": CLS_HANDLING,
            "init_seed": run.config.seed if options.include_init else None,
            "unit": "pixels between patch centres",
        }
        return pd.concat(frames, ignore_index=True), summary, {}

    return Planned(arguments, compute, sample)


def known(options: AttentionDistanceOptions, source: dict) -> dict:
    return {"version": FORMAT_VERSION, "include_init": options.include_init, "source": source}


def initial_model(run: TrainedRun) -> Backbone:
    """The run's model as training initialised it: the same seed right before the same build_model call."""
    with torch.random.fork_rng(devices=[]):  # leave the caller's random state as it was
        torch.manual_seed(run.config.seed)
        model = build_model(
            run.config.model.name,
            image_shape=run.dataset.image_shape,
            num_classes=run.dataset.num_classes,
            options=run.config.model.options,
        )
    return model.to(next(run.model.parameters()).device).eval()


PROBE = Probe(
    NAME,
    "mean attention distance per layer and head (Dosovitskiy et al. 2020, Fig. 7), trained and at initialisation",
    cost=COST_STEPS,
    options=AttentionDistanceOptions,
    plan=plan,
    known=known,
    requires=("attention_maps",),
)
