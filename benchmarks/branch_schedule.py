"""Benchmark of one run, every budget: the budgets {600, 1473, 2400} as branches of one wsd trunk, against three
separate cosine runs, measured side by side.

Claim: the three wsd branches train 2,815 steps (the trunk to the longest fork, 1,920, then cool-downs of
120, 295 and 480) where the three cosine runs train 4,473 (63%). Measured 2026-12 (2-core AMD EPYC, shared
with other agents' jobs, load 1.0-1.3, --threads 1, vit-xxs on mnist5k): cosine 117 / 96 s, wsd 68 / 55 s,
wsd / cosine **0.58** in both repeats (order alternated). Test accuracy, cosine / wsd, one seed: 600 steps
58.9% / 74.2%, 1,473 steps 88.9% / 91.7%, 2,400 steps 93.7% / 93.8%.

    .venv/bin/python benchmarks/branch_schedule.py [--model vit-xxs] [--repeats 1] [--scale 1] [--threads 2]

`--scale 0.25` trains every budget a quarter as long (150, 368, 600 steps: the same shares of trunk and
cool-down) when the machine is too busy for the full budgets (vit-xxs took ~2 steps/s at load 5 on 2 cores).

Each repeat trains both ways into a temporary directory (nothing is kept), alternating which goes first so
that a change in the machine's load falls on both. Wall time is the whole of each way's train_run calls
(data, model, training, evaluation); the load average is printed, since another job sharing the CPU
slows both several-fold. Test accuracy per budget is printed too (one seed: a sanity check, not a claim).
"""

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from cnn_vs_vit.config import build_config
from cnn_vs_vit.training import train_run
from cnn_vs_vit.training.branches import train_branches

BUDGETS = (600, 1473, 2400)  # the default study's cells: data fraction, equal FLOPs, accuracy vs compute


def configs(args: argparse.Namespace, schedule: str) -> list:
    options = [f"model.name={args.model}", f"train.schedule={schedule}", f"threads={args.threads}"]
    return [build_config({}, [*options, f"train.steps={round(steps * args.scale)}"]) for steps in BUDGETS]


def cosine_runs(args: argparse.Namespace, out: Path) -> tuple[float, list[dict]]:
    tic = time.perf_counter()
    summaries = [train_run(config, out / "runs" / f"cosine-{config.train.steps}") for config in configs(args, "cosine")]
    return time.perf_counter() - tic, summaries


def wsd_branches(args: argparse.Namespace, out: Path) -> tuple[float, list[dict]]:
    runs = [(config, out / "runs" / f"wsd-{config.train.steps}") for config in configs(args, "wsd")]
    tic = time.perf_counter()
    summaries = train_branches(runs)  # one trunk, in out/trunks
    return time.perf_counter() - tic, summaries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vit-xxs")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--scale", type=float, default=1.0, help="of every budget")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    ratios = []
    for repeat in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            ways = {"cosine": cosine_runs, "wsd": wsd_branches}
            order = ["cosine", "wsd"] if repeat % 2 == 0 else ["wsd", "cosine"]
            measured = {name: ways[name](args, Path(tmp) / name) for name in order}
        (cosine_s, cosine), (wsd_s, wsd) = measured["cosine"], measured["wsd"]
        ratios.append(wsd_s / cosine_s)
        accuracy = "  ".join(
            f"{c['steps']}: {c['test_accuracy']:.1%} / {w['test_accuracy']:.1%}" for c, w in zip(cosine, wsd)
        )
        print(f"repeat {repeat} ({' then '.join(order)}): cosine {cosine_s:.0f} s, wsd {wsd_s:.0f} s, "
              f"ratio {ratios[-1]:.2f}; test accuracy cosine / wsd {accuracy}")  # fmt: skip
    print(f"wsd / cosine wall time: median {statistics.median(ratios):.2f} over {len(ratios)}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
