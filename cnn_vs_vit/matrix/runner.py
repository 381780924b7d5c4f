"""`cnnvit run`: plan the cells of an experiment, train what is missing in waves of seeds, probe, report.

Layout of an experiment's results directory:
    <out>/experiment.yaml      the experiment as it was run
    <out>/runs/<cell name>/    one run directory per cell (see rundir.py)
    <out>/trunks/<key>/        the trunks that wsd cells branch from (training/branches.py)
Re-running finishes what is missing and does nothing else: finished runs are kept, interrupted
ones resume from their checkpoints, probe results are reused when their arguments match.

The unit of work is a chain: the wsd cells that branch from one trunk (the same cell but for its budget),
trained one after another in one process from the shortest budget up, so that each trunk step is trained
once and each budget adds only its cool-down; any other cell is a chain of its own.
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
from ..models import capabilities_of, train_flops
from ..training import train_run
from ..training.branches import fork_step, trunk_key
from ..training.loop import budget_steps, checkpoint_problem, resolve_config
from ..training.signals import Interrupted
from .experiment import Cell, Experiment, expand
from .seed_waves import added_cells

EXPERIMENT_FILE = "experiment.yaml"
PENDING = ("to do", "resumable", "corrupted")  # the states of a cell that still trains


@dataclass
class PlannedCell:
    cell: Cell
    run_dir: Path
    state: str  # "done" | "resumable" | "failed" | "to do" | "corrupted" (trained again from scratch)
    chain: str = ""  # the trunk its budget branches from (wsd cells; trunk_key), else its own name
    fork: int = 0  # wsd: the step where it leaves its trunk (fork_step); else 0
    trunk_done: int = 0  # wsd: trunk steps it will find trained when it starts (saved, or an earlier branch's)


def plan(experiment: Experiment, out: Path) -> list[PlannedCell]:
    """Every cell with its run directory, what a run would do with it, and its chain: the experiment's cells,
    then the seeds that its settle section added in earlier waves, found by their run directories
    (seed_waves.py)."""
    cells = expand(experiment)
    if experiment.settle:
        cells += added_cells(cells, experiment.settle.cap, lambda cell: (out / layout.RUNS / cell.name).exists())
    return plan_cells(cells, out)


def plan_cells(cells: list[Cell], out: Path) -> list[PlannedCell]:
    """The cells with their run directories under `out`, what a run would do with each, and their chains."""
    planned = [plan_cell(cell, out) for cell in cells]
    link_branches(planned, out)
    return planned


def plan_cell(cell: Cell, out: Path) -> PlannedCell:
    """A cell with its run directory under `out` and what a run would do with it (its chain its own: plan_cells
    links the branches of a trunk)."""
    run = layout.RunDir(out / layout.RUNS / cell.name)
    if run.is_trained:
        state = "corrupted" if run.weights_problem() else "done"
    elif (run / layout.FAILED).exists():
        state = "failed"
    elif run.has_checkpoint:
        state = "corrupted" if checkpoint_problem(run.path) else "resumable"
    else:
        state = "to do"
    return PlannedCell(cell, run.path, state, chain=cell.name)


def link_branches(cells: list[PlannedCell], out: Path) -> None:
    """Give each wsd cell its chain, fork and the trunk steps it will find done: those its trunk store holds up
    to its fork (the store is named from the resolved config, as the loop names it), or the previous pending
    branch's fork, which that branch will have saved by the time this one starts."""
    datasets = {}
    pending_by_chain: dict[str, list[PlannedCell]] = {}
    for planned in cells:
        config = planned.cell.config
        if config.train.schedule != "wsd":
            continue
        data = config.data
        key = (data.name, data.root, data.image_size, data.skip_corrupt)
        if key not in datasets:
            datasets[key] = load_dataset(
                data.name, root=data.root, image_size=data.image_size, skip_corrupt=data.skip_corrupt
            )
        planned.chain = trunk_key(config)
        planned.fork = fork_step(config, datasets[key].train_labels)
        if planned.state in PENDING:
            resolved = resolve_config(config, datasets[key], capabilities_of(config.model.name).recipe)
            saved = layout.TrunkDir(out / layout.TRUNKS / trunk_key(resolved)).steps()
            planned.trunk_done = max((step for step in saved if step <= planned.fork), default=0)
            pending_by_chain.setdefault(planned.chain, []).append(planned)
    for branches in pending_by_chain.values():
        branches.sort(key=lambda planned: planned.fork)
        for before, after in zip(branches, branches[1:]):
            after.trunk_done = max(after.trunk_done, before.fork)


def chains(cells: list[PlannedCell]) -> list[list[PlannedCell]]:
    """The cells grouped by chain, in the order of each chain's first cell, each chain's from the shortest
    budget up (the order that trains its trunk once)."""
    grouped: dict[str, list[PlannedCell]] = {}
    for planned in cells:
        grouped.setdefault(planned.chain, []).append(planned)
    return [sorted(chain, key=lambda planned: planned.fork) for chain in grouped.values()]


def waves(cells: list[PlannedCell]) -> list[list[PlannedCell]]:
    """The cells in waves, so that every claim gets its first seed early: wave k holds the cells of the
    k-th smallest training seed, chain by chain, the costliest chain first (training FLOPs left; file order
    among equals), so that no long chain starts last and leaves the other jobs idle while it finishes the
    wave. Order never changes a run's result (each run's randomness comes from its own seed), only when its
    row of the report first appears. A chain's cells share their seed, so a chain is never split by waves."""
    seeds = sorted({planned.cell.config.seed for planned in cells})
    by_seed = [[planned for planned in cells if planned.cell.config.seed == seed] for seed in seeds]
    ordered = [sorted(chains(wave), key=lambda chain: -sum(map(training_flops_left, chain))) for wave in by_seed]
    return [[planned for chain in wave for planned in chain] for wave in ordered]


def steps_left(planned: PlannedCell) -> int:
    """Optimiser steps a cell still has to take: its budget less what its checkpoint holds, and for a branch
    less the trunk steps it will find done (PlannedCell.trunk_done)."""
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
    done = planned.trunk_done
    if planned.state == "resumable":
        logged = [r.get("step", 0) for r in layout.RunDir(planned.run_dir).metrics() if r.get("split") == "train"]
        done = max(done, *logged) if logged else done
    return max(0, total - done)


def training_flops_left(planned: PlannedCell) -> float:
    """The FLOPs of the training steps a cell still has to take."""
    config = planned.cell.config
    shape, classes = dataset_shape(config.data.name, image_size=config.data.image_size)
    flops = train_flops(config.model.name, image_shape=shape, num_classes=classes, options=config.model.options)
    return float(steps_left(planned) * config.train.batch_size * flops)


def train_cells(
    cells: list[PlannedCell],
    jobs: int,
    on_done: Callable[[PlannedCell, int], None],
    *,
    probes: "ProbesBeside | None" = None,
    compiled: Callable[[PlannedCell], bool] = lambda planned: False,
) -> None:
    """Train the cells, `jobs` chains at a time, each chain in its own process (its cells in order); with
    `probes` and more than one job, each finished cell's probes join the same pool ahead of the chains left.
    A cell for which `compiled` is true trains with a compiled step (compiling.py decides which).

    One process per chain keeps chains independent (memory, threads, a native crash); with several
    jobs each gets an equal share of the CPU threads. Processes are forked from a server that has
    imported torch and cnnvit once (~6 s per chain saved); where there is no fork server (Windows)
    each chain starts a fresh interpreter. `on_done(cell, exit_code)` is called for each cell of a chain
    as the chain ends: 0 for a cell it trained, else the process's exit code (a negative one is the signal
    that killed it). If anything stops this loop (Ctrl-C, SIGTERM, `on_done` raising), the running chains
    and probes are sent SIGTERM and waited for: each chain saves a checkpoint, a probe saves nothing partial.

    Probes in the pool: probes run in this process after the wave hold up everything behind them (the
    transfer probe's trainings were 17 of the main job's 19 probe minutes on a 2-core CPU, with no cell
    training meanwhile); in the pool each takes one job's share of the threads beside the wave's other chains,
    ahead of them, and the wave's report waits for none of them.
    """
    threads = cell_threads(jobs)
    context = cell_context()
    pending: list[list[PlannedCell] | tuple[PlannedCell, str]] = list(chains(cells))
    running = []
    try:
        while pending or running:
            while pending and len(running) < jobs:
                item = pending.pop(0)
                if isinstance(item, tuple):  # a probe of a finished cell
                    planned, name = item
                    options = probes.experiment.probe_options(name)
                    process = context.Process(target=probe_beside, args=(name, str(planned.run_dir), options, threads))
                else:
                    process = context.Process(target=train_chain, args=chain_work(item, jobs, threads, compiled))
                process.start()
                running.append((item, process, time.perf_counter()))
            ready = multiprocessing.connection.wait([process.sentinel for _, process, _ in running])
            index = next(i for i, (_, process, _) in enumerate(running) if process.sentinel in ready)
            item, process, started = running.pop(index)
            process.join()
            if isinstance(item, tuple):
                planned, name = item
                seconds = time.perf_counter() - started
                probes.done(ProbeStep(name, planned.run_dir, 0, 0, seconds, False, beside=True, code=process.exitcode))
                continue
            for planned in item:
                trained = process.exitcode == 0 or layout.RunDir(planned.run_dir).is_trained
                on_done(planned, 0 if trained else process.exitcode)
            if probes is not None and jobs > 1:
                pending[:0] = [(planned, name) for planned in item for name in probes.unsaved(planned)]
    except BaseException:  # Ctrl-C, SIGTERM turned into an error, a stopping cell: the others checkpoint and stop too
        for _, process, _ in running:
            process.terminate()  # SIGTERM: a chain saves a checkpoint at the next step boundary (exit 143)
        for _, process, _ in running:
            process.join()
        raise


def chain_work(
    chain: list[PlannedCell], jobs: int, threads: int, compiled: Callable[[PlannedCell], bool]
) -> tuple[list[tuple[dict, str, bool]], list[int]]:
    """train_chain's arguments for a chain: each cell's config (with its share of the threads beside other
    jobs, compiled where `compiled` says), run directory and whether it restarts; the forks of the chain's trunk."""
    forks = sorted({planned.fork for planned in chain if planned.fork})
    work = []
    for planned in chain:
        config = planned.cell.config
        if jobs > 1:  # not part of the run's identity (see NON_SEMANTIC_KEYS), nor is compile
            config = config.model_copy(update={"threads": threads})
        if compiled(planned):
            config = config.model_copy(update={"compile": True})
        work.append((config.model_dump(mode="json"), str(planned.run_dir), planned.state == "corrupted"))
    return work, forks


@dataclass(frozen=True)
class ProbesBeside:
    """What train_cells needs to run finished cells' probes in its pool: the experiment (each cell's probes and
    their options) and who is told as each ends (`done`, a ProbeStep with `beside` set)."""

    experiment: Experiment
    done: Callable[["ProbeStep"], None]

    def unsaved(self, planned: PlannedCell) -> list[str]:
        """The probes a trained cell still needs (unsaved_probes); none for a cell that did not train."""
        return unsaved_probes(self.experiment, planned) if layout.RunDir(planned.run_dir).is_trained else []


def unsaved_probes(experiment: Experiment, planned: PlannedCell) -> list[str]:
    """The probes a cell asks for that apply to its model and have no reusable saved result (all that apply, for a
    cell not trained yet): what the pool runs once it is trained, and what the time estimate counts."""
    from ..probes.plugin import find, is_saved

    capabilities = capabilities_of(planned.cell.config.model.name)
    return [
        name
        for name in sorted(planned.cell.probes)
        if find(name).applies(capabilities) and not is_saved(name, planned.run_dir, experiment.probe_options(name))
    ]


def probe_beside(name: str, run_dir: str, options: dict, threads: int) -> None:
    """A probe's process in the training pool: probe `name` on the finished run with `threads` CPU threads,
    saving its result as `cnnvit probe` would. A CnnvitError is one line on stderr and its exit code: the
    probe phase after the wave runs the probe again and stops the matrix with that error."""
    from ..probes.plugin import run_probe
    from ..training.device import configure_threads

    configure_threads(threads)
    try:
        run_probe(name, run_dir, options)
    except CnnvitError as error:
        print(f"error: probe {name} on {Path(run_dir).name}: {error}", file=sys.stderr, flush=True)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group: the runner stops; nothing to say here
        sys.exit(130)


def train_chain(work: list[tuple[dict, str, bool]], forks: list[int]) -> None:
    """A chain's process: train each (validated config, run directory, restart) quietly, in order, each
    branch saving its trunk at every fork of the chain. A CnnvitError is one line on stderr and the next
    cell still trains (a branch that diverged in its cool-down leaves the trunk to the others); the
    process's exit code is the first error's, as `cnnvit train`'s would be. A signal stops the chain."""
    code = 0
    for config, run_dir, restart in work:
        try:
            train_run(
                RunConfig.model_validate(config), Path(run_dir), progress=False, restart=restart, fork_steps=forks
            )
        except Interrupted as error:  # its checkpoint is saved; the runner stops everything
            print(f"error: {error}", file=sys.stderr, flush=True)
            sys.exit(error.exit_code)
        except CnnvitError as error:
            print(f"error: {error}", file=sys.stderr, flush=True)
            code = code or error.exit_code
    sys.exit(code)


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
    beside: bool = False  # run in the training pool as its cell finished (train_cells); index and total are 0
    code: int = 0  # beside training: its process's exit code


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
