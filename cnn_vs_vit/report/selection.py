"""Which runs a claim compares: each family's reference model under a budget rule (Context), and the selections
the claims share (by data fraction, by probe, by pairing key, by layer; the probed CNN-ViT Pair). One copy of
each, so that two rows reading "the largest fraction both were probed at" read the same runs.
"""

import dataclasses
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from .claim_types import BUDGETS, Missing
from .runs import CONTENDERS, Run, reference_model

PROBE_HINT = "run cnnvit probe {name} on them (or list {name} among an experiment group's probes)"
# The model a CNN-vs-ViT row compares for each family, when it was run (else the family's most common one).
# A family without one (the control) has no reference model: a claim reads its runs by task, not by model.
PREFERRED = {"cnn": "resnet-s", "vit": "vit-s"}


@dataclass
class Context:
    """The finished runs and the CNN/ViT models the CNN-vs-ViT rows compare."""

    runs: list[Run]
    references: dict[str, str | None]  # family -> the model its rows compare (Run.family)
    dataset: str | None
    all_runs: list[Run] = field(default_factory=list)  # finished runs of every dataset (row 3 has its own task)
    budget: str = "steps"  # the budget rule whose runs select() returns (a BUDGETS key)

    @classmethod
    def of(cls, runs: list[Run]) -> "Context":
        """Finished runs of the most common dataset (claims never mix datasets), and the reference models."""
        finished = [run for run in runs if run.status == "done"]
        datasets = Counter(str(run.summary.get("dataset")) for run in finished if run.family in CONTENDERS)
        dataset = sorted(datasets.items(), key=lambda item: (-item[1], item[0]))[0][0] if datasets else None
        done = [run for run in finished if str(run.summary.get("dataset")) == dataset]
        references = {family: reference_model(done, family, preferred) for family, preferred in PREFERRED.items()}
        # The report's own rule: each to its plateau where the study labelled a plateau budget for both
        # architectures (config.TrainConfig.budget), else equal steps (a study before budget labels).
        labelled = {run.family for run in done if run.budget_label == "plateau"}
        return cls(done, references, dataset, finished, "plateau" if set(CONTENDERS) <= labelled else "steps")

    @property
    def cnn_model(self) -> str | None:
        return self.references.get("cnn")

    @property
    def vit_model(self) -> str | None:
        return self.references.get("vit")

    def select(self, family: str, *, baseline_except: tuple[str, ...] | None = (), model: bool = True) -> list[Run]:
        """Finished runs of `family` (of its reference model when `model`: none for a family without one),
        baseline apart from `baseline_except`."""
        name = self.references.get(family)
        chosen = [r for r in self.runs if r.family == family and (not model or r.model == name) and self.in_budget(r)]
        if baseline_except is not None:
            chosen = [r for r in chosen if r.is_baseline_except(*baseline_except)]
        return chosen

    def in_budget(self, run: Run) -> bool:
        """Whether `run` trained under this context's budget rule. Plateau: the runs labelled so (train.budget),
        or in a study without labels the long runs evaluated along the way (train.eval_every). Equal steps: the
        other runs as the study sized them. Equal FLOPs: the ViT's runs sized to the CNN's training FLOPs
        (train.match_flops), the CNN's equal-steps runs. A run labelled "curve" is read by the curves alone."""
        label = run.budget_label
        plateau = label == "plateau" or (label is None and run.evaluations is not None)
        if self.budget == "plateau" or plateau or label == "curve":
            return self.budget == "plateau" and plateau
        if self.budget == "flops" and run.family != "cnn":
            return run.match_flops is not None and run.match_flops == self.cnn_model
        return run.match_flops is None

    def budgets(self) -> list[str]:
        """The budget rules this context's runs hold a ViT for, this context's own first."""
        held = [b for b in BUDGETS if any(self.under(b).in_budget(r) for r in self.runs if r.family == "vit")]
        return sorted(held, key=lambda b: b != self.budget)

    def under(self, budget: str) -> "Context":
        return dataclasses.replace(self, budget=budget)


# ----------------------------------------------------------------------------------- by data fraction


def fraction(run: Run) -> float:
    """The run's data fraction; NaN when its summary has none (it then matches no fraction)."""
    return float(run.summary.get("fraction", math.nan))


def fractions(runs: list[Run]) -> set[float]:
    return {fraction(run) for run in runs}


def at(runs: list[Run], chosen: float) -> list[Run]:
    """The runs trained on data fraction `chosen`."""
    return [run for run in runs if fraction(run) == chosen]


def largest_shared_fraction(*groups: list[Run]) -> float | None:
    """The largest data fraction every group has runs at; None when they share none."""
    shared = set.intersection(*(fractions(group) for group in groups)) if groups else set()
    return max(shared) if shared else None


# ------------------------------------------------------------------------------------ by pairing key


def by_key(runs: list[Run], value) -> dict:
    """{(architecture, *pairing key): value(run)}, averaging runs that share a key. The architecture is part of
    the key because a seed pairs runs only within one (statistics.difference)."""
    groups = defaultdict(list)
    for run in runs:
        groups[(run.arch, *run.pairing_key)].append(value(run))
    return {key: float(np.mean(values)) for key, values in groups.items()}


# ------------------------------------------------------------------------------------------ by probe


def probed(runs: list[Run], probe: str) -> list[Run]:
    """The runs holding the results of `probe` (the shift probe's in Run.shift_rows, every other's in probe_rows)."""
    if probe == "shift":
        return [run for run in runs if run.shift_rows is not None and run.shift_summary is not None]
    return [run for run in runs if probe in run.probe_rows]


@dataclass(frozen=True)
class Pair:
    """The reference CNN's and ViT's runs a row compares, at one data fraction."""

    cnn: list[Run]
    vit: list[Run]
    fraction: float

    @property
    def runs(self) -> list[Run]:
        return [*self.cnn, *self.vit]


def probed_pair(ctx: Context, name: str) -> Pair | Missing:
    """The CNN and ViT runs holding probe `name` at the largest fraction both have, or what is missing when
    there is no such fraction."""
    cnn, vit = probed(ctx.select("cnn"), name), probed(ctx.select("vit"), name)
    shared = largest_shared_fraction(cnn, vit)
    if shared is None:
        return Missing(
            f"needs {name} probe results of a ResNet and a ViT at the same data fraction; "
            + PROBE_HINT.format(name=name)
        )
    return Pair(at(cnn, shared), at(vit, shared), shared)


def reference_vit(ctx: Context, **options) -> list[Run]:
    """Shift-probed ViT runs with model `options` (their presets' own where not given, Run.option), the
    reference model's if it has any, else any ViT's; at their largest fraction, of one model."""
    keys = tuple(options)
    for model_only in (True, False):
        candidates = probed(ctx.select("vit", baseline_except=keys, model=model_only), "shift")
        chosen = [r for r in candidates if all(r.option(k) == v for k, v in options.items())]
        if chosen:
            largest = max(fractions(chosen))
            model = sorted({r.model for r in chosen})[0]
            return [r for r in at(chosen, largest) if r.model == model]
    return []


# ------------------------------------------------------------------------------------------ by layer


def first_block(table, family: str) -> str:
    """Layer 1 in the notes' sense: the CNN's first layer after its stem, the ViT's first Transformer block."""
    ordered = table.sort_values("layer_index")["layer"].drop_duplicates().tolist()
    if family == "vit":
        blocks = [layer for layer in ordered if layer.startswith("block")]
        return blocks[0] if blocks else ordered[-1]
    after_stem = [layer for layer in ordered if layer != "stem"]
    return after_stem[0] if after_stem else ordered[0]
