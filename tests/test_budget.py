"""Budget facts: a FLOP-matched budget spends the named model's training FLOPs; evaluations along a run
are recorded at their steps, change no weight, and survive resumption exactly."""

import json

import pytest

from cnn_vs_vit import rundir
from cnn_vs_vit.data import load_dataset
from cnn_vs_vit.models import train_flops
from cnn_vs_vit.training import train_run
from cnn_vs_vit.training.loop import budget_steps
from test_training import assert_same_weights, interrupt_at


def evaluations(run_dir) -> list[tuple[int, str, float]]:
    return [(r["step"], r["split"], r["accuracy"]) for r in rundir.RunDir(run_dir).metrics()
            if r["split"] in ("test", "validation")]  # fmt: skip


def test_a_flop_matched_budget_spends_the_named_models_training_flops(tiny):
    config = tiny("model.name=vit-s", "train.steps=600", "train.match_flops=resnet-s", "data.image_size=28")
    steps = budget_steps(config)
    shape = ((3, 28, 28), 4)  # shapes: RGB, 4 classes
    own = train_flops("vit-s", image_shape=shape[0], num_classes=shape[1])
    matched = train_flops("resnet-s", image_shape=shape[0], num_classes=shape[1])
    assert own < matched  # the ViT is the cheaper model per image, so it gets more steps
    assert abs(steps * own - 600 * matched) <= own / 2  # equal FLOPs, to the nearest step
    assert budget_steps(tiny("model.name=resnet-s", "train.steps=600", "train.match_flops=resnet-s")) == 600


@pytest.mark.parametrize("budget", [("train.steps=600", "train.match_flops=resnet-s"),
                                    ("train.steps=null", "train.epochs=3", "train.min_steps=50", "train.max_steps=90")])  # fmt: skip
def test_a_fixed_budget_is_its_steps_whatever_budget_rule_the_config_held(tiny, budget):
    config = tiny("model.name=vit-s", "data.image_size=28", *budget)
    fixed = config.model_copy(update={"train": config.train.with_fixed_steps(7)})
    labels = load_dataset("shapes", image_size=28).train_labels  # what an epoch budget counts
    assert budget_steps(config, labels) != 7 and budget_steps(fixed, labels) == 7


def test_a_flop_matched_run_trains_the_matched_steps_and_says_so(tmp_path, tiny):
    config = tiny("model.name=resnet-xxs", "train.match_flops=resnet-xs")
    summary = train_run(config, tmp_path / "run")
    assert summary["steps"] == budget_steps(config) > 6
    assert summary["match_flops"] == "resnet-xs"
    assert train_run(config, tmp_path / "run") == summary  # the resolved config.yaml reads as the same run


def test_evaluations_along_a_run_change_no_weight(tmp_path, tiny):
    train_run(tiny("data.validation=0.1"), tmp_path / "once")
    summary = train_run(tiny("data.validation=0.1", "train.eval_every=2"), tmp_path / "along")
    assert_same_weights(tmp_path / "once", tmp_path / "along")
    along = evaluations(tmp_path / "along")
    assert [(step, split) for step, split, _ in along] == [
        (s, split) for s in (2, 4, 6) for split in ("test", "validation")
    ]
    assert along[-2][2] == summary["test_accuracy"] and along[-1][2] == summary["validation_accuracy"]


@pytest.mark.parametrize("crash_at", [3, 4])  # at the step of a checkpoint that is also an evaluation, and after
def test_a_resumed_run_evaluates_each_step_once(tmp_path, tiny, monkeypatch, crash_at):
    config = tiny("train.eval_every=3")
    train_run(config, tmp_path / "straight")

    def crash():
        raise RuntimeError("simulated crash")

    interrupt_at(monkeypatch, crash_at, crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train_run(config, tmp_path / "resumed")
    monkeypatch.undo()
    train_run(config, tmp_path / "resumed")
    assert_same_weights(tmp_path / "straight", tmp_path / "resumed")
    assert evaluations(tmp_path / "resumed") == evaluations(tmp_path / "straight")


@pytest.fixture(scope="module")
def budget_study(tmp_path_factory):
    """A tiny study under three budget rules: equal steps (both), equal FLOPs (the ViT), long runs (both)."""
    from conftest import tiny_config

    root = tmp_path_factory.mktemp("budget") / "runs"
    base = ("data.validation=0.2",)
    models = {"resnet": ("model.name=resnet-xs",), "vit": ("model.name=vit-xs",)}
    for arch, model in models.items():
        for fraction in (0.25, 1.0):
            cell = (*base, *model, f"data.fraction={fraction}")
            train_run(tiny_config(*cell), root / f"{arch}_steps_{fraction}")
            train_run(tiny_config(*cell, "train.steps=12", "train.eval_every=3"), root / f"{arch}_long_{fraction}")
            if arch == "vit":
                train_run(tiny_config(*cell, "train.match_flops=resnet-xs"), root / f"vit_flops_{fraction}")
    return root.parent


def test_rows_5_and_9_are_measured_under_every_budget_rule_the_runs_hold(budget_study):
    from cnn_vs_vit.report import build_report

    report = build_report(budget_study)
    claims = {c.claim_id: c for c in report.claims}
    assert [c for c in claims if c.startswith(("5", "9"))] == ["5", "5-flops", "5-plateau", "9", "9-flops", "9-plateau"]
    summaries = {p.parent.name: json.loads(p.read_text()) for p in (budget_study / "runs").glob("*/summary.json")}

    def effect(kind: str) -> float:  # CNN − ViT test accuracy at the smallest fraction, from the summaries alone
        cnn = "resnet_long_0.25" if kind == "long" else "resnet_steps_0.25"
        return summaries[cnn]["test_accuracy"] - summaries[f"vit_{kind}_0.25"]["test_accuracy"]

    assert claims["9"].effect.mean == pytest.approx(effect("steps"))
    assert claims["9-flops"].effect.mean == pytest.approx(effect("flops"))
    assert claims["9-plateau"].effect.mean == pytest.approx(effect("long"))
    assert claims["5-plateau"].verdict == "not measured"  # two sizes cannot take a power law
    assert "equal training FLOPs" in claims["9-flops"].claim and "equal steps" in claims["9"].claim
    assert {run.path for run in claims["9"].runs} == {"runs/resnet_steps_0.25", "runs/vit_steps_0.25"}


def test_the_budget_section_reads_each_plateau_from_where_the_long_runs_end(budget_study):
    from cnn_vs_vit.report import build_report

    build_report(budget_study)
    assert (budget_study / "accuracy_vs_compute.png").stat().st_size > 10_000
    text = (budget_study / "report.md").read_text()
    section = text[text.index("## Training budget") :]
    for arch, model in (("resnet", "resnet-xs"), ("vit", "vit-xs")):
        ends = [r for r in rundir.RunDir(budget_study / "runs" / f"{arch}_long_1.0").metrics()
                if r["split"] == "validation"]  # fmt: skip
        assert [r["step"] for r in ends] == [3, 6, 9, 12]
        plateau = f"{100 * ends[-1]['accuracy']:.1f}%"
        row = next(line for line in section.splitlines() if line.startswith(f"| {model} | 1 |"))
        assert f"| {plateau} / " in row


def labelled(name: str, model: str, arch: str, steps: int, budget=None, match_flops=None, seed=0, validation=0.5):
    from cnn_vs_vit.report.runs import Run

    summary = {"model": model, "arch": arch, "dataset": "mnist5k", "fraction": 1.0, "seed": seed, "steps": steps,
               "schedule": "wsd", "match_flops": match_flops, "validation_accuracy": validation,
               "test_accuracy": validation, "train_size": 100, "train_flops_per_image": 1.0, "batch_size": 2}
    if budget:
        summary["budget"] = budget
    return Run(name, "done", {"model": {"name": model}}, summary)


BRANCHED_STUDY = [
    labelled("cnn-600", "resnet-s", "resnet", 600, validation=0.90),
    labelled("cnn-1200", "resnet-s", "resnet", 1200, "plateau", validation=0.95),
    labelled("cnn-2400", "resnet-s", "resnet", 2400, "curve", validation=0.955),
    labelled("vit-600", "vit-s", "vit", 600, validation=0.80),
    labelled("vit-1473", "vit-s", "vit", 1473, match_flops="resnet-s", validation=0.85),
    labelled("vit-2400", "vit-s", "vit", 2400, "plateau", validation=0.90),
    labelled("vit-4800", "vit-s", "vit", 4800, "curve", validation=0.91),
]


def test_a_branch_is_read_only_by_the_budget_rule_it_is_labelled_with():
    from cnn_vs_vit.report.selection import Context

    context = Context.of(BRANCHED_STUDY)
    assert context.budget == "plateau" and context.budgets() == ["plateau", "steps", "flops"]

    def chosen(budget: str) -> dict[str, list[str]]:
        return {family: [r.path for r in context.under(budget).select(family)] for family in ("cnn", "vit")}

    assert chosen("plateau") == {"cnn": ["cnn-1200"], "vit": ["vit-2400"]}
    assert chosen("steps") == {"cnn": ["cnn-600"], "vit": ["vit-600"]}
    assert chosen("flops") == {"cnn": ["cnn-600"], "vit": ["vit-1473"]}  # the CNN's equal-FLOPs runs: its own
    unlabelled = Context.of([r for r in BRANCHED_STUDY if "budget" not in r.summary])
    assert unlabelled.budget == "steps"  # a study that labels no plateau is read at equal steps, as before


def test_curves_of_a_branched_study_are_its_finished_branches_and_the_plateau_its_longest():
    from cnn_vs_vit.report.budget import budget_cells, curves
    from cnn_vs_vit.report.selection import Context

    context = Context.of(BRANCHED_STUDY)
    cnn, vit = curves(context)
    assert vit.branched and list(vit.accuracy("validation").index) == [600, 1473, 2400, 4800]
    assert vit.plateau == pytest.approx(0.91) and vit.plateau_step == 2400  # within 1 point of the longest
    assert cnn.plateau_step == 1200
    assert {budget: [r.path for r in runs] for budget, runs in budget_cells(context, vit).items()} == {
        "plateau": ["vit-2400"], "steps": ["vit-600"], "flops": ["vit-1473"]}  # fmt: skip
