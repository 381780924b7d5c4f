"""Training again with a finished run's recipe, on tensors held in memory: what the transfer and multimodal
probes train, and what the time estimate times.

Each step is the training loop's step (step.TrainingStep: the same AdamW parameter groups, warm-up then
cosine schedule, label smoothing and gradient clipping), with the same batch order (inputs.BatchOrder) and
per-step augmentation (inputs.step_generator) for the run's seed. Left out: checkpoints, metrics and the
run directory, since a probe's result is saved whole or not at all.
"""

import math
from collections.abc import Callable

import torch
from torch import nn

from ..config import RunConfig
from ..data.model_input import normalize, to_unit
from ..errors import TrainingFailed
from .inputs import BatchOrder, augment, step_generator
from .progress import TrainingProgress
from .step import NonFiniteLoss, TrainingStep

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
    forward: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> float:
    """Train every parameter of `module` (train mode) for the run's steps of its batch size on `labels`' examples,
    computing the logits with `forward` when given (e.g. torch.compile(module), as the time estimate times it).

    Returns the last step's training loss (nats). A non-finite loss stops with TrainingFailed.
    """
    train = config.train
    update = TrainingStep(module, config, device=device, forward=forward)
    order = BatchOrder(len(labels), train.batch_size, config.seed)
    labels = labels.to(device)
    module.train()
    loss_value = math.nan
    with TrainingProgress(train.steps, 0, enabled=progress, label=label) as bar:
        for step in range(train.steps):
            index = order.batch(step).to(device)
            try:
                loss_value, _ = update(inputs(step, index), labels[index])
            except NonFiniteLoss as error:
                raise TrainingFailed(
                    f"{label}: the loss became {error.loss} at step {step} with the run's "
                    f"recipe (train.lr={train.lr}), never tuned here; choose other data"
                ) from None
            bar.update(step + 1, loss_value)
    return loss_value
