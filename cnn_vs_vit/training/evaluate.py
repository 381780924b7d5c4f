"""Accuracy and loss of a model on a labelled uint8 image set."""

import torch
import torch.nn.functional as F

from ..data.model_input import to_model_input


@torch.inference_mode()
def evaluate(
    model: torch.nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    device: torch.device,
    batch_size: int = 500,
    channels_last: bool = False,
) -> dict:
    """{"accuracy": fraction correct, "loss": mean cross-entropy (nats), "n": images} in eval mode.

    Always in float32, whatever precision the model trained in: every model is measured the same way."""
    was_training = model.training
    model.eval()
    correct, loss_sum = 0, 0.0
    for start in range(0, len(images), batch_size):
        x = to_model_input(images[start : start + batch_size].to(device))
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        y = labels[start : start + batch_size].to(device)
        logits = model(x).float()
        correct += (logits.argmax(1) == y).sum().item()
        loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
    model.train(was_training)
    return {"accuracy": correct / len(images), "loss": loss_sum / len(images), "n": len(images)}
