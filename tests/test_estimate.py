"""The run's time estimate and the training precision: what is counted, how it corrects itself, what a run records."""

import json
from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

from cnn_vs_vit import rundir
from cnn_vs_vit.cli import app
from cnn_vs_vit.config import build_config
from cnn_vs_vit.matrix.estimate import TimeEstimate, TimeLeft, estimate, measure_speed, settle_bound
from cnn_vs_vit.matrix.experiment import expand, load_experiment
from cnn_vs_vit.matrix.runner import plan
from cnn_vs_vit.matrix.seed_waves import added_cells
from cnn_vs_vit.models import build_model
from cnn_vs_vit.rundir import run_name
from cnn_vs_vit.training import train_run
from cnn_vs_vit.training.device import autocast

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENT = """\
name: tiny
budget: 3 steps for every cell
base:
  data: {name: shapes, image_size: 16}
  train: {steps: 3, batch_size: 8}
  threads: 1
groups:
  g:
    axes: {model.name: [resnet-xxs, vit-xxs], seed: [0, 1]}
    probes: [attention_distance, introspection]
"""


def test_a_wave_takes_its_cells_shared_by_the_jobs_and_never_less_than_its_longest_cell():
    planned = TimeEstimate(cells={"a": 10.0, "b": 10.0, "c": 40.0}, waves=[["a", "b"], ["c"]],
                           probes={("a", "p"): 5.0}, jobs=2)  # fmt: skip
    assert planned.wave_seconds(["a", "b"]) == 10.0  # two equal cells side by side
    assert planned.wave_seconds(["c"]) == 40.0  # one cell cannot use the second worker
    assert planned.total_seconds == 10.0 + 40.0 + 5.0
    chained = TimeEstimate(cells={"a": 10.0, "b": 10.0, "c": 40.0}, waves=[["a", "b", "c"]], probes={}, jobs=2,
                           chains={"a": "trunk", "c": "trunk"})  # fmt: skip
    assert chained.wave_seconds(["a", "b", "c"]) == 50.0  # a chain's branches train one after another
    beside = TimeEstimate(cells={"a": 10.0, "b": 10.0}, waves=[["a", "b"]], probes={}, jobs=2,
                          beside={("a", "p"): 6.0, ("b", "p"): 2.0})  # fmt: skip
    assert beside.wave_seconds(["a", "b"]) == 16.0  # a's probe follows a, and no job can take it sooner
    assert beside.total_seconds == 16.0 and "8 s of probes beside it" in beside.describe()
    shared = TimeEstimate(cells={"a": 10.0, "b": 30.0}, waves=[["a", "b"]], probes={}, jobs=2, beside={("a", "p"): 6.0})
    assert shared.wave_seconds(["a", "b"]) == 30.0  # a's probe runs while b still trains


def test_the_time_left_is_the_estimate_scaled_by_measured_over_estimated():
    now = [0.0]
    planned = TimeEstimate(cells={"a": 100.0, "b": 100.0}, waves=[["a", "b"]], probes={}, jobs=1)
    progress = TimeLeft(planned, clock=lambda: now[0])
    now[0] = 5.0
    assert progress.remaining == 195.0  # nothing finished: the estimate less the time spent
    now[0] = 150.0  # the first cell took 1.5x its estimate
    progress.cell_finished("a")
    assert progress.remaining == pytest.approx(100.0 * 150.0 / 100.0)


def test_the_estimate_counts_unfinished_cells_and_probes_without_a_saved_result(tmp_path):
    path = tmp_path / "experiment.yaml"
    path.write_text(EXPERIMENT)
    experiment, out = load_experiment(path), tmp_path / "out"
    before = estimate(experiment, plan(experiment, out), jobs=1)
    names = {cell.name for cell in expand(experiment)}
    assert set(before.cells) == names and all(seconds > 0 for seconds in before.cells.values())
    assert [len(wave) for wave in before.waves] == [2, 2]  # seed 0's cells, then seed 1's
    assert {probe for _, probe in before.probes} == {"attention_distance", "introspection"}
    assert not any(cell.startswith("resnet") and probe == "attention_distance" for cell, probe in before.probes)
    pooled = estimate(experiment, plan(experiment, out), jobs=2)  # the probes of the cells it trains join the pool
    assert pooled.probes == {} and set(pooled.beside) == set(before.probes)
    assert CliRunner().invoke(app, ["run", str(path), "--out", str(out), "--no-estimate"]).exit_code == 0
    after = estimate(experiment, plan(experiment, out), jobs=1)
    assert after.cells == {} and after.probes == {} and after.total_seconds == 0


def test_the_settle_bound_is_every_family_taken_from_its_own_seeds_to_the_cap(tmp_path):
    path = tmp_path / "experiment.yaml"
    path.write_text(EXPERIMENT)
    assert settle_bound(load_experiment(path)) is None  # no settle section: nothing more to run
    path.write_text(EXPERIMENT + "settle: {cap: 5}\n")
    assert settle_bound(load_experiment(path)) == (5, 1.5)  # 2 own seeds per family, 3 more at most
    planned = TimeEstimate(cells={"a": 1.0}, waves=[["a"]], probes={}, jobs=1, settle=(5, 1.5))
    assert "up to 1.5x their own seeds' training" in planned.describe()


def test_a_model_shape_is_timed_on_its_training_step():
    config = build_config({"model": {"name": "vit-xxs"}, "data": {"name": "shapes", "image_size": 16},
                           "train": {"batch_size": 8}})  # fmt: skip
    speed = measure_speed(config, threads=1)
    model = build_model("vit-xxs", image_shape=(3, 16, 16), num_classes=8)
    assert speed.arch == "vit" and speed.step_seconds > 0
    assert speed.flops_per_step == 8 * model.train_flops_per_image((3, 16, 16))


def test_dry_run_prints_the_estimate_and_trains_nothing(tmp_path):
    path = tmp_path / "experiment.yaml"
    path.write_text(EXPERIMENT)
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path / "out"), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "estimated time from now on this machine" in result.stdout and "vit-xxs on shapes" in result.stdout
    assert not (tmp_path / "out" / "runs").exists()


def test_precision_is_the_configs_never_the_hardwares():
    a, b = torch.randn(4, 4), torch.randn(4, 4)
    with autocast(torch.device("cpu"), "bf16"):
        assert (a @ b).dtype == torch.bfloat16
    with autocast(torch.device("cpu"), "fp32"):
        assert (a @ b).dtype == torch.float32


def test_a_bf16_run_records_its_precision_under_its_own_name(tmp_path, tiny):
    fp32, bf16 = tiny(), tiny("train.precision=bf16")
    assert run_name(fp32) != run_name(bf16)
    summary = train_run(bf16, tmp_path / "bf16")
    assert summary["precision"] == "bf16"
    assert yaml.safe_load((tmp_path / "bf16" / rundir.CONFIG).read_text())["train"]["precision"] == "bf16"


# The committed studies and the experiment files they were run from: the main job and the files of rows 5 and 3.
COMMITTED_STUDIES = {
    "default": "default.yaml",
    "default-scaling": "default-scaling.yaml",
    "default-reach": "default-reach.yaml",
}


@pytest.mark.parametrize("study", sorted(COMMITTED_STUDIES))
def test_a_committed_study_is_the_one_its_experiment_file_plans(study):
    """Every cell a committed study's experiment file plans is a committed run of results/<study>, and nothing else
    is but the seeds its settle waves added: a key added at its default renames no run, and a change to the
    study shows here until its results are in."""
    committed = {path.parent.name for path in (ROOT / "results" / study / "runs").glob("*/summary.json")}
    experiment = load_experiment(ROOT / "experiments" / COMMITTED_STUDIES[study])
    cells = expand(experiment)
    added = added_cells(cells, experiment.settle.cap, lambda cell: cell.name in committed) if experiment.settle else []
    assert {cell.name for cell in cells + added} == committed


def test_a_run_written_before_precision_existed_is_still_the_same_run(tmp_path, tiny):
    config = tiny()
    train_run(config, tmp_path / "run")
    path = tmp_path / "run" / rundir.CONFIG
    old = yaml.safe_load(path.read_text())
    del old["train"]["precision"]  # as cnnvit wrote it before train.precision
    path.write_text(yaml.safe_dump(old))
    (tmp_path / "run" / rundir.DONE).unlink()  # make it read its directory again, as a resumption does
    assert (
        train_run(config, tmp_path / "run")["test_accuracy"]
        == json.loads((tmp_path / "run" / rundir.SUMMARY).read_text())["test_accuracy"]
    )


def test_train_quiet_prints_nothing(tmp_path):
    result = CliRunner().invoke(app, ["train", "--quiet", "--out", str(tmp_path / "run"), "model.name=resnet-xxs",
                                      "data.name=shapes", "data.image_size=16", "train.steps=2", "train.batch_size=8"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout == "" and result.stderr == "" and (tmp_path / "run" / rundir.SUMMARY).exists()
