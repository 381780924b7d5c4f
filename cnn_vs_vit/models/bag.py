"""A bag-of-local-features classifier (BagNet-style, Brendel & Bethge 2019): the control of claim 3.

Every feature position sees one `window` x `window` patch of the input (a window-sized convolution,
then 1x1 convolutions); the class scores are a linear function of the mean of those features over
all positions. So the model is a function of the multiset of window contents and of nothing else:
not of where a window is, nor of what two distant windows hold together. The first convolution is
a "full" one: it pads by window - 1 on each side, so every window that overlaps the image exists,
also those centred outside it, and it pads by replicating the border, so those windows see the
background continue rather than a padding value that would tell them where they are.

On the global-context task (data/global_context.py) no 7x7 window touches two patterns and both
labels give the same distribution of window contents, so this model is at chance by construction:
its test accuracy shows that the task cannot be solved by pooling local evidence.
"""

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from .interface import Backbone, Capabilities, Family, FeatureLayer


class BagSpec(BaseModel):
    """Everything needed to build the bag-of-local-features model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    window: int = Field(7, ge=1)  # side of the square each feature sees
    width: int = Field(64, ge=1)  # channels of every feature layer
    depth: int = Field(2, ge=1)  # feature layers: the window convolution, then depth - 1 1x1 convolutions

    def describe(self) -> str:
        return f"window {self.window}, width {self.width}, depth {self.depth}, mean of local features"


class BagOfLocalFeatures(Backbone):
    arch = "bag"
    capabilities = Capabilities(family="control", recipe="bag", layouts=frozenset({"vector"}))

    def __init__(self, spec: BagSpec, *, in_channels: int, num_classes: int):
        super().__init__()
        self.spec = spec
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, spec.width, spec.window, padding=spec.window - 1, padding_mode="replicate"),
            nn.ReLU(),
        ]
        for _ in range(spec.depth - 1):
            layers += [nn.Conv2d(spec.width, spec.width, 1), nn.ReLU()]
        self.local = nn.Sequential(*layers)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(spec.width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.local(x)))

    def feature_layers(self) -> list[FeatureLayer]:
        # The local features form a (H + window - 1)-wide grid that overhangs the image, not a grid of
        # it, so they are no "map" layer for the probes; the control is not probed anyway.
        return [FeatureLayer("pool", self.pool, "vector"), FeatureLayer("logits", self.head, "vector")]


# The control of claim 3: a bag of 7x7 local features, not a contender.
FAMILIES = (Family(BagOfLocalFeatures, presets={"bagnet-7": BagSpec(window=7, width=64, depth=2)}),)
