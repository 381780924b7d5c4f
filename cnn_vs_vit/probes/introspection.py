"""Architecture complexity counted from the built modules (claim 7), never typed by hand.

One forward pass of a blank image through the model, with hooks, gives every figure:

  leaf_module_types      distinct classes of leaf modules (nn.Identity left out: cnnvit uses it as a
                         hook point, it computes nothing)
  blocks                 the body blocks: the model's grid feature layers that hold parameters, except
                         the stem (the layer holding the model's first convolution: a ResNet stem, a
                         ViT patch embedding); parameter-free hook points are not blocks
  block_configurations   distinct (class, input shape, output shape, (kernel, stride) of each conv,
                         attention heads, MLP hidden width) among the blocks
  stages                 maximal runs of consecutive blocks with the same output shape
  parameters             every parameter element
  hyperparameters        the numbers a designer writes down to size the network, by this rule:
      the stem sets its width, kernel and stride (a patchifying stem, stride = kernel, sets one
      patch size); each stage sets its number of blocks, and, from its first block, its width,
      and where it has convolutions its largest kernel and its grid stride, and where it has
      attention its heads and MLP hidden width. A value counts when it is first set or when it
      differs from the one before it along stem -> stage 1 -> stage 2 ...: a value shared by
      every stage counts once, a per-stage value once per stage. Choices of kind (padding mode,
      pooling, positional-embedding type) size nothing and are not counted.
  For cnnvit's presets this gives ResNet: stem width, kernel, stride + per stage blocks and width +
  the downsampling stride once (11 for four stages), ViT: patch, dim, depth, heads, MLP width (5).
"""

from dataclasses import asdict, dataclass, field

import pandas as pd
import torch
from torch import nn

from ..errors import CnnvitError
from ..models import Backbone, FeatureLayer
from ..trained_run import TrainedRun
from .attention_distance import is_attention
from .plugin import Options, Planned, Probe

NAME = "introspection"
FORMAT_VERSION = 1
COST_STEPS = 1  # its time in training steps of the run it probes (plugin.Probe.cost)
COLUMNS = ["model", "parameters", "leaf_module_types", "blocks", "block_configurations", "stages", "hyperparameters"]


@dataclass
class Architecture:
    """The counts (COLUMNS) and what they were counted from."""

    model: str
    parameters: int
    leaf_module_types: int
    blocks: int
    block_configurations: int
    stages: int
    hyperparameters: int
    details: dict = field(default_factory=dict)  # leaf types, stem, per-block configurations, per-stage values

    def row(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "details"}


def leaf_types(model: nn.Module) -> list[str]:
    """Sorted class names of the modules without children, nn.Identity left out."""
    return sorted({type(m).__name__ for m in model.modules() if not any(True for _ in m.children())} - {"Identity"})


def block_values(module: nn.Module, in_shape: tuple, out_shape: tuple) -> dict:
    """The design values of one block (see the module docstring), read from its modules and shapes."""
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    attention = [m for m in module.modules() if is_attention(m)]
    values = {"width": out_shape[0] if len(out_shape) == 3 else out_shape[-1]}  # (C, h, w) maps, (T, D) tokens
    if convs:
        values["kernel"] = max(max(c.kernel_size) for c in convs)
        values["stride"] = -(-in_shape[-1] // out_shape[-1])  # ceil: a padded stride-2 layer maps 7 cells to 4
    if attention:
        inside = {id(p) for a in attention for p in a.modules()}
        linears = [m for m in module.modules() if isinstance(m, nn.Linear) and id(m) not in inside]
        values["heads"] = getattr(attention[0], "heads", None) or attention[0].num_heads
        if linears:
            values["mlp_hidden"] = linears[0].out_features
    return values


def channels_first(shape: tuple) -> tuple:
    """(h, w, C) -> (C, h, w): a channels-last block's shapes as a map's, so widths and strides read alike."""
    return (shape[-1], *shape[:-1])


def introspect(model: Backbone, image_shape: tuple[int, int, int], model_name: str = "model") -> Architecture:
    """Count `model`'s architecture (see the module docstring) from one forward pass of a blank (C, H, W) image."""
    stem = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    if stem is None:
        raise CnnvitError(
            f"{model_name} has no convolution or patch embedding to start from; "
            "use a model built by cnnvit (see cnnvit models)"
        )
    layers = [layer for layer in model.feature_layers() if layer.on_grid]

    def is_block(module: nn.Module) -> bool:  # holds parameters, and is not (nor contains) the stem
        return any(True for _ in module.parameters()) and not any(m is stem for m in module.modules())

    body = [layer for layer in layers if is_block(layer.module)]
    shapes: dict[str, tuple[tuple, tuple]] = {}

    def record(layer: FeatureLayer):
        def hook(_module, args, out) -> None:
            shape = channels_first if layer.kind == "map_hwc" else tuple
            shapes[layer.name] = (shape(args[0].shape[1:]), shape(out.shape[1:]))

        return hook

    handles = [layer.module.register_forward_hook(record(layer)) for layer in body]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, *image_shape, device=stem.weight.device))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()

    configurations, stage_values, previous_shape = [], [], None
    for layer in body:
        in_shape, out_shape = shapes[layer.name]
        values = block_values(layer.module, in_shape, out_shape)
        convs = [(c.kernel_size[0], c.stride[0]) for c in layer.module.modules() if isinstance(c, nn.Conv2d)]
        configurations.append(
            {
                "block": layer.name,
                "type": type(layer.module).__name__,
                "in": list(in_shape),
                "out": list(out_shape),
                "convs": convs,
                **values,
            }
        )
        if out_shape != previous_shape:  # a new stage, specified by its first block
            stage_values.append({"blocks": 0, **values})
        stage_values[-1]["blocks"] += 1
        previous_shape = out_shape

    kernel, stride = stem.kernel_size[0], stem.stride[0]
    stem_values = {"width": stem.out_channels, "kernel": kernel} | ({} if stride == kernel else {"stride": stride})
    hyperparameters, before = len(stem_values), dict(stem_values)
    for stage in stage_values:
        hyperparameters += 1 + sum(before.get(k) != v for k, v in stage.items() if k != "blocks")
        before = stage
    distinct = {repr({k: v for k, v in c.items() if k != "block"}) for c in configurations}
    types = leaf_types(model)
    return Architecture(
        model=model_name,
        parameters=model.num_params,
        leaf_module_types=len(types),
        blocks=len(body),
        block_configurations=len(distinct),
        stages=len(stage_values),
        hyperparameters=hyperparameters,
        details={"leaf_module_types": types, "stem": stem_values, "blocks": configurations, "stages": stage_values},
    )


class IntrospectionOptions(Options):
    pass  # the counts take no options


def plan(run: TrainedRun, options: IntrospectionOptions, *, device=None, progress=None) -> Planned:
    """The architecture counts of a run's model (details in the summary)."""

    def compute():
        architecture = introspect(run.model, run.dataset.image_shape, run.label)
        summary = {
            "model": run.label,
            "dataset": run.dataset.name,
            "image_shape": list(run.dataset.image_shape),
            **architecture.details,
        }
        return pd.DataFrame([architecture.row()], columns=COLUMNS), summary, {}

    return Planned(known(options, run.source), compute)


def known(options: IntrospectionOptions, source: dict) -> dict:
    return {"version": FORMAT_VERSION, "source": source}


PROBE = Probe(
    NAME,
    "the built model counted: module types, block configurations, architecture hyperparameters",
    cost=COST_STEPS,
    options=IntrospectionOptions,
    plan=plan,
    known=known,
)
