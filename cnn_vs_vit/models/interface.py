"""The one interface every model offers, so probes and training never look inside an architecture.

A model is a `Backbone`: `forward(x)` gives logits, `feature_layers()` names the modules whose
outputs are per-layer features (in forward order, each with the pixel stride of its grid), and
`features(x)` collects them through forward hooks.
"""

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

import torch
from pydantic import BaseModel
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ..errors import CnnvitError


def decayed_parameters(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(decayed, not decayed) parameters of `model`: weight matrices and kernels are decayed, except those a
    module inside it (the model itself included) names in its `no_weight_decay()`."""
    exempt = {
        f"{prefix}.{name}" if prefix else name
        for prefix, module in model.named_modules()
        if hasattr(module, "no_weight_decay")
        for name in module.no_weight_decay()
    }
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        (decay if parameter.ndim >= 2 and name not in exempt else no_decay).append(parameter)
    return decay, no_decay


FeatureKind = Literal["map", "map_hwc", "tokens", "vector"]
GRID_KINDS: tuple[FeatureKind, ...] = ("map", "map_hwc", "tokens")  # the kinds laid out on a spatial grid


@dataclass(frozen=True)
class FeatureLayer:
    """One probe-able layer: `module`'s output is the feature.

    kind:
      "map"     -- a (B, C, h, w) feature map; `stride` input pixels per grid cell.
      "map_hwc" -- a (B, h, w, C) feature map, channels last, as ConvNeXt and Swin blocks keep it between
                   their LayerNorms and MLPs; `stride` as for "map".
      "tokens"  -- a (B, prefix + h*w, D) token sequence; the first `prefix_tokens` (e.g. [CLS])
                   are not on the grid, the rest are patches in row-major order, `stride` = patch size.
      "vector"  -- a (B, D) pooled vector or logits: no grid at all.
    """

    name: str
    module: nn.Module
    kind: FeatureKind
    stride: int = 1
    prefix_tokens: int = 0

    @property
    def on_grid(self) -> bool:
        """Whether its output has a spatial grid (what shifts, receptive fields and mixing are measured on)."""
        return self.kind in GRID_KINDS

    def to_grid(
        self, output: torch.Tensor, image_hw: tuple[int, int]
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Split a layer output into (grid (B, C, h, w) or None, off-grid part (B, D) or None).

        The off-grid part is the [CLS]-like prefix tokens averaged, or the whole vector for "vector" layers.
        """
        if self.kind == "map":
            return output, None
        if self.kind == "map_hwc":
            return output.permute(0, 3, 1, 2), None  # (B, C, h, w): a view, no copy
        if self.kind == "vector":
            return None, output.flatten(1)
        B, T, D = output.shape
        h, w = image_hw[0] // self.stride, image_hw[1] // self.stride
        patches = output[:, self.prefix_tokens :]  # (B, h*w, D)
        if patches.shape[1] != h * w:
            raise ValueError(f"layer {self.name}: {patches.shape[1]} patch tokens do not form a {h}x{w} grid")
        grid = patches.transpose(1, 2).reshape(B, D, h, w)
        prefix = output[:, : self.prefix_tokens].mean(1) if self.prefix_tokens else None
        return grid, prefix


@dataclass(frozen=True)
class Capabilities:
    """What the rest of cnnvit asks of a model, declared by its family: probes, recipes, device placement and
    the report read this, never the model's name. Declared on the class, so `models.capabilities_of(name)`
    answers without building anything; tests/test_models.py checks every declaration against the built modules.

    family: the side of the comparison it stands on: "cnn", "vit", "control" (a reference model that is not a
            contender, e.g. the bag of local features), or "hybrid".
    recipe: the key of its training recipe (training/recipes.py RECIPES); a new family may reuse one.
    layouts: the kinds of its feature layers (FeatureLayer.kind), exactly those its feature_layers() name.
    input_embedding: what the module that first turns pixels into features (its first convolution: a patch
            embedding or a stem) feeds, which a sequence task replaces by a token embedding (the multimodal
            probe): "tokens", a Transformer encoder that `token_encoder()` returns; "image", a convolutional
            body that takes a height-1 (B, D, 1, T) image; None: nothing a sequence could enter.
    position_embedding: it adds a table of position embeddings to its patch tokens, one per grid cell, that
            must be mapped when the grid changes (the resolution probe's variants); a spec may still leave
            the table empty (a ViT with pos_embed=none).
    channels_last: it prefers the channels-last memory format (training/device.py): its convolutions, most
            of its work, run faster in it with oneDNN on CPU and with cuDNN on GPU.
    attention_maps: its attention modules expose their (B, heads, T, T) probabilities to hooks, which
            `explicit_attention` makes them compute (what the attention-distance probe reads).
    """

    family: Literal["cnn", "vit", "control", "hybrid"]
    recipe: str
    layouts: frozenset[FeatureKind]
    input_embedding: Literal["tokens", "image"] | None = None
    position_embedding: bool = False
    channels_last: bool = False
    attention_maps: bool = False

    @property
    def grid_layers(self) -> bool:
        """Whether some feature layer has a spatial grid (what shifts, receptive fields and mixing are read on)."""
        return bool(self.layouts & set(GRID_KINDS))


@dataclass(frozen=True)
class TokenEncoder:
    """A ViT's Transformer encoder as a token sequence can run through it: its blocks in order, its final
    norm, its [CLS] token (None with mean pooling) and its width D."""

    blocks: nn.Module  # iterable of modules (B, T, D) -> (B, T, D)
    norm: nn.Module
    cls_token: nn.Parameter | None
    dim: int


class Backbone(nn.Module):
    """Base class of every cnnvit model (ResNet, ViT, ConvNeXt, wrapped torchvision models)."""

    arch: str  # the family's name as run summaries and the report's tables record it ("resnet", "vit", "bag")
    capabilities: Capabilities

    def feature_layers(self) -> list[FeatureLayer]:
        raise NotImplementedError

    def describe(self) -> str:
        """Its architecture in one line (`cnnvit models`): its spec's description."""
        return self.spec.describe()

    def token_encoder(self) -> TokenEncoder:
        """Its Transformer encoder, which a model whose capabilities declare input_embedding="tokens" returns."""
        raise CnnvitError(
            f"cannot find the Transformer encoder of {type(self).__name__}; a model declaring "
            'input_embedding="tokens" returns it from token_encoder()'
        )

    def no_weight_decay(self) -> set[str]:
        """Names of the parameters of at least two dimensions that AdamW must not decay (timm's convention:
        tokens and position embeddings); biases and normalisation scales never are (decayed_parameters)."""
        return set()

    def classifier(self) -> nn.Module:
        """The classification head: pooled features (B, D) -> logits (B, classes), what a new task replaces.

        cnnvit's own models call it `head`; the torchvision wrappers override this."""
        return self.get_submodule("head")

    def backbone_state(self) -> dict[str, torch.Tensor]:
        """state_dict() without the classifier's entries: the weights that carry over to a task with other classes."""
        head = next(name for name, module in self.named_modules() if module is self.classifier())
        return {key: value for key, value in self.state_dict().items() if not key.startswith(f"{head}.")}

    @property
    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def token_patch(self) -> int | None:
        """Pixels per side of a patch token (a ViT's patch size); None for a model without token layers."""
        strides = [layer.stride for layer in self.feature_layers() if layer.kind == "tokens"]
        return max(strides) if strides else None

    def token_grid(self, image_hw: tuple[int, int]) -> tuple[int, int, int] | None:
        """(patch size, grid rows, grid columns) of the patch tokens on H x W images; None without token layers."""
        patch = self.token_patch()
        return None if patch is None else (patch, image_hw[0] // patch, image_hw[1] // patch)

    def features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every named feature of `x`, in forward order (the last one is the logits)."""
        captured: dict[str, torch.Tensor] = {}
        with capture_outputs(self.feature_layers(), lambda layer, out: captured.__setitem__(layer.name, out)):
            self(x)
        return captured

    def train_flops_per_image(self, image_shape: tuple[int, int, int]) -> int:
        """Matmul/conv FLOPs (2 per multiply-add) of one forward + backward pass for one image.

        Counted by torch's FlopCounterMode, so elementwise ops, norms and softmax are not included
        (the usual "model FLOPs" numerator of MFU). Attention runs its explicit matmul path while
        counting because the fused CPU kernel is not in every torch's FLOP registry.

        Counted on a copy on the meta device: no arithmetic is done (a ViT-B/16 takes 1 s, not 5), a
        training-mode pass cannot touch this model's BatchNorm statistics, and attention that is not
        cnnvit's own (torchvision's MultiheadAttention) is counted too, which the fused CPU kernel
        would hide (1.1% of ViT-B/16's FLOPs on 28 px images).
        """
        model = copy.deepcopy(self).to(device="meta").train()
        x = torch.zeros(2, *image_shape, device="meta")  # BatchNorm needs > 1 value
        with explicit_attention(model), FlopCounterMode(display=False) as counter:
            model(x).sum().backward()
        return counter.get_total_flops() // 2


Builder = Callable[[BaseModel | None, tuple[int, int, int], int], Backbone]  # (spec, (C, H, W), classes) -> model


@dataclass(frozen=True)
class Family:
    """A model family as the registry (models/__init__.py) finds it: any module of cnn_vs_vit/models that
    exports FAMILIES, a tuple of these, is one. A family owns its presets and how a spec becomes its model,
    so adding one is its module (and its entry in tests/test_models.py), and no other file names it.

    model: the class it builds; its `capabilities` and `arch` are the family's.
    presets: preset name -> spec (a frozen pydantic model whose fields are the model options); None for a
             fixed model that takes no options (torchvision's).
    build: (spec, image shape, classes) -> model, where the constructor needs more than
           model(spec, in_channels=C, num_classes=classes) (a ViT needs the image size).
    resolve_options: (preset, options, image shape) -> options with what the preset leaves to the image
           size filled in (a ViT preset's patch size), saved in the run's config.yaml.
    matched: preset -> the preset of another family it is sized to match (parameters within 1.5x,
             tests/test_models.py); what `cnnvit models` compares it with.
    """

    model: type[Backbone]
    presets: dict[str, BaseModel | None]
    build: Builder | None = None
    resolve_options: Callable[[BaseModel, dict, tuple[int, int, int]], dict] | None = None
    matched: dict[str, str] = field(default_factory=dict)

    def build_model(self, spec: BaseModel | None, image_shape: tuple[int, int, int], num_classes: int) -> Backbone:
        if self.build is not None:
            return self.build(spec, image_shape, num_classes)
        return self.model(spec, in_channels=image_shape[0], num_classes=num_classes)


@contextmanager
def capture_outputs(layers: list[FeatureLayer], on_output) -> Iterator[None]:
    """Call `on_output(layer, output)` for every layer during the forward passes inside the block."""
    handles = [
        layer.module.register_forward_hook(lambda _m, _inp, out, layer=layer: on_output(layer, out)) for layer in layers
    ]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def explicit_attention(model: nn.Module) -> Iterator[None]:
    """Run every attention module of `model` through its explicit softmax path inside the block.

    The fused `scaled_dot_product_attention` never materialises attention weights; the explicit
    path computes the same function and passes the (B, heads, T, T) probabilities through a
    hookable `attend` module, which is how probes read them.
    """
    modules = [m for m in model.modules() if hasattr(m, "explicit")]
    previous = [m.explicit for m in modules]
    for m in modules:
        m.explicit = True
    try:
        yield
    finally:
        for m, p in zip(modules, previous):
            m.explicit = p
