"""Experiment files and `cnnvit run`: validated schema, plan expansion, idempotent re-runs."""

import json

import pytest
from typer.testing import CliRunner

from cnn_vs_vit import rundir
from cnn_vs_vit.cli import app
from cnn_vs_vit.errors import CnnvitError
from cnn_vs_vit.matrix.experiment import expand, load_experiment
from cnn_vs_vit.matrix.runner import plan

TINY_BASE = """\
name: tiny
budget: 2 steps for every cell
base:
  data: {name: shapes, image_size: 16}
  train: {steps: 2, batch_size: 8, log_every: 1}
  threads: 1
"""


def experiment_file(tmp_path, groups: str, base: str = TINY_BASE):
    path = tmp_path / "experiment.yaml"
    path.write_text(base + groups)
    return path


def test_axes_multiply_zipped_axes_move_together_and_shared_cells_run_once(tmp_path):
    path = experiment_file(
        tmp_path,
        """\
groups:
  fractions:
    axes: {model.name: [resnet-xs, vit-xs], seed: [0, 1]}
    zip: [{data.fraction: [0.1, 1.0], train.steps: [3, 5]}]
  baseline_again:
    axes: {model.name: [resnet-xs], seed: [0], data.fraction: [1.0], train.steps: [5]}
""",
    )
    cells = expand(load_experiment(path))
    assert len(cells) == 2 * 2 * 2  # the second group's only cell is already in the first
    pairs = {(c.config.data.fraction, c.config.train.steps) for c in cells}
    assert pairs == {(0.1, 3), (1.0, 5)}
    shared = [c for c in cells if len(c.groups) == 2]
    assert len(shared) == 1 and shared[0].config.model.name == "resnet-xs" and shared[0].config.seed == 0


@pytest.mark.parametrize(
    "groups, message",
    [
        ("groups:\n  g: {axes: {seed: []}}\n", 'axis "seed" has no values'),
        ("groups:\n  g: {axes: {trian.steps: [1]}}\n", 'unknown key "trian"'),
        ("groups:\n  g: {axes: {seed: [0]}, zip: [{seed: [0, 1], train.steps: [3]}]}\n", "one non-zero length"),
        ("groups:\n  g: {axis: {seed: [0]}}\n", 'unknown key "groups.g.axis"'),
        ("groups: {}\n", "groups"),
        ("groups:\n  g: {axes: {data.fraction: [2]}}\n", "must be in (0, 1]"),
        ("groups:\n  g: {axes: {seed: [0]}, probes: [erf]}\n", "probes"),
    ],
)
def test_malformed_experiments_are_one_line_errors(tmp_path, groups, message):
    with pytest.raises(CnnvitError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")) as info:
        expand(load_experiment(experiment_file(tmp_path, groups)))
    assert "\n" not in str(info.value)


def test_run_trains_probes_and_a_rerun_does_nothing(tmp_path):
    path = experiment_file(
        tmp_path,
        """\
groups:
  g:
    axes: {model.name: [resnet-xs]}
    probes: [shift]
probe_shift: {images: 8, mode: circular, shifts: [0, 1]}
""",
    )
    out = tmp_path / "results"
    runner = CliRunner()
    dry = runner.invoke(app, ["run", str(path), "--out", str(out), "--dry-run"])
    assert dry.exit_code == 0 and "to do" in dry.stdout and not out.exists()
    first = runner.invoke(app, ["run", str(path), "--out", str(out)])
    assert first.exit_code == 0, first.output
    (cell,) = plan(load_experiment(path), out)
    assert cell.state == "done" and (cell.run_dir / rundir.PROBES / "shift.csv").exists()
    stamps = {p: p.stat().st_mtime_ns for p in cell.run_dir.rglob("*") if p.is_file()}
    second = runner.invoke(app, ["run", str(path), "--out", str(out)])
    assert second.exit_code == 0 and "done" in second.stdout
    assert stamps == {p: p.stat().st_mtime_ns for p in cell.run_dir.rglob("*") if p.is_file()}


def test_run_on_a_bad_experiment_file_exits_2_and_touches_nothing(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\ngroups: [\n")
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "not valid YAML" in result.stderr and not (tmp_path / "out").exists()


def test_run_ends_with_the_report(tmp_path):
    path = experiment_file(tmp_path, "groups:\n  g: {axes: {model.name: [resnet-xs]}}\n")
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    for name in ("report.md", "claims.csv", "runs.csv", "experiment.yaml"):
        assert (tmp_path / "out" / name).exists(), name


def test_a_run_is_named_by_what_it_computes_not_by_how_it_runs():
    from cnn_vs_vit.config import build_config

    base = build_config({"model": {"name": "vit-xs"}})
    same = build_config(
        {"model": {"name": "vit-xs"}}, ["threads=1", "data.root=/elsewhere", "data.download=true", "device=cpu"]
    )
    other = build_config({"model": {"name": "vit-xs"}}, ["train.lr=0.01"])
    assert rundir.run_name(base) == rundir.run_name(same)
    assert rundir.run_name(base) != rundir.run_name(other)


def test_results_shared_without_weights_are_reported_and_retrained_by_run(tmp_path):
    path = experiment_file(tmp_path, "groups:\n  g: {axes: {model.name: [resnet-xs]}}\n")
    out = tmp_path / "out"
    runner = CliRunner()
    assert runner.invoke(app, ["run", str(path), "--out", str(out)]).exit_code == 0
    (cell,) = plan(load_experiment(path), out)
    summary = (cell.run_dir / rundir.SUMMARY).read_text()
    for name in (rundir.WEIGHTS, rundir.CHECKPOINT):  # what .gitignore leaves out of a committed results dir
        (cell.run_dir / name).unlink()
    assert runner.invoke(app, ["report", str(out)]).exit_code == 0  # the report needs no weights
    (cell,) = plan(load_experiment(path), out)
    assert cell.state == "to do"
    again = runner.invoke(app, ["run", str(path), "--out", str(out)])
    assert again.exit_code == 0, again.output
    assert (cell.run_dir / rundir.WEIGHTS).exists()
    assert (
        json.loads((cell.run_dir / rundir.SUMMARY).read_text())["test_accuracy"] == json.loads(summary)["test_accuracy"]
    )


def test_probes_run_by_name_where_they_apply(tmp_path):
    path = experiment_file(
        tmp_path,
        """\
groups:
  g:
    zip: [{model.name: [resnet-xs, vit-xs], model.patch_size: [null, 4]}]
    probes: [attention_distance, introspection]
""",
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    cells = {c.cell.config.model.name: c.run_dir / rundir.PROBES for c in plan(load_experiment(path), out)}
    assert (cells["resnet-xs"] / "introspection.csv").exists() and (cells["vit-xs"] / "introspection.csv").exists()
    assert (cells["vit-xs"] / "attention_distance.csv").exists()
    assert not (cells["resnet-xs"] / "attention_distance.csv").exists()  # no attention to measure: skipped
    again = CliRunner().invoke(app, ["probe", "introspection", str(cells["vit-xs"].parent)])
    assert again.exit_code == 0 and "introspection.csv" in again.stdout


def test_the_plan_is_counted_by_group_unless_asked_in_full_and_every_probe_reports_itself(tmp_path):
    path = experiment_file(
        tmp_path,
        """\
groups:
  g:
    axes: {model.name: [resnet-xs, vit-xs], seed: [0, 1]}
    probes: [shift, introspection]
probe_shift: {images: 8, mode: circular, shifts: [0, 1]}
""",
    )
    out, runner = tmp_path / "results", CliRunner()
    names = [cell.name for cell in expand(load_experiment(path))]
    compact = runner.invoke(app, ["run", str(path), "--out", str(out), "--dry-run"])
    assert compact.exit_code == 0 and "introspection, shift" in compact.stdout and "4 to do" in compact.stdout
    assert not any(name in compact.stdout for name in names)  # counted, not listed
    full = runner.invoke(app, ["run", str(path), "--out", str(out), "--dry-run", "--full-plan"])
    assert all(name in full.stdout for name in names)
    first = runner.invoke(app, ["run", str(path), "--out", str(out)])
    assert first.exit_code == 0, first.output
    lines = [line for line in first.stderr.splitlines() if line.startswith("probe ")]
    wave_1, final = lines[:4], lines[4:]  # seed 0's cells are probed for the provisional report, then all
    assert lines[0].startswith("probe introspection on ") and "(1/4): " in lines[0]
    assert all(line.endswith(" s") for line in wave_1)  # computed, with their time
    assert len(final) == 8 and "(8/8): " in final[-1] and sum(line.endswith(": reused") for line in final) == 4
    again = runner.invoke(app, ["run", str(path), "--out", str(out)])
    assert [line for line in again.stderr.splitlines() if line.startswith("probe ")][-1].endswith("(8/8): reused")


def test_with_two_jobs_each_cells_probes_run_in_the_training_pool_and_the_probe_phase_reuses_them(tmp_path):
    import pandas as pd
    import torch

    from cnn_vs_vit.probes.plugin import run_probe

    path = experiment_file(
        tmp_path,
        """\
groups:
  g:
    axes: {model.name: [resnet-xs, vit-xs], seed: [0]}
    probes: [introspection, attention_distance]
""",
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(out), "--jobs", "2", "--no-estimate"])
    assert result.exit_code == 0, result.output
    beside = sorted(line for line in result.stderr.splitlines() if " beside training: " in line)
    cells = {c.cell.config.model.name: c.run_dir for c in plan(load_experiment(path), out)}
    # every probe that applies, once each (no attention distance for the ResNet), each with its time
    expected = [("attention_distance", "vit-xs"), ("introspection", "resnet-xs"), ("introspection", "vit-xs")]
    assert [(line.split()[1], line.split()[3]) for line in beside] == [(n, cells[m].name) for n, m in expected]
    assert all(line.endswith(" s") for line in beside)
    phase = [line for line in result.stderr.splitlines() if line.startswith("probe ") and "beside" not in line]
    assert len(phase) == 3 and all(line.endswith(": reused") for line in phase)  # nothing computed twice
    # what the pool saved is the probe itself: computed again here with the pool's one thread, it is the same
    saved = run_probe("attention_distance", cells["vit-xs"])
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        again = run_probe("attention_distance", cells["vit-xs"], force=True)
    finally:
        torch.set_num_threads(previous)
    assert saved.reused and not again.reused
    pd.testing.assert_frame_equal(saved.rows, again.rows)


WAVES = """\
groups:
  g:
    axes: {model.name: [resnet-xs, vit-xs], seed: [1, 0]}
    probes: [introspection]
"""


def test_cells_train_in_waves_of_seeds_the_costliest_first_within_a_wave(tmp_path):
    from cnn_vs_vit.matrix.runner import waves

    def order(steps: tuple[int, int]) -> list[list[tuple[str, int]]]:
        zipped = f"{{model.name: [resnet-xs, vit-xs], train.steps: [{steps[0]}, {steps[1]}]}}"
        groups = f"groups:\n  g:\n    axes: {{seed: [1, 0]}}\n    zip: [{zipped}]\n"
        cells = plan(load_experiment(experiment_file(tmp_path, groups)), tmp_path / "out")
        return [[(p.cell.config.model.name, p.cell.config.seed) for p in wave] for wave in waves(cells)]

    # Per image the two are within 3x of each other in FLOPs: 30x the steps makes either the costlier cell.
    assert order((300, 10)) == [[("resnet-xs", 0), ("vit-xs", 0)], [("resnet-xs", 1), ("vit-xs", 1)]]
    assert order((10, 300)) == [[("vit-xs", 0), ("resnet-xs", 0)], [("vit-xs", 1), ("resnet-xs", 1)]]


def test_a_report_between_waves_is_provisional_and_a_stop_there_keeps_it(tmp_path, monkeypatch):
    from cnn_vs_vit.matrix import runner

    path, out = experiment_file(tmp_path, WAVES), tmp_path / "out"
    real, calls = runner.train_cells, []

    def stop_at_wave_2(cells, jobs, on_done, probes=None, compiled=lambda planned: False):
        calls.append([p.cell.config.seed for p in cells])
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C while the second wave trains
        real(cells, jobs, on_done, probes=probes, compiled=compiled)

    monkeypatch.setattr(runner, "train_cells", stop_at_wave_2)
    stopped = CliRunner().invoke(app, ["run", str(path), "--out", str(out), "--no-estimate"])  # trains no test cells
    assert calls == [[0, 0], [1, 1]] and stopped.exit_code != 0
    assert "wave 1 of 2 trained (seed 0)" in stopped.stderr
    report = (out / "report.md").read_text()
    assert report.startswith("# CNN vs ViT") and "**Provisional**" in report and "(provisional, n=1)" in report
    monkeypatch.setattr(runner, "train_cells", real)
    finished = CliRunner().invoke(app, ["run", str(path), "--out", str(out)])
    assert finished.exit_code == 0, finished.output
    final = (out / "report.md").read_text()
    assert "provisional" not in final.lower() and "supported" in final  # row 7 from the introspection probes
