"""The interface every probe exports, and the one way to run any probe on a run.

A probe is a module cnn_vs_vit/probes/<name>.py exporting PROBE = Probe(...): its name, the capabilities it
requires of a model (models.interface.Capabilities), its options (a validated model whose defaults are what
`cnnvit run` uses), `plan`, which from a loaded run and options gives everything the result answers (its
arguments) and how to compute it, and `known`, the part of those arguments known before anything is loaded.
probes/__init__.py lists the names; `find` imports the module by name, the way big_vision finds its evaluators.

`run_probe` checks the saved result first against what it knows without loading anything (the run's config
and weights' fingerprint, the options): a valid saved result is read back without building the model or
loading the dataset. The arguments a result records beyond those (how many test images and which, the
shifts or sizes a default resolved to) follow from the model, the dataset and the probe's format version,
all of which the known part pins. Otherwise the run is loaded and the probe planned; a saved result whose
full arguments match is still reused, else it is computed and saved (saved.save_or_reuse).
"""

import dataclasses
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from pydantic import BaseModel, ConfigDict, ValidationError

from .. import rundir as layout
from ..config import RunConfig
from ..data import ProbeSample
from ..errors import CnnvitError, unknown_name, validation_message
from ..models import Capabilities, capabilities_of
from ..trained_run import TrainedRun, load_run, run_source
from . import PROBES
from .saved import SavedProbe, reuse_known, save_or_reuse

Progress = Callable[[int, int], None]  # (done, total) as a probe's work advances


class Options(BaseModel):
    """A probe's options: unknown keys are refused, so a typo is an error, not a silent default."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Planned:
    """What a probe will compute on a loaded run: the arguments its result answers, the test images it reads
    (their count and record join the arguments) and the computation, returning (rows, summary, extra files)."""

    arguments: dict
    compute: Callable[[], tuple[pd.DataFrame, dict, dict[str, bytes]]]
    sample: ProbeSample | None = None


@dataclass(frozen=True)
class Probe:
    name: str
    summary: str  # what it measures, in a sentence: `cnnvit probe --help` and the README's list of probes
    options: type[Options]
    plan: Callable[..., Planned]  # (run, options, *, device, progress) -> Planned
    known: Callable[[Options, dict], dict | None]  # (options, source) -> arguments known unloaded; None: none
    # Its time in training steps of the run it probes, at the same threads: a number, or (options, the run's
    # config) -> steps where it depends on them; what the time estimate of `cnnvit run` counts (matrix/estimate.py). Measured on 2026-12-01 by timing every
    # probe on resnet-s and vit-s trained on mnist5k (2 threads, idle 2-core AMD EPYC; the two architectures
    # within 1.5x of each other except the multimodal check, where the larger is kept).
    cost: float | Callable[[Options, RunConfig], float]
    # The capabilities a model must have (Capabilities fields or properties that are set, e.g. "attention_maps");
    # it measures every model that has them all, and no other.
    requires: tuple[str, ...] = ()
    dtypes: dict | None = None  # CSV column types to restore on reading (nullable integers, booleans)
    # How `cnnvit probe` shows a result (its rows, summary): rich tables to print, and a PNG it draws with --plot.
    tables: Callable[[pd.DataFrame, dict], list] | None = None
    plot: Callable[[pd.DataFrame, dict, Path], None] | None = None
    named_models: bool = False  # whether it probes a model not trained here (`--model`), which has no run config

    @property
    def plot_file(self) -> str:
        """The file name --plot writes beside the result (RUN_DIR/probes/<name>.png)."""
        return f"{self.name}.png"

    def __post_init__(self) -> None:
        known = {f.name for f in dataclasses.fields(Capabilities)}
        known |= {name for name, value in vars(Capabilities).items() if isinstance(value, property)}
        if unknown := set(self.requires) - known:
            raise ValueError(f"probe {self.name} requires {sorted(unknown)}, which are not Capabilities fields")

    def steps(self, options: Options, config: RunConfig) -> float:
        """Its cost in training steps of the run it probes (`cost`)."""
        return self.cost(options, config) if callable(self.cost) else self.cost

    def applies(self, capabilities: Capabilities) -> bool:
        """Whether it measures a model with these capabilities: every one it requires is declared."""
        return all(getattr(capabilities, need) for need in self.requires)

    @property
    def reads_test_images(self) -> bool:
        """Whether it reads a sample of test images (data.probe_sample): its options count them."""
        return "images" in self.options.model_fields

    def validated(self, options: "Options | dict | None") -> Options:
        """`options` as this probe's Options; a one-line error naming the bad key or value."""
        if isinstance(options, self.options):
            return options
        try:
            return self.options(**(options or {}))
        except ValidationError as error:
            choices = ", ".join(self.options.model_fields)
            raise CnnvitError(
                f"{validation_message(error, f'{self.name} probe options')}; its options are {choices}"
            ) from None


def find(name: str) -> Probe:
    """The probe called `name` (one of PROBES)."""
    if name not in PROBES:
        raise unknown_name("probe", name, PROBES)
    return importlib.import_module(f"{__package__}.{name}").PROBE


def catalogue() -> list[tuple[str, str, str, str]]:
    """Every probe of the registry as (name, what it measures, what it applies to, its options with their
    defaults): what `cnnvit probe --help` and the README's list of probes show."""
    listed = []
    for name in PROBES:
        probe = find(name)
        options = ", ".join(f"{key}={_default(field.default)}" for key, field in probe.options.model_fields.items())
        needs = " and ".join(need.replace("_", " ") for need in probe.requires)
        listed.append((name, probe.summary, f"models with {needs}" if needs else "every model", options))
    return listed


def _default(value) -> str:
    """An option's default as a user would type it: None is resolved by the probe, a tuple is a comma list."""
    if value is None:
        return "(auto)"
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def catalogue_markdown() -> str:
    """The README's table of probes, made from the registry (tests/test_readme.py keeps the README in step)."""
    lines = ["| probe | what it measures | applies to | options (defaults) |", "|---|---|---|---|"]
    for name, summary, applies_to, options in catalogue():
        lines.append(f"| `{name}` | {summary} | {applies_to} | {options.replace('|', chr(92) + '|') or '—'} |")
    return "\n".join(lines) + "\n"


def applies(name: str, run_dir: Path | str) -> bool:
    """Whether probe `name` measures the model of the finished run in `run_dir` (its capabilities, read from
    the model's class: nothing is built)."""
    return find(name).applies(capabilities_of(layout.RunDir(run_dir).summary()["model"]))


def run_probe(
    name: str,
    run_dir: Path | str,
    options: Options | dict | None = None,
    *,
    device: torch.device | str = "cpu",
    force: bool = False,
    progress: Progress | None = None,
) -> SavedProbe:
    """Probe `name` on a finished run, saved to run_dir/probes/: a saved result answering the same arguments
    is reused (checked before the run is loaded) unless `force`."""
    probe = find(name)
    options = probe.validated(options)
    saved = None if force else _reusable(probe, run_dir, options)
    if saved is not None:
        return saved
    return probe_loaded(
        probe,
        load_run(run_dir, device),
        Path(run_dir) / layout.PROBES,
        options,
        device=device,
        force=force,
        progress=progress,
    )


def is_saved(name: str, run_dir: Path | str, options: Options | dict | None = None) -> bool:
    """Whether run_probe would reuse a saved result, told without loading the run (False for an untrained run)."""
    probe = find(name)
    if not (layout.RunDir(run_dir) / layout.WEIGHTS).exists():
        return False
    return _reusable(probe, run_dir, probe.validated(options)) is not None


def _reusable(probe: Probe, run_dir: Path | str, options: Options) -> SavedProbe | None:
    known = probe.known(options, run_source(run_dir))
    if known is None:
        return None
    images = options.images if probe.reads_test_images else None
    return reuse_known(Path(run_dir) / layout.PROBES, probe.name, known, images, probe.dtypes)


def probe_loaded(
    probe: Probe,
    run: TrainedRun,
    directory: Path,
    options: Options | dict | None = None,
    *,
    device: torch.device | str = "cpu",
    force: bool = False,
    progress: Progress | None = None,
) -> SavedProbe:
    """Probe an already loaded model (a run, or a model not trained here), saved to `directory`."""
    planned = probe.plan(run, probe.validated(options), device=device, progress=progress)
    arguments = (
        planned.arguments if planned.sample is None else {**planned.arguments, "images": len(planned.sample.indices)}
    )
    return save_or_reuse(
        directory,
        probe.name,
        arguments,
        planned.compute,
        force=force,
        dtypes=probe.dtypes,
        sample=planned.sample,
    )
