"""Training again with a finished run's recipe, on tensors held in memory: what the transfer probe
trains on its target dataset.

One step is the training loop's step (training/loop.py): the same AdamW parameter groups, linear
warm-up then cosine schedule, label smoothing and gradient clipping, the same batch order
(inputs.BatchOrder) and per-step augmentation (inputs.step_generator) for the run's seed. Left out:
checkpoints, metrics and the run directory, since a probe's result is saved whole or not at all.
"""

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..config import RunConfig
from ..data.model_input import normalize, to_unit
from ..errors import TrainingFailed
from .device import autocast
from .inputs import BatchOrder, augment, step_generator
from .progress import TrainingProgress
from .recipes import apply_gradients, optimizer_and_schedule

# inputs(step, index) -> the batch a module sees at `step` for the examples at positions `index` (int64 (B,))
Inputs = Callable[[int, torch.Tensor], torch.Tensor]


def augmented_inputs(
    images: torch.Tensor, config: RunConfig, *, device: torch.device, channels_last: bool = False
) -> Inputs:
    """Batches of uint8 `images` (N, C, H, W) augmented, normalised and laid out as the run's training loop does."""
    images = images.to(device)  # uint8, resident for the whole training

    def inputs(step: int, index: torch.Tensor) -> torch.Tensor:
        x = augment(
            to_unit(images[index]),
            translate=config.augment.translate,
            flip=config.augment.flip,
            generator=step_generator(config.seed, step),
        )
        x = normalize(x)
        return x.contiguous(memory_format=torch.channels_last) if channels_last else x

    return inputs


def fit(
    module: nn.Module,
    inputs: Inputs,
    labels: torch.Tensor,
    config: RunConfig,
    *,
    device: torch.device,
    label: str = "fit",
    progress: bool = False,
) -> float:
    """Train every parameter of `module` (train mode) for the run's steps of its batch size on `labels`' examples.

    Returns the last step's training loss (nats). A non-finite loss stops with TrainingFailed.
    """
    train = config.train
    optimizer, scheduler = optimizer_and_schedule(module, config)
    order = BatchOrder(len(labels), train.batch_size, config.seed)
    labels = labels.to(device)
    module.train()
    loss_value = math.nan
    with TrainingProgress(train.steps, 0, enabled=progress, label=label) as bar:
        for step in range(train.steps):
            index = order.batch(step).to(device)
            with autocast(device, config.train.precision):
                logits = module(inputs(step, index))
                loss = F.cross_entropy(logits.float(), labels[index], label_smoothing=train.label_smoothing)
            loss_value = loss.item()
            if not math.isfinite(loss_value):
                raise TrainingFailed(
                    f"{label}: the loss became {loss_value} at step {step} with the run's "
                    f"recipe (train.lr={train.lr}), never tuned here; choose other data"
                )
            apply_gradients(loss, module, optimizer, scheduler, train.grad_clip)
            bar.update(step + 1, loss_value)
    return loss_value
