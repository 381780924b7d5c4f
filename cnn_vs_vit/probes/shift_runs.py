"""The shift probe on run directories (or on a model not trained here): load, reuse or compute, write.

Writes, atomically, into <dir>/probes/:
  shift.csv           one row per layer x shift x mode (probes.shift.COLUMNS)
  shift_summary.json  prediction figures per mode and shift, and the arguments the result answers
  shift.png           error vs shift per layer (with plot=True)
A second call with the same arguments and unchanged weights reuses the files unless force=True.
"""

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from .. import rundir as layout
from ..data import ImageDataset, load_dataset, probe_sample
from ..errors import CnnvitError
from ..models import Backbone, build_model
from .shift import DEFAULT_BATCH_SIZE, DEFAULT_IMAGES, ShiftResult, probe_shift, probeable_layers, resolve_shifts
from .saved import load_run
from .shift_report import plot_shift

ROWS_FILE = "shift.csv"
SUMMARY_FILE = "shift_summary.json"
PLOT_FILE = "shift.png"
FORMAT_VERSION = 1  # bump when the meaning of a saved number changes: older results are then recomputed
RANDOM_INIT_SEED = 0


@dataclass
class ShiftProbe:
    """What one probe-shift call produced: the result, where it lives, and whether it was computed now."""

    result: ShiftResult
    directory: Path  # the probes/ folder holding the files
    reused: bool
    plot: Path | None = None


def probe_run_dir(
    run_dir: Path | str,
    *,
    shifts: Sequence[int] | None = None,
    modes: Sequence[str] = ("circular", "crop"),
    images: int = DEFAULT_IMAGES,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: torch.device | str = "cpu",
    force: bool = False,
    plot: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ShiftProbe:
    """Probe a finished run's trained model on `images` test images (data.probe_sample); files go to run_dir/probes/."""
    run = load_run(run_dir, device)
    return _probe_and_save(run.model, run.label, run.dataset, run.source, Path(run_dir) / layout.PROBES, shifts=shifts,
                           modes=modes, images=images, batch_size=batch_size, device=device, force=force, plot=plot,
                           progress=progress)  # fmt: skip


def probe_named_model(
    name: str,
    *,
    dataset: str,
    out: Path | str,
    weights: Path | str | None = None,
    data_root: Path | str | None = None,
    shifts: Sequence[int] | None = None,
    modes: Sequence[str] = ("circular", "crop"),
    images: int = DEFAULT_IMAGES,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: torch.device | str = "cpu",
    force: bool = False,
    plot: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ShiftProbe:
    """Probe model `name` (e.g. torchvision:resnet18) built for `dataset`, with `weights` (safetensors or a torch
    state dict) or, without them, a random initialisation (seed 0); files go to out/probes/."""
    data = load_dataset(dataset, root=data_root)
    torch.manual_seed(RANDOM_INIT_SEED)
    model = build_model(name, image_shape=data.image_shape, num_classes=data.num_classes)
    if weights is not None:
        load_weights(model, Path(weights), name)
    model = model.to(device).eval()
    source = {"model": name, "dataset": dataset,
              "weights": layout.file_fingerprint(Path(weights)) if weights is not None else f"random init (seed {RANDOM_INIT_SEED})"}  # fmt: skip
    label = name if weights is not None else f"{name} (random init)"
    return _probe_and_save(model, label, data, source, Path(out) / layout.PROBES, shifts=shifts, modes=modes,
                           images=images, batch_size=batch_size, device=device, force=force, plot=plot,
                           progress=progress)  # fmt: skip


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
        problems = [f"{len(found)} {what} (e.g. {found[0]})" for what, found in
                    (("missing keys", missing), ("unexpected keys", unexpected), ("tensors of another shape", mismatched)) if found]  # fmt: skip
        raise CnnvitError(f"weights {path} do not fit {name} for this dataset: {', '.join(problems)}; "
                          "give weights saved from the same model and dataset")  # fmt: skip
    model.load_state_dict(state)


def _probe_and_save(
    model: Backbone, label: str, dataset: ImageDataset, source: dict, directory: Path, *, shifts, modes, images: int,
    batch_size: int, device, force: bool, plot: bool, progress,
) -> ShiftProbe:  # fmt: skip
    if batch_size < 1:
        raise CnnvitError(f"--batch-size {batch_size} is not positive; give e.g. --batch-size {DEFAULT_BATCH_SIZE}")
    probeable_layers(model, label)
    shifts = resolve_shifts(None if shifts is None else list(shifts), dataset.image_shape[1:], model)
    sample = probe_sample(dataset, images)
    arguments = {"version": FORMAT_VERSION, "shifts": shifts, "modes": list(modes), "images": len(sample.indices),
                 "sample": sample.record(), "source": source}  # fmt: skip
    cached = None if force else _cached(directory, arguments)
    if cached is not None:
        result, reused = cached, True
    else:
        tic = time.perf_counter()
        result = probe_shift(model, sample.images, sample.labels, shifts=shifts, modes=modes, batch_size=batch_size,
                             device=device, model_name=label, progress=progress)  # fmt: skip
        wall_time = round(time.perf_counter() - tic, 3)
        result.summary.update(arguments=arguments, dataset=dataset.name, sample=arguments["sample"],
                              wall_time_s=wall_time)  # fmt: skip
        # The CSV first: the summary (which holds the arguments and the CSV's checksum) marks a complete result.
        rows = result.rows.to_csv(index=False)
        layout.atomic_write_text(directory / ROWS_FILE, rows)
        result.summary["rows_sha256"] = hashlib.sha256(rows.encode()).hexdigest()
        layout.atomic_write_json(directory / SUMMARY_FILE, result.summary)
        reused = False
    plot_path = None
    if plot:
        plot_path = directory / PLOT_FILE
        plot_shift(result.rows, plot_path, title=f"{label} on {dataset.name}: shift equivariance")
    return ShiftProbe(result=result, directory=directory, reused=reused, plot=plot_path)


def _cached(directory: Path, arguments: dict) -> ShiftResult | None:
    """The saved result when it answers exactly `arguments`; None when absent, different or unreadable."""
    try:
        summary = layout.read_json(directory / SUMMARY_FILE)
        if summary.get("arguments") != json.loads(json.dumps(arguments)):  # compare as JSON sees them
            return None
        expected = summary.get("rows_sha256")  # absent from results written before it was recorded
        if expected and hashlib.sha256((directory / ROWS_FILE).read_bytes()).hexdigest() != expected:
            return None  # damaged after it was written
        rows = pd.read_csv(directory / ROWS_FILE, dtype={"expressible": "boolean", "grid_stride": "Int64",
                                                         "grid_shift": "Int64"})  # fmt: skip
    except (OSError, ValueError):  # missing files, torn or hand-edited JSON/CSV: compute again
        return None
    return ShiftResult(rows=rows, summary=summary)
