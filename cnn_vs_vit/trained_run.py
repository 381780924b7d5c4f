"""The one loader of a finished run: its trained model, config and dataset, and its identity for caching.

`run_source` is that identity read without building the model or loading the dataset (the config and the
weights' fingerprint), so a probe can check its saved result first; `load_run` loads everything.
"""

from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file

from . import rundir as layout
from .config import RunConfig, build_config, read_yaml
from .data import ImageDataset, load_dataset
from .errors import CnnvitError
from .models import Backbone, build_model


@dataclass
class TrainedRun:
    """A model (eval mode) with its config (None for a model not trained here), dataset, display label and
    identity for caching."""

    model: Backbone
    config: RunConfig | None
    dataset: ImageDataset
    label: str
    source: dict  # model, options, dataset and the weights' fingerprint: what a saved result was computed from


def model_label(name: str, options: dict) -> str:
    """ "vit-s" or "vit-s (pos_embed=none)": the model as the tables and plots name it."""
    return f"{name} ({', '.join(f'{k}={v}' for k, v in sorted(options.items()))})" if options else name


def run_config(run_dir: Path | str) -> RunConfig:
    """A finished run's resolved config; a one-line error when the directory holds no trained run."""
    run = layout.RunDir(run_dir)
    if not (run / layout.CONFIG).exists():
        raise CnnvitError(
            f"{run.path} is not a run directory (no {layout.CONFIG}); pass a directory made by cnnvit train"
        )
    if not (run / layout.WEIGHTS).exists():
        raise CnnvitError(f"{run.path} has no trained weights ({layout.WEIGHTS}); finish it with cnnvit train first")
    return build_config(read_yaml(run / layout.CONFIG), where=str(run / layout.CONFIG))


def run_source(run_dir: Path | str, config: RunConfig | None = None) -> dict:
    """What a probe's result on this run was computed from. Identified by the weights, not the path: a moved
    results directory keeps its probes."""
    config = config or run_config(run_dir)
    return {
        "model": config.model.name,
        "model_options": config.model.options,
        "dataset": config.data.name,
        "weights": layout.file_fingerprint(layout.RunDir(run_dir) / layout.WEIGHTS),
    }


def load_run(run_dir: Path | str, device: torch.device | str = "cpu") -> TrainedRun:
    """The trained model of a finished run (eval mode) with its config, dataset, label and source."""
    run = layout.RunDir(run_dir)
    config = run_config(run.path)
    dataset = load_dataset(
        config.data.name,
        root=config.data.root,
        image_size=config.data.image_size,
        skip_corrupt=config.data.skip_corrupt,
    )
    model = build_model(
        config.model.name,
        image_shape=dataset.image_shape,
        num_classes=dataset.num_classes,
        options=config.model.options,
    )
    problem = run.weights_problem()
    if problem:
        raise CnnvitError(
            f"weights file {run / layout.WEIGHTS} is corrupted ({problem}); retrain it with "
            "cnnvit train --restart (cnnvit run does so by itself)"
        )
    model.load_state_dict(load_file(run / layout.WEIGHTS))
    summary = run.summary() if (run / layout.SUMMARY).exists() else {}
    chosen = summary.get("model_options", config.model.options)  # the variant, not what the preset resolved to
    return TrainedRun(
        model.to(device).eval(), config, dataset, model_label(config.model.name, chosen), run_source(run.path, config)
    )
