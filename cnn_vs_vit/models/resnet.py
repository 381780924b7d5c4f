"""ResNet for small images (He et al. 2016, CIFAR-style stem).

A 3x3 stride-1 stem without max-pool keeps 28-32 px images at full resolution in the first
stage; each later stage halves the grid. Two options exist because the shift probes need them:
`padding_mode="circular"` (with stride 1 everywhere the network is then exactly equivariant to
circular shifts) and `blur_pool=True` (Zhang 2019: low-pass filter before every subsampling).
"""

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from .interface import Backbone, Capabilities, Family, FeatureLayer

PaddingMode = Literal["zeros", "circular"]


class ResNetSpec(BaseModel):
    """Everything needed to build the ResNet; presets are instances of it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    widths: tuple[int, ...] = Field((16, 32, 64, 128), min_length=1)  # channels per stage
    blocks: tuple[int, ...] = Field((1, 1, 1, 1), min_length=1)  # BasicBlocks per stage
    padding_mode: PaddingMode = "zeros"
    blur_pool: bool = False
    downsample: bool = True  # stride 2 at the start of every stage after the first

    def describe(self) -> str:
        options = (
            [self.padding_mode + " padding"]
            + ["blur-pool"] * self.blur_pool
            + ["no downsampling"] * (not self.downsample)
        )
        return (
            f"widths {'/'.join(map(str, self.widths))}, blocks {'/'.join(map(str, self.blocks))}, {', '.join(options)}"
        )

    def model_post_init(self, _context) -> None:
        if len(self.widths) != len(self.blocks):
            raise ValueError(f"widths {self.widths} and blocks {self.blocks} must have one entry per stage")


@dataclass(frozen=True)
class Field:
    """The input pixels a unit of a feature map sees, along each axis: unit i (0-based) sees pixels
    i * jump - reach ... i * jump + reach, clipped to the image (zero padding adds nothing)."""

    reach: int  # pixels on either side of the unit's centre
    jump: int  # input pixels between neighbouring units

    @property
    def size(self) -> int:
        return 2 * self.reach + 1

    def pixels(self, unit: int, image_size: int) -> range:
        return range(max(0, unit * self.jump - self.reach), min(image_size, unit * self.jump + self.reach + 1))


def receptive_fields(spec: ResNetSpec) -> list[Field]:
    """Each block's exact receptive field (block order), from the architecture alone: every 3x3 convolution
    widens the field by one unit of its input on each side, a stride multiplies the jump, and the
    shortcut's 1x1 convolution sees a subset of what the main path sees. Zero padding only: circular
    padding wraps the field around the image."""
    if spec.padding_mode != "zeros":
        raise ValueError("receptive_fields assumes zero padding; circular padding wraps fields around the image")
    fields, reach, jump = [], 1, 1  # the stem: one 3x3 convolution at stride 1
    for stage, n_blocks in enumerate(spec.blocks):
        for i in range(n_blocks):
            stride = 2 if (spec.downsample and stage > 0 and i == 0) else 1
            if stride > 1 and spec.blur_pool:  # a 3x3 blur subsamples, then conv1 runs at stride 1
                reach += jump
                jump *= stride
                reach += jump
            else:  # conv1 subsamples at its output
                reach += jump
                jump *= stride
            reach += jump  # conv2, on the block's output grid
            fields.append(Field(reach, jump))
    return fields


class BlurPool(nn.Module):
    """Anti-aliased subsampling (Zhang 2019): a fixed [1, 2, 1] x [1, 2, 1] / 16 blur, then stride."""

    def __init__(self, channels: int, stride: int, padding_mode: PaddingMode):
        super().__init__()
        kernel = torch.tensor([1.0, 2.0, 1.0])
        kernel = (kernel[:, None] * kernel[None, :]) / 16
        self.register_buffer("kernel", kernel.expand(channels, 1, 3, 3).contiguous(), persistent=False)
        self.stride = stride
        # Zhang pads by reflection; circular keeps the circular network's symmetry.
        self.pad_mode = "circular" if padding_mode == "circular" else "reflect"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, (1, 1, 1, 1), mode=self.pad_mode)
        return F.conv2d(x, self.kernel, stride=self.stride, groups=x.shape[1])


def conv3x3(c_in: int, c_out: int, stride: int, padding_mode: PaddingMode) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, padding_mode=padding_mode, bias=False)


def subsample(c_in: int, stride: int, spec: ResNetSpec) -> nn.Module:
    """What a strided layer does to its input grid: nothing, plain striding, or blur then stride."""
    if stride == 1 or not spec.blur_pool:
        return nn.Identity()
    return BlurPool(c_in, stride, spec.padding_mode)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection; the first may subsample."""

    def __init__(self, c_in: int, c_out: int, stride: int, spec: ResNetSpec):
        super().__init__()
        # With blur-pool the convolution itself runs at stride 1 and BlurPool subsamples first.
        conv_stride = 1 if spec.blur_pool else stride
        self.conv1 = nn.Sequential(subsample(c_in, stride, spec), conv3x3(c_in, c_out, conv_stride, spec.padding_mode))
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = conv3x3(c_out, c_out, 1, spec.padding_mode)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                subsample(c_in, stride, spec),
                nn.Conv2d(c_in, c_out, 1, stride=conv_stride, bias=False),
                nn.BatchNorm2d(c_out),
            )
        self.relu = nn.ReLU()  # not in-place: hooks on this block must see its real output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class ResNet(Backbone):
    arch = "resnet"
    capabilities = Capabilities(
        family="cnn", recipe="resnet", layouts=frozenset({"map", "vector"}), input_embedding="image", channels_last=True
    )

    def __init__(self, spec: ResNetSpec, *, in_channels: int, num_classes: int):
        super().__init__()
        self.spec = spec
        self.stem = nn.Sequential(
            conv3x3(in_channels, spec.widths[0], 1, spec.padding_mode), nn.BatchNorm2d(spec.widths[0]), nn.ReLU()
        )
        self.blocks = nn.ModuleList()
        self.block_strides: list[int] = []  # cumulative input pixels per grid cell after each block
        c_in, cumulative = spec.widths[0], 1
        for stage, (width, n_blocks) in enumerate(zip(spec.widths, spec.blocks)):
            for i in range(n_blocks):
                stride = 2 if (spec.downsample and stage > 0 and i == 0) else 1
                cumulative *= stride
                self.blocks.append(BasicBlock(c_in, width, stride, spec))
                self.block_strides.append(cumulative)
                c_in = width
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)  # (B, w0, H, W)
        for block in self.blocks:
            x = block(x)
        return self.head(self.pool(x))  # (B, classes)

    def feature_layers(self) -> list[FeatureLayer]:
        layers = [FeatureLayer("stem", self.stem, "map", 1)]
        index_in_stage = _stage_block_names(self.spec.blocks)
        for name, block, stride in zip(index_in_stage, self.blocks, self.block_strides):
            layers.append(FeatureLayer(name, block, "map", stride))
        layers += [FeatureLayer("pool", self.pool, "vector"), FeatureLayer("logits", self.head, "vector")]
        return layers


def _stage_block_names(blocks: tuple[int, ...]) -> list[str]:
    """["stage1.block1", "stage1.block2", "stage2.block1", ...] for blocks per stage."""
    return [f"stage{s + 1}.block{b + 1}" for s, n in enumerate(blocks) for b in range(n)]


# -xxs / -xs / -m scale resnet-s's widths by 1/4, 1/2, 2 (depth unchanged) for width-scaling sweeps; each is
# matched in size with the vit preset of the same suffix (models/vit.py).
FAMILIES = (
    Family(
        ResNet,
        presets={
            "resnet-xxs": ResNetSpec(widths=(4, 8, 16, 32)),
            "resnet-xs": ResNetSpec(widths=(8, 16, 32, 64)),
            "resnet-s": ResNetSpec(widths=(16, 32, 64, 128)),
            "resnet-m": ResNetSpec(widths=(32, 64, 128, 256)),
        },
    ),
)
