"""Experiment files: a base configuration and groups of axes that expand into matrix cells.

    name: quick
    budget: "300 steps of 64 at every fraction"      # the budget rule, in words, for the report
    base: {data: {name: mnist5k}, train: {steps: 300}}
    groups:
      data_fraction:
        axes: {model.name: [resnet-xs, vit-xs], seed: [0, 1]}        # cartesian product
        zip: [{data.fraction: [0.1, 1.0], train.steps: [150, 300]}]   # these vary together
        probes: [shift]
        data_seed_follows_seed: true                                  # data.data_seed = seed
    probe_shift: {images: 256, mode: both}
    settle: {cap: 10}     # then seeds until every row is settled, <= 10 per cell (matrix/seed_waves.py)

Every cell is a full run configuration validated like `cnnvit train`'s; a cell that two groups
share (same configuration) is trained once (they must agree on data_seed_follows_seed).
"""

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_serializer

from ..config import RunConfig, build_config, read_yaml
from ..errors import CnnvitError, validation_message
from ..probes import PROBES
from ..rundir import run_name

ProbeName = Literal[PROBES]  # type: ignore[valid-type]  (the names in probes/__init__.py)
DATA_SEED = "data.data_seed"  # the dotted key of the seed that draws a cell's subset


class Group(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    axes: dict[str, list] = {}  # dotted key -> values; cartesian product
    zip: list[dict[str, list]] = []  # each mapping's keys vary together (lists of one length)
    probes: list[ProbeName] = []
    # Each cell's data seed is its seed, so that the subset varies with the seed wherever a row compares data
    # fractions; the seeds a settle section adds keep the relation (a zip of the two would not: seed_waves.py).
    data_seed_follows_seed: bool = False

    @field_validator("axes")
    @classmethod
    def _axes_not_empty(cls, axes: dict[str, list]) -> dict[str, list]:
        for key, values in axes.items():
            if not values:
                raise ValueError(f'axis "{key}" has no values; give at least one or remove it')
        return axes

    @field_validator("zip")
    @classmethod
    def _zipped_lengths_match(cls, zipped: list[dict[str, list]]) -> list[dict[str, list]]:
        for mapping in zipped:
            lengths = {key: len(values) for key, values in mapping.items()}
            if len(set(lengths.values())) > 1 or 0 in lengths.values():
                raise ValueError(f"zipped axes must have one non-zero length, got {lengths}")
        return zipped

    @model_serializer(mode="wrap")
    def _without_default_flag(self, handler) -> dict:
        """A group that does not set data_seed_follows_seed dumps as before the flag existed, so that an experiment
        file without it writes the same experiment.yaml into its results directory."""
        dumped = handler(self)
        if not self.data_seed_follows_seed:
            dumped.pop("data_seed_follows_seed", None)
        return dumped


class ShiftProbeOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    images: int = Field(512, ge=1)
    mode: Literal["circular", "crop", "both"] = "both"
    shifts: list[int] | None = None
    batch_size: int = Field(64, ge=1)


# The largest cap of Settle: benchmarks/settling_error_rates.py measured the false-verdict rates of adding seeds
# until settled at caps 6 and 10; beyond 10 they are unmeasured (and grow with the cap).
MAX_CAP = 10


class Settle(BaseModel):
    """Seeds until settled: after the experiment's own waves, more seeds for the cells of unsettled rows."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cap: int  # seeds per cell at most, the experiment's own included; fixed in the file before any seed runs

    @field_validator("cap")
    @classmethod
    def _measured_cap(cls, cap: int) -> int:
        if not 2 <= cap <= MAX_CAP:
            raise ValueError(
                f"the cap is 2 to {MAX_CAP} seeds per cell (benchmarks/settling_error_rates.py measured the "
                f"design up to {MAX_CAP}), e.g. settle: {{cap: {MAX_CAP}}}"
            )
        return cap


class Experiment(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    budget: str  # the budget rule in words: written into the report beside the results
    base: dict = {}
    groups: dict[str, Group] = Field(min_length=1)
    probe_shift: ShiftProbeOptions = ShiftProbeOptions()
    settle: Settle | None = None  # None: the experiment's own seeds only

    @model_serializer(mode="wrap")
    def _without_absent_settle(self, handler) -> dict:
        """An experiment without a settle section dumps as before the section existed (see Group's)."""
        dumped = handler(self)
        if self.settle is None:
            dumped.pop("settle", None)
        return dumped

    def probe_options(self, name: str) -> dict:
        """The options the experiment gives probe `name` (the others run with their defaults)."""
        if name != "shift":
            return {}
        from ..probes.shift import parse_modes  # deferred: it imports torch, which reading a file does not need

        shift = self.probe_shift
        return {
            "images": shift.images,
            "modes": parse_modes(shift.mode),
            "shifts": shift.shifts,
            "batch_size": shift.batch_size,
        }


@dataclass
class Cell:
    """One run of the matrix: its configuration, directory name and the probes it needs."""

    name: str
    config: RunConfig
    groups: list[str] = field(default_factory=list)
    probes: set[str] = field(default_factory=set)
    data_seed_follows_seed: bool = False  # Group.data_seed_follows_seed: a new seed brings its own data seed


def reseeded(config: RunConfig, seed: int, data_seed_follows_seed: bool) -> RunConfig:
    """`config` trained with `seed`, and its subset drawn with it too where the data seed follows the seed."""
    data = config.data.model_copy(update={"data_seed": seed}) if data_seed_follows_seed else config.data
    return config.model_copy(update={"seed": seed, "data": data})


def load_experiment(path: Path | str, data_root: Path | str | None = None) -> Experiment:
    """The validated experiment in `path`, or a one-line error naming the file and the problem.

    `data_root` (where file-based datasets live) goes into every cell; it is not part of a cell's
    identity, so the same results directory serves any data location."""
    tree = read_yaml(Path(path))
    if data_root is not None and isinstance(tree.get("base", {}), dict):
        base = tree.setdefault("base", {})
        if isinstance(base.get("data", {}), dict):
            base.setdefault("data", {})["root"] = str(data_root)
    try:
        experiment = Experiment.model_validate(tree)
    except ValidationError as error:
        raise CnnvitError(validation_message(error, f"experiment {path}")) from None
    problem = data_seed_problem(experiment)
    if problem:
        raise CnnvitError(f"experiment {path}: {problem}")
    return experiment


def data_seed_problem(experiment: Experiment) -> str | None:
    """Why the experiment's data seeds cannot follow its seeds as it asks, with the fix; None when they can."""
    base_data = experiment.base.get("data")
    for name, group in experiment.groups.items():
        if group.data_seed_follows_seed and DATA_SEED in set(group.axes).union(*group.zip):
            return f"group {name} sets {DATA_SEED} and data_seed_follows_seed; keep one"
        if group.data_seed_follows_seed and isinstance(base_data, dict) and "data_seed" in base_data:
            return f"group {name} sets each cell's data seed to its seed; remove {DATA_SEED} from base"
        if experiment.settle and any({"seed", DATA_SEED} <= set(mapping) for mapping in group.zip):
            return (
                f"group {name} zips seed with {DATA_SEED}, a relation the seeds that settle adds would not keep; "
                "write data_seed_follows_seed: true instead"
            )
    return None


def expand(experiment: Experiment) -> list[Cell]:
    """Every cell of every group, in file order, each configuration once."""
    cells: dict[str, Cell] = {}
    for group_name, group in experiment.groups.items():
        dimensions = [[((key, value),) for value in values] for key, values in group.axes.items()]
        dimensions += [
            list(zip(*([(key, v) for v in values] for key, values in mapping.items()))) for mapping in group.zip
        ]
        for combination in itertools.product(*dimensions):
            overrides = [f"{key}={_yaml_value(value)}" for assignment in combination for key, value in assignment]
            config = build_config(experiment.base, overrides, where=f"experiment {experiment.name}, group {group_name}")
            follows = group.data_seed_follows_seed
            if follows:
                config = reseeded(config, config.seed, data_seed_follows_seed=True)
            cell = cells.setdefault(run_name(config), Cell(run_name(config), config, data_seed_follows_seed=follows))
            if cell.data_seed_follows_seed != follows:  # its added seeds could not keep both relations
                flagged, other = (group_name, cell.groups[0]) if follows else (cell.groups[0], group_name)
                raise CnnvitError(
                    f"experiment {experiment.name}: groups {flagged} and {other} share cell {cell.name}, but only "
                    f"{flagged} sets data_seed_follows_seed; set it in both or in neither"
                )
            cell.groups.append(group_name)
            cell.probes.update(group.probes)
    return list(cells.values())


def _yaml_value(value) -> str:
    """A value as text that the override parser (YAML) reads back as the same value."""
    return json.dumps(value)
