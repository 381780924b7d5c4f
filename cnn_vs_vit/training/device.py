"""Device selection and the numeric settings that go with it."""

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


def autocast(device: torch.device):
    """bf16 autocast on GPUs; fp32 elsewhere (bf16 matmul is ~100x slower than fp32 on AVX2 CPUs)."""
    enabled = device.type == "cuda"
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)
