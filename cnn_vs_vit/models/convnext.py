"""A small ConvNeXt-style CNN (Liu et al. 2022, "A ConvNet for the 2020s"): the worked example of a model
family in one module (README, "Adding a model family"). Not part of the default study.

Image -> patchify stem (a P x P convolution at stride P: the "map" feature layer "stem", then LayerNorm)
-> stages of blocks -> global mean -> LayerNorm -> head. A block is x + MLP(LN(dwconv7x7(x))): a depthwise
7x7 convolution mixes positions, a LayerNorm over channels and an inverted-bottleneck MLP (C -> 4C -> C,
GELU) mix channels.
Activations stay channels-last, (B, h, w, C), between blocks, as ConvNeXt's LayerNorms and MLPs want
them (the depthwise convolution sees a permuted view), so the blocks are "map_hwc" feature layers: each
takes and gives a channels-last map.
The first block of every stage after the first subsamples: LayerNorm, then a 2x2 stride-2 convolution,
as ConvNeXt's separate downsampling layers do; folded into the block, as a ResNet's first block holds its
stride, so each feature layer's grid stride is its own. The strided convolutions zero-pad sides to a
multiple of their stride first (PatchConv), so a grid has ceil(side / stride) cells at any image size.
Left out at this depth: layer scale and stochastic depth (they help ConvNeXt train 18+ blocks).
"""

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from .interface import Backbone, Capabilities, Family, FeatureLayer


class ConvNeXtSpec(BaseModel):
    """Everything needed to build the ConvNeXt; presets are instances of it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    patch_size: int = Field(2, ge=1)  # the stem's patch: 2 at 28 px (ConvNeXt's 4 is for 224 px)
    widths: tuple[int, ...] = Field((16, 32, 64, 128), min_length=1)  # channels per stage
    blocks: tuple[int, ...] = Field((1, 1, 3, 1), min_length=1)  # blocks per stage, ConvNeXt's 1:1:3:1
    kernel: int = Field(7, ge=1)  # of the depthwise convolution; odd, so a block keeps its grid
    mlp_ratio: float = Field(4.0, gt=0)

    def describe(self) -> str:
        return (
            f"patch {self.patch_size}, widths {'/'.join(map(str, self.widths))}, "
            f"blocks {'/'.join(map(str, self.blocks))}, depthwise {self.kernel}x{self.kernel}, "
            f"MLP ratio {self.mlp_ratio:g}"
        )

    def model_post_init(self, _context) -> None:
        if len(self.widths) != len(self.blocks):
            raise ValueError(f"widths {self.widths} and blocks {self.blocks} must have one entry per stage")
        if self.kernel % 2 == 0:
            raise ValueError(f"kernel {self.kernel} is even; give an odd one (e.g. 7) so a block keeps its grid")


class PatchConv(nn.Conv2d):
    """A convolution at stride = kernel (a patchify stem, a downsampling layer) that first zero-pads the
    bottom and right of a (B, C, H, W) map to sides divisible by its stride, so no pixel is dropped."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stride = self.stride[0]
        return super().forward(F.pad(x, (0, -x.shape[-1] % stride, 0, -x.shape[-2] % stride)))


class Downsample(nn.Module):
    """LayerNorm, then a 2x2 stride-2 convolution: (B, h, w, C) -> (B, ceil(h/2), ceil(w/2), C')."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.norm = nn.LayerNorm(c_in)
        self.conv = PatchConv(c_in, c_out, 2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.norm(x).permute(0, 3, 1, 2)).permute(0, 2, 3, 1)  # (B, h', w', C')


class Block(nn.Module):
    """x + MLP(LN(dwconv(x))) on (B, h, w, C), after an optional Downsample."""

    def __init__(self, c_in: int, c_out: int, stride: int, spec: ConvNeXtSpec):
        super().__init__()
        self.downsample = Downsample(c_in, c_out) if stride > 1 else nn.Identity()
        self.dwconv = nn.Conv2d(c_out, c_out, spec.kernel, padding=spec.kernel // 2, groups=c_out)
        self.norm = nn.LayerNorm(c_out)
        hidden = int(c_out * spec.mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(c_out, hidden), nn.GELU(), nn.Linear(hidden, c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.downsample(x)  # (B, h, w, C)
        mixed = self.dwconv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)  # (B, h, w, C)
        return x + self.mlp(self.norm(mixed))


class ConvNeXt(Backbone):
    arch = "convnext"
    # The ResNet's recipe, untuned: the recipe search (experiments/recipes.yaml) has not been run for it.
    # Not channels-last in memory: its activations are channels-last already, the convolutions see views.
    capabilities = Capabilities(
        family="cnn", recipe="resnet", layouts=frozenset({"map", "map_hwc", "vector"}), input_embedding="image"
    )

    def __init__(self, spec: ConvNeXtSpec, *, in_channels: int, num_classes: int):
        super().__init__()
        self.spec = spec
        # The patchify stem: a P x P convolution at stride P, then a LayerNorm over channels.
        self.stem = PatchConv(in_channels, spec.widths[0], spec.patch_size, stride=spec.patch_size)
        self.stem_norm = nn.LayerNorm(spec.widths[0])
        self.blocks = nn.ModuleList()
        self.block_strides: list[int] = []  # cumulative input pixels per grid cell after each block
        c_in, cumulative = spec.widths[0], spec.patch_size
        for stage, (width, n_blocks) in enumerate(zip(spec.widths, spec.blocks)):
            for i in range(n_blocks):
                stride = 2 if (stage > 0 and i == 0) else 1
                cumulative *= stride
                self.blocks.append(Block(c_in, width, stride, spec))
                self.block_strides.append(cumulative)
                c_in = width
        self.norm = nn.LayerNorm(c_in)
        self.pool_out = nn.Identity()  # hook point: the pooled, normalised (B, C) representation
        self.head = nn.Linear(c_in, num_classes)
        self.apply(_init_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem_norm(self.stem(x).permute(0, 2, 3, 1))  # (B, h, w, C)
        for block in self.blocks:
            x = block(x)
        return self.head(self.pool_out(self.norm(x.mean(dim=(1, 2)))))  # (B, classes)

    def feature_layers(self) -> list[FeatureLayer]:
        layers = [FeatureLayer("stem", self.stem, "map", self.spec.patch_size)]
        names = [f"stage{s + 1}.block{b + 1}" for s, n in enumerate(self.spec.blocks) for b in range(n)]
        for name, block, stride in zip(names, self.blocks, self.block_strides):
            layers.append(FeatureLayer(name, block, "map_hwc", stride))
        layers += [FeatureLayer("pool", self.pool_out, "vector"), FeatureLayer("logits", self.head, "vector")]
        return layers


def _init_weights(module: nn.Module) -> None:
    """ConvNeXt's initialisation: truncated-normal convolutions and linears (std 0.02), zero biases."""
    if isinstance(module, (nn.Linear, nn.Conv2d)):
        nn.init.trunc_normal_(module.weight, std=0.02)
        nn.init.zeros_(module.bias)


# convnext-s is sized to match vit-s (and so resnet-s): within 1.5x of both in parameters at 28 px.
FAMILIES = (Family(ConvNeXt, presets={"convnext-s": ConvNeXtSpec()}, matched={"convnext-s": "vit-s"}),)
