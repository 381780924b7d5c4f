"""`cnnvit run --shard I/N`: N machines run one matrix on a shared results directory.

The shards partition the cells exactly (none twice, none missing), the same way on every
machine whatever is done already; they run at once; `cnnvit report` then merges them.
"""

import itertools
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cnn_vs_vit import rundir
from cnn_vs_vit.cli import app
from cnn_vs_vit.locks import directory_lock
from cnn_vs_vit.matrix.experiment import expand, load_experiment
from cnn_vs_vit.matrix.runner import plan
from cnn_vs_vit.matrix.shards import Shard, parse_shard

EXPERIMENTS = Path(__file__).parent.parent / "experiments"
TINY = """\
name: tiny
budget: 2 steps for every cell
base:
  data: {name: shapes, image_size: 16}
  train: {steps: 2, batch_size: 8}
  threads: 1
groups:
  g:
    axes: {model.name: [resnet-xs], seed: [0, 1, 2]}
"""


@pytest.mark.parametrize("experiment", ["quick.yaml", "cifar10.yaml"])
@pytest.mark.parametrize("count", [1, 2, 3, 5, 7])
def test_shards_partition_the_cells_exactly(experiment, count):
    names = [cell.name for cell in expand(load_experiment(EXPERIMENTS / experiment))]
    shards = [Shard(index, count).select(names) for index in range(1, count + 1)]
    assert set().union(*shards) == set(names)  # none missing
    assert all(not a & b for a, b in itertools.combinations(shards, 2))  # none twice
    assert max(map(len, shards)) - min(map(len, shards)) <= 1  # and as even as the cells allow


def test_the_partition_does_not_depend_on_what_is_done(tmp_path):
    experiment = load_experiment(EXPERIMENTS / "quick.yaml")
    before = plan(experiment, tmp_path)
    for planned in before[::2]:  # every other cell failed on some machine
        planned.run_dir.mkdir(parents=True)
        (planned.run_dir / rundir.FAILED).write_text("{}")
    after = plan(experiment, tmp_path)
    assert {p.state for p in after} == {"failed", "to do"}
    assert Shard(2, 3).select([p.cell.name for p in after]) == Shard(2, 3).select([p.cell.name for p in before])


@pytest.mark.parametrize("text, shard", [("1/1", Shard(1, 1)), ("3/4", Shard(3, 4)), (" 2 / 7 ", Shard(2, 7))])
def test_a_shard_is_written_i_of_n(text, shard):
    assert parse_shard(text) == shard and str(shard) == text.replace(" ", "")


def test_shards_run_at_once_and_the_report_merges_them(tmp_path):
    (tmp_path / "tiny.yaml").write_text(TINY)
    out = tmp_path / "results"
    runner = CliRunner()
    for index, cells in ((1, 2), (2, 1)):
        with directory_lock(out, shared=True):  # the other shard at work on the same directory
            shard = runner.invoke(app, ["run", str(tmp_path / "tiny.yaml"), "--out", str(out), "--shard", f"{index}/2"])
        assert shard.exit_code == 0, shard.output
        assert f"shard {index}/2: {cells} of 3 cells" in shard.stdout.replace("\n", " ")
        assert f"shard {index}/2: its {cells} cells are finished" in shard.stderr
    assert {p.state for p in plan(load_experiment(tmp_path / "tiny.yaml"), out)} == {"done"}
    assert not (out / "report.md").exists()  # shards leave the report to cnnvit report
    report = runner.invoke(app, ["report", str(out)])
    assert report.exit_code == 0, report.output
    assert "3 finished runs" in report.stdout and (out / "report.md").exists()


def test_a_shard_and_an_unsharded_run_exclude_each_other(tmp_path):
    (tmp_path / "tiny.yaml").write_text(TINY)
    out = tmp_path / "results"
    runner = CliRunner()
    with directory_lock(out, shared=True), directory_lock(out, shared=True):  # two shards at work
        busy = runner.invoke(app, ["run", str(tmp_path / "tiny.yaml"), "--out", str(out)])
    assert busy.exit_code == 4 and "is in use by" in busy.stderr
    with directory_lock(out):  # an unsharded run at work
        busy = runner.invoke(app, ["run", str(tmp_path / "tiny.yaml"), "--out", str(out), "--shard", "1/2"])
    assert busy.exit_code == 4 and "is in use by" in busy.stderr
    assert {p.state for p in plan(load_experiment(tmp_path / "tiny.yaml"), out)} == {"to do"}
