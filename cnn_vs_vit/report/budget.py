"""How much training each architecture got: accuracy against compute, its plateau, and where the study's
budgets sit on it.

In a study of wsd branches (train.schedule=wsd: one trunk per architecture, fraction and seed, a cool-down
branched off at each budget), a curve is the branches of the reference model at one fraction: each point a
finished model, cooled down at that budget, its validation and test accuracy where its run ends. The plateau
is the longest branch's seed-mean validation accuracy; the budget the study labels "plateau" (train.budget)
is checked against it.

In a study before branches, the curves come from the long runs (train.eval_every): one run per seed,
evaluated every few steps, with the recipe's schedule (warm-up, then cosine to zero) stretched over the long
run's steps. A point along that run is not a shorter run's result (its learning rate has not decayed yet):
it is a lower bound on what that many steps reach. The plateau is where the long run ends, fully annealed.
Either way the study's own cells are read from their runs, not from the curve.
"""

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .claim_types import BUDGETS
from .runs import CONTENDERS, Run
from .selection import Context, at

# A curve has reached its plateau at the first evaluation within this much validation accuracy (seed mean)
# of where it ends: 1 point, 4 images of a 400-image validation split.
PLATEAU_TOLERANCE = 0.01


@dataclass
class Curve:
    """One architecture at one data fraction: accuracy at each budget (rows, steps) for each seed (columns)."""

    family: str  # Run.family
    model: str
    fraction: float
    train_size: int
    flops_per_step: float  # training FLOPs of one optimiser step (batch x per image)
    runs: list[Run]
    branched: bool  # points are branches (finished models); else evaluations along long runs

    def accuracy(self, split: str) -> pd.DataFrame:
        """Accuracy at each budget or evaluated step (rows) for each seed (columns)."""
        if self.branched:
            points = pd.DataFrame(
                {
                    "step": int(run.summary["steps"]),
                    "seed": run.summary.get("seed"),
                    "accuracy": float(run.summary.get(f"{split}_accuracy", math.nan)),
                }
                for run in self.runs
            )
            return points.pivot_table(index="step", columns="seed", values="accuracy").sort_index().dropna()
        columns = {
            run.summary.get("seed"): run.evaluations[run.evaluations["split"] == split].set_index("step")["accuracy"]
            for run in self.runs
        }
        return pd.DataFrame(columns).sort_index().dropna()

    @property
    def plateau(self) -> float:
        """Seed-mean validation accuracy at the longest budget (where the long runs end)."""
        return float(self.accuracy("validation").iloc[-1].mean())

    @property
    def plateau_step(self) -> int:
        """The first budget (or evaluated step) whose seed-mean validation accuracy is within PLATEAU_TOLERANCE
        of the plateau."""
        means = self.accuracy("validation").mean(axis=1)
        return int(means.index[np.argmax(means.to_numpy() >= self.plateau - PLATEAU_TOLERANCE)])


def curves(ctx: Context) -> list[Curve]:
    """Every (family, fraction) with branches (or long runs) of the reference models, CNN first, smallest
    fraction first. Branches: every wsd run of the reference model without another option, whatever its label."""
    found = []
    for family in CONTENDERS:
        model = ctx.references.get(family)
        branches = [
            r
            for r in ctx.runs
            if r.family == family
            and r.model == model
            and r.summary.get("schedule") == "wsd"
            and r.is_baseline
            and math.isfinite(float(r.summary.get("validation_accuracy", math.nan)))  # a plateau is on validation
        ]
        long_runs = [
            run for run in ctx.under("plateau").select(family) if run.evaluations is not None and len(run.evaluations)
        ]
        runs = branches or long_runs
        by_fraction = {float(run.summary["fraction"]) for run in runs}
        for fraction in sorted(by_fraction):
            at = [run for run in runs if float(run.summary["fraction"]) == fraction]
            if branches and len({int(run.summary["steps"]) for run in at}) < 2:
                continue  # one budget is a point, not a curve
            s = at[0].summary
            found.append(
                Curve(
                    family,
                    at[0].model,
                    fraction,
                    int(s["train_size"]),
                    float(s["train_flops_per_image"]) * int(s["batch_size"]),
                    at,
                    bool(branches),
                )
            )
    return found


def budget_cells(ctx: Context, curve: Curve) -> dict[str, list[Run]]:
    """{budget rule: the study's runs of the curve's model and fraction under it} (equal steps, equal FLOPs),
    each set of runs once (the CNN's equal-FLOPs runs are its equal-steps runs)."""
    cells = {}
    for budget in ctx.budgets():
        if budget == "plateau" and not curve.branched:  # the long runs are the curve itself
            continue
        runs = at(ctx.under(budget).select(curve.family), curve.fraction)
        if runs and runs not in cells.values():
            cells[budget] = runs
    return cells


def markdown(ctx: Context, plot: str | None) -> list[str]:
    """The report's budget section: each curve's plateau and the share of it each study budget reaches."""
    found = curves(ctx)
    if not found:
        return []
    branched = found[0].branched
    how = (
        "Each architecture's trunk (warm-up, then a constant learning rate) with a 20% cool-down branched off at "
        "each budget, every branch a finished model. The plateau is the seed-mean validation accuracy of the "
        "longest branch; it is reached at the first budget within "
        f"{100 * PLATEAU_TOLERANCE:g} point of it. Each study budget's share of the plateau is its branches' "
        "validation accuracy over it."
        if branched
        else "Each architecture trained long (one run per seed, evaluated every few steps; the recipe's warm-up and "
        "cosine schedule stretched over the whole run) at the smallest and the full data fraction. The plateau "
        "is the seed-mean validation accuracy where the long runs end; it is reached at the first evaluation "
        f"within {100 * PLATEAU_TOLERANCE:g} point of it. The study's cells are separate runs with their own "
        "schedule, and each budget's share of the plateau is their validation accuracy over it."
    )
    lines = [
        "",
        "## Training budget: accuracy against compute",
        "",
        how,
        "",
        f"| model | fraction | train images | {'longest branch' if branched else 'long run'}: steps (seeds) | "
        "plateau: validation / test | reached at step | budget | steps | validation | share of plateau | test |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    rising = []
    for curve in found:
        validation, test = curve.accuracy("validation"), curve.accuracy("test")
        if curve.plateau_step > validation.index[-1] / 2:  # within tolerance only in the run's second half
            rising.append(f"{curve.model} at fraction {curve.fraction:g}")
        head = (
            f"| {curve.model} | {curve.fraction:g} | {curve.train_size:,} | {validation.index[-1]:,} "
            f"({validation.shape[1]}) | {100 * curve.plateau:.1f}% / {100 * test.iloc[-1].mean():.1f}% | "
            f"{curve.plateau_step:,} |"
        )
        cells = budget_cells(ctx, curve)
        if not cells:
            lines.append(head + " — | | | | |")
        for budget, runs in cells.items():
            scored = [float(run.summary.get("validation_accuracy", math.nan)) for run in runs]
            steps = sorted({int(run.summary["steps"]) for run in runs})
            share = np.mean(scored) / curve.plateau
            lines.append(
                f"{head} {BUDGETS[budget]} | {', '.join(f'{s:,}' for s in steps)} | "
                f"{100 * np.mean(scored):.1f}% (n={len(runs)}) | {100 * share:.1f}% | "
                f"{100 * np.mean([run.accuracy() for run in runs]):.1f}% |"
            )
            head = "| | | | | | |"
    lines += [""]
    run = "its longest branch's budget" if branched else "its long run"
    if rising:
        lines.append(f"Still rising in the second half of {run}, so its plateau is a lower bound: {', '.join(rising)}.")
    else:
        lines.append(f"Every curve came within tolerance of its end in the first half of {run}: a plateau.")
    if plot:
        lines += ["", f"![{plot}]({plot})"]
    return lines
