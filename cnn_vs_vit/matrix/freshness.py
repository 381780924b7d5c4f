"""Whether a results directory's report is up to date, so that a rerun that trained and probed nothing need
not build it again (a build is deterministic: it would write the same bytes).

The digest covers everything a report is built from: every file below the results directory except the
trained weights, checkpoints (the trunks/ store holds only those) and temporary files (the report reads
run directories' configs, summaries, metrics and probe results, never weights), its experiment.yaml, and
cnnvit's own source, so that a new cnnvit rebuilds. `cnnvit run` stamps it beside the report it builds; `cnnvit report` always rebuilds.
"""

import hashlib
from pathlib import Path

from .. import rundir as layout

STAMP = ".report-inputs.sha256"
OUTPUTS = ("report.md", "claims.csv", "runs.csv")  # what every report writes (plots depend on the runs)
NOT_READ = {layout.WEIGHTS, layout.CHECKPOINT}
SOURCE = Path(__file__).resolve().parent.parent  # the cnn_vs_vit package


def source_digest() -> str:
    """SHA-256 over cnnvit's source files with their relative paths: it changes whenever cnnvit's code does."""
    return _files_digest(SOURCE, sorted(SOURCE.rglob("*.py")))


def inputs_digest(results_dir: Path) -> str:
    """SHA-256 over cnnvit's source and every input file of `results_dir`, with their relative paths."""
    inputs = sorted(path for path in results_dir.rglob("*") if _is_input(results_dir, path))
    return hashlib.sha256((source_digest() + _files_digest(results_dir, inputs)).encode()).hexdigest()


def _files_digest(root: Path, paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def is_fresh(results_dir: Path) -> bool:
    """The report files exist and were built from exactly what the directory and cnnvit hold now."""
    stamp = results_dir / STAMP
    if not stamp.exists() or not all((results_dir / name).exists() for name in OUTPUTS):
        return False
    return stamp.read_text().strip() == inputs_digest(results_dir)


def mark_fresh(results_dir: Path) -> None:
    layout.atomic_write_text(results_dir / STAMP, inputs_digest(results_dir) + "\n")


def _is_input(results_dir: Path, path: Path) -> bool:
    if not path.is_file() or path.name in NOT_READ or path.name.startswith("."):  # locks, temporary files, stamp
        return False
    if path.relative_to(results_dir).parts[0] == layout.TRUNKS:  # trunk checkpoints: weights, never read
        return False
    return path.parent != results_dir or path.name == "experiment.yaml"  # the report's own files are outputs
