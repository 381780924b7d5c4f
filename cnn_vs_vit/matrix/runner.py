"""`cnnvit run`: plan the cells of an experiment, train what is missing in waves of seeds, probe, report.

Layout of an experiment's results directory:
    <out>/experiment.yaml      the experiment as it was run
    <out>/runs/<cell name>/    one run directory per cell (see rundir.py)
Re-running finishes what is missing and does nothing else: finished runs are kept, interrupted
ones resume from their checkpoints, probe results are reused when their arguments match.
"""

import json
import multiprocessing
import multiprocessing.connection
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from .. import rundir as layout
from ..config import flatten
from ..data.registry import dataset_shape
from ..models import train_flops
from ..training.loop import checkpoint_problem
from .experiment import Cell, Experiment, expand

RUNS = "runs"
EXPERIMENT_FILE = "experiment.yaml"


@dataclass
class PlannedCell:
    cell: Cell
    run_dir: Path
    state: str  # "done" | "resumable" | "failed" | "to do" | "corrupted" (trained again from scratch)


def plan(experiment: Experiment, out: Path) -> list[PlannedCell]:
    """Every cell with its run directory and what a run would do with it."""
    planned = []
    for cell in expand(experiment):
        run = layout.RunDir(out / RUNS / cell.name)
        if run.is_trained:
            state = "corrupted" if run.weights_problem() else "done"
        elif (run / layout.FAILED).exists():
            state = "failed"
        elif run.has_checkpoint:
            state = "corrupted" if checkpoint_problem(run.path) else "resumable"
        else:
            state = "to do"
        planned.append(PlannedCell(cell, run.path, state))
    return planned


def waves(cells: list[PlannedCell]) -> list[list[PlannedCell]]:
    """The cells in waves, so that every claim gets its first seed early: wave k holds the cells of the
    k-th smallest training seed, the costliest first (training FLOPs left; file order among equals), so that
    no long cell starts last and leaves the other jobs idle while it finishes the wave. Order never changes
    a run's result (each run's randomness comes from its own seed), only when its row of the report first
    appears."""
    seeds = sorted({planned.cell.config.seed for planned in cells})
    by_seed = [[planned for planned in cells if planned.cell.config.seed == seed] for seed in seeds]
    return [sorted(wave, key=lambda planned: -training_flops_left(planned)) for wave in by_seed]


def training_flops_left(planned: PlannedCell) -> float:
    """The FLOPs of the training steps a cell still has to take."""
    from .estimate import steps_left  # the estimate builds on this module

    config = planned.cell.config
    shape, classes = dataset_shape(config.data.name, image_size=config.data.image_size)
    flops = train_flops(config.model.name, image_shape=shape, num_classes=classes, options=config.model.options)
    return float(steps_left(planned) * config.train.batch_size * flops)


def train_cells(cells: list[PlannedCell], jobs: int, on_done: Callable[[PlannedCell, int], None]) -> None:
    """Train the cells, `jobs` at a time, each in its own process running `cnnvit train`.

    One process per cell keeps cells independent (memory, threads, a native crash); with several
    jobs each gets an equal share of the CPU threads. Processes are forked from a server that has
    imported torch and cnnvit once (~6 s per cell saved); where there is no fork server (Windows)
    each cell starts a fresh interpreter. `on_done(cell, exit_code)` is called as each ends; a
    negative code is the signal that killed it. If anything stops this loop (Ctrl-C, SIGTERM,
    `on_done` raising), the running cells are sent SIGTERM and waited for: each saves a checkpoint.
    """
    threads = cell_threads(jobs)
    start = _cell_starter()
    pending, running = list(cells), []
    try:
        while pending or running:
            while pending and len(running) < jobs:
                planned = pending.pop(0)
                running.append((planned, start(_train_arguments(planned, threads, jobs))))
            finished = _wait_any([cell for _, cell in running])
            planned, cell = running.pop(finished)
            on_done(planned, cell.exit_code())
    except BaseException:  # Ctrl-C, SIGTERM turned into an exit, a stopping cell: the others checkpoint and stop too
        for _, cell in running:
            cell.process.terminate()  # SIGTERM: saves a checkpoint at the next step boundary (exit 143)
        for _, cell in running:
            cell.exit_code()
        raise


def cell_threads(jobs: int) -> int:
    """CPU threads of each cell when `jobs` run at once: an equal share of the cores."""
    return max(1, (os.cpu_count() or 1) // jobs)


def _train_arguments(planned: PlannedCell, threads: int, jobs: int) -> list[str]:
    overrides = [f"{key}={json.dumps(value)}" for key, value in flatten(planned.cell.config.model_dump(mode="json")).items()]
    if jobs > 1:
        overrides.append(f"threads={threads}")  # not part of the run's identity (see NON_SEMANTIC_KEYS)
    restart = ["--restart"] if planned.state == "corrupted" else []
    return ["train", "--out", str(planned.run_dir), "--quiet", *restart, *overrides]


class _Forked:
    def __init__(self, process):
        self.process = process
        self.sentinel = process.sentinel

    def exit_code(self) -> int:
        self.process.join()
        return self.process.exitcode


class _Spawned:
    def __init__(self, process: subprocess.Popen):
        self.process = process
        self.sentinel = None

    def exit_code(self) -> int:
        return self.process.wait()


def cell_context():
    """The multiprocessing context of cell processes: a fork server that has imported torch and cnnvit, or
    None where there is none (Windows). Anything else this process starts in parallel (the time estimate's
    calibration) takes it too: the fork server starts once per process, with the preload set before it."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return None
    context = multiprocessing.get_context("forkserver")
    # torch._dynamo: torch's FLOP counter imports it on first use (2.5 s); here it is paid once.
    context.set_forkserver_preload(["cnn_vs_vit.cli", "cnn_vs_vit.training.loop", "torch._dynamo"])
    return context


def _cell_starter() -> Callable[[list[str]], "_Forked | _Spawned"]:
    context = cell_context()
    if context is None:
        return lambda arguments: _Spawned(subprocess.Popen([sys.executable, "-m", "cnn_vs_vit", *arguments]))

    def start(arguments: list[str]) -> _Forked:
        process = context.Process(target=_run_cli, args=(arguments,), daemon=False)
        process.start()
        return _Forked(process)

    return start


def _run_cli(arguments: list[str]) -> None:
    """A cell's process: `cnnvit train ...` with its exit code (SystemExit ends the process with it)."""
    from ..cli import main

    main(arguments)


def _wait_any(cells: list) -> int:
    """Index of a finished cell process, blocking until one ends."""
    while True:
        sentinels = [cell.sentinel for cell in cells if cell.sentinel is not None]
        if sentinels:
            ready = multiprocessing.connection.wait(sentinels)
            return next(i for i, cell in enumerate(cells) if cell.sentinel in ready)
        for i, cell in enumerate(cells):
            if cell.process.poll() is not None:
                return i
        time.sleep(0.2)


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


@dataclass
class ProbeStep:
    """One probe of one cell, as the probe phase reports it: when it starts (seconds None) and ends."""

    probe: str
    run_dir: Path
    index: int  # 1-based, of `total`
    total: int
    seconds: float | None = None
    reused: bool | None = None  # a saved result with the same arguments was kept


def probe_cells(experiment: Experiment, cells: list[PlannedCell], progress: Callable[[ProbeStep], None] | None = None) -> list[Path]:
    """Run every probe the finished cells ask for (saved results with the same arguments are reused),
    telling `progress` when each starts and ends.

    A probe that does not apply to a cell's architecture (attention distance of a ResNet) is skipped."""
    from ..probes.by_name import applies, run_probe
    from ..probes.shift import parse_modes
    from ..probes.shift_runs import probe_run_dir

    options = experiment.probe_shift
    trained = [planned for planned in cells if planned.cell.probes and layout.RunDir(planned.run_dir).is_trained]
    work = [(planned, name) for planned in trained for name in sorted(planned.cell.probes)
            if name == "shift" or applies(name, planned.run_dir)]  # fmt: skip
    for index, (planned, name) in enumerate(work, 1):
        step = ProbeStep(name, planned.run_dir, index, len(work))
        if progress:
            progress(step)
        tic = time.perf_counter()
        if name == "shift":
            reused = probe_run_dir(planned.run_dir, shifts=options.shifts, modes=parse_modes(options.mode),
                                   images=options.images, batch_size=options.batch_size).reused  # fmt: skip
        else:
            reused = run_probe(name, planned.run_dir)
        if progress:
            progress(ProbeStep(name, planned.run_dir, index, len(work), time.perf_counter() - tic, reused))
    return [planned.run_dir for planned in trained]
