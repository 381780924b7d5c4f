"""The recipe search chooses by validation accuracy alone, and training/recipes.py holds its winners."""

from pathlib import Path

import pytest

from cnn_vs_vit.report.recipe_search import search_table
from cnn_vs_vit.report.runs import Run, load_runs
from cnn_vs_vit.training.recipes import RECIPES

COMMITTED = Path(__file__).resolve().parents[1] / "results" / "recipes"


def run(model: str, lr: float, warmup: float, decay: float, seed: int, validation: float, test: float) -> Run:
    config = {"model": {"name": model}, "train": {"lr": lr, "warmup_fraction": warmup, "weight_decay": decay}}
    summary = {"model": model, "arch": model.split("-")[0], "seed": seed, "validation_accuracy": validation,
               "test_accuracy": test}  # fmt: skip
    return Run(f"runs/{model}_{lr}_{warmup}_{decay}_{seed}", "done", config, summary)


def test_the_winner_is_the_recipe_with_the_highest_mean_validation_accuracy_whatever_the_test_says():
    runs = [
        run("resnet-s", 1e-3, 0.05, 0.05, 0, validation=0.90, test=0.99),  # best test: never chosen for it
        run("resnet-s", 1e-3, 0.05, 0.05, 1, validation=0.90, test=0.99),
        run("resnet-s", 2e-3, 0.05, 0.05, 0, validation=0.96, test=0.50),
        run("resnet-s", 2e-3, 0.05, 0.05, 1, validation=0.92, test=0.50),  # mean 0.94: the winner
        run("resnet-s", 4e-3, 0.20, 0.05, 0, validation=0.95, test=0.90),  # one seed above 0.94, mean 0.93
        run("resnet-s", 4e-3, 0.20, 0.05, 1, validation=0.91, test=0.90),
        run("vit-s", 5e-4, 0.05, 1e-4, 0, validation=0.80, test=0.80),
        run("vit-s", 1e-3, 0.20, 1e-4, 0, validation=0.85, test=0.70),  # tie: the smaller lr, listed first, wins
        run("vit-s", 2e-3, 0.20, 1e-4, 0, validation=0.85, test=0.90),
    ]
    table = search_table(runs)
    won = table[table["winner"]].set_index("model")
    assert won.loc["resnet-s", "lr"] == 2e-3 and won.loc["resnet-s", "validation_accuracy"] == pytest.approx(0.94)
    assert won.loc["vit-s", "lr"] == 1e-3 and won.loc["vit-s", "warmup_fraction"] == 0.20
    assert table["seeds"].tolist() == [2, 2, 2, 1, 1, 1]


def test_a_model_with_one_recipe_is_no_search():
    assert search_table([run("resnet-s", 1e-3, 0.05, 0.05, 0, 0.9, 0.9)]).empty


def test_the_recipes_in_use_are_the_committed_searchs_winners():
    table = search_table(load_runs(COMMITTED))
    for model, arch in (("resnet-s", "resnet"), ("vit-s", "vit")):
        won = table[table["winner"] & (table["model"] == model)].iloc[0]
        recipe = RECIPES[arch]
        assert (recipe.lr, recipe.warmup_fraction, recipe.weight_decay) == (
            won.lr,
            won.warmup_fraction,
            won.weight_decay,
        )


def plateau_budgets() -> dict[str, int]:
    """{model: steps} of the default study's plateau group on all of the data, where the search ran (below full
    data the plateau budgets are longer, the recipe the same)."""
    from cnn_vs_vit.matrix.experiment import expand, load_experiment

    cells = expand(load_experiment(COMMITTED.parents[1] / "experiments" / "default.yaml"))
    full = [c for c in cells if "plateau" in c.groups and c.config.data.fraction == 1.0]
    return {c.config.model.name: c.config.train.steps for c in full}


def test_the_wsd_recipes_in_use_are_the_committed_wsd_searchs_winners_at_each_plateau_budget():
    from cnn_vs_vit.training.recipes import WSD_RECIPES

    table = search_table(load_runs(COMMITTED.parent / "recipes-wsd"))
    budgets = plateau_budgets()
    assert budgets == {"resnet-s": 1200, "vit-s": 2400}
    for model, arch in (("resnet-s", "resnet"), ("vit-s", "vit")):
        won = table[table["winner"] & (table["model"] == model) & (table["steps"] == budgets[model])].iloc[0]
        recipe = WSD_RECIPES[arch]
        assert (recipe.lr, recipe.warmup_steps, recipe.weight_decay) == (won.lr, won.warmup_steps, won.weight_decay)
