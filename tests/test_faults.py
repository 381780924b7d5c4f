"""Faults a long experiment meets: kill -9, SIGTERM, a full disk, a second process, corrupted files.

Each test interrupts real `cnnvit` processes (or the real writing code) and checks that the same
command afterwards completes with the weights and metrics of an uninterrupted run, bit for bit.
"""

import errno
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from cnn_vs_vit import rundir
from cnn_vs_vit.cli import app
from cnn_vs_vit.errors import CnnvitError, DirectoryBusy
from cnn_vs_vit.locks import LOCK, directory_lock
from cnn_vs_vit.matrix.experiment import load_experiment
from cnn_vs_vit.matrix.runner import plan
from cnn_vs_vit.training import loop, train_run

# Long enough to be killed mid-way on any machine (the kill waits for a logged step, not a time),
# short enough for a test (~2 s of training here).
STEPS = 300
KILLABLE = ["model.name=resnet-xs", "data.name=shapes", "data.image_size=16", f"train.steps={STEPS}", "train.batch_size=16",
            "train.checkpoint_every=7", "train.log_every=1", "threads=1"]  # fmt: skip
SAME_METRICS = ("test_accuracy", "test_loss", "steps", "images_seen", "subset_hash", "params")
EXPERIMENT = """\
name: faults
budget: 80 steps for every cell
base:
  data: {name: shapes, image_size: 16}
  train: {steps: 300, batch_size: 16, checkpoint_every: 7, log_every: 1}
groups:
  g:
    zip: [{model.name: [resnet-xs, vit-xs], model.patch_size: [null, 4]}]
"""
ONE_CELL = """\
name: faults
budget: 2 steps
base:
  data: {name: shapes, image_size: 16}
  train: {steps: 2, batch_size: 8}
groups:
  g:
    axes: {model.name: [resnet-xs]}
"""


def cli(*args: str, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cnn_vs_vit", *map(str, args)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, **popen)  # fmt: skip


def wait_for(condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def logged_step(run: Path) -> int:
    """The last training step in metrics.jsonl (rewritten atomically every logged step)."""
    records = rundir.RunDir(run).metrics()
    return records[-1]["step"] if records else 0


def checkpoint_step(run: Path) -> int:
    try:
        return torch.load(run / rundir.CHECKPOINT, weights_only=True)["step"]
    except Exception:  # not written yet
        return 0


def assert_no_torn_file(run: Path) -> None:
    """Every file under a final name parses: nothing half-written is ever visible."""
    for path in run.iterdir():
        if path.name.endswith(".tmp") or path.name == LOCK:
            continue
        if path.suffix == ".json" or path.name == rundir.DONE and path.stat().st_size:
            json.loads(path.read_text())
        elif path.suffix == ".jsonl":
            [json.loads(line) for line in path.read_text().splitlines()]
        elif path.name == rundir.CHECKPOINT:
            torch.load(path, weights_only=True)


def assert_same_run(run: Path, reference: Path) -> None:
    assert (run / rundir.WEIGHTS).read_bytes() == (reference / rundir.WEIGHTS).read_bytes()
    got, want = rundir.RunDir(run).summary(), rundir.RunDir(reference).summary()
    assert {k: got[k] for k in SAME_METRICS} == {k: want[k] for k in SAME_METRICS}
    logged = lambda r: [(m["step"], m.get("loss"), m.get("accuracy")) for m in rundir.RunDir(r).metrics()]  # noqa: E731
    assert logged(run) == logged(reference)  # the resumed log re-logs exactly the lost steps


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run, trained by the same command."""
    out = tmp_path_factory.mktemp("reference") / "run"
    process = cli("train", "--out", out, *KILLABLE)
    assert process.wait() == 0, process.stderr.read()
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kill_9_at_a_random_moment_of_train_then_rerun_gives_the_same_run(tmp_path, reference, seed):
    run = tmp_path / "run"
    process = cli("train", "--out", run, *KILLABLE)
    kill_at = random.Random(seed).randint(8, STEPS - 50)  # a random step past the first checkpoint
    wait_for(lambda: logged_step(run) >= kill_at)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (run / rundir.DONE).exists()
    assert_no_torn_file(run)
    again = cli("train", "--out", run, *KILLABLE)
    assert again.wait() == 0, again.stderr.read()
    assert_same_run(run, reference)
    assert not list(run.glob(".*.tmp"))


def test_sigterm_checkpoints_exits_143_and_resumes_to_the_same_run(tmp_path, reference):
    run = tmp_path / "run"
    process = cli("train", "--out", run, *KILLABLE)
    wait_for(lambda: checkpoint_step(run) >= 7)
    process.send_signal(signal.SIGTERM)
    assert process.wait() == 143
    assert "stopped by SIGTERM after saving a checkpoint" in process.stderr.read()
    assert 7 <= checkpoint_step(run) < STEPS
    again = cli("train", "--out", run, *KILLABLE)
    assert again.wait() == 0
    assert_same_run(run, reference)


@pytest.fixture(scope="module")
def matrix_reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("matrix")
    (root / "faults.yaml").write_text(EXPERIMENT)
    process = cli("run", root / "faults.yaml", "--out", root / "out", "--jobs", "2")
    assert process.wait() == 0, process.stderr.read()
    return root


def test_kill_9_of_a_whole_cnnvit_run_then_rerun_completes_it_unchanged(tmp_path, matrix_reference):
    experiment = matrix_reference / "faults.yaml"
    out = tmp_path / "out"
    process = cli("run", experiment, "--out", out, "--jobs", "2", start_new_session=True)
    runs = lambda: list((out / "runs").glob("*"))  # noqa: E731
    kill_at = random.Random(3).randint(8, STEPS - 50)
    wait_for(lambda: len(runs()) == 2 and all(logged_step(r) >= kill_at for r in runs()))
    os.killpg(process.pid, signal.SIGKILL)  # the runner, its fork server and every cell at once
    process.wait()
    assert {p.state for p in plan(load_experiment(experiment), out)} <= {"resumable", "done"}
    again = cli("run", experiment, "--out", out, "--jobs", "2")
    assert again.wait() == 0, again.stderr.read()
    for run in runs():
        assert_same_run(run, matrix_reference / "out" / "runs" / run.name)
    assert (out / "claims.csv").read_text() == (matrix_reference / "out" / "claims.csv").read_text()


def test_a_full_disk_keeps_the_last_checkpoint_and_names_the_directory(tmp_path, monkeypatch, tiny):
    real_fsync = os.fsync
    full = {"on": False}

    def fsync(fd):
        if full["on"]:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    original = loop.step_generator
    monkeypatch.setattr(rundir.os, "fsync", fsync)
    monkeypatch.setattr(loop, "step_generator", lambda seed, s, *a: (full.update(on=s == 4), original(seed, s, *a))[1])
    with pytest.raises(CnnvitError, match=r"no space left on the device holding .*run while writing") as info:
        train_run(tiny(), tmp_path / "run")
    assert "bytes needed" in str(info.value) and "free" in str(info.value)
    assert torch.load(tmp_path / "run" / rundir.CHECKPOINT, weights_only=True)["step"] == 3  # still whole
    assert not list((tmp_path / "run").glob(".*.tmp"))
    monkeypatch.undo()  # space freed
    resumed = train_run(tiny(), tmp_path / "run")
    assert resumed["test_accuracy"] == train_run(tiny(), tmp_path / "fresh")["test_accuracy"]
    assert (tmp_path / "run" / rundir.WEIGHTS).read_bytes() == (tmp_path / "fresh" / rundir.WEIGHTS).read_bytes()


def test_a_second_train_on_the_same_directory_is_refused_naming_the_holder(tmp_path, tiny):
    with directory_lock(tmp_path / "run"):
        with pytest.raises(DirectoryBusy, match=f"pid {os.getpid()}"):
            train_run(tiny(), tmp_path / "run")
    assert train_run(tiny(), tmp_path / "run")["steps"] == 6  # free again once the holder is done


def test_a_second_run_exits_4_or_waits_and_a_dead_holder_is_taken_over(tmp_path):
    experiment = tmp_path / "e.yaml"
    experiment.write_text(ONE_CELL)
    out = tmp_path / "out"
    runner = CliRunner()
    with directory_lock(out):
        busy = runner.invoke(app, ["run", str(experiment), "--out", str(out)])
    assert busy.exit_code == 4 and f"pid {os.getpid()}" in busy.stderr and "--wait" in busy.stderr
    assert not (out / "runs").exists()  # nothing done while another process held the directory

    held = threading.Event()

    def hold_for_a_second():
        with directory_lock(out):
            held.set()
            time.sleep(1.0)

    holder = threading.Thread(target=hold_for_a_second)
    holder.start()
    held.wait()
    waited = runner.invoke(
        app, ["run", str(experiment), "--out", str(out), "--wait", "--no-estimate"]
    )  # no time to lose before the lock
    holder.join()
    assert waited.exit_code == 0, waited.output
    assert "waiting for" in waited.stderr

    (out / LOCK).write_text(
        json.dumps({"pid": 999_999_999, "host": "elsewhere", "since": "then", "command": "cnnvit run"})
    )
    stale = runner.invoke(app, ["run", str(experiment), "--out", str(out)])  # killed holder: no flock left
    assert stale.exit_code == 0 and "pid 999999999" in stale.stderr and "ended without finishing" in stale.stderr


def test_corrupted_weights_checkpoints_and_probe_results_are_recomputed_by_run(tmp_path):
    experiment = tmp_path / "e.yaml"
    experiment.write_text(ONE_CELL + "    probes: [shift]\nprobe_shift: {images: 8, mode: circular, shifts: [0, 1]}\n")
    out = tmp_path / "out"
    runner = CliRunner()
    assert runner.invoke(app, ["run", str(experiment), "--out", str(out)]).exit_code == 0
    (cell,) = plan(load_experiment(experiment), out)
    weights = cell.run_dir / rundir.WEIGHTS
    good = weights.read_bytes()
    flipped = bytearray(good)
    flipped[-5] ^= 0xFF  # one bit of one weight: the file still loads, only the checksum notices
    weights.write_bytes(bytes(flipped))
    shift_csv = cell.run_dir / rundir.PROBES / "shift.csv"
    shift_csv.write_text(shift_csv.read_text()[:50])
    (cell,) = plan(load_experiment(experiment), out)
    assert cell.state == "corrupted"
    probe = runner.invoke(app, ["probe-shift", str(cell.run_dir)])
    assert probe.exit_code == 2 and "corrupted" in probe.stderr and "--restart" in probe.stderr
    again = runner.invoke(app, ["run", str(experiment), "--out", str(out)])
    assert again.exit_code == 0, again.output
    assert weights.read_bytes() == good  # retrained, deterministically
    assert len(shift_csv.read_text().splitlines()) > 2  # probed again

    (cell.run_dir / rundir.DONE).unlink()  # an interrupted run whose checkpoint was then damaged
    checkpoint = cell.run_dir / rundir.CHECKPOINT
    checkpoint.write_bytes(checkpoint.read_bytes()[:200])
    (cell,) = plan(load_experiment(experiment), out)
    assert cell.state == "corrupted"
    assert runner.invoke(app, ["run", str(experiment), "--out", str(out)]).exit_code == 0
    assert weights.read_bytes() == good


def test_unreadable_images_are_listed_before_training_and_skip_corrupt_goes_on(tmp_path):
    from PIL import Image

    folder = tmp_path / "photos"
    for label in ("cat", "dog"):
        for index in range(6):
            (folder / label).mkdir(parents=True, exist_ok=True)
            pixels = torch.randint(0, 256, (12, 12, 3), generator=torch.Generator().manual_seed(index)).to(torch.uint8)
            Image.fromarray(pixels.numpy()).save(folder / label / f"{index}.png")
    broken = folder / "dog" / "3.png"
    broken.write_bytes(broken.read_bytes()[:40])  # cut off mid-header, as an interrupted copy leaves it
    args = ["train", "--model", "resnet-xs", "--dataset", f"imagefolder:{folder}", "--steps", "2",
            "data.image_size=16", "train.batch_size=4", "--out", str(tmp_path / "run")]  # fmt: skip
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code == 2 and str(broken) in refused.stderr and "--skip-corrupt" in refused.stderr
    assert not (tmp_path / "run" / rundir.CONFIG).exists()  # stopped before training started
    skipped = CliRunner().invoke(app, [*args, "--skip-corrupt"])
    assert skipped.exit_code == 0, skipped.output
    assert rundir.RunDir(tmp_path / "run").summary()["skipped_files"] == 1


def test_a_second_ctrl_c_stops_at_once_and_loses_nothing_saved(tmp_path, monkeypatch, tiny):
    def two_ctrl_c(seed, step, *args):
        if step == 5:
            os.kill(os.getpid(), signal.SIGINT)  # the first asks for a checkpoint at the next step boundary...
            os.kill(os.getpid(), signal.SIGINT)  # ...the second does not wait for it
        return original(seed, step, *args)

    original = loop.step_generator
    monkeypatch.setattr(loop, "step_generator", two_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        train_run(tiny(), tmp_path / "run")
    assert checkpoint_step(tmp_path / "run") == 3  # the last one saved, whole
    monkeypatch.undo()
    train_run(tiny(), tmp_path / "run")
    train_run(tiny(), tmp_path / "fresh")
    assert_same_run(tmp_path / "run", tmp_path / "fresh")
