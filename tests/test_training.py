"""Training facts: matched subsets, exact resumption, idempotent reruns, clean failure."""

import json
import os
import signal

import pytest
import torch
from safetensors.torch import load_file

from cnn_vs_vit import rundir
from cnn_vs_vit.errors import CnnvitError, TrainingFailed
from cnn_vs_vit.data import load_dataset
from cnn_vs_vit.training import loop, train_run
from cnn_vs_vit.training.loop import resolve_config
from cnn_vs_vit.training.inputs import BatchOrder
from cnn_vs_vit.training.signals import Interrupted


def weights(run_dir):
    return load_file(run_dir / rundir.WEIGHTS)


def assert_same_weights(a, b):
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key


def interrupt_at(monkeypatch, step: int, action):
    """Run `action()` when training step `step` starts (before its batch is drawn)."""
    original = loop.step_generator

    def patched(seed, s, *args):
        if s == step:
            action()
        return original(seed, s, *args)

    monkeypatch.setattr(loop, "step_generator", patched)


def test_summary_describes_the_run(tmp_path, tiny):
    summary = train_run(tiny(), tmp_path / "run")
    for key in ("model", "dataset", "fraction", "seed", "data_seed", "test_accuracy", "params",
                "train_flops_per_image", "images_seen", "wall_time_s", "subset_hash"):  # fmt: skip
        assert key in summary
    assert summary["images_seen"] == 6 * 16
    assert 0 <= summary["test_accuracy"] <= 1
    for name in (rundir.CONFIG, rundir.ENV, rundir.METRICS, rundir.WEIGHTS, rundir.CHECKPOINT, rundir.DONE):
        assert (tmp_path / "run" / name).exists(), name
    env = json.loads((tmp_path / "run" / rundir.ENV).read_text())
    assert {"torch", "device", "threads", "git_commit", "command"} <= env.keys()
    steps = [r["step"] for r in rundir.RunDir(tmp_path / "run").metrics() if r["split"] == "train"]
    assert steps == [1, 2, 3, 4, 5, 6]


def test_architectures_train_on_the_identical_subset(tmp_path, tiny):
    resnet = train_run(tiny("data.fraction=0.25", "seed=1"), tmp_path / "resnet")
    vit = train_run(tiny("data.fraction=0.25", "seed=2", "model.name=vit-xs", "model.patch_size=4"), tmp_path / "vit")
    assert resnet["subset_hash"] == vit["subset_hash"] and resnet["train_size"] == vit["train_size"] == 1000
    other = train_run(tiny("data.fraction=0.25", "data.data_seed=1"), tmp_path / "other")
    assert other["subset_hash"] != resnet["subset_hash"]


def test_a_crashed_run_resumes_to_the_same_weights(tmp_path, tiny, monkeypatch):
    train_run(tiny(), tmp_path / "straight")

    def crash():
        raise RuntimeError("simulated crash")

    interrupt_at(monkeypatch, 4, crash)  # after the step-3 checkpoint, before step 4 finishes
    with pytest.raises(RuntimeError, match="simulated crash"):
        train_run(tiny(), tmp_path / "resumed")
    assert not (tmp_path / "resumed" / rundir.DONE).exists()
    monkeypatch.undo()
    train_run(tiny(), tmp_path / "resumed")
    assert_same_weights(tmp_path / "straight", tmp_path / "resumed")
    steps = [r["step"] for r in rundir.RunDir(tmp_path / "resumed").metrics() if r["split"] == "train"]
    assert steps == [1, 2, 3, 4, 5, 6]  # the steps after the checkpoint were logged once, not twice


def test_sigint_checkpoints_at_a_step_boundary_and_resumes_exactly(tmp_path, tiny, monkeypatch):
    train_run(tiny(), tmp_path / "straight")
    interrupt_at(monkeypatch, 2, lambda: os.kill(os.getpid(), signal.SIGINT))
    with pytest.raises(Interrupted) as info:
        train_run(tiny(), tmp_path / "resumed")
    assert info.value.exit_code == 130
    state = torch.load(tmp_path / "resumed" / rundir.CHECKPOINT, weights_only=True)
    assert state["step"] == 3  # the step in flight finished, then the checkpoint was written
    monkeypatch.undo()
    train_run(tiny(), tmp_path / "resumed")
    assert_same_weights(tmp_path / "straight", tmp_path / "resumed")


def test_rerunning_a_finished_run_does_nothing(tmp_path, tiny):
    first = train_run(tiny(), tmp_path / "run")
    stamp = (tmp_path / "run" / rundir.WEIGHTS).stat().st_mtime_ns
    assert train_run(tiny(), tmp_path / "run") == first
    assert (tmp_path / "run" / rundir.WEIGHTS).stat().st_mtime_ns == stamp


def test_a_different_run_in_the_same_directory_is_refused(tmp_path, tiny):
    train_run(tiny(), tmp_path / "run", restart=False)
    (tmp_path / "run" / rundir.DONE).unlink()  # unfinished, so the config check applies
    with pytest.raises(CnnvitError, match="holds a different run"):
        train_run(tiny("train.lr=0.5"), tmp_path / "run")


def test_non_finite_loss_stops_with_the_step_named(tmp_path, tiny, monkeypatch):
    original = torch.nn.functional.cross_entropy
    calls = []

    def poisoned(*args, **kwargs):
        calls.append(1)
        loss = original(*args, **kwargs)
        return loss * float("nan") if len(calls) == 3 else loss

    monkeypatch.setattr(torch.nn.functional, "cross_entropy", poisoned)  # what the training step calls
    with pytest.raises(TrainingFailed, match="at step 2") as info:
        train_run(tiny(), tmp_path / "run")
    assert info.value.exit_code == 3 and "\n" not in str(info.value)
    assert json.loads((tmp_path / "run" / rundir.FAILED).read_text())["step"] == 2
    assert not (tmp_path / "run" / rundir.DONE).exists()


def test_a_non_finite_loss_stops_the_step_before_any_weight_changes(tiny):
    from cnn_vs_vit.training.step import NonFiniteLoss, TrainingStep

    module = torch.nn.Linear(4, 3)
    before = {k: v.clone() for k, v in module.state_dict().items()}
    update = TrainingStep(module, resolve_config(tiny(), load_dataset("shapes", image_size=16), "resnet"),
                          device=torch.device("cpu"))  # fmt: skip
    with pytest.raises(NonFiniteLoss):
        update(torch.full((2, 4), float("inf")), torch.tensor([0, 1]))
    assert all(torch.equal(before[k], v) for k, v in module.state_dict().items())
    loss, logits = update(torch.ones(2, 4), torch.tensor([0, 1]))
    assert logits.shape == (2, 3) and loss > 0 and not torch.equal(before["weight"], module.weight)


def test_corrupted_checkpoint_is_reported_with_its_path(tmp_path, tiny, monkeypatch):
    interrupt_at(monkeypatch, 4, lambda: (_ for _ in ()).throw(RuntimeError("crash")))
    with pytest.raises(RuntimeError):
        train_run(tiny(), tmp_path / "run")
    monkeypatch.undo()
    checkpoint = tmp_path / "run" / rundir.CHECKPOINT
    checkpoint.write_bytes(checkpoint.read_bytes()[:100])
    with pytest.raises(CnnvitError, match=str(checkpoint)):
        train_run(tiny(), tmp_path / "run")
    assert train_run(tiny(), tmp_path / "run", restart=True)["steps"] == 6


def test_epoch_budget_becomes_steps(tmp_path, tiny):
    summary = train_run(tiny("train.steps=null", "train.epochs=0.5", "data.fraction=0.1"), tmp_path / "run")
    assert summary["steps"] == 13  # ceil(0.5 * 400 images / 16 per batch)


@pytest.mark.parametrize("bounds, steps", [(["train.min_steps=20"], 20), (["train.max_steps=5"], 5),
                                           (["train.min_steps=2", "train.max_steps=50"], 13)])  # fmt: skip
def test_an_epoch_budget_is_bounded_by_its_floor_and_ceiling(tmp_path, tiny, bounds, steps):
    config = tiny("train.steps=null", "train.epochs=0.5", "data.fraction=0.1", *bounds)
    assert resolve_config(config, load_dataset("shapes", image_size=16), "resnet").train.steps == steps


def test_step_bounds_without_an_epoch_budget_are_refused(tiny):
    with pytest.raises(CnnvitError, match="set train.epochs"):
        tiny("train.min_steps=20")


def test_batches_cover_every_image_once_per_epoch_and_wrap_small_subsets():
    order = BatchOrder(n=10, batch_size=4, seed=0)
    stream = torch.cat([order.batch(s) for s in range(5)])  # 20 indices = two epochs
    assert sorted(stream[:10].tolist()) == list(range(10)) and sorted(stream[10:].tolist()) == list(range(10))
    tiny_subset = BatchOrder(n=3, batch_size=8, seed=0)
    assert len(tiny_subset.batch(0)) == 8
    assert torch.equal(BatchOrder(10, 4, 0).batch(3), order.batch(3))  # a function of (seed, step) alone


def test_a_damaged_summary_is_rebuilt_from_the_final_checkpoint(tmp_path, tiny):
    first = train_run(tiny(), tmp_path / "run")
    (tmp_path / "run" / rundir.SUMMARY).write_text('{"model": "resn')  # torn by a crash or a bad copy
    (tmp_path / "run" / ".checkpoint.pt.abc123.tmp").write_bytes(b"half a checkpoint")
    again = train_run(tiny(), tmp_path / "run")
    assert again == first  # re-evaluated from the final checkpoint, not retrained
    assert not list((tmp_path / "run").glob(".*.tmp"))


@pytest.mark.parametrize(
    "name, expected", [("resnet-xxs", False), ("resnet-xs", True), ("resnet-s", True), ("vit-s", False)]
)
def test_channels_last_only_where_the_cpu_kernels_are_sound(name, expected):
    from cnn_vs_vit.models import build_model
    from cnn_vs_vit.training.device import use_channels_last

    model = build_model(name, image_shape=(1, 28, 28), num_classes=10)
    assert use_channels_last(model, torch.device("cpu")) is expected
    if expected is False and name.startswith("resnet"):  # trains in the default layout instead
        model(torch.randn(8, 1, 28, 28)).sum().backward()


def test_every_preset_trains(tmp_path, tiny):
    from cnn_vs_vit.models import PRESETS

    for name in PRESETS:
        summary = train_run(tiny(f"model.name={name}", "train.steps=2", "data.image_size=28"), tmp_path / name)
        assert summary["steps"] == 2 and 0 <= summary["test_accuracy"] <= 1


def test_the_compiled_path_trains_to_the_same_model(tmp_path, tiny, monkeypatch):
    """compile=true (for GPUs) wires torch.compile into the loop; dynamo's eager backend checks the
    wiring on CPU without a C++ toolchain or minutes of inductor compilation."""
    compile_for_real = torch.compile
    monkeypatch.setattr(torch, "compile", lambda model, **kwargs: compile_for_real(model, backend="eager"))
    compiled = train_run(tiny("compile=true"), tmp_path / "compiled")
    plain = train_run(tiny(), tmp_path / "plain")
    assert compiled["steps"] == plain["steps"]
    assert compiled["test_accuracy"] == pytest.approx(plain["test_accuracy"], abs=0.02)
    weights = [load_file(tmp_path / name / rundir.WEIGHTS) for name in ("compiled", "plain")]
    assert all(torch.allclose(weights[0][k], weights[1][k], atol=1e-4) for k in weights[1])
