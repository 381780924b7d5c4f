"""The run-directory layout and the atomic writes every file in it goes through.

A run directory holds:
  config.yaml        the resolved configuration (what the run really used)
  env.json           versions, device, threads, git commit, command line
  metrics.jsonl      one JSON object per logged step, then the final evaluation
  checkpoint.pt      model + optimizer + scheduler + step, for resuming
  model.safetensors  final weights
  summary.json       the run's results
  DONE               completion marker, written last
  failed.json        why the run stopped, when training failed (e.g. non-finite loss)
No file ever appears under its final name half-written: each is written to a temporary file
in the same directory, flushed, fsync'ed and renamed over the final name.
"""

import hashlib
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from .config import semantic_keys

CONFIG = "config.yaml"
ENV = "env.json"
METRICS = "metrics.jsonl"
CHECKPOINT = "checkpoint.pt"
WEIGHTS = "model.safetensors"
SUMMARY = "summary.json"
DONE = "DONE"
FAILED = "failed.json"
PROBES = "probes"


def atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write `path` through `write(file)` so that readers see the old file or the whole new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text.encode()))


def atomic_write_json(path: Path, obj: object) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # some platforms cannot open directories; the rename is still atomic
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class RunDir:
    """Paths and state of one run directory."""

    def __init__(self, path: Path | str):
        self.path = Path(path)

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    @property
    def is_done(self) -> bool:
        return (self.path / DONE).exists() and (self.path / SUMMARY).exists()

    @property
    def is_trained(self) -> bool:
        """Done and holding its weights. Results shared without weights (e.g. committed to git) still
        feed `cnnvit report`, but `cnnvit train`/`run` train them again to get the weights back."""
        return self.is_done and (self.path / WEIGHTS).exists()

    @property
    def has_checkpoint(self) -> bool:
        return (self.path / CHECKPOINT).exists()

    def remove_stale_temporaries(self) -> None:
        """Delete temporary files left by a process killed mid-write (they never hold a final result)."""
        if self.path.is_dir():
            for stale in self.path.glob(".*.tmp"):
                stale.unlink(missing_ok=True)

    def summary(self) -> dict:
        return read_json(self.path / SUMMARY)

    def append_metrics(self, record: dict) -> None:
        """Append one line; a crash can only lose or truncate the last line, which readers skip."""
        with open(self.path / METRICS, "a") as file:
            file.write(json.dumps(record) + "\n")

    def metrics(self) -> list[dict]:
        """Every complete line of metrics.jsonl (a torn last line from a crash is skipped)."""
        path = self.path / METRICS
        if not path.exists():
            return []
        records = []
        for line in path.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return records

    def truncate_metrics(self, after_step: int) -> None:
        """Keep only the records up to `after_step`: a resumed run re-logs the steps after its checkpoint."""
        kept = [r for r in self.metrics() if r.get("step", 0) <= after_step and r.get("split") != "test"]
        atomic_write_text(self.path / METRICS, "".join(json.dumps(r) + "\n" for r in kept))


def run_name(config) -> str:
    """<model>[.option-value...]_<dataset>_f<fraction>_s<seed>_<hash of the whole config>.

    One configuration, one directory name; the hash tells apart what the readable part does not.
    How the run executes (threads, device, data root...) is left out: it does not change the result.
    """
    digest = hashlib.sha256(json.dumps(semantic_keys(config), sort_keys=True).encode()).hexdigest()[:8]
    model = config.model.name.replace(":", "-") + "".join(f".{k}-{v}" for k, v in sorted(config.model.options.items()))
    dataset = config.data.name.replace("/", "_").replace(":", "-")
    return f"{model}_{dataset}_f{config.data.fraction:g}_s{config.seed}_{digest}"


def environment(device: str, threads: int) -> dict:
    """What a result depends on besides its config: versions, hardware, code version, command."""
    from importlib.metadata import version

    import torch

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": version("torchvision"),  # without importing it (~2 s)
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "hostname": socket.gethostname(),
        "device": device,
        "device_name": torch.cuda.get_device_name() if device == "cuda" else platform.machine(),
        "threads": threads,
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "command": " ".join(sys.argv),
    }


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()
