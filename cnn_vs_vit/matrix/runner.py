"""`cnnvit run`: plan the cells of an experiment, train what is missing in waves of seeds, probe, report.

Layout of an experiment's results directory:
    <out>/experiment.yaml      the experiment as it was run
    <out>/runs/<cell name>/    one run directory per cell (see rundir.py)
Re-running finishes what is missing and does nothing else: finished runs are kept, interrupted
ones resume from their checkpoints, probe results are reused when their arguments match.
"""

import multiprocessing
import multiprocessing.connection
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from .. import rundir as layout
from ..config import RunConfig
from ..data import load_dataset
from ..data.registry import dataset_shape
from ..errors import CnnvitError
from ..models import train_flops
from ..training import train_run
from ..training.loop import budget_steps, checkpoint_problem
from .experiment import Cell, Experiment, expand
from .seed_waves import added_cells

RUNS = "runs"
EXPERIMENT_FILE = "experiment.yaml"


@dataclass
class PlannedCell:
    cell: Cell
    run_dir: Path
    state: str  # "done" | "resumable" | "failed" | "to do" | "corrupted" (trained again from scratch)


def plan(experiment: Experiment, out: Path) -> list[PlannedCell]:
    """Every cell with its run directory and what a run would do with it: the experiment's cells, then the seeds
    that its settle section added in earlier waves, found by their run directories (seed_waves.py)."""
    cells = expand(experiment)
    if experiment.settle:
        cells += added_cells(cells, experiment.settle.cap, lambda cell: (out / RUNS / cell.name).exists())
    return [plan_cell(cell, out) for cell in cells]


def plan_cell(cell: Cell, out: Path) -> PlannedCell:
    """A cell with its run directory under `out` and what a run would do with it."""
    run = layout.RunDir(out / RUNS / cell.name)
    if run.is_trained:
        state = "corrupted" if run.weights_problem() else "done"
    elif (run / layout.FAILED).exists():
        state = "failed"
    elif run.has_checkpoint:
        state = "corrupted" if checkpoint_problem(run.path) else "resumable"
    else:
        state = "to do"
    return PlannedCell(cell, run.path, state)


def waves(cells: list[PlannedCell]) -> list[list[PlannedCell]]:
    """The cells in waves, so that every claim gets its first seed early: wave k holds the cells of the
    k-th smallest training seed, the costliest first (training FLOPs left; file order among equals), so that
    no long cell starts last and leaves the other jobs idle while it finishes the wave. Order never changes
    a run's result (each run's randomness comes from its own seed), only when its row of the report first
    appears."""
    seeds = sorted({planned.cell.config.seed for planned in cells})
    by_seed = [[planned for planned in cells if planned.cell.config.seed == seed] for seed in seeds]
    return [sorted(wave, key=lambda planned: -training_flops_left(planned)) for wave in by_seed]


def steps_left(planned: PlannedCell) -> int:
    """Optimiser steps a cell still has to take: its budget less what its checkpoint holds."""
    config = planned.cell.config
    labels = None
    if config.train.epochs is not None:  # the budget follows the subset's size
        labels = load_dataset(
            config.data.name,
            root=config.data.root,
            image_size=config.data.image_size,
            skip_corrupt=config.data.skip_corrupt,
        ).train_labels
    total = budget_steps(config, labels)
    if planned.state != "resumable":
        return total
    logged = [r.get("step", 0) for r in layout.RunDir(planned.run_dir).metrics() if r.get("split") == "train"]
    return max(0, total - max(logged, default=0))


def training_flops_left(planned: PlannedCell) -> float:
    """The FLOPs of the training steps a cell still has to take."""
    config = planned.cell.config
    shape, classes = dataset_shape(config.data.name, image_size=config.data.image_size)
    flops = train_flops(config.model.name, image_shape=shape, num_classes=classes, options=config.model.options)
    return float(steps_left(planned) * config.train.batch_size * flops)


def train_cells(cells: list[PlannedCell], jobs: int, on_done: Callable[[PlannedCell, int], None]) -> None:
    """Train the cells, `jobs` at a time, each in its own process.

    One process per cell keeps cells independent (memory, threads, a native crash); with several
    jobs each gets an equal share of the CPU threads. Processes are forked from a server that has
    imported torch and cnnvit once (~6 s per cell saved); where there is no fork server (Windows)
    each cell starts a fresh interpreter. `on_done(cell, exit_code)` is called as each ends; a
    negative code is the signal that killed it. If anything stops this loop (Ctrl-C, SIGTERM,
    `on_done` raising), the running cells are sent SIGTERM and waited for: each saves a checkpoint.
    """
    threads = cell_threads(jobs)
    context = cell_context()
    pending, running = list(cells), []
    try:
        while pending or running:
            while pending and len(running) < jobs:
                planned = pending.pop(0)
                config = planned.cell.config
                if jobs > 1:  # not part of the run's identity (see NON_SEMANTIC_KEYS)
                    config = config.model_copy(update={"threads": threads})
                process = context.Process(
                    target=train_cell,
                    args=(config.model_dump(mode="json"), str(planned.run_dir), planned.state == "corrupted"),
                )
                process.start()
                running.append((planned, process))
            ready = multiprocessing.connection.wait([process.sentinel for _, process in running])
            index = next(i for i, (_, process) in enumerate(running) if process.sentinel in ready)
            planned, process = running.pop(index)
            process.join()
            on_done(planned, process.exitcode)
    except BaseException:  # Ctrl-C, SIGTERM turned into an error, a stopping cell: the others checkpoint and stop too
        for _, process in running:
            process.terminate()  # SIGTERM: saves a checkpoint at the next step boundary (exit 143)
        for _, process in running:
            process.join()
        raise


def train_cell(config: dict, run_dir: str, restart: bool) -> None:
    """A cell's process: train its validated config quietly; a CnnvitError is one line on stderr and the
    process's exit code is the error's, as `cnnvit train`'s would be."""
    try:
        train_run(RunConfig.model_validate(config), Path(run_dir), progress=False, restart=restart)
    except CnnvitError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        sys.exit(error.exit_code)


def cell_threads(jobs: int) -> int:
    """CPU threads of each cell when `jobs` run at once: an equal share of the cores."""
    return max(1, (os.cpu_count() or 1) // jobs)


def cell_context():
    """The multiprocessing context of cell processes: a fork server that has imported torch and cnnvit, or
    spawn (a fresh interpreter per process) where there is none (Windows). Anything else this process starts in
    parallel (the time estimate's calibration) takes it too: the fork server starts once per process, with the
    preload set before it."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # torch._dynamo: torch's FLOP counter imports it on first use (2.5 s); here it is paid once.
    context.set_forkserver_preload(["cnn_vs_vit.training.loop", "cnn_vs_vit.matrix.runner", "torch._dynamo"])
    return context


def fetch_datasets(cells: list[PlannedCell], download: bool) -> None:
    """Load (and with `download`, fetch) every dataset the unfinished cells need, once, here.

    A missing dataset is then one error before any training starts, and parallel cells never race
    to download the same files."""
    needed = {
        (
            p.cell.config.data.name,
            p.cell.config.data.root,
            p.cell.config.data.image_size,
            p.cell.config.data.skip_corrupt,
        )
        for p in cells
        if p.state != "done"
    }
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


def probe_cells(
    experiment: Experiment, cells: list[PlannedCell], progress: Callable[[ProbeStep], None] | None = None
) -> int:
    """Run every probe the finished cells ask for (saved results with the same arguments are reused),
    telling `progress` when each starts and ends; returns how many were computed (not reused).

    A probe that does not apply to a cell's architecture (attention distance of a ResNet) is skipped."""
    from ..probes.plugin import applies, run_probe

    trained = [planned for planned in cells if planned.cell.probes and layout.RunDir(planned.run_dir).is_trained]
    work = [
        (planned, name) for planned in trained for name in sorted(planned.cell.probes) if applies(name, planned.run_dir)
    ]
    computed = 0
    for index, (planned, name) in enumerate(work, 1):
        step = ProbeStep(name, planned.run_dir, index, len(work))
        if progress:
            progress(step)
        tic = time.perf_counter()
        reused = run_probe(name, planned.run_dir, experiment.probe_options(name)).reused
        computed += not reused
        if progress:
            progress(ProbeStep(name, planned.run_dir, index, len(work), time.perf_counter() - tic, reused))
    return computed
