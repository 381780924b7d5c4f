"""Branch facts: every budget of a wsd run is a branch of one trunk, and which branch trained the trunk, or
whether one stopped on the way, changes no bit of any branch's weights."""

import pytest
import torch

from cnn_vs_vit import rundir
from cnn_vs_vit.data import load_dataset
from cnn_vs_vit.errors import DirectoryBusy
from cnn_vs_vit.locks import directory_lock
from cnn_vs_vit.models import build_model
from cnn_vs_vit.training import train_run
from cnn_vs_vit.training.branches import fork_step, train_branches, trunk_key
from cnn_vs_vit.training.budget import budget_steps
from cnn_vs_vit.training.loop import resolve_config
from cnn_vs_vit.training.schedule import cooldown_start
from test_training import assert_same_weights, interrupt_at

SHORT, LONG = 6, 10  # forks at 5 and 8 (cool-downs of 1 and 2 steps)


def branch(tiny, steps: int, *overrides: str):
    return tiny("train.schedule=wsd", f"train.steps={steps}", "train.warmup_steps=2", *overrides)


def crash():
    raise RuntimeError("simulated crash")


@pytest.mark.parametrize("model", [["model.name=resnet-xxs"], ["model.name=vit-xxs", "model.patch_size=4"]])
def test_a_branch_is_the_same_trained_alone_or_continuing_another_branchs_trunk(tmp_path, tiny, model):
    short, long = branch(tiny, SHORT, *model), branch(tiny, LONG, *model)
    # The long branch alone, from scratch, saving the short one's fork on its way; then the short one from it.
    alone = train_run(long, tmp_path / "a" / "runs" / "long", fork_steps=[fork_step(short)])
    after_long = train_run(short, tmp_path / "a" / "runs" / "short")
    # The short branch first, from scratch; then the long one continuing its trunk.
    long_after_short, short_first = train_branches(
        [(long, tmp_path / "b" / "runs" / "long"), (short, tmp_path / "b" / "runs" / "short")]
    )
    assert (alone["trunk_step"], after_long["trunk_step"]) == (0, fork_step(short))  # the short one only cooled down
    assert (long_after_short["trunk_step"], short_first["trunk_step"]) == (fork_step(short), 0)
    assert_same_weights(tmp_path / "a" / "runs" / "long", tmp_path / "b" / "runs" / "long")
    assert_same_weights(tmp_path / "a" / "runs" / "short", tmp_path / "b" / "runs" / "short")
    for store in ("a", "b"):  # both trunks hold both forks, bit for bit the same
        trunk = rundir.TrunkDir(tmp_path / store / "trunks" / long_after_short["trunk"])
        assert trunk.steps() == [fork_step(short), fork_step(long)]
    for step in (fork_step(short), fork_step(long)):
        a, b = (
            torch.load(tmp_path / s / "trunks" / long_after_short["trunk"] / f"step_{step}.pt", weights_only=True)
            for s in "ab"
        )
        assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
        assert a["optimizer"]["state"].keys() == b["optimizer"]["state"].keys()
        for key, moments in a["optimizer"]["state"].items():
            assert all(torch.equal(moments[m], b["optimizer"]["state"][key][m]) for m in moments)
    assert long_after_short["images_seen"] == LONG * 16 and long_after_short["steps"] == LONG
    assert train_run(long, tmp_path / "b" / "runs" / "long") == long_after_short  # cached like any run


@pytest.mark.parametrize("crash_at", [4, 9])  # on the trunk (after its step-3 checkpoint), and cooling down
def test_an_interrupted_branch_resumes_to_the_same_weights(tmp_path, tiny, monkeypatch, crash_at):
    train_run(branch(tiny, LONG), tmp_path / "straight" / "runs" / "long")
    interrupt_at(monkeypatch, crash_at, crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train_run(branch(tiny, LONG), tmp_path / "resumed" / "runs" / "long")
    monkeypatch.undo()
    train_run(branch(tiny, LONG), tmp_path / "resumed" / "runs" / "long")
    assert_same_weights(tmp_path / "straight" / "runs" / "long", tmp_path / "resumed" / "runs" / "long")
    logged = [
        r["step"] for r in rundir.RunDir(tmp_path / "resumed" / "runs" / "long").metrics() if r["split"] == "train"
    ]
    assert logged == list(range(1, LONG + 1))


def test_an_interrupted_branch_continues_from_a_trunk_saved_after_its_checkpoint(tmp_path, tiny, monkeypatch):
    """Stopped on the trunk at step 4 (its checkpoint: 3), it resumes from the shorter branch's fork (5)."""
    train_run(branch(tiny, LONG), tmp_path / "straight" / "runs" / "long")
    interrupt_at(monkeypatch, 4, crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train_run(branch(tiny, LONG), tmp_path / "r" / "runs" / "long")
    monkeypatch.undo()
    train_run(branch(tiny, SHORT), tmp_path / "r" / "runs" / "short")
    resumed = train_run(branch(tiny, LONG), tmp_path / "r" / "runs" / "long")
    assert resumed["trunk_step"] == cooldown_start(SHORT, 0.2) == 5
    assert_same_weights(tmp_path / "straight" / "runs" / "long", tmp_path / "r" / "runs" / "long")


def test_the_trunk_is_locked_while_a_branch_trains_it_and_free_once_it_forks(tmp_path, tiny, monkeypatch):
    config = branch(tiny, LONG)
    resolved = resolve_config(config, load_dataset("shapes", image_size=16), "resnet")  # the store's name
    trunk = tmp_path / "trunks" / trunk_key(resolved)
    held = {}

    def try_lock(step):
        def attempt():
            try:
                with directory_lock(trunk):
                    held[step] = False
            except DirectoryBusy:
                held[step] = True

        return attempt

    interrupt_at(monkeypatch, 3, try_lock(3))  # on the trunk (fork: 8)
    interrupt_at(monkeypatch, 9, try_lock(9))  # cooling down
    summary = train_run(config, tmp_path / "runs" / "long")
    assert held == {3: True, 9: False} and summary["trunk"] == trunk.name


def test_no_training_step_draws_from_the_global_generator(tmp_path, tiny):
    """So a checkpoint need not carry torch's global random state: after the model is built, nothing in training
    (batches, augmentation, evaluation) draws from it, and the step index is all the randomness a step needs."""
    config = branch(tiny, SHORT, "train.eval_every=2")
    train_run(config, tmp_path / "runs" / "short")
    after_training = torch.get_rng_state()
    dataset = load_dataset("shapes", image_size=16)
    torch.manual_seed(config.seed)
    build_model(config.model.name, image_shape=dataset.image_shape, num_classes=dataset.num_classes)
    assert torch.equal(after_training, torch.get_rng_state())


def test_branches_of_one_trunk_differ_only_in_budget_cool_down_and_evaluations(tiny):
    base = trunk_key(branch(tiny, LONG))
    for same in (branch(tiny, SHORT), branch(tiny, LONG, "train.cooldown=1-sqrt", "train.cooldown_fraction=0.5"),
                 branch(tiny, LONG, "train.eval_every=2"), branch(tiny, LONG, "train.log_every=5")):  # fmt: skip
        assert trunk_key(same) == base
    for other in ("seed=1", "train.warmup_steps=1", "train.lr=0.01", "data.fraction=0.5", "model.name=vit-xxs"):
        assert trunk_key(branch(tiny, LONG, other)) != base, other


def test_the_fork_follows_the_budget_as_training_resolves_it(tiny):
    matched = branch(tiny, 600, "model.name=vit-xxs", "train.match_flops=resnet-xxs")
    assert fork_step(matched) == cooldown_start(budget_steps(matched), 0.2) and budget_steps(matched) != 600
    with pytest.raises(ValueError, match="a cosine schedule has no trunk"):
        fork_step(tiny())


def test_trunks_live_beside_the_runs_of_a_results_directory(tmp_path):
    assert rundir.trunk_store(tmp_path / "results" / "runs" / "x") == tmp_path / "results" / "trunks"
    assert rundir.trunk_store(tmp_path / "elsewhere" / "x") == tmp_path / "elsewhere" / "trunks"


BRANCHED = """\
groups:
  budgets:
    axes: {model.name: [resnet-xxs], seed: [0], train.steps: [10, 6]}
"""


def test_cnnvit_run_trains_each_trunk_once_in_one_chain_from_the_shortest_budget_up(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from cnn_vs_vit.cli import app
    from cnn_vs_vit.matrix import runner
    from cnn_vs_vit.matrix.experiment import load_experiment
    from test_matrix import TINY_BASE, experiment_file

    base = TINY_BASE.replace("train: {", "train: {schedule: wsd, warmup_steps: 2, ")
    path, out = experiment_file(tmp_path, BRANCHED, base), tmp_path / "out"
    planned = runner.plan(load_experiment(path), out)
    short, long = sorted(planned, key=lambda p: p.cell.config.train.steps)
    assert short.chain == long.chain and (short.fork, long.fork) == (5, 8)
    assert (runner.steps_left(short), runner.steps_left(long)) == (SHORT, LONG - 5)  # the trunk to 5 is paid once
    assert [p.cell.config.train.steps for p in runner.waves(planned)[0]] == [SHORT, LONG]
    processes = []
    real = runner.cell_context

    class Counting:
        def __init__(self, context):
            self.context = context

        def Process(self, **kwargs):
            processes.append(len(kwargs["args"][0]))
            return self.context.Process(**kwargs)

    monkeypatch.setattr(runner, "cell_context", lambda: Counting(real()))
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(out), "--no-estimate"])
    assert result.exit_code == 0, result.output
    assert processes == [2]  # one process, both branches
    summaries = {p.cell.config.train.steps: rundir.RunDir(p.run_dir).summary() for p in planned}
    assert summaries[SHORT]["trunk_step"] == 0 and summaries[LONG]["trunk_step"] == 5
    assert rundir.TrunkDir(out / rundir.TRUNKS / summaries[LONG]["trunk"]).steps() == [5, 8]
    replanned = runner.plan(load_experiment(path), out)
    assert {p.state for p in replanned} == {"done"}
