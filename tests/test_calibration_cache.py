"""The time estimate's calibration cache: a speed measured once on a machine by a cnnvit is not measured again
there by that cnnvit, and is measured again when either changes; a broken cache file is measured over."""

import json
import os

import pytest
import torch

from cnn_vs_vit.config import build_config
from cnn_vs_vit.matrix import calibration_cache, estimate
from cnn_vs_vit.matrix.estimate import Speed, measure_cell_overhead, measure_speeds, shape_key

CONFIG = build_config({"model": {"name": "vit-xxs"}, "data": {"name": "shapes", "image_size": 16},
                       "train": {"batch_size": 8}, "threads": 1})  # fmt: skip
SHAPES = {(shape_key(CONFIG), 1): CONFIG}


@pytest.fixture
def measurements(monkeypatch):
    """Every speed measured, in order: a fake measurement that counts instead of training (each a new speed)."""
    made = []

    def measure_speed(config, threads):
        made.append((shape_key(config), threads))
        return Speed("vit", step_seconds=0.01 * len(made), flops_per_step=1e9, eval_seconds=0.5)

    monkeypatch.setattr(estimate, "measure_speed", measure_speed)
    return made


def calibrate(shapes=SHAPES) -> dict:
    return measure_speeds(shapes, jobs=1, told=lambda _shape: None)


def test_a_shape_measured_once_is_read_from_the_cache_and_not_measured_again(measurements, calibration_file):
    first = calibrate()
    assert calibrate() == first and len(measurements) == 1
    assert calibration_file.exists()
    other_threads = {(shape_key(CONFIG), 2): CONFIG}  # what was measured is part of the key
    calibrate(SHAPES | other_threads)
    assert measurements == [(shape_key(CONFIG), 1), (shape_key(CONFIG), 2)]


@pytest.mark.parametrize(
    "change",
    [
        lambda monkeypatch: monkeypatch.setattr(calibration_cache, "source_digest", lambda: "another cnnvit"),
        lambda monkeypatch: monkeypatch.setattr(
            calibration_cache, "machine", lambda: {"cpu": "another CPU", "cores": 2, "torch": "2.0"}
        ),
    ],
    ids=["code", "machine"],
)
def test_the_cache_is_invalidated_when_the_code_or_the_machine_changes(measurements, monkeypatch, change):
    first = calibrate()
    change(monkeypatch)
    assert calibrate() != first and len(measurements) == 2
    assert len(calibrate()) == 1 and len(measurements) == 2  # cached again, for the new code or machine


def test_the_machine_is_the_cpu_its_cores_and_torch():
    machine = calibration_cache.machine()
    assert machine["cores"] == os.cpu_count() and machine["torch"] == torch.__version__ and machine["cpu"]


@pytest.mark.parametrize(
    "broken",
    [
        "{not json",
        "\xff\xfe",
        "[]",
        '{"context": "?", "entries": []}',
        None,  # this machine and code, an entry of the wrong fields (as a hand edit leaves it)
    ],
)
def test_a_broken_cache_file_is_measured_over_and_rewritten(measurements, calibration_file, broken):
    calibrate()
    if broken is None:
        cached = json.loads(calibration_file.read_text())
        cached["entries"] = {key: {"arch": "vit", "step_seconds": "fast"} for key in cached["entries"]}
        calibration_file.write_text(json.dumps(cached))
    else:
        calibration_file.write_text(broken, encoding="latin-1")
    calibrate()
    assert len(measurements) == 2  # measured again, no traceback
    calibrate()
    assert len(measurements) == 2  # and the file rewritten: read back


def test_the_cell_overhead_is_cached_beside_the_speeds(monkeypatch):
    rounds = []

    def train_cells(cells, jobs, on_done):
        rounds.append(len(cells))
        for cell in cells:
            on_done(cell, 0)

    monkeypatch.setattr(estimate, "train_cells", train_cells)
    first = measure_cell_overhead(CONFIG, jobs=1)
    assert measure_cell_overhead(CONFIG, jobs=1) == first and rounds == [2]
    measure_cell_overhead(CONFIG, jobs=2)  # cells side by side: another measurement
    assert rounds == [2, 4]


def test_off_measures_every_time_and_writes_nothing(measurements, calibration_file, monkeypatch):
    monkeypatch.setenv(calibration_cache.ENVIRONMENT, calibration_cache.OFF)
    calibrate()
    calibrate()
    assert len(measurements) == 2 and not calibration_file.exists()


def test_the_cache_lives_under_xdg_cache_home_else_home(monkeypatch, tmp_path):
    monkeypatch.delenv(calibration_cache.ENVIRONMENT)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert calibration_cache.cache_path() == tmp_path / "cnnvit" / "calibration.json"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert calibration_cache.cache_path() == tmp_path / ".cache" / "cnnvit" / "calibration.json"
