"""How long `cnnvit run` will take on this machine, before it starts and while it runs.

Training: every remaining cell's training FLOPs (steps x batch x the model's counted FLOPs per image)
over the throughput of its model measured here, the way the runner runs it (`jobs` cells at a time,
each with its share of the threads, in waves of seeds), plus what each cell does besides training
(loading its dataset, counting its FLOPs, evaluating the test split). The throughput comes from a
calibration before anything runs: a few steps of the training step itself (training.step, through
training.finetune.fit: the loop's augmentation, precision, AdamW and clipping) on random images, once per
model shape. Where `cnnvit run --compile auto` finds compiling the step pays (compiling.py), the calibration
times the compiled step too, and those cells count at its speed with their compile.

Probes: each probe's time as a number of training steps of the run it probes (its plugin's `cost`,
probes/plugin.py), at the threads it runs with: with more than one job the probes of the cells a run trains join
the training pool as each cell finishes (runner.train_cells), at a job's share of the threads, and count in
their wave's time; the others (cells trained before) run in the probe phase with this process's threads.
Probes run forward and backward passes through the same model, so that ratio carries over from machine to
machine far better than seconds do.

While the run goes on, `TimeLeft` scales what is left by the ratio of the wall time measured so far to
the time the estimate gave for the work already done: an estimate that was off corrects itself.
"""

import dataclasses
import itertools
import json
import math
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from ..config import RunConfig, TrainConfig
from ..data import load_dataset
from ..models import build_model
from ..probes.plugin import find
from ..training.device import compile_module, configure_threads, use_channels_last
from ..training.evaluate import evaluate
from ..training.finetune import augmented_inputs, fit
from ..training.recipes import with_recipe
from . import calibration_cache
from .compiling import CompiledSpeed, CompilePlan, saving, worth_measuring
from .experiment import Cell, Experiment, expand
from .runner import (
    PENDING,
    PlannedCell,
    cell_context,
    cell_threads,
    steps_left,
    train_cells,
    unsaved_probes,
    waves,
)
from .seed_waves import families

CALIBRATION_STEPS = 8  # steps per model shape; the median of all but the first (a warm-up) is kept
CALIBRATION_IMAGES = 256  # random uint8 images the calibration batches are drawn from


@dataclasses.dataclass(frozen=True)
class Speed:
    """A model shape's measured training speed at some thread count, and its evaluation time in a cell."""

    arch: str
    step_seconds: float  # one optimiser step
    flops_per_step: float  # counted training FLOPs of one step (batch x FLOPs per image)
    eval_seconds: float  # the test split through the model once

    @property
    def flops_per_second(self) -> float:
        return self.flops_per_step / self.step_seconds


@dataclasses.dataclass
class TimeEstimate:
    """Seconds per item of work, in the order the runner does them, and their total."""

    cells: dict[str, float]  # cell name -> seconds of its process (training and the rest)
    waves: list[list[str]]  # the cells of each wave
    probes: dict[tuple[str, str], float]  # (cell name, probe) -> seconds, in the probe phase
    jobs: int
    beside: dict[tuple[str, str], float] = dataclasses.field(default_factory=dict)  # the same, in the training pool
    speeds: dict[str, Speed] = dataclasses.field(default_factory=dict)  # model shape -> its measured speed
    chains: dict[str, str] = dataclasses.field(default_factory=dict)  # cell name -> its chain (absent: its own)
    # With a settle section: (its cap, the most its waves can add as a multiple of a family's own seeds' work).
    # Not in the total: how many seeds an unsettled row asks for is known only from the report.
    settle: tuple[int, float] | None = None
    compiling: CompilePlan = CompilePlan()  # which cells train compiled, from what was measured
    cell_steps: dict[str, tuple[tuple[str, int], int]] = dataclasses.field(default_factory=dict)  # (shape, steps)

    def compiles(self, planned: PlannedCell) -> bool:
        """Whether `planned` trains with a compiled step (the runner asks as it starts the cell's chain)."""
        config = planned.cell.config
        return self.compiling.compiles((shape_key(config), _threads(config, self.jobs)), steps_left(planned))

    def wave_seconds(self, wave: list[str]) -> float:
        """Wall time of a wave's training and the probes beside it: the chains and probes share `jobs` workers
        (never faster than its longest chain, whose cells train one after another, and then its longest probe)."""
        chained: dict[str, float] = {}
        last_probe: dict[str, float] = {}
        for name in wave:
            chain = self.chains.get(name, name)
            chained[chain] = chained.get(chain, 0.0) + self.cells[name]
            probes = [seconds for (cell, _), seconds in self.beside.items() if cell == name]
            last_probe[chain] = max(last_probe.get(chain, 0.0), *probes, 0.0)
        pooled = sum(chained.values()) + sum(seconds for (cell, _), seconds in self.beside.items() if cell in wave)
        return max(pooled / self.jobs, max((chained[c] + last_probe[c] for c in chained), default=0.0))

    @property
    def training_seconds(self) -> float:
        return sum(self.wave_seconds(wave) for wave in self.waves)

    @property
    def probe_seconds(self) -> float:
        return sum(self.probes.values())

    @property
    def total_seconds(self) -> float:
        return self.training_seconds + self.probe_seconds

    def describe(self) -> str:
        rates = ", ".join(f"{shape} {speed.flops_per_second / 1e9:.1f}" for shape, speed in sorted(self.speeds.items()))
        return (
            f"estimated time from now on this machine: {minutes(self.total_seconds)} (training "
            f"{minutes(self.training_seconds)} in {len(self.waves)} wave{'s' if len(self.waves) != 1 else ''}"
            + (f" with {minutes(sum(self.beside.values()))} of probes beside it" if self.beside else "")
            + f", probes {minutes(self.probe_seconds)}; reports not counted)"
            + (
                f"; seeds until settled not counted: up to {self.settle[1]:.1f}x their own seeds' training and "
                f"probes more for the cells whose rows stay unsettled (settle cap {self.settle[0]})"
                if self.settle
                else ""
            )
            + (f"; measured training GFLOP/s: {rates}" if rates else "")
            + self._compiled_text()
        )

    def _compiled_text(self) -> str:
        """What was measured compiled and what was chosen, for people."""
        plan = self.compiling
        if plan.mode != "auto":
            return f"; training steps {'compiled' if plan.mode == 'always' else 'eager'} (--compile {plan.mode})"
        if not plan.compiled:
            return "; training steps eager (--compile auto: no shape trains long enough to repay measuring a compile)"
        parts = []
        for shape, fast in sorted(plan.compiled.items()):
            if not fast.compiles:
                parts.append(f"{label(shape[0])} does not compile here")
                continue
            cells = [steps for of, steps in self.cell_steps.values() if of == shape]
            chosen = sum(plan.compiles(shape, steps) for steps in cells)
            parts.append(
                f"{label(shape[0])} at {plan.eager[shape] / fast.step_seconds:.2f}x eager's speed, "
                f"compiled in {chosen} of its {len(cells)} cells (a {fast.cell_compile_seconds:.0f} s compile per cell)"
            )
        return "; compiled training steps measured (--compile auto): " + ", ".join(parts) + "; eager elsewhere"


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def estimate(
    experiment: Experiment,
    cells: list[PlannedCell],
    jobs: int,
    on_calibrate: Callable[[int, int, str], None] | None = None,
    compile_mode: str = "auto",
) -> TimeEstimate:
    """Seconds for the runner to train the unfinished `cells` with `jobs` at a time and run the probes that
    have no reusable saved result, each cell compiled or not as `compile_mode` (compiling.MODES) decides.

    `on_calibrate(i, n, shape)` is told as each model shape's speed is measured (a second or two each; tens of
    seconds for a compiled one)."""
    probing = torch.get_num_threads()  # the probe phase runs in this process
    todo = [p for p in cells if p.state in PENDING]
    trains = {p.cell.name for p in todo} if jobs > 1 else set()  # their probes run in the training pool
    probes = [(p, name) for p in cells for name in unsaved_probes(experiment, p)]
    training = {(shape_key(p.cell.config), _threads(p.cell.config, jobs)): p.cell.config for p in todo}
    probed = {(shape_key(p.cell.config), probing): p.cell.config for p, _ in probes if p.cell.name not in trains}
    probed = {shape: config for shape, config in probed.items() if shape not in training}  # measured once
    total, counted = len(training) + len(probed), itertools.count(1)  # plus the compiled shapes, if any

    def told(key: str, what: str = "") -> None:
        if on_calibrate:
            index = next(counted)
            on_calibrate(index, max(index, total), label(key) + what)

    speeds = measure_speeds(training, jobs, told) | measure_speeds(probed, 1, told)
    overhead = measure_cell_overhead(todo[0].cell.config, jobs) if todo else 0.0
    cell_steps = {p.cell.name: ((shape_key(p.cell.config), _threads(p.cell.config, jobs)), steps_left(p)) for p in todo}
    eager_seconds = {shape: 0.0 for shape in training}
    for shape, steps in cell_steps.values():
        eager_seconds[shape] += steps * speeds[shape].step_seconds
    compiling = plan_compiling(compile_mode, training, eager_seconds, speeds, jobs, lambda key: told(key, ", compiled"))
    cell_seconds = {}
    for planned in todo:
        shape, steps = cell_steps[planned.cell.name]
        training_seconds = compiling.training_seconds(shape, steps)
        cell_seconds[planned.cell.name] = training_seconds + speeds[shape].eval_seconds + overhead
    probe_seconds, beside = {}, {}
    for planned, name in probes:
        pooled = planned.cell.name in trains
        speed = speeds[shape_key(planned.cell.config), _threads(planned.cell.config, jobs) if pooled else probing]
        seconds = probe_steps(name, planned.cell.config, experiment) * speed.step_seconds
        (beside if pooled else probe_seconds)[planned.cell.name, name] = seconds
    waved = [[p.cell.name for p in wave] for wave in waves(todo)]
    rates = {label(key): speeds[key, t] for key, t in training}
    chained = {p.cell.name: p.chain for p in todo}
    return TimeEstimate(
        cell_seconds,
        waved,
        probe_seconds,
        jobs,
        beside,
        rates,
        chained,
        settle_bound(experiment),
        compiling,
        cell_steps,
    )


def settle_bound(experiment: Experiment) -> tuple[int, float] | None:
    """(cap, the most a settle section's waves add as a multiple of the experiment's own seeds): every family
    (seed_waves.py) taken from its own seeds to the cap; None without the section."""
    if experiment.settle is None:
        return None
    own = min(len(family.own) for family in families(expand(experiment)))
    return experiment.settle.cap, max(0, experiment.settle.cap - own) / own


def _threads(config: RunConfig, jobs: int) -> int:
    """A cell's CPU threads as the runner starts it: a share of the cores beside other jobs, else its own."""
    return cell_threads(jobs) if jobs > 1 else config.threads or torch.get_num_threads()


def shape_key(config: RunConfig) -> str:
    """What a training step's cost depends on: model and options, image shape, batch, augmentation, precision."""
    return json.dumps(
        [
            config.model.name,
            config.model.options,
            config.data.name,
            config.data.image_size,
            config.train.batch_size,
            config.augment.model_dump(),
            config.train.precision,
        ],
        sort_keys=True,
    )


def label(key: str) -> str:
    """A model shape for people: resnet-s[depth=1] on global-context."""
    name, options, dataset = json.loads(key)[:3]
    chosen = ",".join(f"{k}={v}" for k, v in sorted(options.items()))
    return f"{name}{f'[{chosen}]' if chosen else ''} on {dataset}"


def probe_steps(name: str, config: RunConfig, experiment: Experiment) -> float:
    """A probe's cost in training steps of the run it probes (its plugin's `cost`)."""
    probe = find(name)
    return probe.steps(probe.validated(experiment.probe_options(name)), config)


def measure_speeds(
    shapes: dict[tuple[str, int], RunConfig], jobs: int, told: Callable[[str], None]
) -> dict[tuple[str, int], Speed]:
    """The speed of each (shape, threads), measured in `jobs` processes at once as the runner trains cells:
    on a 2-core machine two cells slow each other (a resnet-s step took 1.7x as long beside another cell
    as alone). Each process measures the same shape; the median step time is kept. A speed measured before
    on this machine by this cnnvit is read from the calibration cache (calibration_cache.py) instead."""
    entries = {shape: calibration_cache.entry("speed", *shape, jobs) for shape in shapes}
    cached = calibration_cache.read()
    measured = {
        shape: speed
        for shape in shapes
        if (speed := calibration_cache.typed(cached.get(entries[shape]), Speed)) is not None
    }
    missing = {shape: config for shape, config in shapes.items() if shape not in measured}
    if jobs == 1:
        for (key, threads), config in missing.items():
            told(key)
            measured[key, threads] = measure_speed(config, threads)
    elif missing:
        context = cell_context()
        with context.Pool(jobs) as pool:
            for (key, threads), config in missing.items():
                told(key)
                side_by_side = pool.map(_measure, [(config, threads)] * jobs)
                step_seconds = statistics.median(speed.step_seconds for speed in side_by_side)
                measured[key, threads] = dataclasses.replace(side_by_side[0], step_seconds=step_seconds)
    calibration_cache.remember({entries[shape]: dataclasses.asdict(measured[shape]) for shape in missing})
    return measured


def plan_compiling(
    mode: str,
    shapes: dict[tuple[str, int], RunConfig],
    eager_seconds: dict[tuple[str, int], float],
    speeds: dict[tuple[str, int], Speed],
    jobs: int,
    told: Callable[[str], None],
) -> CompilePlan:
    """Which training shapes were measured compiled, for `mode`: never none, always all, auto those worth
    measuring (compiling.worth_measuring; the shapes with the most eager training, `eager_seconds`, first) and
    those the calibration cache holds. Each measurement is cached as the eager speeds are."""
    eager = {shape: speeds[shape].step_seconds for shape in shapes}
    if mode == "never":
        return CompilePlan(mode, eager)
    cached = calibration_cache.read()
    compiled: dict[tuple[str, int], CompiledSpeed] = {}
    savings: dict[str, list[float]] = {}  # architecture -> the savings measured on its shapes so far
    for shape in sorted(shapes, key=lambda shape: -eager_seconds[shape]):
        entry = calibration_cache.entry("compiled", *shape, jobs)
        fast = calibration_cache.typed(cached.get(entry), CompiledSpeed)
        arch = speeds[shape].arch
        if fast is None:
            if mode == "auto" and not worth_measuring(eager_seconds[shape], savings.get(arch, [])):
                continue
            told(shape[0])
            fast = measure_compiled_speed(shapes[shape], shape[1], jobs, arch)
            calibration_cache.remember({entry: dataclasses.asdict(fast)})
        compiled[shape] = fast
        savings.setdefault(arch, []).append(saving(eager[shape], fast))
    return CompilePlan(mode, eager, compiled)


def measure_compiled_speed(config: RunConfig, threads: int, jobs: int, arch: str) -> CompiledSpeed:
    """`config`'s compiled training step with `threads` threads in `jobs` processes side by side, each a fresh
    process as a cell is: a first round compiles (filling inductor's on-disk cache), a second finds the cache and
    gives the step time and what a cell pays to compile. A compile that fails (no C compiler, an operation
    inductor cannot lower) measures as not compiling: those cells train eager."""
    context = cell_context()
    try:
        with context.Pool(jobs, maxtasksperchild=1) as pool:
            first = pool.map(_time_compiled, [(config, threads)] * jobs, chunksize=1)
            again = pool.map(_time_compiled, [(config, threads)] * jobs, chunksize=1)
    except Exception:  # whatever the compiler raised, in the worker or as it came back
        return CompiledSpeed(arch, math.inf, 0.0, 0.0)
    step_seconds = statistics.median(speed.step_seconds for speed, _ in again)
    return CompiledSpeed(
        arch,
        step_seconds,
        first_compile_seconds=max(0.0, statistics.median(first_step for _, first_step in first) - step_seconds),
        cell_compile_seconds=max(0.0, statistics.median(first_step for _, first_step in again) - step_seconds),
    )


def _time_compiled(arguments: tuple[RunConfig, int]) -> tuple[Speed, float]:
    return time_steps(*arguments, compiled=True)


def measure_cell_overhead(config: RunConfig, jobs: int) -> float:
    """Seconds a cell spends outside its training steps and evaluation (starting its process, loading its
    data, counting FLOPs, writing its files), measured by running 2 x `jobs` one-step cells of `config` the
    way the runner runs cells, in a temporary directory: the second round's time per cell, less a step.
    Read from the calibration cache when this machine and cnnvit measured it before."""
    entry = calibration_cache.entry("cell overhead", shape_key(config), config.threads, jobs)
    cached = calibration_cache.typed(calibration_cache.read().get(entry), float)
    if cached is not None:
        return cached
    finished = []
    with tempfile.TemporaryDirectory(prefix="cnnvit-estimate-") as tmp:
        cells = []
        for seed in range(2 * jobs):
            one_step = config.model_copy(update={"seed": seed, "train": timing_steps(config.train, 1)})
            cells.append(PlannedCell(Cell(f"cell-{seed}", one_step), Path(tmp) / f"cell-{seed}", "to do"))
        train_cells(cells, jobs, lambda _cell, _code: finished.append(time.perf_counter()))
    overhead = statistics.median(b - a for a, b in zip(finished[:jobs], finished[jobs:]))
    calibration_cache.remember({entry: overhead})
    return overhead


def timing_steps(train: TrainConfig, steps: int) -> TrainConfig:
    """`train` for exactly `steps` steps that only time the step: a wsd warm-up longer than them would not fit
    before their cool-down, so it is dropped (the learning rate costs nothing)."""
    fixed = train.with_fixed_steps(steps)
    return fixed.model_copy(update={"warmup_steps": 0}) if fixed.schedule == "wsd" else fixed


def _measure(arguments: tuple[RunConfig, int]) -> Speed:
    return measure_speed(*arguments)


def measure_speed(config: RunConfig, threads: int) -> Speed:
    """Time CALIBRATION_STEPS steps of `config`'s training step on random images with `threads` threads."""
    return time_steps(config, threads)[0]


def time_steps(config: RunConfig, threads: int, *, compiled: bool = False) -> tuple[Speed, float]:
    """(The speed, the first step's seconds) of CALIBRATION_STEPS steps of `config`'s training step, compiled as
    training/loop.py compiles it (`compiled`; the first step then compiles) or eager."""
    previous = torch.get_num_threads()
    configure_threads(threads)
    try:
        dataset = load_dataset(
            config.data.name,
            root=config.data.root,
            image_size=config.data.image_size,
            skip_corrupt=config.data.skip_corrupt,
        )
        shape, classes = dataset.image_shape, dataset.num_classes
        generator = torch.Generator().manual_seed(0)
        torch.manual_seed(0)
        model = build_model(config.model.name, image_shape=shape, num_classes=classes, options=config.model.options)
        flops_per_image = model.train_flops_per_image(shape)
        calibration = config.model_copy(
            update={
                "train": timing_steps(with_recipe(config.train, model.capabilities.recipe), CALIBRATION_STEPS),
                "augment": config.augment.model_copy(update={"flip": bool(config.augment.flip)}),
            }
        )
        channels_last = use_channels_last(model, torch.device("cpu"))
        model = model.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
        images = torch.randint(0, 256, (CALIBRATION_IMAGES, *shape), dtype=torch.uint8, generator=generator)
        labels = torch.randint(0, classes, (CALIBRATION_IMAGES,), generator=generator)
        batches = augmented_inputs(images, calibration, device=torch.device("cpu"), channels_last=channels_last)
        starts = []

        def timed(step: int, index: torch.Tensor) -> torch.Tensor:
            starts.append(time.perf_counter())  # a step starts when it asks for its batch
            return batches(step, index)

        forward = compile_module(model) if compiled else None
        fit(model, timed, labels, calibration, device=torch.device("cpu"), forward=forward)
        step_seconds = statistics.median(b - a for a, b in zip(starts[1:], starts[2:]))
        tic = time.perf_counter()
        evaluate(model, images, labels, device=torch.device("cpu"), channels_last=channels_last)
        eval_seconds = (time.perf_counter() - tic) * len(dataset.test_labels) / CALIBRATION_IMAGES
    finally:
        configure_threads(previous)
    speed = Speed(model.arch, step_seconds, flops_per_image * config.train.batch_size, eval_seconds)
    return speed, starts[1] - starts[0]


class TimeLeft:
    """The experiment's remaining time while it runs: the estimate, corrected by what has been measured."""

    def __init__(self, planned: TimeEstimate, clock: Callable[[], float] = time.perf_counter):
        self.planned, self.clock = planned, clock
        self.start = clock()
        self.done = 0.0  # estimated seconds of the work finished so far

    def cell_finished(self, name: str) -> None:
        self.done += self.planned.cells.get(name, 0.0) / self.planned.jobs

    def probe_finished(self, cell: str, probe: str, *, beside: bool = False) -> None:
        if beside:  # one of the jobs' workers, as a cell's training
            self.done += self.planned.beside.get((cell, probe), 0.0) / self.planned.jobs
        else:
            self.done += self.planned.probes.get((cell, probe), 0.0)

    @property
    def remaining(self) -> float:
        """Seconds left: the estimate of the work not done, scaled by measured / estimated for the work done."""
        elapsed = self.clock() - self.start
        left = max(0.0, self.planned.total_seconds - self.done)
        if self.done <= 0.05 * self.planned.total_seconds:  # too little measured to correct anything yet
            return max(0.0, self.planned.total_seconds - elapsed)
        return left * elapsed / self.done
