"""`cnnvit run` after planning: train the unfinished cells in waves of seeds, probe them, report.

Stops are errors the CLI turns into exit codes: a cell interrupted by a signal (its checkpoint saved) stops
the matrix with training.signals.Interrupted (130 or 143, the same command resumes); cells that failed are
CellsFailed (exit 3) once everything else is done.
"""

import signal
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from ..errors import TrainingFailed
from ..training.signals import Interrupted
from . import runner
from .experiment import Experiment
from .freshness import is_fresh, mark_fresh
from .runner import PlannedCell, ProbeStep, probe_cells, waves, write_experiment

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
) -> None:
    """Train, probe and (with `report`) report, the caller holding the results directory's lock (with the plan
    made under it). After each wave but the last, the probes and a provisional report; `on_report(built)` is
    called with each report built (inside progress.paused())."""
    write_experiment(experiment, out_path)
    failed = {p.cell.name: "failed before" for p in cells if p.state == "failed"}
    batches = pending_waves(cells)

    def finished(cell: PlannedCell, code: int) -> None:
        if code in SIGNAL_OF_EXIT:
            raise Interrupted(SIGNAL_OF_EXIT[code])  # its checkpoint is saved: the same command resumes
        if code != 0:
            failed[cell.cell.name] = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
        progress.cell_done(cell, code)

    def terminated(_signum, _frame) -> None:  # `kill PID`: stop the cells cleanly, as Ctrl-C does
        raise Interrupted(signal.SIGTERM)

    def probe_and_report(provisional: bool) -> None:
        computed = probe_cells(experiment, cells, progress.probe_step)
        if not report:
            return
        if not (provisional or batches or computed) and is_fresh(out_path):
            progress.say(
                f"the report in {out_path} is up to date (nothing trained or probed, the same cnnvit); "
                f"cnnvit report {out_path} rebuilds it"
            )
            return
        from ..report import build_report  # deferred: matplotlib and scipy, 2.4 s that a fresh report never needs

        progress.say(
            f"building the {'provisional ' if provisional else ''}report (verdicts, flip-rate simulations, plots) ..."
        )
        built = build_report(out_path, provisional=provisional)
        if not provisional:
            mark_fresh(out_path)
        with progress.paused():
            on_report(built)

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        for number, wave in enumerate(batches, 1):
            progress.wave = number
            runner.train_cells(wave, jobs, finished)  # looked up on its module: tests stand in for it
            if number < len(batches):  # every claim from the seeds finished so far; a stop keeps this report
                progress.say(f"wave {number} of {len(batches)} trained (seed {wave[0].cell.config.seed})")
                probe_and_report(provisional=True)
    finally:
        signal.signal(signal.SIGTERM, previous)
    probe_and_report(provisional=False)
    if failed:
        raise CellsFailed(
            f"{len(failed)} of {len(cells)} cells failed: "
            + ", ".join(f"{name} ({why})" for name, why in failed.items())
            + "; see their run directories (failed.json, metrics.jsonl), fix and rerun: finished cells are kept"
        )
