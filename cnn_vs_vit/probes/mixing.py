"""Dynamic mixing (claim 6): how much a layer's token-mixing operator changes from image to image,
measured the same way for convolutions and attention instead of assumed.

For a module y = f(x) whose input and output live on grids of positions (feature maps (B, C, H, W):
the H·W cells; token sequences (B, T, D): the T tokens, [CLS] included), the mixing matrix of one
image is

  M(x)[i, j] = ‖∂ y_i / ∂ x_j‖_F     (Frobenius norm over output and input channels)

how strongly output position i depends on input position j at x. Computing all of M costs a backward
pass per output position and channel, so only ROWS output positions are used, evenly spaced over the
row-major positions (the same ones for every image). The variation of the operator over N images is

  variation = mean_images ‖M(x) − M̄‖_F / ‖M̄‖_F,    M̄ = mean_images M(x)

(with a 95% interval over images; M̄ is shared by all images, so the interval treats per-image terms
as independent, an approximation). A linear operator, such as a convolution (or conv + BatchNorm in
eval mode), has a Jacobian that does not depend on x, so its variation is 0 up to round-off.
Attention's is not: the weights are softmax(q·kᵀ) of the input. Neither is a CNN block: its ReLUs
gate which paths carry gradient, image by image, so a conv block is input-dependent too. That is
measured here, not assumed: each grid layer is reported twice (once when its mixer is the layer itself),
  scope "mixer" -- its token-mixing operator alone: the first attention module inside it, or else its
                   first convolution (a ResNet block's conv1, a stem's conv, a ViT's patch embedding);
  scope "layer" -- the whole feature layer (block) the model names, non-linearities and residuals included.
Parameter-free hook points (an identity, a lone ReLU) mix nothing and are skipped.
"""

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import torch
from pydantic import PositiveInt
from torch import nn

from ..data import probe_sample
from ..data.model_input import to_model_input
from ..errors import CnnvitError
from ..models import Backbone, explicit_attention
from ..trained_run import TrainedRun
from .attention_distance import is_attention
from .intervals import RunningMean
from .plugin import Options, Planned, Probe

NAME = "mixing"
FORMAT_VERSION = 1
COST_STEPS = 110  # its time in training steps of the run it probes (plugin.Probe.cost)
ROWS = 4
DEFAULT_IMAGES = 32
DEFAULT_BATCH_SIZE = 16
CHUNK_ELEMENTS = 1 << 24  # floats per batched backward (64 MB): output channels are processed in chunks

COLUMNS = [
    "model",
    "layer",
    "layer_index",
    "scope",
    "operator",
    "module",
    "variation",
    "ci_low",
    "ci_high",
    "rows_sampled",
    "in_positions",
    "out_positions",
    "n_images",
]


@dataclass(frozen=True)
class MixingOperator:
    layer: str  # the feature layer it belongs to
    layer_index: int
    scope: str  # "mixer" (the token-mixing operator alone) or "layer" (the whole feature layer)
    operator: str  # "attention", "conv" or "block"
    module: nn.Module
    channels_last: bool = False  # it takes and gives (B, h, w, C) maps (the block of a "map_hwc" layer)


def mixing_operators(model: Backbone, name: str = "model") -> list[MixingOperator]:
    """The operators measured, in forward order (see the module docstring); an error when there are none."""
    operators = []
    try:
        layers = [layer for layer in model.feature_layers() if layer.on_grid]
    except NotImplementedError:
        layers = []
    for index, layer in enumerate(layers):
        if not any(True for _ in layer.module.parameters()):
            continue  # a hook point such as nn.Identity or a lone ReLU
        modules = list(layer.module.modules())  # pre-order: the module itself first
        mixer = next((m for m in modules if is_attention(m)), None)
        mixer = mixer or next((m for m in modules if isinstance(m, nn.Conv2d)), None)
        if mixer is not None:
            operator = "attention" if is_attention(mixer) else "conv"
            operators.append(MixingOperator(layer.name, index, "mixer", operator, mixer))
        if mixer is not layer.module:
            hwc = layer.kind == "map_hwc"
            operators.append(MixingOperator(layer.name, index, "layer", "block", layer.module, channels_last=hwc))
    if not operators:
        raise CnnvitError(
            f"{name} has no convolution or attention layer on a grid to measure mixing on; "
            "use a model built by cnnvit (see cnnvit models)"
        )
    return operators


# ------------------------------------------------------------------------------------ the measure


def positions(x: torch.Tensor) -> tuple[int, int]:
    """(number of positions, channel dimension) of a (B, C, H, W) map or a (B, T, D) token sequence."""
    if x.dim() == 4:
        return x.shape[2] * x.shape[3], 1
    if x.dim() == 3:
        return x.shape[1], 2
    raise CnnvitError(f"mixing needs (B, C, H, W) maps or (B, T, D) tokens, got a tensor of shape {tuple(x.shape)}")


def sampled_rows(n_positions: int, rows: int = ROWS) -> torch.Tensor:
    """`rows` output positions evenly spaced over 0..n_positions-1 (fewer when there are fewer positions)."""
    return torch.linspace(0, n_positions - 1, min(rows, n_positions)).round().long().unique()


def mixing_matrices(
    function: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, rows: torch.Tensor
) -> torch.Tensor:
    """(B, len(rows), n_in) float64: M(x_b)[i, j] = ‖∂ y_i / ∂ x_j‖_F for y = function(x), per image b.

    `rows` are output positions (row-major). `function` must treat images independently (eval mode).
    One batched backward pass per sampled row and chunk of output channels, each with one-hot
    cotangents at (every image, channel c, position i): the rows of the Jacobian, summed in squares.
    """
    x = x.detach().requires_grad_()
    with torch.enable_grad():
        y = function(x)
    n_out, out_channel_dim = positions(y)
    n_in, in_channel_dim = positions(x)
    channels = y.shape[out_channel_dim]
    channels_last = y.movedim(out_channel_dim, -1).shape  # (B, h, w, C) or (B, T, D)
    chunk = max(1, CHUNK_ELEMENTS // x.numel())
    matrices = torch.zeros(len(x), len(rows), n_in, dtype=torch.float64, device=x.device)
    for r, i in enumerate(rows.tolist()):
        for first in range(0, channels, chunk):
            picked = torch.arange(first, min(first + chunk, channels))
            cotangents = torch.zeros(len(picked), len(x), n_out, channels, dtype=y.dtype, device=y.device)
            cotangents[torch.arange(len(picked)), :, i, picked] = 1  # cotangent k: channel picked[k] at position i
            cotangents = cotangents.view(len(picked), *channels_last).movedim(-1, out_channel_dim + 1)  # y's layout
            # (chunk, *x.shape): row k is the gradient of channel picked[k] at position i, per image
            (jacobian,) = torch.autograd.grad(y, x, cotangents, retain_graph=True, is_grads_batched=True)
            squares = jacobian.double().square().sum(dim=(0, 1 + in_channel_dim))  # over output and input channels
            matrices[:, r] += squares.reshape(len(x), n_in)
    return matrices.sqrt()


def variation(matrices: torch.Tensor) -> torch.Tensor:
    """(N, rows, n_in) mixing matrices of N images -> (N,) ‖M(x) − M̄‖_F / ‖M̄‖_F per image."""
    mean = matrices.mean(0)
    return torch.linalg.vector_norm(matrices - mean, dim=(1, 2)) / torch.linalg.vector_norm(mean).clamp_min(1e-300)


def module_function(module: nn.Module, args: tuple, kwargs: dict) -> Callable[[torch.Tensor], torch.Tensor]:
    """The module as a function of its first input, every other argument as it was called with.

    An argument that *is* the first input (self-attention called as m(x, x, x)) follows it.
    """
    first = args[0]

    def function(z: torch.Tensor) -> torch.Tensor:
        out = module(*(z if a is first else a for a in args), **kwargs)
        return out[0] if isinstance(out, tuple) else out  # nn.MultiheadAttention returns (output, weights)

    return function


def channels_first(function: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
    """A function of (B, h, w, C) maps as a function of (B, C, h, w) maps."""
    return lambda z: function(z.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def probe_mixing(
    model: Backbone,
    images: torch.Tensor,
    *,
    rows: int = ROWS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: torch.device | str = "cpu",
    model_name: str = "model",
) -> pd.DataFrame:
    """Variation of every mixing operator of `model` over `images` (uint8 (N, C, H, W)).

    Returns one row per operator (COLUMNS): variation (dimensionless, 0 for an input-independent operator)
    with its 95% interval over images, and how many output rows / input and output positions M has.
    """
    if images.dtype != torch.uint8 or images.dim() != 4 or len(images) < 2:
        raise CnnvitError(
            f"mixing variation needs uint8 (N, C, H, W) images with N >= 2, got {images.dtype} {tuple(images.shape)}"
        )
    operators = mixing_operators(model, model_name)
    matrices: dict[int, list[torch.Tensor]] = {k: [] for k in range(len(operators))}
    sizes: dict[int, tuple[int, int]] = {}  # (input positions, output positions) per operator
    was_training = model.training
    model.eval()
    try:
        calls: dict[int, tuple] = {}  # what each operator was called with in the current batch, and its output

        def record(k: int):
            def hook(_module, args, kwargs, out) -> None:  # returns None: the output stays as it is
                calls[k] = (args, kwargs, out)

            return hook

        for start in range(0, len(images), batch_size):
            handles = [op.module.register_forward_hook(record(k), with_kwargs=True) for k, op in enumerate(operators)]
            try:
                with torch.no_grad():
                    model(to_model_input(images[start : start + batch_size].to(device)))
            finally:
                for handle in handles:
                    handle.remove()
            with explicit_attention(model):  # the same function; its backward needs no fused-kernel support
                for k, op in enumerate(operators):
                    args, kwargs, out = calls[k]
                    x, y = args[0], out[0] if isinstance(out, tuple) else out
                    function = module_function(op.module, args, kwargs)
                    if op.channels_last:  # measured on (B, C, h, w) views: the same matrix, the positions read alike
                        function, x, y = channels_first(function), x.permute(0, 3, 1, 2), y.permute(0, 3, 1, 2)
                    n_in, n_out = positions(x)[0], positions(y)[0]
                    matrices[k].append(mixing_matrices(function, x, sampled_rows(n_out, rows)).cpu())
                    sizes[k] = (n_in, n_out)
    finally:
        model.train(was_training)

    table = []
    for k, op in enumerate(operators):
        per_image = RunningMean(1)
        stacked = torch.cat(matrices[k])  # (N, rows, n_in)
        per_image.add(variation(stacked)[None])
        ((low, high),) = per_image.interval()
        n_in, n_out = sizes[k]
        rows_sampled = stacked.shape[1]
        table.append(
            {
                "model": model_name,
                "layer": op.layer,
                "layer_index": op.layer_index,
                "scope": op.scope,
                "operator": op.operator,
                "module": type(op.module).__name__,
                "variation": per_image.mean()[0],
                "ci_low": low,
                "ci_high": high,
                "rows_sampled": rows_sampled,
                "in_positions": n_in,
                "out_positions": n_out,
                "n_images": per_image.n_images()[0],
            }
        )
    return pd.DataFrame(table, columns=COLUMNS)


class MixingOptions(Options):
    images: int = DEFAULT_IMAGES
    rows: PositiveInt = ROWS
    batch_size: PositiveInt = DEFAULT_BATCH_SIZE


def plan(run: TrainedRun, options: MixingOptions, *, device: torch.device | str = "cpu", progress=None) -> Planned:
    """Mixing variation of a run's model on `options.images` test images (data.probe_sample)."""
    sample = probe_sample(run.dataset, options.images)
    x = sample.images

    def compute():
        table = probe_mixing(
            run.model, x, rows=options.rows, batch_size=options.batch_size, device=device, model_name=run.label
        )
        summary = {
            "model": run.label,
            "dataset": run.dataset.name,
            "definition": "mean over images of ||M(x) - mean M||_F / ||mean M||_F, M[i, j] = ||dy_i/dx_j||_F",
            "rows": "output positions evenly spaced in row-major order, the same for every image",
        }
        return table, summary, {}

    return Planned(known(options, run.source), compute, sample)


def known(options: MixingOptions, source: dict) -> dict:
    return {"version": FORMAT_VERSION, "rows": options.rows, "source": source}


PROBE = Probe(
    NAME,
    "input-dependence of the token-mixing operator: how its Jacobian varies across images",
    cost=COST_STEPS,
    options=MixingOptions,
    plan=plan,
    known=known,
    requires=("grid_layers",),
)
