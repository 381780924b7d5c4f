"""Shared fixtures: tiny, fast run configurations on the embedded `shapes` data; each test's own calibration cache."""

import pytest
import torch

from cnn_vs_vit.config import build_config


def tiny_config(*overrides: str):
    """A run that trains in about a second: a small model on 16x16 shapes, a few steps."""
    return build_config(
        {},
        [
            "model.name=resnet-xs", "data.name=shapes", "data.image_size=16", "train.steps=6",
            "train.batch_size=16", "train.checkpoint_every=3", "train.log_every=1", "threads=1", *overrides,
        ],
    )  # fmt: skip


@pytest.fixture(autouse=True)
def calibration_file(tmp_path_factory, monkeypatch):
    """The time estimate's calibration cache in a directory of the test's own, beside its tmp_path (which stays
    as the test left it): never the user's, never another test's, in the processes the test starts too."""
    path = tmp_path_factory.mktemp("calibration") / "calibration.json"
    monkeypatch.setenv("CNNVIT_CALIBRATION_CACHE", str(path))
    return path


@pytest.fixture
def tiny():
    return tiny_config


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models on a busy CPU: threads only wait on each other (the probe tests use it module-wide)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
