"""One run on several processes through torchrun: the run one process trains, to float precision.

Every rank draws the global batch one process would and takes its slice, DDP averages the
gradients, so two processes differ from one only in the order floats are summed. Measured with
the run below (vit-xxs, 60 steps of 16 images, 2 gloo processes on a 2-core CPU): weights within
9e-6, training loss within 5e-7 at every step, the same test accuracy and loss. The tolerances
are 10x that, and a test image. (A ResNet on the CPU is another matter: torch has no
SyncBatchNorm there, each rank normalises by its own slice's statistics; see distributed.py.)
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from cnn_vs_vit import rundir
from cnn_vs_vit.cli import app, main
from cnn_vs_vit.config import build_config
from cnn_vs_vit.errors import CnnvitError, RankError, StoppedElsewhere
from cnn_vs_vit.torchrun import reports
from cnn_vs_vit.training import distributed, loop, train_run
from cnn_vs_vit.training.distributed import World

TORCHRUN = Path(sys.executable).with_name("torchrun")
RUN = ["model.name=vit-xxs", "model.patch_size=4", "data.name=shapes", "data.image_size=16", "train.steps=60",
       "train.batch_size=16", "train.log_every=1", "threads=1"]  # fmt: skip
WEIGHTS_ATOL, LOSS_ATOL = 1e-4, 5e-6


def run_config(*overrides: str):
    return build_config({}, [*RUN, *overrides])


def torchrun(*args: str, cwd: Path) -> subprocess.Popen:
    """`torchrun --nproc_per_node 2 -m cnn_vs_vit train RUN... args...` on this machine (gloo)."""
    return subprocess.Popen([str(TORCHRUN), "--standalone", "--nproc_per_node", "2", "-m", "cnn_vs_vit", "train",
                             *RUN, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def cnnvit_errors(stderr: str) -> list[str]:
    """cnnvit's own error lines (torchrun adds its warnings and a failure report of its own)."""
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def assert_same_run(one: Path, two: Path) -> None:
    """Two run directories hold the same run within float-summation tolerance."""
    w1, w2 = load_file(one / rundir.WEIGHTS), load_file(two / rundir.WEIGHTS)
    assert w1.keys() == w2.keys()
    for key in w1:
        torch.testing.assert_close(w2[key], w1[key], atol=WEIGHTS_ATOL, rtol=0, msg=key)
    train1, train2 = ([r for r in rundir.RunDir(d).metrics() if r["split"] == "train"] for d in (one, two))
    assert [r["step"] for r in train2] == [r["step"] for r in train1] == list(range(1, 61))  # each step logged once
    for r1, r2 in zip(train1, train2):
        assert abs(r1["loss"] - r2["loss"]) <= LOSS_ATOL, (r1, r2)
    s1, s2 = rundir.RunDir(one).summary(), rundir.RunDir(two).summary()
    for key in ("steps", "images_seen", "subset_hash", "params", "batch_size"):
        assert s1[key] == s2[key], key
    assert abs(s1["test_accuracy"] - s2["test_accuracy"]) <= 1 / 1000  # one test image
    assert s1["test_loss"] == pytest.approx(s2["test_loss"], abs=WEIGHTS_ATOL)


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    """The run trained by one process, here."""
    run_dir = tmp_path_factory.mktemp("one") / "run"
    train_run(run_config(), run_dir)
    return run_dir


def test_two_processes_train_the_run_one_process_trains(one_process, tmp_path):
    launched = torchrun(cwd=tmp_path)  # no --out: the run directory gets its usual name
    stdout, stderr = launched.communicate(timeout=600)
    assert launched.returncode == 0, stderr
    (run_dir,) = (tmp_path / "results" / "runs").iterdir()
    assert run_dir.name == rundir.run_name(run_config())  # how many processes trained it is no part of its identity
    assert stdout.splitlines() == [str(Path("results") / "runs" / run_dir.name)]  # rank 0 alone prints
    assert sorted(p.name for p in run_dir.iterdir()) == sorted(
        p.name for p in one_process.iterdir()
    )  # rank 0 alone writes
    assert json.loads((run_dir / rundir.ENV).read_text())["processes"] == 2
    assert_same_run(one_process, run_dir)


def worker_pids(launcher: int) -> dict[int, int]:
    """{rank: pid} of the workers torchrun process `launcher` started (Linux /proc)."""
    workers = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            environ = (stat.parent / "environ").read_bytes().split(b"\0") if parent == launcher else []
        except (OSError, IndexError, ValueError):  # a process that ended meanwhile
            continue
        for variable in environ:
            if variable.startswith(b"RANK="):
                workers[int(variable[5:])] = int(stat.parent.name)
    return workers


def logged_step(run_dir: Path) -> int:
    records = rundir.RunDir(run_dir).metrics()
    return records[-1]["step"] if records else 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds torchrun's workers in /proc")
def test_torchrun_resumes_a_checkpoint_and_a_signal_to_one_rank_stops_every_rank(one_process, tmp_path, monkeypatch):
    run_dir = tmp_path / "run"

    def crash():
        raise RuntimeError("simulated crash")

    original = loop.step_generator
    monkeypatch.setattr(
        loop, "step_generator", lambda seed, step, *a: crash() if step == 5 else original(seed, step, *a)
    )
    with pytest.raises(RuntimeError, match="simulated crash"):  # one process: 5 steps logged and checkpointed
        train_run(run_config("train.checkpoint_every=5"), run_dir)
    monkeypatch.undo()

    # Two processes resume it. Rank 0 is paused while rank 1 alone gets SIGTERM: the ranks must
    # still agree on one step to stop at, and rank 0 save the checkpoint there.
    launched = torchrun("--out", str(run_dir), cwd=tmp_path)
    deadline = time.monotonic() + 300
    while logged_step(run_dir) <= 5 and launched.poll() is None:
        assert time.monotonic() < deadline, "torchrun did not resume the run"
        time.sleep(0.01)
    workers = worker_pids(launched.pid)
    os.kill(workers[0], signal.SIGSTOP)
    paused_at = logged_step(run_dir)
    os.kill(workers[1], signal.SIGTERM)
    time.sleep(0.5)
    os.kill(workers[0], signal.SIGCONT)
    _, stderr = launched.communicate(timeout=300)
    assert 5 < paused_at < 60, paused_at
    assert launched.returncode != 0
    assert cnnvit_errors(stderr) == [
        "error: stopped by SIGTERM after saving a checkpoint; run the same command again to resume"
    ]
    stopped_at = torch.load(run_dir / rundir.CHECKPOINT, weights_only=True)["step"]
    assert paused_at <= stopped_at < 60 and logged_step(run_dir) == stopped_at
    assert not (run_dir / rundir.DONE).exists()

    train_run(run_config(), run_dir)  # and one process finishes what two checkpointed
    assert_same_run(one_process, run_dir)


def test_one_process_under_torchrun_is_a_plain_run(tmp_path, tiny, monkeypatch):
    train_run(tiny(), tmp_path / "plain")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("LOCAL_RANK", "0")
    train_run(tiny(), tmp_path / "torchrun")
    plain, launched = load_file(tmp_path / "plain" / rundir.WEIGHTS), load_file(tmp_path / "torchrun" / rundir.WEIGHTS)
    assert all(torch.equal(plain[key], launched[key]) for key in plain)  # bit for bit


def test_rank_slices_tile_the_global_batch_in_order():
    batch = torch.arange(24)
    for size in (1, 2, 3, 4):
        slices = [World(rank, size).shard(batch) for rank in range(size)]
        assert torch.equal(torch.cat(slices), batch) and {len(s) for s in slices} == {24 // size}


def test_a_global_batch_that_does_not_split_is_one_line():
    World(0, 4).check_batch(64)
    with pytest.raises(CnnvitError, match="train.batch_size=64 does not split evenly over 3 processes") as info:
        World(0, 3).check_batch(64)
    assert "\n" not in str(info.value)


class OtherRank:
    """dist.all_reduce as if the one other rank contributed `value` (MAX: what World.together uses)."""

    def __init__(self, value: int):
        self.value = value

    def __call__(self, tensor, op=None):
        tensor.fill_(max(int(tensor.item()), self.value))


def together(world: World, monkeypatch, other: int, error: CnnvitError | None = None) -> CnnvitError | None:
    """What `world.together()` raises when this rank raises `error` and the other rank's exit code is `other`."""
    monkeypatch.setattr(distributed.dist, "all_reduce", OtherRank(other))
    try:
        with world.together():
            if error:
                raise error
    except CnnvitError as raised:
        return raised
    return None


def test_an_error_on_one_rank_stops_every_rank_and_is_printed_once(monkeypatch):
    monkeypatch.setenv("RANK", "1")
    rank1 = World(1, 2)
    assert together(rank1, monkeypatch, other=0) is None  # nobody failed: on with the run
    mine = together(rank1, monkeypatch, other=0, error=CnnvitError("no dataset here"))
    assert isinstance(mine, RankError) and str(mine) == "rank 1: no dataset here" and reports(mine)
    elsewhere = together(rank1, monkeypatch, other=4)  # rank 0 found its directory busy (exit code 4)
    assert isinstance(elsewhere, StoppedElsewhere) and elsewhere.exit_code == 4 and not reports(elsewhere)
    assert not reports(CnnvitError("a config error every rank meets"))  # rank 0 prints that one
    monkeypatch.setenv("RANK", "0")
    busy = CnnvitError("busy")
    assert together(World(0, 2), monkeypatch, other=0, error=busy) is busy and reports(busy)


def test_a_bad_command_under_torchrun_is_printed_by_rank_0_alone(monkeypatch, capsys):
    monkeypatch.setenv("WORLD_SIZE", "2")
    for rank, printed in (("0", 1), ("1", 0)):
        monkeypatch.setenv("RANK", rank)
        with pytest.raises(SystemExit) as exit_info:
            main(["train", "--model", "vit-x"])
        assert exit_info.value.code == 2 and len(capsys.readouterr().err.splitlines()) == printed


def test_cnnvit_run_is_not_started_by_torchrun(tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    result = CliRunner().invoke(app, ["run", str(tmp_path / "experiment.yaml"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "--shard I/N" in result.stderr and len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "out").exists()
