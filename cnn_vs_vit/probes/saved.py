"""What the single-table probes share on run directories: load the trained model, reuse a result saved
with the same arguments and weights, or compute it and write it atomically.

Used by receptive_field, attention_distance, mixing, introspection, resolution, transfer and multimodal. Each
writes into <run>/probes/:
  <name>.csv           the rows
  <name>_summary.json  the arguments (with the weights' fingerprint), what the probe adds, and the SHA-256
                       of every file it wrote; written last, so its presence marks a complete result
  extra files a probe asks for (e.g. receptive_field_maps.safetensors), written before the summary
A second call with the same arguments and unchanged weights reuses the files unless force=True.
"""

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch

from .. import rundir as layout
from ..config import RunConfig
from ..data import ImageDataset, ProbeSample
from ..models import Backbone


@dataclass
class TrainedRun:
    """A finished run's model (eval mode), config, dataset, display label and identity for caching."""

    model: Backbone
    config: RunConfig
    dataset: ImageDataset
    label: str
    source: dict  # model, options, dataset and the weights' fingerprint: what a saved result was computed from


@dataclass
class SavedProbe:
    """A probe's result as saved in (or reused from) `directory`."""

    rows: pd.DataFrame
    summary: dict
    directory: Path
    reused: bool
    files: dict[str, Path] = field(default_factory=dict)  # extra files by name, e.g. the ERF maps


def model_label(name: str, options: dict) -> str:
    """"vit-s" or "vit-s (pos_embed=none)": the model as the tables and plots name it."""
    return f"{name} ({', '.join(f'{k}={v}' for k, v in sorted(options.items()))})" if options else name


def load_run(run_dir: Path | str, device: torch.device | str = "cpu") -> TrainedRun:
    from ..training import load_trained  # deferred: training imports the data and model stacks

    run = layout.RunDir(run_dir)
    model, config, dataset = load_trained(run.path, device)
    # Identified by its weights, not its path: a moved results directory keeps its probes.
    source = {"model": config.model.name, "model_options": config.model.options, "dataset": config.data.name,
              "weights": layout.file_fingerprint(run / layout.WEIGHTS)}  # fmt: skip
    summary = run.summary() if (run / layout.SUMMARY).exists() else {}
    chosen = summary.get("model_options", config.model.options)  # the variant, not what the preset resolved to
    return TrainedRun(model, config, dataset, model_label(config.model.name, chosen), source)


def save_or_reuse(
    directory: Path,
    name: str,
    arguments: dict,
    compute: Callable[[], tuple[pd.DataFrame, dict, dict[str, bytes]]],
    *,
    force: bool = False,
    dtypes: dict | None = None,
    sample: ProbeSample | None = None,
) -> SavedProbe:
    """The result of `compute()` for `arguments`, read from `directory` when saved there with the same ones.

    compute() -> (rows, summary additions, extra files {file name: bytes}). `dtypes` are the CSV
    column types to restore on reading (e.g. nullable integers). A probe that reads test images passes
    its `sample`: its record joins the arguments (a result computed on other images is not reused)
    and the summary (as "sample", so a reader sees what the figures average over).
    """
    if sample is not None:
        arguments = {**arguments, "sample": sample.record()}
    rows_path, summary_path = layout.probe_files(directory, name)
    if not force:
        cached = _cached(directory, rows_path, summary_path, arguments, dtypes)
        if cached is not None:
            return cached
    tic = time.perf_counter()
    rows, summary, extras = compute()
    summary = {**summary, "arguments": arguments, "wall_time_s": round(time.perf_counter() - tic, 3)}
    if sample is not None:
        summary["sample"] = arguments["sample"]
    checksums = {}
    for file_name, data in extras.items():
        layout.atomic_write_bytes(directory / file_name, data)
        checksums[file_name] = hashlib.sha256(data).hexdigest()
    text = rows.to_csv(index=False)
    layout.atomic_write_text(rows_path, text)
    checksums[rows_path.name] = hashlib.sha256(text.encode()).hexdigest()
    summary["sha256"] = checksums
    layout.atomic_write_json(summary_path, summary)  # last: marks the files above as one complete result
    files = {file_name: directory / file_name for file_name in extras}
    return SavedProbe(rows=rows, summary=summary, directory=directory, reused=False, files=files)


def _cached(directory: Path, rows_path: Path, summary_path: Path, arguments: dict, dtypes) -> SavedProbe | None:
    """The saved result when it answers exactly `arguments` and no file changed since; else None."""
    try:
        summary = layout.read_json(summary_path)
        if summary.get("arguments") != json.loads(json.dumps(arguments)):  # compare as JSON sees them
            return None
        checksums = summary["sha256"]
        for file_name, expected in checksums.items():
            if hashlib.sha256((directory / file_name).read_bytes()).hexdigest() != expected:
                return None  # damaged or replaced after it was written
        rows = pd.read_csv(rows_path, dtype=dtypes)
    except (OSError, ValueError, KeyError, TypeError):  # missing, torn or hand-edited files: compute again
        return None
    files = {file_name: directory / file_name for file_name in checksums if file_name != rows_path.name}
    return SavedProbe(rows=rows, summary=summary, directory=directory, reused=True, files=files)
