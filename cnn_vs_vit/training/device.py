"""Device selection and the numeric settings that go with it."""

import logging

import torch

from ..errors import CnnvitError


def select_device(requested: str) -> torch.device:
    """cuda, then mps, then cpu for "auto"; an explicit device that is absent is an error."""
    available = {
        "cuda": torch.cuda.is_available(),
        "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available(),
        "cpu": True,
    }
    if requested == "auto":
        return torch.device(next(name for name in ("cuda", "mps", "cpu") if available[name]))
    if not available[requested]:
        raise CnnvitError(f"device {requested} is not available on this machine; use device=auto or device=cpu")
    return torch.device(requested)


def configure_threads(threads: int) -> int:
    """Set CPU intra-op threads (0 keeps torch's default of one per core); returns the count in use."""
    if threads > 0 and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def autocast(device: torch.device, precision: str):
    """The training step's precision, from the run's config (train.precision), never from the hardware:
    "bf16" runs matmuls and convolutions in bfloat16 (autocast), "fp32" runs everything in float32.

    Which is faster depends on the machine (benchmarks/precision.py): bf16 matmul was ~100x slower
    than fp32 on an AVX2 CPU and ~6x faster on an AMX one; a run's result must follow from its config.
    """
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def use_channels_last(model: torch.nn.Module, device: torch.device) -> bool:
    """channels_last for the models that declare they prefer it (Capabilities.channels_last: convolutional
    ones; a ViT's only convolution is its patch embedding): faster convolutions on CPU (oneDNN) and GPU alike.

    Not on CPU when a convolution reads a channel count other than 1 or a multiple of 8: with
    torch 2.14.1 the backward pass of a 1x1 stride-2 convolution over 2, 4 or 6 channels in
    channels_last corrupts the heap (found with resnet-xxs, widths 4/8/16/32).
    """
    capabilities = getattr(model, "capabilities", None)  # None: a module that is not a cnnvit model
    if capabilities is None or not capabilities.channels_last:
        return False
    convolutions = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    return device.type != "cpu" or all(m.in_channels == 1 or m.in_channels % 8 == 0 for m in convolutions)


def compile_module(module: torch.nn.Module) -> torch.nn.Module:
    """torch.compile(module), quiet on a CPU-only machine: inductor's C++ build warns "No CUDA runtime is found"
    once per process there, a line per cell in `cnnvit run` that says nothing about the run."""
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    return torch.compile(module)
