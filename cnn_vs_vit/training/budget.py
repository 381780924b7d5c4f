"""How many optimiser steps a config trains for (its budget), before anything is trained."""

import math

import torch

from ..config import RunConfig
from ..data import training_split
from ..data.registry import dataset_shape
from ..models import train_flops
from .recipes import DEFAULT_STEPS


def budget_steps(config: RunConfig, train_labels: torch.Tensor | None = None) -> int:
    """The optimiser steps `config` trains for: train.steps, or its epochs of the subset within the bounds
    (which needs the training split's labels), or DEFAULT_STEPS; with train.match_flops, as many steps as
    spend the training FLOPs that preset spends in that budget."""
    train = config.train
    if train.epochs is None:
        steps = train.steps or DEFAULT_STEPS
    else:
        n_train = len(
            training_split(train_labels, config.data.fraction, config.data.data_seed, config.data.validation)[0]
        )
        steps = max(1, math.ceil(train.epochs * n_train / train.batch_size), train.min_steps or 1)
        steps = min(steps, train.max_steps or steps)
    if train.match_flops is None:
        return steps
    shape, classes = dataset_shape(config.data.name, image_size=config.data.image_size)
    own = train_flops(config.model.name, image_shape=shape, num_classes=classes, options=config.model.options)
    matched = train_flops(train.match_flops, image_shape=shape, num_classes=classes)
    return max(1, round(steps * matched / own))
