"""A finished study rerun: how long `cnnvit run` takes when everything is done, and what a probe's cache check costs.

    python benchmarks/noop_rerun.py [RESULTS_DIR] [EXPERIMENT.yaml] [--repeats 3]

RESULTS_DIR (default results/default, which must hold its trained weights: they are not committed) is copied
to a temporary directory first, so nothing committed is rewritten. A first rerun builds the report and stamps
it (matrix/freshness.py); prints the median wall time of `cnnvit run EXPERIMENT --out COPY` over the repeats
that follow, then, measured side by side on the same runs, the
median time per probe of the check made before anything is loaded (plugin.is_saved: the run's config and
weights' fingerprint against the saved arguments) and of loading the run and planning the probe, which is
what every probe's cache check cost before the check came first.
"""

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cnn_vs_vit.matrix.experiment import load_experiment
from cnn_vs_vit.matrix.runner import plan
from cnn_vs_vit.probes.plugin import applies, find, is_saved
from cnn_vs_vit.trained_run import load_run


def rerun_seconds(experiment: Path, out: Path) -> float:
    tic = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "cnn_vs_vit", "run", str(experiment), "--out", str(out)],
                          capture_output=True, text=True)  # fmt: skip
    seconds = time.perf_counter() - tic
    if done.returncode != 0:
        sys.exit(f"the rerun failed (exit {done.returncode}):\n{done.stdout}{done.stderr}")
    return seconds


def check_seconds(experiment_file: Path, out: Path, runs: int = 6) -> tuple[float, float, int]:
    """Median seconds per (run, probe): the check before loading, and loading plus planning."""
    experiment = load_experiment(experiment_file)
    work = [(cell.run_dir, name) for cell in plan(experiment, out) for name in sorted(cell.cell.probes)
            if cell.state == "done" and applies(name, cell.run_dir)][: runs * 3]  # fmt: skip
    cheap, loaded = [], []
    for run_dir, name in work:
        options = experiment.probe_options(name)
        tic = time.perf_counter()
        assert is_saved(name, run_dir, options), f"{run_dir} has no reusable {name} result"
        cheap.append(time.perf_counter() - tic)
        tic = time.perf_counter()
        probe = find(name)
        probe.plan(load_run(run_dir), probe.validated(options))
        loaded.append(time.perf_counter() - tic)
    return statistics.median(cheap), statistics.median(loaded), len(work)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="?", type=Path, default=Path("results/default"))
    parser.add_argument("experiment", nargs="?", type=Path, default=Path("experiments/default.yaml"))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / args.results.name
        shutil.copytree(args.results, copy)
        states = {cell.state for cell in plan(load_experiment(args.experiment), copy)}
        if states != {"done"}:
            sys.exit(f"{args.results} is not a finished {args.experiment} (cells {', '.join(sorted(states))}); "
                     "run it first, with its weights")  # fmt: skip
        first = rerun_seconds(args.experiment, copy)  # builds the report and stamps it (the stamp is not committed)
        seconds = [rerun_seconds(args.experiment, copy) for _ in range(args.repeats)]
        print(f"first rerun (probes checked, report built and stamped): {first:.1f} s")
        print(f"no-op rerun of {args.experiment} on a copy of {args.results}: median {statistics.median(seconds):.1f} s "
              f"over {args.repeats} ({', '.join(f'{s:.1f}' for s in seconds)})")  # fmt: skip
        cheap, loaded, n = check_seconds(args.experiment, copy)
        print(f"per probe, median of {n}: check before loading {cheap * 1000:.0f} ms, load and plan "
              f"{loaded * 1000:.0f} ms ({loaded / cheap:.0f}x)")  # fmt: skip


if __name__ == "__main__":
    main()
