"""Translation equivariance, layer by layer: how far f(Tx) is from T'f(x) (claims 2, 14, 15, 16).

A shift s moves the image content by (s, s) pixels, down and right (the diagonal shifts of
Zhang 2019's `validate_diagonal`). Two modes, always named in the results:

  circular -- torch.roll: content leaving one border re-enters at the other. An exact symmetry:
              a circular-padded stride-1 CNN commutes with it exactly, and so does a ViT without
              positional embeddings for shifts that are multiples of its patch size.
  crop     -- the image sits in a black canvas (uint8 0, the datasets' background) and the view
              moves, as a camera does: content enters black at the top-left and leaves at the
              bottom-right. Features are compared only where both views hold the same content.

On a layer whose grid has `stride` input pixels per cell, the shift s becomes the grid shift
s / stride. When stride does not divide s the grid cannot express it: the error is then measured
against the nearest expressible grid shift round(s / stride) (halves round up) and the row says
expressible=False. Every layer also gets the invariance error of its spatially pooled features,
which needs no grid. Per image, with F = a layer's features and norms over all of the image's values:

  equivariance_error = ‖F(T_s x) − T'_s F(x)‖ / ‖T'_s F(x)‖     (over the compared region)
  invariance_error   = ‖pool F(T_s x) − pool F(x)‖ / ‖pool F(x)‖  (pool = mean over the grid)

The [CLS] token of a ViT is off the grid: it gets its own row (layer "blockN[cls]", kind "cls")
with its invariance error. Vector layers (pooled features, logits) only have invariance errors.

Every figure is a mean over images with a 95% normal-approximation interval (intervals.py).

Cost: per batch of B images one forward pass over the S·B shifted copies; forward hooks reduce
every layer's (S·B, ...) output to S x B numbers at once and drop it, so memory is bounded by
one batch's activations whatever the number of layers or images.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd
import torch
import torch.nn.functional as F
from pydantic import field_validator

from ..data import probe_sample
from ..data.model_input import to_model_input
from ..errors import CnnvitError, unknown_name
from ..models import PRESETS, Backbone, FeatureLayer, capture_outputs, patch_size_for
from ..trained_run import TrainedRun
from .intervals import RunningMean
from .plugin import Options, Planned, Probe
from .shift_report import plot_shift, shift_tables

NAME = "shift"
STEPS_PER_IMAGE_AND_MODE = 0.05  # its time in training steps of the run it probes (plugin.Probe.cost)
FORMAT_VERSION = 1  # bump when the meaning of a saved number changes: older results are then recomputed
MODES = ("circular", "crop")
MODE_CHOICES = (*MODES, "both")
EPSILON = 1e-12  # denominator floor for a feature that is exactly zero on some image
DEFAULT_IMAGES = 512
DEFAULT_BATCH_SIZE = 64  # images per forward pass; the pass itself holds S times as many copies
INTERVAL_NOTE = "95% interval over images: mean ± 1.96·sd/√n (normal approximation)"

COLUMNS = [
    "model",
    "mode",
    "layer",
    "layer_index",
    "kind",
    "grid_stride",
    "shift",
    "grid_shift",
    "expressible",
    "equivariance_error",
    "equivariance_ci_low",
    "equivariance_ci_high",
    "invariance_error",
    "invariance_ci_low",
    "invariance_ci_high",
    "n_images",
]


@dataclass
class ShiftResult:
    """rows: one row per layer x shift x mode (columns COLUMNS); summary: predictions per mode and shift."""

    rows: pd.DataFrame
    summary: dict


# ---------------------------------------------------------------------------------------- arguments


def parse_modes(mode: str) -> tuple[str, ...]:
    """ "circular" | "crop" | "both" -> the modes to run, in a fixed order."""
    if mode not in MODE_CHOICES:
        raise unknown_name("mode", mode, MODE_CHOICES)
    return MODES if mode == "both" else (mode,)


def parse_shifts(texts: Sequence[str] | None) -> list[int] | None:
    """["0,1,2", "4"] (as --shifts gives them, comma-separated or repeated) -> [0, 1, 2, 4]; None stays None."""
    if not texts:
        return None
    items = [item.strip() for text in texts for item in text.split(",") if item.strip()]
    for item in items:
        if not item.lstrip("-").isdigit():
            raise CnnvitError(f'shift "{item}" is not a whole number of pixels; give e.g. --shifts 0,1,2,4')
    return [int(item) for item in items]


def default_max_shift(model: Backbone, image_hw: tuple[int, int]) -> int:
    """K of the default shifts 0..K: the patch size of a model with patch tokens (a ViT); for any other model
    the patch size the vit-s preset takes on these images (models.patch_size_for), so a CNN and the ViT it
    is compared with see the same shifts."""
    return model.token_patch() or patch_size_for(image_hw, PRESETS["vit-s"].patch_size)


def resolve_shifts(shifts: Sequence[int] | None, image_hw: tuple[int, int], model: Backbone) -> list[int]:
    """Sorted distinct shifts in pixels with 0 (the reference) first; 0..K by default (see default_max_shift)."""
    side = min(image_hw)
    if shifts is None:
        shifts = range(min(default_max_shift(model, image_hw), side - 1) + 1)
    for s in shifts:
        if isinstance(s, bool) or not isinstance(s, int):
            raise CnnvitError(f"shift {s!r} is not a whole number of pixels; give e.g. --shifts 0,1,2,4")
        if s < 0:
            raise CnnvitError(f"shift {s} is negative; shifts are diagonal (s, s) moves, give 0 or more")
        if s >= side:
            raise CnnvitError(f"shift {s} is not smaller than the {side} px image; use shifts below {side}")
    return sorted({0, *shifts})


def grid_shift(shift: int, stride: int) -> tuple[int, bool]:
    """(nearest grid shift, whether it is exact) for a pixel shift on a grid of `stride` pixels per cell.

    Halves round up: shift 2 on a stride-4 grid compares against one cell.
    """
    return (2 * shift + stride) // (2 * stride), shift % stride == 0


# ------------------------------------------------------------------------------------------- inputs


def shifted_copies(images: torch.Tensor, shifts: Sequence[int], mode: str) -> torch.Tensor:
    """uint8 (B, C, H, W) -> uint8 (S·B, C, H, W), shift-major: copy k·B + b is image b shifted by shifts[k].

    crop: the images are padded with black by max(shifts) on every side once, and the view for
    shift s is the H x W window whose content is moved by (+s, +s).
    """
    if mode == "circular":
        return torch.cat([torch.roll(images, shifts=(s, s), dims=(2, 3)) for s in shifts])
    H, W = images.shape[2:]
    margin = max(shifts)
    canvas = F.pad(images, (margin, margin, margin, margin))  # (B, C, H + 2m, W + 2m), zero = black
    return torch.cat([canvas[:, :, margin - s : margin - s + H, margin - s : margin - s + W] for s in shifts])


# ---------------------------------------------------------------------------------------- reductions


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> torch.Tensor:
    """‖actual − expected‖ / ‖expected‖ per leading index, norms over the other dimensions: (N, ...) -> (N,)."""
    dims = tuple(range(1, actual.dim()))  # not flatten(1): that copies channels-last and sliced tensors
    difference = torch.linalg.vector_norm(actual - expected, dim=dims)
    return difference / torch.linalg.vector_norm(expected, dim=dims).clamp_min(EPSILON)


def equivariance_errors(grids: torch.Tensor, grid_shifts: Sequence[int], mode: str) -> torch.Tensor:
    """(S, B, C, h, w) features of S shifted copies -> (S, B) errors against T' applied to copy 0.

    circular compares whole grids with T' = torch.roll; crop compares the cells whose content both
    views hold (NaN when a grid shift leaves none).
    """
    S, B, C, h, w = grids.shape
    reference = grids[0]  # (B, C, h, w)
    # T' for every shift at once: windows of the reference padded once at the top and left (circularly:
    # roll; with zeros: content moved into the frame). One stacked copy, then a handful of whole-batch
    # ops per layer: few large kernels instead of several per shift (small kernels dominate on a busy CPU).
    if mode == "circular":
        offsets = [(g % h, g % w) for g in grid_shifts]
    else:
        offsets = [(min(g, h), min(g, w)) for g in grid_shifts]
    top, left = max(gh for gh, _ in offsets), max(gw for _, gw in offsets)
    padded = F.pad(reference, (left, 0, top, 0), mode="circular" if mode == "circular" else "constant")
    expected = torch.stack([padded[..., top - gh : top - gh + h, left - gw : left - gw + w] for gh, gw in offsets])
    if mode == "circular":
        denominator = torch.linalg.vector_norm(reference, dim=(1, 2, 3)).expand(S, B)
    else:
        denominator = torch.linalg.vector_norm(expected, dim=(2, 3, 4))  # zero outside the compared cells
    difference = expected.sub_(grids)  # (S, B, C, h, w), reusing the stacked copy
    if mode == "crop":  # compare only cells whose content both views hold: row >= gh and column >= gw
        first = torch.tensor(offsets, device=grids.device)  # (S, 2)
        rows = torch.arange(h, device=grids.device)[None, :, None] >= first[:, 0, None, None]  # (S, h, 1)
        columns = torch.arange(w, device=grids.device)[None, None, :] >= first[:, 1, None, None]  # (S, 1, w)
        difference.mul_((rows & columns)[:, None, None])
    errors = torch.linalg.vector_norm(difference, dim=(2, 3, 4)) / denominator.clamp_min(EPSILON)
    if mode == "crop":
        errors[[gh >= h or gw >= w for gh, gw in offsets]] = math.nan
    return errors


def invariance_errors(vectors: torch.Tensor) -> torch.Tensor:
    """(S, B, D) pooled features of S shifted copies -> (S, B) relative change from copy 0."""
    S, B = vectors.shape[:2]
    reference = vectors[0].expand(S, B, -1)
    return relative_error(vectors.flatten(0, 1), reference.flatten(0, 1)).view(S, B)


class LayerStatistics:
    """The running per-image statistics of one layer in one mode (its rows of the result)."""

    def __init__(self, layer: FeatureLayer, index: int, shifts: Sequence[int]):
        self.layer, self.index, self.shifts = layer, index, list(shifts)
        self.on_grid = layer.on_grid
        S = len(self.shifts)
        if self.on_grid:
            pairs = [grid_shift(s, layer.stride) for s in self.shifts]
            self.grid_shifts = [g for g, _ in pairs]
            self.expressible = [exact for _, exact in pairs]
            self.equivariance = RunningMean(S)
        self.invariance = RunningMean(S)
        self.prefix_invariance = RunningMean(S) if layer.kind == "tokens" and layer.prefix_tokens else None

    def add(self, output: torch.Tensor, image_hw: tuple[int, int], mode: str) -> None:
        """Reduce one forward's (S·B, ...) output of this layer to per-image errors and accumulate them."""
        S = len(self.shifts)
        grid, off_grid = self.layer.to_grid(output, image_hw)
        if grid is not None:
            grids = grid.float().unflatten(0, (S, -1))  # (S, B, C, h, w)
            self.equivariance.add(equivariance_errors(grids, self.grid_shifts, mode))
            self.invariance.add(invariance_errors(grids.mean(dim=(-2, -1))))  # pooled: (S, B, C)
        else:
            self.invariance.add(invariance_errors(off_grid.float().unflatten(0, (S, -1))))
        if self.prefix_invariance is not None:
            self.prefix_invariance.add(invariance_errors(off_grid.float().unflatten(0, (S, -1))))

    def rows(self, model_name: str, mode: str) -> list[dict]:
        layer, rows = self.layer, []
        inv_mean, inv_ci, n = self.invariance.mean(), self.invariance.interval(), self.invariance.n_images()
        if self.on_grid:
            eq_mean, eq_ci = self.equivariance.mean(), self.equivariance.interval()
        for k, shift in enumerate(self.shifts):
            row = {
                "model": model_name,
                "mode": mode,
                "layer": layer.name,
                "layer_index": self.index,
                "kind": layer.kind,
                "grid_stride": None,
                "shift": shift,
                "grid_shift": None,
                "expressible": None,
                "equivariance_error": math.nan,
                "equivariance_ci_low": math.nan,
                "equivariance_ci_high": math.nan,
                "invariance_error": inv_mean[k],
                "invariance_ci_low": inv_ci[k][0],
                "invariance_ci_high": inv_ci[k][1],
                "n_images": n[k],
            }
            if self.on_grid:
                row.update(
                    grid_stride=layer.stride,
                    grid_shift=self.grid_shifts[k],
                    expressible=self.expressible[k],
                    equivariance_error=eq_mean[k],
                    equivariance_ci_low=eq_ci[k][0],
                    equivariance_ci_high=eq_ci[k][1],
                )
            rows.append(row)
        if self.prefix_invariance is not None:
            cls_mean, cls_ci = self.prefix_invariance.mean(), self.prefix_invariance.interval()
            for k, shift in enumerate(self.shifts):
                rows.append(
                    {
                        **{c: None for c in COLUMNS},
                        "model": model_name,
                        "mode": mode,
                        "layer": f"{layer.name}[cls]",
                        "layer_index": self.index,
                        "kind": "cls",
                        "shift": shift,
                        "equivariance_error": math.nan,
                        "equivariance_ci_low": math.nan,
                        "equivariance_ci_high": math.nan,
                        "invariance_error": cls_mean[k],
                        "invariance_ci_low": cls_ci[k][0],
                        "invariance_ci_high": cls_ci[k][1],
                        "n_images": self.prefix_invariance.n_images()[k],
                    }
                )
        return rows


class PredictionStatistics:
    """Accuracy, agreement with the unshifted prediction and true-class probability change, per shift."""

    def __init__(self, shifts: Sequence[int]):
        S = len(shifts)
        self.shifts = list(shifts)
        self.accuracy, self.consistency, self.probability_change = RunningMean(S), RunningMean(S), RunningMean(S)
        self.pairwise = RunningMean(1)
        self.pairs = torch.triu_indices(S, S, offset=1)  # (2, S(S-1)/2): every pair of distinct shifts

    def add(self, logits: torch.Tensor, labels: torch.Tensor) -> None:
        S = len(self.shifts)
        logits = logits.float().unflatten(0, (S, -1))  # (S, B, classes)
        predictions = logits.argmax(-1)  # (S, B)
        true_probability = logits.softmax(-1).gather(-1, labels.expand(S, -1)[..., None])[..., 0]  # (S, B)
        self.accuracy.add((predictions == labels).float())
        self.consistency.add((predictions == predictions[0]).float())
        self.probability_change.add(true_probability - true_probability[0])
        if S > 1:
            agree = predictions[self.pairs[0]] == predictions[self.pairs[1]]  # (pairs, B)
            self.pairwise.add(agree.float().mean(0, keepdim=True))

    def summary(self) -> dict:
        def figure(stat: RunningMean, k: int) -> dict:
            low, high = stat.interval()[k]
            return {"mean": _finite(stat.mean()[k]), "ci_low": _finite(low), "ci_high": _finite(high)}

        per_shift = [
            {
                "shift": s,
                "accuracy": figure(self.accuracy, k),
                "consistency_with_unshifted": figure(self.consistency, k),
                "true_class_probability_change": figure(self.probability_change, k),
            }
            for k, s in enumerate(self.shifts)
        ]
        n_images = self.accuracy.n_images()[0]
        return {"per_shift": per_shift, "consistency": figure(self.pairwise, 0), "n_images": n_images}


def _finite(value: float) -> float | None:
    """JSON has no NaN: an undefined figure is written as null."""
    return value if math.isfinite(value) else None


# ------------------------------------------------------------------------------------------- the probe


def probeable_layers(model: Backbone, name: str = "model") -> list[FeatureLayer]:
    """The model's feature layers; an error when none of them has a spatial grid to shift."""
    try:
        layers = model.feature_layers()
    except NotImplementedError:
        layers = []
    if not any(layer.on_grid for layer in layers):
        raise CnnvitError(
            f"{name} cannot be probed for shifts: its feature_layers() name no feature map or token layer; "
            "use a model built by cnnvit (see cnnvit models)"
        )
    return layers


@torch.inference_mode()
def probe_shift(
    model: Backbone,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    shifts: Sequence[int] | None = None,
    modes: Sequence[str] = MODES,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: torch.device | str = "cpu",
    model_name: str = "model",
    progress: Callable[[int, int], None] | None = None,
) -> ShiftResult:
    """Equivariance and invariance errors of every feature layer, and prediction figures, under shifts.

    images: uint8 (N, C, H, W) test images; labels: int64 (N,). shifts: pixel shifts (0 is added as
    the reference; None = 0..K, see default_max_shift). Runs one forward pass of S·batch_size shifted
    copies per batch and mode, in eval mode (the model's memory format is left as it is).
    progress(done, total) is called after each pass, counting images x modes.

    Returns rows (one per layer x shift x mode, columns COLUMNS; errors are relative, dimensionless)
    and summary["predictions"][mode] = {"per_shift": [{shift, accuracy, consistency_with_unshifted,
    true_class_probability_change}, ...], "consistency": agreement over all pairs of shifts, "n_images"},
    each figure {"mean", "ci_low", "ci_high"} over images (INTERVAL_NOTE).
    """
    if images.dtype != torch.uint8 or images.dim() != 4:
        raise CnnvitError(f"images must be uint8 (N, C, H, W), got {images.dtype} {tuple(images.shape)}")
    if batch_size < 1:
        raise CnnvitError(f"batch size {batch_size} is not positive; give e.g. --batch-size {DEFAULT_BATCH_SIZE}")
    if len(images) == 0:
        raise CnnvitError("no images to probe; give --images 1 or more")
    for mode in modes:
        parse_modes(mode)
    layers = probeable_layers(model, model_name)
    image_hw = tuple(images.shape[2:])
    shifts = resolve_shifts(None if shifts is None else list(shifts), image_hw, model)

    was_training = model.training
    model.eval()
    rows, summary = [], {}
    total, done = len(images) * len(modes), 0
    try:
        for mode in modes:
            statistics = [LayerStatistics(layer, i, shifts) for i, layer in enumerate(layers)]
            predictions = PredictionStatistics(shifts)
            by_module = {id(s.layer): s for s in statistics}
            on_output = lambda layer, output: by_module[id(layer)].add(output, image_hw, mode)  # noqa: E731
            with capture_outputs(layers, on_output):
                for start in range(0, len(images), batch_size):
                    batch = images[start : start + batch_size].to(device)
                    x = to_model_input(shifted_copies(batch, shifts, mode))  # (S·B, C, H, W)
                    try:
                        logits = model(x)  # the hooks reduce every layer during this pass
                    except ValueError as error:  # e.g. a token layer whose patches form no grid
                        raise CnnvitError(f"{model_name} cannot be probed for shifts: {error}") from None
                    predictions.add(logits, labels[start : start + batch_size].to(device))
                    done += len(batch)
                    if progress is not None:
                        progress(done, total)
            for s in statistics:
                rows += s.rows(model_name, mode)
            summary[mode] = predictions.summary()
    finally:
        model.train(was_training)
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame = frame.astype({"grid_stride": "Int64", "grid_shift": "Int64", "expressible": "boolean"})
    return ShiftResult(
        rows=frame,
        summary={
            "model": model_name,
            "shifts": shifts,
            "modes": list(modes),
            "n_images": len(images),
            "interval": INTERVAL_NOTE,
            "predictions": summary,
        },
    )


class ShiftOptions(Options):
    shifts: list[int] | None = None  # diagonal shifts in px, 0 added; 0..K when None (default_max_shift)
    modes: tuple[str, ...] = MODES
    images: int = DEFAULT_IMAGES
    batch_size: int = DEFAULT_BATCH_SIZE  # images per forward pass (each pass holds one copy per shift)

    @field_validator("modes")
    @classmethod
    def _known_modes(cls, modes: tuple[str, ...]) -> tuple[str, ...]:
        for mode in modes:
            if mode not in MODES:
                raise ValueError(f"unknown mode {mode!r}, choose among {', '.join(MODES)}")
        return modes


def plan(
    run: TrainedRun,
    options: ShiftOptions,
    *,
    device: torch.device | str = "cpu",
    progress: Callable[[int, int], None] | None = None,
) -> Planned:
    """The shift probe of a run's model (or a model not trained here) on `options.images` test images
    (data.probe_sample)."""
    if options.batch_size < 1:
        raise CnnvitError(
            f"--batch-size {options.batch_size} is not positive; give e.g. --batch-size {DEFAULT_BATCH_SIZE}"
        )
    probeable_layers(run.model, run.label)
    shifts = resolve_shifts(options.shifts, run.dataset.image_shape[1:], run.model)
    sample = probe_sample(run.dataset, options.images)
    arguments = {**known(options, run.source), "shifts": shifts}

    def compute():
        result = probe_shift(
            run.model,
            sample.images,
            sample.labels,
            shifts=shifts,
            modes=options.modes,
            batch_size=options.batch_size,
            device=device,
            model_name=run.label,
            progress=progress,
        )
        return result.rows, {**result.summary, "dataset": run.dataset.name}, {}

    return Planned(arguments, compute, sample)


def known(options: ShiftOptions, source: dict) -> dict:
    """Given shifts are known as resolve_shifts turns them (0 added, sorted); default ones depend on the model."""
    given = {} if options.shifts is None else {"shifts": sorted({0, *options.shifts})}
    return {"version": FORMAT_VERSION, "modes": list(options.modes), "source": source, **given}


def cost(options: ShiftOptions, config) -> float:
    """Training steps' worth of time: it grows with the images and modes (measured per image and mode)."""
    return STEPS_PER_IMAGE_AND_MODE * options.images * len(options.modes)


PROBE = Probe(
    NAME,
    (
        "translation equivariance layer by layer (the normalised error ‖f(Tx) − T'f(x)‖ / ‖f(x)‖ for circular and crop "
        "shifts), prediction consistency and accuracy under shifts"
    ),
    cost=cost,
    options=ShiftOptions,
    plan=plan,
    known=known,
    requires=("grid_layers",),
    dtypes={"expressible": "boolean", "grid_stride": "Int64", "grid_shift": "Int64"},
    tables=shift_tables,
    plot=plot_shift,
    named_models=True,
)
