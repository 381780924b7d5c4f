"""`cnnvit run` after planning: train the unfinished cells in waves of seeds, probe them, report; with a settle
section, then waves of more seeds for the cells of unsettled rows (seed_waves.py), each with its report, until
every row is settled or at the cap. With more than one job a cell's probes run in the training pool as soon as
it is trained (runner.train_cells); the probe phase after each wave then finds them saved.

Stops are errors the CLI turns into exit codes: a cell interrupted by a signal (its checkpoint saved) stops
the matrix with training.signals.Interrupted (130 or 143, the same command resumes); cells that failed are
CellsFailed (exit 3) once everything else is done.
"""

import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from ..errors import TrainingFailed
from ..training.signals import Interrupted
from . import runner
from .experiment import Experiment
from .freshness import is_fresh, mark_fresh
from .runner import PlannedCell, ProbesBeside, ProbeStep, plan_cells, probe_cells, waves, write_experiment
from .seed_waves import SeedWave, family_key, next_seed_wave

SIGNAL_OF_EXIT = {130: signal.SIGINT, 143: signal.SIGTERM}  # a cell's exit code when a signal stopped it


class CellsFailed(TrainingFailed):
    """Some cells failed; the others finished and the report was written from them."""


class MatrixProgress(Protocol):
    """What run_matrix tells as it goes (the CLI's live display)."""

    wave: int

    def say(self, text: str) -> None: ...
    def cell_done(self, planned: PlannedCell, code: int) -> None: ...
    def probe_step(self, step: ProbeStep) -> None: ...
    def paused(self): ...  # a context in which a large block can be printed
    def wave_added(self, cells: int) -> None: ...  # a wave of seeds until settled, of `cells` cells


def pending_waves(cells: list[PlannedCell]) -> list[list[PlannedCell]]:
    """The cells left to train, in waves (runner.waves)."""
    return waves([p for p in cells if p.state in runner.PENDING])


def run_matrix(
    experiment: Experiment,
    out_path: Path,
    cells: list[PlannedCell],
    jobs: int,
    *,
    report: bool,
    progress: MatrixProgress,
    on_report: Callable[[object], None] = lambda built: None,
    compiled: Callable[[PlannedCell], bool] = lambda planned: False,
) -> None:
    """Train, probe and (with `report`) report, the caller holding the results directory's lock (with the plan
    made under it). After each wave but the last, the probes and a provisional report; `on_report(built)` is
    called with each report built (inside progress.paused()). With `report` and experiment.settle, the last
    report is followed by waves of seeds while it has an unsettled row whose cells are below the cap, each
    wave's report provisional but the last's; `cells` grows by theirs. A cell for which `compiled` is true trains
    with a compiled step (estimate.TimeEstimate.compiles)."""
    write_experiment(experiment, out_path)
    failed = {p.cell.name: "failed before" for p in cells if p.state == "failed"}
    batches = pending_waves(cells)
    trained = bool(batches)
    tried: set[str] = set()  # the cells trained in this run, which no wave of seeds trains again

    def finished(cell: PlannedCell, code: int) -> None:
        if code in SIGNAL_OF_EXIT:
            raise Interrupted(SIGNAL_OF_EXIT[code])  # its checkpoint is saved: the same command resumes
        tried.add(cell.cell.name)
        if code != 0:
            failed[cell.cell.name] = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
        progress.cell_done(cell, code)

    def terminated(_signum, _frame) -> None:  # `kill PID`: stop the cells cleanly, as Ctrl-C does
        raise Interrupted(signal.SIGTERM)

    def probe_and_report(provisional: bool) -> SeedWave | None:
        """Probe what is trained and write the report; after the experiment's own waves (not `provisional`) with
        a settle section, the report is provisional when the next wave of seeds it returns has cells."""
        computed = probe_cells(experiment, cells, progress.probe_step)
        if not report:
            return None
        if not (provisional or trained or computed) and is_fresh(out_path):  # the last run ended here too
            progress.say(
                f"the report in {out_path} is up to date (nothing trained or probed, the same cnnvit); "
                f"cnnvit report {out_path} rebuilds it"
            )
            return None
        # deferred: matplotlib and scipy, 2.4 s that a fresh report never needs
        from ..report.build import measure_study, write_report

        progress.say(
            f"building the {'provisional ' if provisional else ''}report (verdicts, flip-rate simulations, plots) ..."
        )
        study = measure_study(out_path)
        settles = experiment.settle is not None and not provisional
        seeds = next_seed_wave(experiment, study.claims, study.runs, skip=tried) if settles else None
        provisional = provisional or bool(seeds and seeds.cells)
        built = write_report(study, provisional=provisional)
        if not provisional:
            mark_fresh(out_path)
        with progress.paused():
            on_report(built)
        return seeds

    beside = ProbesBeside(experiment, progress.probe_step)  # each cell's probes in the pool once it is trained
    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        for number, wave in enumerate(batches, 1):
            progress.wave = number
            # looked up on its module: tests stand in for it
            runner.train_cells(wave, jobs, finished, probes=beside, compiled=compiled)
            if number < len(batches):  # every claim from the seeds finished so far; a stop keeps this report
                progress.say(f"wave {number} of {len(batches)} trained (seed {wave[0].cell.config.seed})")
                probe_and_report(provisional=True)
        seeds, added = probe_and_report(provisional=False), 0
        while seeds and seeds.cells:  # a stop between these waves keeps the last report; a rerun goes on
            added += 1
            wave = plan_cells(seeds.cells, out_path)
            cells += wave
            progress.wave_added(len(wave))
            progress.wave = len(batches) + added
            progress.say(
                f"seeds until settled, wave {added}: {len(wave)} cells for the unsettled rows "
                f"{', '.join(seeds.rows)} ({seed_text(wave)})"
            )
            tic = time.perf_counter()
            runner.train_cells(
                [p for batch in waves(wave) for p in batch], jobs, finished, probes=beside, compiled=compiled
            )
            trained = True
            progress.say(f"seeds until settled, wave {added} trained in {(time.perf_counter() - tic) / 60:.1f} min")
            seeds = probe_and_report(provisional=False)
        if seeds and seeds.left:
            progress.say(
                f"seeds until settled: {', '.join(seeds.left)} still unsettled, their cells at the cap of "
                f"{experiment.settle.cap} seeds, failed, or not the experiment's"
            )
    finally:
        signal.signal(signal.SIGTERM, previous)
    if failed:
        raise CellsFailed(
            f"{len(failed)} of {len(cells)} cells failed: "
            + ", ".join(f"{name} ({why})" for name, why in failed.items())
            + "; see their run directories (failed.json, metrics.jsonl), fix and rerun: finished cells are kept"
        )


def seed_text(wave: list[PlannedCell]) -> str:
    """'seeds 3-4 of 6 cell families': the seeds a wave trains and the configurations they replicate."""
    seeds = sorted({p.cell.config.seed for p in wave})
    span = str(seeds[0]) if len(seeds) == 1 else f"{seeds[0]}-{seeds[-1]}"
    return f"seed{'s' if len(seeds) > 1 else ''} {span} of {len({family_key(p.cell) for p in wave})} cell families"
