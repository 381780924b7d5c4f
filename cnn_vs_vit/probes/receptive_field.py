"""Effective receptive field per layer (Luo et al. 2016, as Raghu et al. 2021 measure it; claim 4).

For every feature layer with a grid, the unit probed is its centre cell (h // 2, w // 2), which on
an even grid is the lower-right of the four central cells:
  map layers    -- that cell of the (B, C, h, w) feature map;
  token layers  -- the patch token of that cell, at sequence index prefix_tokens + (h // 2)·w + w // 2
                   (never [CLS], which has no position).
Per image, the gradient of the unit's channel sum with respect to the (normalised) input image is
taken, its absolute value averaged over input channels, then the maps are averaged over images:

  ERF(y, x) = mean_images mean_channels |∂ Σ_c out_c(centre) / ∂ input(channel, y, x)|

Summaries of each (H, W) map, holding MASS (95%) of the gradient mass:
  area_px   -- the smallest set of pixels taken by descending gradient; area_pct = % of H·W;
  radius_px -- the smallest Euclidean radius around the map's centre of mass whose disc holds it;
               radius_pct = % of the image side (min(H, W)). The centre of mass (centre_y_px,
               centre_x_px) rather than a nominal pixel of the unit: where a strided cell sits in pixels
               depends on the architecture (a centred stride-2 conv puts cell r at pixel 2r, a patch
               embedding at 2r + ½), the gradient itself says where the unit looks.

Models run in eval mode, so images do not interact (BatchNorm uses its running statistics) and
one backward pass of a batch gives every image's gradient.
"""

import math
from dataclasses import dataclass

import pandas as pd
import torch
from pydantic import PositiveInt

from ..data import probe_sample
from ..data.model_input import to_model_input
from ..errors import CnnvitError
from ..models import Backbone, FeatureLayer, capture_outputs
from ..trained_run import TrainedRun
from .plugin import Options, Planned, Probe
from .saved import SavedProbe

NAME = "receptive_field"
MAPS_FILE = f"{NAME}_maps.safetensors"
FORMAT_VERSION = 1
COST_STEPS = 2  # its time in training steps of the run it probes (plugin.Probe.cost)
MASS = 0.95
DEFAULT_IMAGES = 32  # the protocol (claim 4): the absolute gradient averaged over at least 32 images
DEFAULT_BATCH_SIZE = 32

COLUMNS = [
    "model",
    "layer",
    "layer_index",
    "kind",
    "grid_stride",
    "grid_h",
    "grid_w",
    "centre_row",
    "centre_col",
    "token_index",
    "centre_y_px",
    "centre_x_px",
    "radius_px",
    "radius_pct",
    "area_px",
    "area_pct",
    "mass",
    "n_images",
]


@dataclass
class ReceptiveFieldResult:
    """rows: one per grid layer (COLUMNS); maps: layer name -> (H, W) float64 mean |gradient| map."""

    rows: pd.DataFrame
    maps: dict[str, torch.Tensor]


def grid_layers(model: Backbone, name: str = "model") -> list[FeatureLayer]:
    """The model's feature layers that have a grid (maps and tokens); an error when there are none."""
    try:
        layers = [layer for layer in model.feature_layers() if layer.on_grid]
    except NotImplementedError:
        layers = []
    if not layers:
        raise CnnvitError(
            f"{name} has no feature map or token layer to measure a receptive field on; "
            "use a model built by cnnvit (see cnnvit models)"
        )
    return layers


def centre_unit(layer: FeatureLayer, output: torch.Tensor, image_hw: tuple[int, int]) -> tuple[torch.Tensor, dict]:
    """(B,) channel sums of the layer's centre cell, and where that cell is (the row's position columns)."""
    if layer.kind == "map_hwc":
        output = output.permute(0, 3, 1, 2)  # (B, C, h, w), as a "map" layer gives it
    if layer.kind in ("map", "map_hwc"):
        h, w = output.shape[-2:]
        row, col = h // 2, w // 2
        unit, token = output[:, :, row, col].sum(1), None
    else:
        h, w = image_hw[0] // layer.stride, image_hw[1] // layer.stride
        row, col = h // 2, w // 2
        token = layer.prefix_tokens + row * w + col
        if output.shape[1] != layer.prefix_tokens + h * w:
            raise CnnvitError(
                f"layer {layer.name}: {output.shape[1]} tokens do not form a {h}x{w} grid "
                f"after {layer.prefix_tokens} prefix tokens"
            )
        unit = output[:, token].sum(-1)
    return unit, {"grid_h": h, "grid_w": w, "centre_row": row, "centre_col": col, "token_index": token}


def mass_area(erf: torch.Tensor, mass: float = MASS) -> int:
    """Pixels in the smallest set, by descending value, holding `mass` of the map's total."""
    values = erf.flatten().double().sort(descending=True).values
    cumulative = values.cumsum(0)
    # A relative tolerance: a total split evenly over k pixels must give exactly ceil(mass·k), not one more.
    return int((cumulative < mass * cumulative[-1] * (1 - 1e-12)).sum()) + 1


def centre_of_mass(erf: torch.Tensor) -> tuple[float, float]:
    """(y, x) in pixels: the map's mass-weighted mean position."""
    H, W = erf.shape
    erf = erf.double() / erf.sum()
    return float((erf.sum(1) * torch.arange(H)).sum()), float((erf.sum(0) * torch.arange(W)).sum())


def mass_radius(erf: torch.Tensor, centre: tuple[float, float], mass: float = MASS) -> float:
    """Smallest Euclidean distance r (pixels) from `centre` (y, x) such that the pixels within r hold `mass`."""
    H, W = erf.shape
    ys, xs = torch.meshgrid(torch.arange(H, dtype=torch.float64), torch.arange(W, dtype=torch.float64), indexing="ij")
    distance = torch.hypot(ys - centre[0], xs - centre[1]).flatten()
    order = distance.argsort()
    cumulative = erf.flatten().double()[order].cumsum(0)
    index = int((cumulative < mass * cumulative[-1] * (1 - 1e-12)).sum())
    return float(distance[order][index])


def receptive_fields(
    model: Backbone,
    images: torch.Tensor,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: torch.device | str = "cpu",
    model_name: str = "model",
) -> ReceptiveFieldResult:
    """Effective receptive field of every grid layer's centre unit, averaged over `images` (uint8 (N, C, H, W)).

    Returns rows (COLUMNS: centre cell and token, radius and area holding 95% of the gradient mass in
    pixels and % of the image) and the (H, W) maps of mean |gradient| (units of the normalised input).
    """
    if images.dtype != torch.uint8 or images.dim() != 4 or len(images) == 0:
        raise CnnvitError(f"images must be uint8 (N, C, H, W) with N >= 1, got {images.dtype} {tuple(images.shape)}")
    layers = grid_layers(model, model_name)
    C, H, W = images.shape[1:]
    totals = {layer.name: torch.zeros(H, W, dtype=torch.float64) for layer in layers}
    positions: dict[str, dict] = {}
    outputs: dict[str, torch.Tensor] = {}  # the current batch's output of every layer
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(images), batch_size):
            x = to_model_input(images[start : start + batch_size].to(device)).requires_grad_()
            with torch.enable_grad(), capture_outputs(layers, lambda layer, out: outputs.__setitem__(layer.name, out)):
                model(x)
                for i, layer in enumerate(layers):
                    unit, positions[layer.name] = centre_unit(layer, outputs[layer.name], (H, W))
                    # Σ over the batch: each image's unit depends only on that image, so this is per-image ∂.
                    last = i == len(layers) - 1
                    (gradient,) = torch.autograd.grad(unit.sum(), x, retain_graph=not last, allow_unused=True)
                    if gradient is not None:  # None: the unit does not depend on the input at all
                        totals[layer.name] += gradient.abs().sum(dim=(0, 1)).double().cpu()  # (H, W)
    finally:
        model.train(was_training)

    n = len(images)
    maps, rows = {}, []
    for index, layer in enumerate(layers):
        erf = totals[layer.name] / (n * C)
        maps[layer.name] = erf
        if erf.sum() > 0:
            centre = centre_of_mass(erf)
            radius, area = mass_radius(erf, centre), mass_area(erf)
        else:  # the unit does not depend on the input: no receptive field
            centre, radius, area = (math.nan, math.nan), math.nan, 0
        rows.append(
            {
                "model": model_name,
                "layer": layer.name,
                "layer_index": index,
                "kind": layer.kind,
                "grid_stride": layer.stride,
                **positions[layer.name],
                "centre_y_px": centre[0],
                "centre_x_px": centre[1],
                "radius_px": radius,
                "radius_pct": 100 * radius / min(H, W),
                "area_px": area,
                "area_pct": 100 * area / (H * W),
                "mass": MASS,
                "n_images": n,
            }
        )
    frame = pd.DataFrame(rows, columns=COLUMNS).astype({"token_index": "Int64"})
    return ReceptiveFieldResult(rows=frame, maps=maps)


class ReceptiveFieldOptions(Options):
    images: int = DEFAULT_IMAGES
    batch_size: PositiveInt = DEFAULT_BATCH_SIZE


def plan(
    run: TrainedRun, options: ReceptiveFieldOptions, *, device: torch.device | str = "cpu", progress=None
) -> Planned:
    """ERF of a run's model on `options.images` test images (data.probe_sample); the maps (layer -> (H, W)) are
    saved beside the rows as MAPS_FILE."""
    from safetensors.torch import save

    sample = probe_sample(run.dataset, options.images)
    x = sample.images

    def compute():
        result = receptive_fields(run.model, x, batch_size=options.batch_size, device=device, model_name=run.label)
        maps = save({name: erf.contiguous() for name, erf in result.maps.items()})
        summary = {
            "model": run.label,
            "dataset": run.dataset.name,
            "maps_file": MAPS_FILE,
            "unit": "the centre cell; on token layers its patch token",
        }
        return result.rows, summary, {MAPS_FILE: maps}

    return Planned(known(options, run.source), compute, sample)


def known(options: ReceptiveFieldOptions, source: dict) -> dict:
    return {"version": FORMAT_VERSION, "mass": MASS, "source": source}


def saved_maps(saved: SavedProbe) -> dict[str, torch.Tensor]:
    """The maps of a saved result, layer -> (H, W), in the order of its rows."""
    from safetensors.torch import load_file

    maps = load_file(saved.files[MAPS_FILE])
    return {layer: maps[layer] for layer in saved.rows["layer"]}


PROBE = Probe(
    NAME,
    "effective receptive field per layer (Luo et al. 2016): the area holding 95% of the gradient mass",
    cost=COST_STEPS,
    options=ReceptiveFieldOptions,
    plan=plan,
    known=known,
    requires=("grid_layers",),
    dtypes={"token_index": "Int64"},
)
