"""How every probe's result is saved and reused: reuse a result saved with the same arguments and weights,
or compute it and write it atomically.

Each probe writes into <run>/probes/:
  <name>.csv           the rows
  <name>_summary.json  the arguments (with the weights' fingerprint), what the probe adds, and the SHA-256
                       of every file it wrote; written last, so its presence marks a complete result
  extra files a probe asks for (e.g. receptive_field_maps.safetensors), written before the summary
A second call with the same arguments and unchanged weights reuses the files unless force=True.
"""

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .. import rundir as layout
from ..data import ProbeSample
from ..data.probe_sample import PROBE_SAMPLE_SEED, SAMPLE_RULE


@dataclass
class SavedProbe:
    """A probe's result as saved in (or reused from) `directory`."""

    rows: pd.DataFrame
    summary: dict
    directory: Path
    reused: bool
    files: dict[str, Path] = field(default_factory=dict)  # extra files by name, e.g. the ERF maps


def save_or_reuse(
    directory: Path,
    name: str,
    arguments: dict,
    compute: Callable[[], tuple[pd.DataFrame, dict, dict[str, bytes]]],
    *,
    force: bool = False,
    dtypes: dict | None = None,
    sample: ProbeSample | None = None,
) -> SavedProbe:
    """The result of `compute()` for `arguments`, read from `directory` when saved there with the same ones.

    compute() -> (rows, summary additions, extra files {file name: bytes}). `dtypes` are the CSV
    column types to restore on reading (e.g. nullable integers). A probe that reads test images passes
    its `sample`: its record joins the arguments (a result computed on other images is not reused)
    and the summary (as "sample", so a reader sees what the figures average over).
    """
    if sample is not None:
        arguments = {**arguments, "sample": sample.record()}
    rows_path, summary_path = layout.probe_files(directory, name)
    if not force:
        cached = _cached(directory, rows_path, summary_path, arguments, dtypes)
        if cached is not None:
            return cached
    tic = time.perf_counter()
    rows, summary, extras = compute()
    summary = {**summary, "arguments": arguments, "wall_time_s": round(time.perf_counter() - tic, 3)}
    if sample is not None:
        summary["sample"] = arguments["sample"]
    checksums = {}
    for file_name, data in extras.items():
        layout.atomic_write_bytes(directory / file_name, data)
        checksums[file_name] = hashlib.sha256(data).hexdigest()
    text = rows.to_csv(index=False)
    layout.atomic_write_text(rows_path, text)
    checksums[rows_path.name] = hashlib.sha256(text.encode()).hexdigest()
    summary["sha256"] = checksums
    layout.atomic_write_json(summary_path, summary)  # last: marks the files above as one complete result
    files = {file_name: directory / file_name for file_name in extras}
    return SavedProbe(rows=rows, summary=summary, directory=directory, reused=False, files=files)


def reuse_known(directory: Path, name: str, known: dict, images: int | None, dtypes: dict | None) -> SavedProbe | None:
    """The saved result when its arguments hold every item of `known` and, for a probe of `images` test
    images, that many (the whole split when it is smaller) of the current sample rule; else None."""
    rows_path, summary_path = layout.probe_files(directory, name)

    def answers(saved: dict) -> bool:
        if any(saved.get(key) != value for key, value in json.loads(json.dumps(known)).items()):
            return False
        if images is None:
            return True
        sample = saved.get("sample") or {}
        expected = min(images, sample.get("of", -1))
        return (sample.get("seed"), sample.get("rule")) == (PROBE_SAMPLE_SEED, SAMPLE_RULE) and sample.get(
            "size"
        ) == expected == saved.get("images")

    return _cached(directory, rows_path, summary_path, answers, dtypes)


def _cached(directory: Path, rows_path: Path, summary_path: Path, arguments, dtypes) -> SavedProbe | None:
    """The saved result when it answers `arguments` (equal to them, or a test of them) and no file changed
    since; else None."""
    try:
        summary = layout.read_json(summary_path)
        saved = summary.get("arguments")
        if not (arguments(saved) if callable(arguments) else saved == json.loads(json.dumps(arguments))):
            return None  # compared as JSON sees them
        # Shift results saved before every probe shared this module record only their CSV's checksum.
        checksums = summary["sha256"] if "sha256" in summary else {rows_path.name: summary["rows_sha256"]}
        for file_name, expected in checksums.items():
            if hashlib.sha256((directory / file_name).read_bytes()).hexdigest() != expected:
                return None  # damaged or replaced after it was written
        rows = pd.read_csv(rows_path, dtype=dtypes)
    except (OSError, ValueError, KeyError, TypeError):  # missing, torn or hand-edited files: compute again
        return None
    files = {file_name: directory / file_name for file_name in checksums if file_name != rows_path.name}
    return SavedProbe(rows=rows, summary=summary, directory=directory, reused=True, files=files)
