"""The run-directory layout and the atomic writes every file in it goes through.

A run directory holds:
  config.yaml        the resolved configuration (what the run really used)
  env.json           versions, device, threads, git commit, command line
  metrics.jsonl      one JSON object per logged step, then the final evaluation
  checkpoint.pt      model + optimizer + scheduler + step, for resuming
  model.safetensors  final weights
  summary.json       the run's results
  DONE               completion marker, written last; holds the weights' size and SHA-256
  failed.json        why the run stopped, when training failed (e.g. non-finite loss)
No file ever appears under its final name half-written: each is written to a temporary file
in the same directory, flushed, fsync'ed and renamed over the final name.

Run directories live in a results directory's runs/ (cnnvit train's results/runs/<name>, cnnvit run's
<out>/runs/<cell name>). Beside them, the trunks that wsd runs share (training/branches.py):
  <results>/trunks/<trunk name>/trunk.yaml    what the trunk computes: its runs' config less their budget
  <results>/trunks/<trunk name>/step_<F>.pt   the trunk after F steps, a checkpoint.pt's contents
  <results>/trunks/<trunk name>/.lock         held by the run training the trunk, so that no two do
"""

import errno
import functools
import hashlib
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from .config import semantic_keys
from .errors import CnnvitError

CONFIG = "config.yaml"
ENV = "env.json"
METRICS = "metrics.jsonl"
CHECKPOINT = "checkpoint.pt"
WEIGHTS = "model.safetensors"
SUMMARY = "summary.json"
DONE = "DONE"
FAILED = "failed.json"
PROBES = "probes"
RUNS = "runs"
TRUNKS = "trunks"
TRUNK_CONFIG = "trunk.yaml"


def probe_files(probes: Path, name: str) -> tuple[Path, Path]:
    """A probe's result in a run's probes directory: (<name>.csv, <name>_summary.json); the summary is written
    last, so its presence marks a complete result."""
    return probes / f"{name}.csv", probes / f"{name}_summary.json"


def atomic_write(path: Path, write: Callable[[IO[bytes]], None], size: int | None = None) -> None:
    """Write `path` through `write(file)` so that readers see the old file or the whole new one.

    A full disk leaves the old file as it was and becomes a CnnvitError naming the directory,
    the bytes this file needed (`size`, when the caller knows it) and the bytes free."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    file = os.fdopen(fd, "wb")
    try:
        with file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except OSError as error:
        Path(tmp).unlink(missing_ok=True)
        if error.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        raise CnnvitError(_no_space_message(path, file, size)) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def atomic_write_bytes(path: Path, data: bytes | memoryview) -> None:
    atomic_write(path, lambda f: f.write(data), size=len(data))


def _no_space_message(path: Path, file: IO[bytes], size: int | None) -> str:
    try:
        needed = f"{size:,} bytes" if size is not None else f"over {file.tell():,} bytes"  # tell: written so far
    except (OSError, ValueError):
        needed = "more space"
    free = shutil.disk_usage(path.parent).free
    return (
        f"no space left on the device holding {path.parent} while writing {path.name} ({needed} needed, "
        f"{free:,} free); free some space and run the same command again: what was saved before is intact"
    )


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: Path, obj: object) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def file_fingerprint(path: Path) -> dict:
    """Identity of a file: name, size and SHA-256 (detects truncation and bit rot alike)."""
    status = Path(path).stat()
    return {
        "file": Path(path).name,
        "bytes": status.st_size,
        "sha256": _sha256(str(Path(path).resolve()), status.st_ino, status.st_size, status.st_mtime_ns),
    }


@functools.lru_cache(maxsize=4096)
def _sha256(path: str, inode: int, size: int, mtime_ns: int) -> str:
    """SHA-256 of a file, read once per process while it keeps its inode, size and modification time (a rerun
    checks each run's weights several times: its plan, then every probe's saved result)."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


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

    def mark_done(self) -> None:
        """Written last: the DONE marker holds the fingerprint of the weights it vouches for."""
        atomic_write_json(self.path / DONE, file_fingerprint(self.path / WEIGHTS))

    def weights_problem(self) -> str | None:
        """What is wrong with model.safetensors, or None when it matches the fingerprint in DONE.

        Runs marked before DONE held a fingerprint (empty DONE) are checked by loading the file."""
        weights = self.path / WEIGHTS
        if not weights.exists():
            return "missing"
        try:
            expected = read_json(self.path / DONE) if (self.path / DONE).stat().st_size else None
        except (OSError, ValueError):
            return "its DONE marker is unreadable"
        if expected is None:
            from safetensors.torch import load_file

            try:
                load_file(weights)
            except Exception as error:  # safetensors raises its own error types for truncated files
                return f"unreadable ({type(error).__name__})"
            return None
        actual = file_fingerprint(weights)
        if actual["bytes"] != expected.get("bytes"):
            return f"{actual['bytes']} bytes instead of {expected.get('bytes')}"
        if actual["sha256"] != expected.get("sha256"):
            return "SHA-256 differs from the one recorded when it was written"
        return None

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
        """Add one line. The file is rewritten atomically (it holds a line per logged step, a few
        kB): a crash leaves the previous version whole, never a torn line."""
        path = self.path / METRICS
        previous = path.read_bytes() if path.exists() else b""
        atomic_write_bytes(path, previous + (json.dumps(record) + "\n").encode())

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
        """Keep only the records up to `after_step`: a resumed run re-logs the steps after its checkpoint and
        re-evaluates from it (evaluations at `after_step` itself are dropped too)."""
        kept = [
            r
            for r in self.metrics()
            if r.get("step", 0) <= after_step
            and not (r.get("split") in ("test", "validation") and r.get("step", 0) >= after_step)
        ]
        atomic_write_text(self.path / METRICS, "".join(json.dumps(r) + "\n" for r in kept))


class TrunkDir:
    """The checkpoints of one trunk, by step; locked (locks.py) by whoever trains it."""

    def __init__(self, path: Path | str):
        self.path = Path(path)

    def checkpoint(self, step: int) -> Path:
        return self.path / f"step_{step}.pt"

    def steps(self) -> list[int]:
        """The steps it holds a checkpoint of, in order (temporary files left by a killed writer never count)."""
        found = (p.name.removeprefix("step_").removesuffix(".pt") for p in self.path.glob("step_*.pt"))
        return sorted(int(step) for step in found if step.isdigit())


def trunk_store(run_dir: Path | str) -> Path:
    """Where the trunks of the run in `run_dir` are kept: the trunks/ beside its results directory's runs/, or
    beside the run directory itself when it is not in a runs/."""
    run_dir = Path(run_dir).absolute()
    results = run_dir.parent.parent if run_dir.parent.name == RUNS else run_dir.parent
    return results / TRUNKS


def run_name(config, leave_out: frozenset[str] = frozenset()) -> str:
    """<model>[.option-value...]_<dataset>_f<fraction>_s<seed>_<hash of the whole config>.

    One configuration, one directory name; the hash tells apart what the readable part does not.
    How the run executes (threads, device, data root...) is left out: it does not change the result; so are
    the dotted keys in `leave_out` (a trunk's name leaves out its branches' budgets).
    """
    keys = {k: v for k, v in semantic_keys(config).items() if k not in leave_out}
    digest = hashlib.sha256(json.dumps(keys, sort_keys=True).encode()).hexdigest()[:8]
    model = config.model.name.replace(":", "-") + "".join(
        f".{k}-{_name_part(v)}" for k, v in sorted(config.model.options.items())
    )
    dataset = config.data.name.replace("/", "_").replace(":", "-")
    return f"{model}_{dataset}_f{config.data.fraction:g}_s{config.seed}_{digest}"


def environment(device: str, threads: int, processes: int = 1) -> dict:
    """What a result depends on besides its config: versions, hardware, code version, command.

    `processes`: how many (torchrun) processes trained the run together, each with `threads`."""
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
        "processes": processes,
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


def _name_part(value) -> str:
    """An option value as a directory name shows it: lists as 16-32 (no spaces or brackets to quote in a shell)."""
    return "-".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
