"""`cnnvit run`: plan the cells of an experiment, train what is missing, probe, report.

Layout of an experiment's results directory:
    <out>/experiment.yaml      the experiment as it was run
    <out>/runs/<cell name>/    one run directory per cell (see rundir.py)
Re-running finishes what is missing and does nothing else: finished runs are kept, interrupted
ones resume from their checkpoints, probe results are reused when their arguments match.
"""

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from .. import rundir as layout
from ..config import flatten
from .experiment import Cell, Experiment, expand

RUNS = "runs"
EXPERIMENT_FILE = "experiment.yaml"


@dataclass
class PlannedCell:
    cell: Cell
    run_dir: Path
    state: str  # "done" | "resumable" | "failed" | "to do"


def plan(experiment: Experiment, out: Path) -> list[PlannedCell]:
    """Every cell with its run directory and what a run would do with it."""
    planned = []
    for cell in expand(experiment):
        run = layout.RunDir(out / RUNS / cell.name)
        if run.is_trained:
            state = "done"
        elif (run / layout.FAILED).exists():
            state = "failed"
        elif run.has_checkpoint:
            state = "resumable"
        else:
            state = "to do"
        planned.append(PlannedCell(cell, run.path, state))
    return planned


def train_cells(cells: list[PlannedCell], jobs: int, on_done: Callable[[PlannedCell, int], None]) -> None:
    """Train the cells, `jobs` at a time, each in its own `cnnvit train` process.

    One process per cell keeps cells independent (memory, threads, a crash); with several jobs each
    gets an equal share of the CPU threads. `on_done(cell, exit_code)` is called as each ends.
    """
    threads = max(1, (os.cpu_count() or 1) // jobs)
    pending, running = list(cells), []
    while pending or running:
        while pending and len(running) < jobs:
            planned = pending.pop(0)
            running.append((planned, subprocess.Popen(_train_command(planned, threads, jobs))))
        planned, process = running.pop(0)
        on_done(planned, process.wait())


def _train_command(planned: PlannedCell, threads: int, jobs: int) -> list[str]:
    overrides = [f"{key}={json.dumps(value)}" for key, value in flatten(planned.cell.config.model_dump(mode="json")).items()]
    if jobs > 1:
        overrides.append(f"threads={threads}")  # not part of the run's identity (see NON_SEMANTIC_KEYS)
    return [sys.executable, "-m", "cnn_vs_vit", "train", "--out", str(planned.run_dir), *overrides]


def fetch_datasets(cells: list[PlannedCell], download: bool) -> None:
    """Load (and with `download`, fetch) every dataset the unfinished cells need, once, here.

    A missing dataset is then one error before any training starts, and parallel cells never race
    to download the same files."""
    from ..data import load_dataset

    needed = {(p.cell.config.data.name, p.cell.config.data.root, p.cell.config.data.image_size,
               p.cell.config.data.skip_corrupt) for p in cells if p.state != "done"}  # fmt: skip
    for name, root, image_size, skip_corrupt in sorted(needed, key=str):
        load_dataset(name, root=root, download=download, image_size=image_size, skip_corrupt=skip_corrupt)


def write_experiment(experiment: Experiment, out: Path) -> None:
    layout.atomic_write_text(out / EXPERIMENT_FILE, yaml.safe_dump(experiment.model_dump(mode="json"), sort_keys=False))


def probe_cells(experiment: Experiment, cells: list[PlannedCell]) -> list[Path]:
    """Run every probe the finished cells ask for (saved results with the same arguments are reused)."""
    from ..probes.shift import parse_modes
    from ..probes.shift_runs import probe_run_dir

    options = experiment.probe_shift
    probed = []
    for planned in cells:
        if "shift" in planned.cell.probes and layout.RunDir(planned.run_dir).is_trained:
            probe_run_dir(planned.run_dir, shifts=options.shifts, modes=parse_modes(options.mode),
                          images=options.images, batch_size=options.batch_size)  # fmt: skip
            probed.append(planned.run_dir)
    return probed
