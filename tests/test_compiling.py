"""`cnnvit run --compile auto`: a cell trains compiled only where the measured compiled step is faster and its own
steps repay its compile; a shape is measured only when it could repay the measurement; what was measured is cached;
a compile that fails leaves the cells eager. Compiling is how a cell runs, never what it is (its name)."""

import math
import multiprocessing
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from cnn_vs_vit.cli import app
from cnn_vs_vit.config import RunConfig
from cnn_vs_vit.matrix import estimate
from cnn_vs_vit.matrix.compiling import MIN_SPEEDUP, CompiledSpeed, CompilePlan, worth_measuring
from cnn_vs_vit.matrix.estimate import Speed, plan_compiling
from cnn_vs_vit.matrix.experiment import Cell
from cnn_vs_vit.matrix.runner import chain_work, plan_cell
from cnn_vs_vit.rundir import run_name

SHAPE = ("a shape", 1)


def plan(eager: float, compiled: float, cell_compile: float = 2.0, mode: str = "auto") -> CompilePlan:
    return CompilePlan(mode, {SHAPE: eager}, {SHAPE: CompiledSpeed("vit", compiled, 30.0, cell_compile)})


def test_a_cell_compiles_only_when_its_own_steps_repay_its_compile():
    faster = plan(eager=0.050, compiled=0.040)  # 10 ms a step saved against a 2 s compile: 200 steps to pay
    assert faster.compiles(SHAPE, steps=2400) and not faster.compiles(SHAPE, steps=150)
    assert faster.training_seconds(SHAPE, 2400) == pytest.approx(2400 * 0.040 + 2.0)
    assert faster.training_seconds(SHAPE, 150) == pytest.approx(150 * 0.050)  # eager: counted at eager's speed


def test_a_compiled_step_no_faster_than_the_noise_never_compiles():
    slower = plan(eager=0.044, compiled=0.050)
    barely = plan(eager=0.0500, compiled=0.0500 / (MIN_SPEEDUP - 0.01))  # 4% faster: within the noise
    assert not slower.compiles(SHAPE, steps=10**6) and not barely.compiles(SHAPE, steps=10**6)
    assert plan(eager=0.0500, compiled=0.0500 / (MIN_SPEEDUP + 0.01)).compiles(SHAPE, steps=10**6)


def test_a_shape_that_did_not_compile_or_was_not_measured_trains_eager():
    failed = CompilePlan("auto", {SHAPE: 0.05}, {SHAPE: CompiledSpeed("vit", math.inf, 0.0, 0.0)})
    unmeasured = CompilePlan("auto", {SHAPE: 0.05}, {})
    assert not failed.compiles(SHAPE, 10**6) and not unmeasured.compiles(SHAPE, 10**6)
    assert failed.training_seconds(SHAPE, 100) == pytest.approx(5.0)


def test_always_and_never_do_as_they_say_whatever_was_measured():
    assert plan(0.044, 0.050, mode="always").compiles(SHAPE, 1)
    assert not plan(0.050, 0.010, mode="never").compiles(SHAPE, 10**6)


def test_a_shape_is_measured_only_when_it_could_repay_the_measurement():
    assert not worth_measuring(eager_training_seconds=30.0, measured_savings=[])  # too little training
    assert worth_measuring(eager_training_seconds=1800.0, measured_savings=[])
    assert not worth_measuring(1800.0, measured_savings=[-0.1])  # its architecture measured slower
    assert worth_measuring(1800.0, measured_savings=[-0.1, 0.2])


SHAPES = {("vit-s", 1): None, ("vit-s[pos_embed=none]", 1): None, ("resnet-s", 1): None, ("tiny", 1): None}
ARCH = {"vit-s": "vit", "vit-s[pos_embed=none]": "vit", "resnet-s": "cnn", "tiny": "cnn"}
EAGER_SECONDS = {("vit-s", 1): 1800.0, ("vit-s[pos_embed=none]", 1): 600.0, ("resnet-s", 1): 900.0, ("tiny", 1): 20.0}


@pytest.fixture
def compiled_measurements(monkeypatch):
    """Every compiled measurement, in order: a ViT slower compiled, a CNN faster (no compiling)."""
    made = []

    def measure(config, threads, jobs, arch):
        made.append(config)
        return CompiledSpeed(arch, 0.060 if arch == "vit" else 0.040, 30.0, 2.0)

    monkeypatch.setattr(estimate, "measure_compiled_speed", lambda config, *rest: measure(config, *rest))
    return made


def auto_plan(mode: str = "auto") -> CompilePlan:
    speeds = {shape: Speed(ARCH[shape[0]], 0.050, 1e9, 0.1) for shape in SHAPES}
    configs = {shape: shape[0] for shape in SHAPES}  # what measure_compiled_speed is given, to tell them apart
    return plan_compiling(mode, configs, EAGER_SECONDS, speeds, jobs=2, told=lambda key: None)


def test_auto_measures_the_longest_shapes_first_and_a_slower_vit_spares_its_ablations(compiled_measurements):
    chosen = auto_plan()
    assert compiled_measurements == ["vit-s", "resnet-s"]  # not the ablation after a slower vit-s, not `tiny`
    assert set(chosen.compiled) == {("vit-s", 1), ("resnet-s", 1)}
    assert chosen.compiles(("resnet-s", 1), steps=1200) and not chosen.compiles(("vit-s", 1), steps=4800)
    assert auto_plan() == chosen and len(compiled_measurements) == 2  # the second run reads the cache


def test_always_measures_every_shape_and_never_measures_none(compiled_measurements):
    assert set(auto_plan("always").compiled) == set(SHAPES) and len(compiled_measurements) == 4
    assert auto_plan("never").compiled == {} and len(compiled_measurements) == 4


def test_compiling_does_not_change_a_runs_name_and_reaches_only_the_chosen_cells(tmp_path, tiny):
    cells = [plan_cell(Cell(run_name(tiny(f"seed={seed}")), tiny(f"seed={seed}")), tmp_path) for seed in (0, 1)]
    work, _ = chain_work(cells, jobs=2, threads=1, compiled=lambda planned: planned.cell.config.seed == 1)
    assert [config["compile"] for config, _, _ in work] == [False, True]
    assert run_name(RunConfig.model_validate(work[1][0])) == cells[1].cell.name  # the same run, resumable either way


def measured_with_fork(monkeypatch, compile_as) -> CompiledSpeed:
    """measure_compiled_speed for real, its processes forked from this one so that they see `compile_as` as
    torch.compile (the fork server's processes would not)."""
    from cnn_vs_vit.config import build_config

    monkeypatch.setattr(estimate, "cell_context", lambda: multiprocessing.get_context("fork"))
    monkeypatch.setattr(torch, "compile", compile_as)
    config = build_config({"model": {"name": "vit-xxs"}, "data": {"name": "shapes", "image_size": 16},
                           "train": {"batch_size": 8}, "threads": 1})  # fmt: skip
    return estimate.measure_compiled_speed(config, 1, 2, "vit")


def test_a_compile_that_fails_measures_as_not_compiling(monkeypatch):
    def no_compiler(model, **kwargs):
        raise RuntimeError("inductor: no C compiler found")

    failed = measured_with_fork(monkeypatch, no_compiler)
    assert not failed.compiles and not CompilePlan("auto", {SHAPE: 0.05}, {SHAPE: failed}).compiles(SHAPE, 10**6)


def test_a_compiled_measurement_times_the_compiled_step_in_fresh_processes(monkeypatch):
    compile_for_real = torch.compile
    built = measured_with_fork(monkeypatch, lambda model, **kwargs: compile_for_real(model, backend="eager"))
    assert built.compiles and built.arch == "vit"
    assert 0 < built.step_seconds < 5 and built.first_compile_seconds >= 0 and built.cell_compile_seconds >= 0


def test_an_unknown_compile_mode_is_one_line_naming_the_choices(tmp_path):
    experiment = Path(__file__).parent.parent / "experiments" / "default.yaml"
    result = CliRunner().invoke(app, ["run", str(experiment), "--compile", "sometimes", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "auto, always, never" in result.stderr and len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_the_estimate_counts_a_compiled_cell_at_its_compiled_speed_and_tells_each_measurement(tmp_path, monkeypatch):
    """End to end through estimate(): with compiling measured far faster, `always` counts every cell's training
    at the compiled step with its compile, tells the compiled measurements after the eager ones, and says which
    cells compile; `never` measures nothing compiled."""
    from cnn_vs_vit.matrix.experiment import load_experiment
    from cnn_vs_vit.matrix.runner import plan as plan_experiment

    from test_estimate import EXPERIMENT

    path = tmp_path / "experiment.yaml"
    path.write_text(EXPERIMENT)
    experiment = load_experiment(path)
    cells = plan_experiment(experiment, tmp_path / "out")
    monkeypatch.setattr(
        estimate, "measure_compiled_speed", lambda config, threads, jobs, arch: CompiledSpeed(arch, 1e-4, 30.0, 0.5)
    )
    told = []
    monkeypatch.setenv("CNNVIT_CALIBRATION_CACHE", "off")  # each estimate measures its eager speeds again
    eager = estimate.estimate(experiment, cells, 1, compile_mode="never")
    compiled = estimate.estimate(experiment, cells, 1, lambda i, n, shape: told.append((i, n, shape)), "always")
    assert [shape.endswith(", compiled") for _, _, shape in told] == [False, False, True, True]  # two model shapes
    assert [i for i, _, _ in told] == [1, 2, 3, 4] and all(i <= n for i, n, _ in told)
    assert eager.compiling.compiled == {} and not any(eager.compiles(p) for p in cells)
    assert all(compiled.compiles(p) for p in cells)
    for p in cells:  # 3 steps at 0.1 ms and a 0.5 s compile, instead of 3 eager steps
        shape, steps = compiled.cell_steps[p.cell.name]
        assert compiled.cells[p.cell.name] - eager.cells[p.cell.name] == pytest.approx(
            steps * 1e-4 + 0.5 - steps * compiled.compiling.eager[shape], abs=0.05
        )
    assert compiled.describe().endswith("; training steps compiled (--compile always)")
