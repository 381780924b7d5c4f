"""The recipe search: each model's recipes scored on validation accuracy, and the winner per model.

A search is a set of runs of one model that differ only in recipe knobs (experiments/recipes.yaml).
The winner is the recipe with the highest validation accuracy (mean over its seeds): the test set
takes no part in the choice, and no claim's verdict does. training/recipes.py holds the winners of the
committed search, and a test checks that it still does.
"""

import math

import pandas as pd

from .runs import Run

KNOBS = ("lr", "warmup_fraction", "weight_decay")  # the train.* keys a search varies
COLUMNS = ["model", *KNOBS, "seeds", "validation_accuracy", "test_accuracy", "winner"]


def search_table(runs: list[Run]) -> pd.DataFrame:
    """One row per (model, recipe) among finished runs with a validation score: mean validation and test
    accuracy over seeds, and whether it is its model's winner. Empty when no model has two recipes."""
    rows = []
    for run in runs:
        if run.status != "done" or not math.isfinite(float(run.summary.get("validation_accuracy", math.nan))):
            continue
        train = run.config.get("train", {})
        rows.append(
            {
                "model": run.model,
                **{k: float(train[k]) for k in KNOBS},
                "seed": run.summary.get("seed"),
                "validation_accuracy": float(run.summary["validation_accuracy"]),
                "test_accuracy": run.accuracy(),
            }
        )
    if not rows:
        return pd.DataFrame(columns=COLUMNS)
    table = (
        pd.DataFrame(rows)
        .groupby(["model", *KNOBS], as_index=False)
        .agg(
            seeds=("seed", "count"),
            validation_accuracy=("validation_accuracy", "mean"),
            test_accuracy=("test_accuracy", "mean"),
        )
    )
    table = table[table.groupby("model")["model"].transform("size") > 1]  # a search has more than one recipe
    table = table.sort_values(["model", *KNOBS], ignore_index=True)
    table["winner"] = False
    table.loc[list(winners(table).values()), "winner"] = True
    return table[COLUMNS]


def winners(table: pd.DataFrame) -> dict[str, int]:
    """{model: the index of its row with the highest validation accuracy}; a tie goes to the row listed first
    (smaller learning rate, then shorter warm-up, then smaller weight decay)."""
    return {model: int(rows["validation_accuracy"].idxmax()) for model, rows in table.groupby("model", sort=True)}


def markdown(table: pd.DataFrame) -> list[str]:
    """The search as a report section: every recipe, the winners in bold."""
    if table.empty:
        return []
    lines = [
        "",
        "## Recipe search",
        "",
        "Each model's recipes scored on validation accuracy (a fixed stratified share of the training split "
        "that no run trains on), mean over seeds; the winner (bold) has the highest. Test accuracy is shown, "
        "never used to choose.",
        "",
        "| model | peak lr | warm-up | weight decay | seeds | validation accuracy | test accuracy |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in table.itertuples():
        mark = "**" if row.winner else ""
        lines.append(
            f"| {mark}{row.model}{mark} | {row.lr:g} | {row.warmup_fraction:.0%} | {row.weight_decay:g} | "
            f"{row.seeds} | {mark}{100 * row.validation_accuracy:.2f}%{mark} | {100 * row.test_accuracy:.2f}% |"
        )
    return lines
