"""Benchmark of training precision on this machine: fp32 against bf16 autocast (`train.precision`).

Claim checked: fp32 stays the CPU default unless, on the machine in question, bf16 autocast trains both
presets at least 1.5x faster with test accuracy within seed noise. CPUs differ here by two orders of
magnitude (bf16 matmul ~100x slower than fp32 on AVX2; ~6x faster with AMX), so the script measures
rather than assumes, and prints the machine it ran on.

    .venv/bin/python benchmarks/precision.py [--seeds 0 1 2] [--threads 2]

Per precision: the 2048^3 matmul rate (median of 5; of 1 when one takes over 5 s), each preset's
training speed (the training step itself, estimate.measure_speed: median of 7 steps of 64), and its
test accuracy after the default budget (600 steps of 64 on full mnist5k). A bf16 run that would take
over 10x the fp32 run's time is not trained (its speed alone rules bf16 out) unless --slow is given.
Run it on an idle machine: the load average is printed.
"""

import argparse
import os
import statistics
import tempfile
from pathlib import Path

import torch
from experiment_floor import peak_flops  # benchmarks/ is on the path when this script runs

from cnn_vs_vit.config import build_config
from cnn_vs_vit.matrix.calibration_cache import cpu_model
from cnn_vs_vit.matrix.estimate import measure_speed
from cnn_vs_vit.training import train_run

MODELS = ("resnet-s", "vit-s")
PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16}
SPEED_UP_NEEDED = 1.5
TOO_SLOW = 10.0  # a bf16 run this many times slower than fp32 is not trained without --slow


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--slow", action="store_true", help="train bf16 even where it is over 10x slower")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"CPU: {cpu_model()}, {os.cpu_count()} logical cores; {args.threads} threads; torch {torch.__version__}; "
          f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    peaks = {name: peak_flops(args.threads, dtype=dtype) for name, dtype in PRECISIONS.items()}
    print("matmul 2048^3: " + ", ".join(f"{name} {rate / 1e9:.1f} GFLOP/s" for name, rate in peaks.items()))

    rows, speed_ups, gaps = [], {}, {}
    for model in MODELS:
        speeds = {p: measure_speed(build_config({"model": {"name": model}, "train": {"precision": p}}), args.threads)
                  for p in PRECISIONS}  # fmt: skip
        speed_ups[model] = speeds["fp32"].step_seconds / speeds["bf16"].step_seconds
        accuracies: dict[str, list[float]] = {}
        for precision in PRECISIONS:
            slow = speeds[precision].step_seconds / speeds["fp32"].step_seconds
            if slow > TOO_SLOW and not args.slow:
                accuracies[precision] = []
                continue
            with tempfile.TemporaryDirectory() as tmp:
                accuracies[precision] = [
                    train_run(build_config({"model": {"name": model}, "seed": seed, "threads": args.threads,
                                            "train": {"precision": precision}}), Path(tmp) / f"s{seed}")["test_accuracy"]
                    for seed in args.seeds
                ]  # fmt: skip
        for precision in PRECISIONS:
            speed, accuracy = speeds[precision], accuracies[precision]
            shown = ", ".join(f"{a:.1%}" for a in accuracy) if accuracy else f"not trained ({speed.step_seconds / speeds['fp32'].step_seconds:.0f}x slower)"  # fmt: skip
            rows.append(f"| {model} | {precision} | {64 / speed.step_seconds:,.0f} | "
                        f"{speed.flops_per_second / 1e9:.1f} | {speeds['fp32'].step_seconds / speed.step_seconds:.2f}x | {shown} |")  # fmt: skip
        if accuracies["fp32"] and accuracies["bf16"]:
            gaps[model] = statistics.mean(accuracies["bf16"]) - statistics.mean(accuracies["fp32"])
    print("\n| model | precision | training images/s | training GFLOP/s | speed vs fp32 | test accuracy (seeds "
          + " ".join(map(str, args.seeds)) + ") |\n|---|---|---|---|---|---|")  # fmt: skip
    print("\n".join(rows))
    fast = all(s >= SPEED_UP_NEEDED for s in speed_ups.values())
    print(f"\nbf16 speed-up: {', '.join(f'{m} {s:.2f}x' for m, s in speed_ups.items())} (needed: {SPEED_UP_NEEDED}x for "
          f"both); accuracy change bf16 - fp32: {', '.join(f'{m} {g:+.1%}' for m, g in gaps.items()) or 'not measured'}")  # fmt: skip
    print("verdict: " + ("bf16 is fast enough here; check the accuracy change against the seed spread above"
                         if fast else "fp32 stays the default on this machine (bf16 is not 1.5x faster for both presets)"))  # fmt: skip


if __name__ == "__main__":
    main()
