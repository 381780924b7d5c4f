"""The recipe search: each model's recipes scored on validation accuracy, and the winner per model and budget.

A search is a set of runs of one model that differ only in recipe knobs (experiments/recipes.yaml; under the
wsd schedule each recipe one trunk with a branch per budget, experiments/recipes-wsd.yaml). The winner at a
budget is the recipe with the highest validation accuracy there (mean over its seeds): the test set
takes no part in the choice, and no claim's verdict does. training/recipes.py holds the winners of the
committed search, and a test checks that it still does.
"""

import math

import pandas as pd

from .runs import Run

# The train.* keys a search varies: the warm-up is a fraction of the steps under cosine, absolute steps under wsd
# (shared by every budget of a trunk), the other kind NaN.
KNOBS = ("lr", "warmup_fraction", "warmup_steps", "weight_decay")
BUDGET = ("schedule", "steps")  # a search is scored per budget: the winner of each
COLUMNS = ["model", *BUDGET, *KNOBS, "seeds", "validation_accuracy", "test_accuracy", "winner"]


def search_table(runs: list[Run]) -> pd.DataFrame:
    """One row per (model, budget, recipe) among finished runs with a validation score: mean validation and test
    accuracy over seeds, and whether it is the winner of its model at its budget. Empty when no model has two
    recipes at one budget."""
    rows = []
    for run in runs:
        if run.status != "done" or not math.isfinite(float(run.summary.get("validation_accuracy", math.nan))):
            continue
        train = run.config.get("train", {})
        rows.append(
            {
                "model": run.model,
                "schedule": run.summary.get("schedule", "cosine"),
                "steps": int(run.summary.get("steps", 0)),
                **{k: float(train[k]) if train.get(k) is not None else math.nan for k in KNOBS},
                "seed": run.summary.get("seed"),
                "validation_accuracy": float(run.summary["validation_accuracy"]),
                "test_accuracy": run.accuracy(),
            }
        )
    if not rows:
        return pd.DataFrame(columns=COLUMNS)
    keys = ["model", *BUDGET, *KNOBS]
    table = (
        pd.DataFrame(rows)
        .groupby(keys, as_index=False, dropna=False)
        .agg(
            seeds=("seed", "count"),
            validation_accuracy=("validation_accuracy", "mean"),
            test_accuracy=("test_accuracy", "mean"),
        )
    )
    sizes = table.groupby(["model", *BUDGET])["model"].transform("size")
    table = table[sizes > 1]  # a search has more than one recipe
    table = table.sort_values(keys, ignore_index=True)
    table["winner"] = False
    table.loc[list(winners(table).values()), "winner"] = True
    return table[COLUMNS]


def winners(table: pd.DataFrame) -> dict[tuple, int]:
    """{(model, schedule, steps): the index of its row with the highest validation accuracy}; a tie goes to the
    row listed first (smaller learning rate, then shorter warm-up, then smaller weight decay)."""
    return {
        key: int(rows["validation_accuracy"].idxmax()) for key, rows in table.groupby(["model", *BUDGET], sort=True)
    }


def markdown(table: pd.DataFrame) -> list[str]:
    """The search as a report section: every recipe, the winners in bold."""
    if table.empty:
        return []
    lines = [
        "",
        "## Recipe search",
        "",
        "Each model's recipes scored on validation accuracy (a fixed stratified share of the training split "
        "that no run trains on), mean over seeds, at each budget; the winner of each (bold) has the highest. "
        "Test accuracy is shown, never used to choose.",
        "",
        "| model | schedule | steps | peak lr | warm-up | weight decay | seeds | validation accuracy | test accuracy |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in table.itertuples():
        mark = "**" if row.winner else ""
        warmup = f"{row.warmup_fraction:.0%}" if math.isfinite(row.warmup_fraction) else f"{row.warmup_steps:.0f} steps"
        lines.append(
            f"| {mark}{row.model}{mark} | {row.schedule} | {row.steps:,} | {row.lr:g} | {warmup} | "
            f"{row.weight_decay:g} | {row.seeds} | {mark}{100 * row.validation_accuracy:.2f}%{mark} | "
            f"{100 * row.test_accuracy:.2f}% |"
        )
    return lines
