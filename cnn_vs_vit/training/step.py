"""The training step: one optimiser update of a module on one batch, the same for everything cnnvit trains
(a run's training loop, the fine-tuning of probes, the time estimate's calibration).

The recipe it follows (AdamW groups, the lr schedule: schedule.py) is built by recipes.py; the batches it is
given come from inputs.py.
"""

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..config import RunConfig
from .device import autocast
from .recipes import optimizer_and_schedule


class NonFiniteLoss(Exception):
    """The batch's loss was NaN or infinite; no weight was changed. Callers say where and why it matters."""

    def __init__(self, loss: float):
        super().__init__(f"non-finite loss {loss}")
        self.loss = loss


class TrainingStep:
    """Updates `module` with the run's recipe, one batch per call.

    `forward` is what computes the logits (the module itself, or it wrapped by DistributedDataParallel or
    torch.compile); `module` is what the optimiser updates and the gradient norm is clipped over. The
    optimiser and schedule are attributes so that a checkpoint can save and restore them.
    """

    def __init__(
        self,
        module: nn.Module,
        config: RunConfig,
        *,
        device: torch.device,
        forward: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ):
        self.module, self.forward = module, module if forward is None else forward
        self.optimizer, self.scheduler = optimizer_and_schedule(module, config)
        self.device = device
        self.precision, self.label_smoothing, self.grad_clip = (
            config.train.precision,
            config.train.label_smoothing,
            config.train.grad_clip,
        )

    def __call__(
        self, x: torch.Tensor, y: torch.Tensor, *, mean: Callable[[torch.Tensor], torch.Tensor] = lambda loss: loss
    ) -> tuple[float, torch.Tensor]:
        """One update on inputs `x` with labels `y` (int64 (B,)): returns the batch's loss (nats, as a float;
        `mean` makes it the global batch's across processes) and the logits (B, classes).

        Raises NonFiniteLoss, before any weight changes, when that loss is not finite.
        """
        with autocast(self.device, self.precision):
            logits = self.forward(x)  # (B, classes), bfloat16 under bf16 autocast
            loss = F.cross_entropy(logits.float(), y, label_smoothing=self.label_smoothing)  # in float32 either way
        loss_value = mean(loss.detach()).item()
        if not math.isfinite(loss_value):
            raise NonFiniteLoss(loss_value)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.module.parameters(), self.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        return loss_value, logits

    @property
    def lr(self) -> float:
        """The learning rate the next step takes (the schedule has already advanced past the last one)."""
        return self.scheduler.get_last_lr()[0]
