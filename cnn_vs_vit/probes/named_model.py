"""A model not trained here, built for a dataset with given weights (or a random initialisation), as a run
the probes take (`cnnvit probe-shift --model torchvision:resnet18 --dataset cifar10 --weights FILE`)."""

from pathlib import Path

import torch

from .. import rundir as layout
from ..data import load_dataset
from ..errors import CnnvitError
from ..models import Backbone, build_model
from ..trained_run import TrainedRun

RANDOM_INIT_SEED = 0


def named_model_run(
    name: str,
    *,
    dataset: str,
    weights: Path | str | None = None,
    data_root: Path | str | None = None,
    device: torch.device | str = "cpu",
) -> TrainedRun:
    """Model `name` (e.g. torchvision:resnet18) built for `dataset`, with `weights` (safetensors or a torch
    state dict) or, without them, a random initialisation (seed RANDOM_INIT_SEED)."""
    data = load_dataset(dataset, root=data_root)
    torch.manual_seed(RANDOM_INIT_SEED)
    model = build_model(name, image_shape=data.image_shape, num_classes=data.num_classes)
    if weights is not None:
        load_weights(model, Path(weights), name)
    model = model.to(device).eval()
    source = {
        "model": name,
        "dataset": dataset,
        "weights": layout.file_fingerprint(Path(weights))
        if weights is not None
        else f"random init (seed {RANDOM_INIT_SEED})",
    }
    label = name if weights is not None else f"{name} (random init)"
    return TrainedRun(model, None, data, label, source)


def load_weights(model: Backbone, path: Path, name: str) -> None:
    """Load a safetensors file or a torch state dict into `model`; a one-line error when it does not fit."""
    if not path.is_file():
        raise CnnvitError(f"weights file {path} does not exist; give the path of a .safetensors or .pt state dict")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(path)
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # unpickling and safetensors raise many types for a bad file
        raise CnnvitError(
            f"cannot read weights {path} ({type(error).__name__}); give a .safetensors file or a torch state dict"
        ) from None
    if isinstance(state, dict) and isinstance(state.get("model"), dict):  # a cnnvit checkpoint.pt
        state = state["model"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CnnvitError(f"{path} holds no state dict of tensors; give weights saved with model.state_dict()")
    expected = model.state_dict()
    if not any(key in expected for key in state) and all(f"net.{key}" in expected for key in state):
        state = {f"net.{key}": value for key, value in state.items()}  # saved from the bare torchvision model
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    mismatched = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or mismatched:
        problems = [
            f"{len(found)} {what} (e.g. {found[0]})"
            for what, found in (
                ("missing keys", missing),
                ("unexpected keys", unexpected),
                ("tensors of another shape", mismatched),
            )
            if found
        ]
        raise CnnvitError(
            f"weights {path} do not fit {name} for this dataset: {', '.join(problems)}; "
            "give weights saved from the same model and dataset"
        )
    model.load_state_dict(state)
