"""Model registry: named presets and the one place models are built."""

import functools
import json

import torch
from pydantic import ValidationError

from ..errors import CnnvitError, unknown_name, validation_message
from .bag import BagOfLocalFeatures, BagSpec
from .interface import Backbone, Capabilities, FeatureLayer, capture_outputs, explicit_attention
from .resnet import Field, ResNet, ResNetSpec, receptive_fields
from .torchvision_models import TORCHVISION_CLASSES, TORCHVISION_MODELS, build_torchvision
from .vit import ViT, ViTSpec, patch_size_for

# Matched in size: each resnet-X / vit-X pair has parameter counts within 1.5x of each other at 28,
# 32 and 64 px (tests/test_models.py); -xxs / -xs / -m scale the width by 1/4, 1/2, 2 (depth, heads and
# patch unchanged) for width-scaling sweeps. A ViT preset's patch_size (7) is its patch at 28 px, its
# design size: at other sizes, unless model.patch_size is given, vit.patch_size_for picks the patch.
PRESETS: dict[str, ResNetSpec | ViTSpec | BagSpec] = {
    "resnet-xxs": ResNetSpec(widths=(4, 8, 16, 32)),
    "resnet-xs": ResNetSpec(widths=(8, 16, 32, 64)),
    "resnet-s": ResNetSpec(widths=(16, 32, 64, 128)),
    "resnet-m": ResNetSpec(widths=(32, 64, 128, 256)),
    "vit-xxs": ViTSpec(patch_size=7, dim=24, depth=4, heads=4),
    "vit-xs": ViTSpec(patch_size=7, dim=48, depth=4, heads=4),
    "vit-s": ViTSpec(patch_size=7, dim=96, depth=4, heads=4),
    "vit-m": ViTSpec(patch_size=7, dim=192, depth=4, heads=4),
    # The control of claim 3: a bag of 7x7 local features (models/bag.py), not a contender.
    "bagnet-7": BagSpec(window=7, width=64, depth=2),
}
MODEL_NAMES = (*PRESETS, *TORCHVISION_MODELS)
# The class each preset's spec builds.
MODEL_CLASSES: dict[type, type[Backbone]] = {ResNetSpec: ResNet, ViTSpec: ViT, BagSpec: BagOfLocalFeatures}


def capabilities_of(name: str) -> Capabilities:
    """What model `name` declares about itself (its family, recipe...), read from its class: nothing is built."""
    if name in TORCHVISION_MODELS:
        return TORCHVISION_CLASSES[name].capabilities
    if name not in PRESETS:
        raise unknown_name("model", name, MODEL_NAMES)
    return MODEL_CLASSES[type(PRESETS[name])].capabilities


def model_spec(name: str, options: dict | None = None) -> ResNetSpec | ViTSpec | BagSpec | None:
    """The preset `name` with `options` (e.g. {"pos_embed": "none"}) applied; None for torchvision models."""
    options = options or {}
    if name in TORCHVISION_MODELS:
        if options:
            raise CnnvitError(f"{name} takes no model options (got {', '.join(options)}); remove them")
        return None
    if name not in PRESETS:
        raise unknown_name("model", name, MODEL_NAMES)
    preset = PRESETS[name]
    try:
        return type(preset).model_validate({**preset.model_dump(), **options})
    except ValidationError as error:
        raise CnnvitError(validation_message(error, f"model {name}")) from None


def resolved_options(name: str, options: dict | None, image_shape: tuple[int, int, int]) -> dict:
    """`options` with what the preset leaves to the image size filled in: a ViT preset's patch size.

    An explicit model.patch_size wins (and must divide the image, or building fails with a hint).
    """
    options = dict(options or {})
    preset = PRESETS.get(name)
    if isinstance(preset, ViTSpec) and options.get("patch_size") is None:
        options["patch_size"] = patch_size_for(image_shape[1:], preset.patch_size)
    return options


def build_model(
    name: str, *, image_shape: tuple[int, int, int], num_classes: int, options: dict | None = None
) -> Backbone:
    """Build model `name` for images of `image_shape` (C, H, W) and `num_classes` classes."""
    spec = model_spec(name, resolved_options(name, options, image_shape))
    C, H, W = image_shape
    try:
        if spec is None:
            return build_torchvision(name, image_shape=image_shape, num_classes=num_classes)
        if isinstance(spec, ViTSpec):
            return ViT(spec, in_channels=C, num_classes=num_classes, image_size=(H, W))
        return MODEL_CLASSES[type(spec)](spec, in_channels=C, num_classes=num_classes)
    except ValueError as error:
        raise CnnvitError(f"cannot build {name}: {error}") from None


def train_flops(name: str, *, image_shape: tuple[int, int, int], num_classes: int, options: dict | None = None) -> int:
    """Training FLOPs per image (forward + backward) of model `name`, built on the meta device (no weights)."""
    return _train_flops(name, tuple(image_shape), num_classes, json.dumps(options or {}, sort_keys=True))


@functools.cache  # a matrix asks once per cell; the answer depends only on the shape
def _train_flops(name: str, image_shape: tuple[int, int, int], num_classes: int, options: str) -> int:
    with torch.device("meta"):
        model = build_model(name, image_shape=image_shape, num_classes=num_classes, options=json.loads(options))
    return model.train_flops_per_image(image_shape)


__all__ = [
    "BagOfLocalFeatures",
    "BagSpec",
    "Backbone",
    "Capabilities",
    "FeatureLayer",
    "Field",
    "MODEL_NAMES",
    "PRESETS",
    "ResNet",
    "ResNetSpec",
    "ViT",
    "ViTSpec",
    "receptive_fields",
    "build_model",
    "capabilities_of",
    "capture_outputs",
    "explicit_attention",
    "model_spec",
    "patch_size_for",
    "resolved_options",
    "train_flops",
]
