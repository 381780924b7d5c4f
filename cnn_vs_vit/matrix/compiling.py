"""Which cells train with a compiled training step: `cnnvit run --compile auto|always|never`.

torch.compile (inductor) makes a CPU training step faster or slower depending on the CPU, the model and the
thread count (benchmarks/RESULTS.md: vit-s 1.23x faster on one Intel Xeon thread, 0.89x, slower, on one AMD
EPYC thread), and it costs a compile: 14-110 s in a process whose inductor on-disk cache is empty, 1.4-5 s in
one that finds the graph there (a cache per thread count). No rule of thumb says which way it goes on the
machine at hand, so `auto` measures it, per model shape at the threads the cells train with, in fresh
processes as the runner starts cells (estimate.measure_compiled_speeds): a first round compiles and fills the
cache the cells will find, a second round finds it and times the compiled step and what a cell pays to compile.
A cell then trains compiled when compiling pays for that cell: its compiled step at least MIN_SPEEDUP faster
than eager, and its own steps saving more than its compile (CompilePlan.compiles). Eager everywhere else: a
shape measured slower, a cell too short, a shape not worth measuring.

Measuring costs a first compile per shape (tens of seconds), so `auto` measures a shape only when the saving
it could bring is larger (worth_measuring): its cells' eager training times the largest saving measured so far
on its architecture, or BEST_SAVING before anything of its architecture is measured; the shapes with the most
training are measured first, so that a ViT measured slower spares the measurement of its ablations.
Measurements are kept in the calibration cache (calibration_cache.py: per machine and cnnvit source), so the
second `cnnvit run` measures nothing; if inductor's own cache was emptied since, the first cell of a shape
compiles from nothing (tens of seconds more than the estimate says).
"""

import dataclasses
import math

MODES = ("auto", "always", "never")
# A compiled step must beat eager by more than the calibration's step-time noise (a few percent) to be chosen.
MIN_SPEEDUP = 1.05
# The saving assumed for a shape whose architecture has nothing measured yet: the largest measured in
# benchmarks/RESULTS.md and issue 27 (1.33x faster, a quarter of the step).
BEST_SAVING = 0.25
# What measuring a shape compiled costs before it is measured: a first compile with `jobs` processes compiling
# side by side on a 2-core CPU (benchmarks/RESULTS.md: 14-40 s idle, 60-110 s loaded).
MEASURING_SECONDS = 60.0


@dataclasses.dataclass(frozen=True)
class CompiledSpeed:
    """A model shape's compiled training step, measured as the cells would run it (estimate.py)."""

    arch: str
    step_seconds: float  # one compiled step, side by side as the cells train; inf: it did not compile here
    first_compile_seconds: float  # the compile with an empty inductor cache, paid by the measurement
    cell_compile_seconds: float  # the compile in a fresh process that finds the cache: what each cell pays

    @property
    def compiles(self) -> bool:
        return math.isfinite(self.step_seconds)


@dataclasses.dataclass(frozen=True)
class CompilePlan:
    """The mode and what was measured: per (shape key, threads), the eager step and, where measured, the compiled."""

    mode: str = "never"
    eager: dict[tuple[str, int], float] = dataclasses.field(default_factory=dict)  # step seconds
    compiled: dict[tuple[str, int], CompiledSpeed] = dataclasses.field(default_factory=dict)

    def compiles(self, shape: tuple[str, int], steps: int) -> bool:
        """Whether a cell of `shape` with `steps` optimiser steps to train is compiled."""
        if self.mode != "auto":
            return self.mode == "always"
        fast = self.compiled.get(shape)
        if fast is None or not fast.compiles:
            return False
        eager = self.eager[shape]
        return (
            eager >= MIN_SPEEDUP * fast.step_seconds and steps * (eager - fast.step_seconds) > fast.cell_compile_seconds
        )

    def training_seconds(self, shape: tuple[str, int], steps: int) -> float:
        """A cell's training time as it will run: compiled (its compile included) or eager."""
        if self.compiles(shape, steps) and shape in self.compiled:
            fast = self.compiled[shape]
            return steps * fast.step_seconds + fast.cell_compile_seconds
        return steps * self.eager[shape]


def saving(eager_step: float, compiled: CompiledSpeed) -> float:
    """The share of an eager step that compiling saves (negative where it is slower, 0 where it did not compile)."""
    return max(-1.0, 1 - compiled.step_seconds / eager_step) if compiled.compiles else 0.0


def worth_measuring(eager_training_seconds: float, measured_savings: list[float]) -> bool:
    """Whether `auto` measures a shape whose cells train `eager_training_seconds` eager, given the savings measured
    so far on shapes of its architecture: only when the saving it could bring is larger than the measurement."""
    could_save = max(measured_savings) if measured_savings else BEST_SAVING
    return eager_training_seconds * could_save > MEASURING_SECONDS
