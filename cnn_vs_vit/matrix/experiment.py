"""Experiment files: a base configuration and groups of axes that expand into matrix cells.

    name: quick
    budget: "300 steps of 64 at every fraction"      # the budget rule, in words, for the report
    base: {data: {name: mnist5k}, train: {steps: 300}}
    groups:
      data_fraction:
        axes: {model.name: [resnet-xs, vit-xs], seed: [0, 1]}        # cartesian product
        zip: [{data.fraction: [0.1, 1.0], train.steps: [150, 300]}]   # these vary together
        probes: [shift]
    probe_shift: {images: 256, mode: both}

Every cell is a full run configuration validated like `cnnvit train`'s; a cell that two groups
share (same configuration) is trained once.
"""

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..config import RunConfig, build_config, read_yaml
from ..errors import CnnvitError, validation_message
from ..probes import PROBES
from ..rundir import run_name

ProbeName = Literal[PROBES]  # type: ignore[valid-type]  (the names in probes/__init__.py)


class Group(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    axes: dict[str, list] = {}  # dotted key -> values; cartesian product
    zip: list[dict[str, list]] = []  # each mapping's keys vary together (lists of one length)
    probes: list[ProbeName] = []

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


class ShiftProbeOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    images: int = Field(512, ge=1)
    mode: Literal["circular", "crop", "both"] = "both"
    shifts: list[int] | None = None
    batch_size: int = Field(64, ge=1)


class Experiment(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    budget: str  # the budget rule in words: written into the report beside the results
    base: dict = {}
    groups: dict[str, Group] = Field(min_length=1)
    probe_shift: ShiftProbeOptions = ShiftProbeOptions()

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
        return Experiment.model_validate(tree)
    except ValidationError as error:
        raise CnnvitError(validation_message(error, f"experiment {path}")) from None


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
            cell = cells.setdefault(run_name(config), Cell(run_name(config), config))
            cell.groups.append(group_name)
            cell.probes.update(group.probes)
    return list(cells.values())


def _yaml_value(value) -> str:
    """A value as text that the override parser (YAML) reads back as the same value."""
    return json.dumps(value)
