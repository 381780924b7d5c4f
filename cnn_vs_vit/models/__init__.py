"""Model registry: every family's presets, found in the family modules, and the one place models are built.

A family module (resnet.py, vit.py, convnext.py...) exports FAMILIES (interface.Family): its presets and
how a spec becomes its model. The registry imports every module of this package and collects them, so a
new family is its module alone; the names are listed in module order.
"""

import functools
import importlib
import json
import pkgutil

import torch
from pydantic import BaseModel, ValidationError

from ..errors import CnnvitError, unknown_name, validation_message

# Re-exported for the modules that import them from here (the report's receptive fields, the probes' ViT);
# a new family needs no line here.
from .bag import BagOfLocalFeatures, BagSpec
from .interface import Backbone, Capabilities, Family, FeatureLayer, capture_outputs, explicit_attention
from .resnet import Field, ResNet, ResNetSpec, receptive_fields
from .vit import ViT, ViTSpec, patch_size_for


def _discover() -> list[Family]:
    """The FAMILIES of every module of this package, in module order."""
    modules = (importlib.import_module(f"{__name__}.{info.name}") for info in pkgutil.iter_modules(__path__))
    return [family for module in modules for family in getattr(module, "FAMILIES", ())]


def _by_name(families: list[Family]) -> dict[str, Family]:
    """Model name -> its family; a name two families declare is a programming error, found at import."""
    found: dict[str, Family] = {}
    for family in families:
        for name in family.presets:
            if name in found:
                raise RuntimeError(
                    f"model {name} is declared by {found[name].model.__name__} and {family.model.__name__}"
                )
            found[name] = family
    return found


FAMILIES = _discover()
FAMILY_OF = _by_name(FAMILIES)
MODEL_NAMES = tuple(FAMILY_OF)
# The presets that take model options (a spec each); torchvision's fixed models are not among them.
PRESETS: dict[str, BaseModel] = {
    name: spec for family in FAMILIES for name, spec in family.presets.items() if spec is not None
}
# Preset -> the preset of another family it is sized to match, as its family declares it (matched_preset
# reads it both ways).
MATCHED = {name: other for family in FAMILIES for name, other in family.matched.items()}


def _family(name: str) -> Family:
    if name not in FAMILY_OF:
        raise unknown_name("model", name, MODEL_NAMES)
    return FAMILY_OF[name]


def capabilities_of(name: str) -> Capabilities:
    """What model `name` declares about itself (its family, recipe...), read from its class: nothing is built."""
    return _family(name).model.capabilities


def matched_preset(name: str) -> str | None:
    """The preset that `name` is sized to match (it declares one, or one declares `name`); None for none."""
    return MATCHED.get(name) or next((mine for mine, theirs in MATCHED.items() if theirs == name), None)


def model_spec(name: str, options: dict | None = None) -> BaseModel | None:
    """The preset `name` with `options` (e.g. {"pos_embed": "none"}) applied; None for torchvision models."""
    options = options or {}
    preset = _family(name).presets[name]
    if preset is None:
        if options:
            raise CnnvitError(f"{name} takes no model options (got {', '.join(options)}); remove them")
        return None
    try:
        return type(preset).model_validate({**preset.model_dump(), **options})
    except ValidationError as error:
        raise CnnvitError(validation_message(error, f"model {name}")) from None


def resolved_options(name: str, options: dict | None, image_shape: tuple[int, int, int]) -> dict:
    """`options` with what the preset leaves to the image size filled in (a ViT preset's patch size)."""
    options = dict(options or {})
    family = FAMILY_OF.get(name)
    if family is None or family.resolve_options is None:
        return options
    return family.resolve_options(family.presets[name], options, image_shape)


def build_model(
    name: str, *, image_shape: tuple[int, int, int], num_classes: int, options: dict | None = None
) -> Backbone:
    """Build model `name` for images of `image_shape` (C, H, W) and `num_classes` classes."""
    spec = model_spec(name, resolved_options(name, options, image_shape))
    try:
        return FAMILY_OF[name].build_model(spec, tuple(image_shape), num_classes)
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
    "FAMILIES",
    "FAMILY_OF",
    "MODEL_NAMES",
    "PRESETS",
    "Backbone",
    "BagOfLocalFeatures",
    "BagSpec",
    "Capabilities",
    "Family",
    "FeatureLayer",
    "Field",
    "ResNet",
    "ResNetSpec",
    "ViT",
    "ViTSpec",
    "build_model",
    "capabilities_of",
    "capture_outputs",
    "explicit_attention",
    "matched_preset",
    "model_spec",
    "patch_size_for",
    "receptive_fields",
    "resolved_options",
    "train_flops",
]
