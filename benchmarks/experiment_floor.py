"""How close an experiment's training came to the machine's limit, and the fastest it could ever run.

Claim checked: an experiment's wall time is bounded below by (training FLOPs of all its cells) /
(the machine's peak fp32 matmul rate). From a results directory this script sums the counted
training FLOPs of every run (images seen x train FLOPs per image), measures the peak in the same
process, and prints that lower bound beside the measured cell time and each model's FLOP
utilisation (MFU) per thread.

    .venv/bin/python benchmarks/experiment_floor.py results/default [--jobs 2]

The peak is the median of 5 timed 2048^3 fp32 matmuls using every core (the best case for the
CPU's FMA units; real layers are smaller and reach less). Run it on an idle machine.
"""

import argparse
import os
import statistics
import time

import pandas as pd
import torch

MATMUL_SIZE = 2048


def peak_flops(threads: int, repeats: int = 5, dtype: torch.dtype = torch.float32) -> float:
    """Median matmul rate in FLOP/s with `threads` threads (of one repeat when the warm-up took over 5 s:
    bf16 on a CPU without bf16 units)."""
    torch.set_num_threads(threads)
    a, b = torch.randn(MATMUL_SIZE, MATMUL_SIZE, dtype=dtype), torch.randn(MATMUL_SIZE, MATMUL_SIZE, dtype=dtype)
    tic = time.perf_counter()
    a @ b  # warm-up
    repeats = 1 if time.perf_counter() - tic > 5 else repeats
    rates = []
    for _ in range(repeats):
        tic = time.perf_counter()
        a @ b
        rates.append(2 * MATMUL_SIZE**3 / (time.perf_counter() - tic))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results_dir")
    parser.add_argument("--jobs", type=int, default=2, help="cells trained at once when the experiment ran")
    args = parser.parse_args()
    runs = pd.read_csv(os.path.join(args.results_dir, "runs.csv"))
    runs = runs[runs["status"] == "done"].copy()
    # A branch of a wsd trunk (training/branches.py) continued the trunk from trunk_step: its images_seen and
    # wall_time_s count the trunk's steps before it too, which another branch trained. Each step once: its own.
    own_steps = runs["steps"] - (runs["trunk_step"].fillna(0) if "trunk_step" in runs else 0)
    runs["train_flops"] = own_steps * runs["batch_size"] * runs["train_flops_per_image"]
    runs["train_seconds"] = own_steps * runs["batch_size"] / runs["train_images_per_s"]
    cores = os.cpu_count() or 1
    peak_all, peak_one = peak_flops(cores), peak_flops(1)
    total = runs["train_flops"].sum()
    print(f"load average {os.getloadavg()[0]:.2f}; peak fp32 matmul {peak_all / 1e9:.1f} GFLOP/s on {cores} threads, "
          f"{peak_one / 1e9:.1f} GFLOP/s on 1")  # fmt: skip
    print(f"{len(runs)} runs, {total / 1e12:.1f} TFLOP of training: at least {total / peak_all / 60:.1f} min "
          f"at 100% of the peak; the cells' own training steps took {runs['train_seconds'].sum() / args.jobs / 60:.1f} "
          f"min with {args.jobs} jobs side by side, {total / runs['train_seconds'].sum() * args.jobs / peak_all:.1%} "
          f"of the {cores}-thread peak")  # fmt: skip
    runs["mfu_per_thread"] = runs["train_images_per_s"] * runs["train_flops_per_image"] / (peak_one * runs["threads"])
    per_model = runs.groupby("model").agg(runs=("model", "size"), threads=("threads", "median"),
                                          images_per_s=("train_images_per_s", "median"),
                                          train_flops=("train_flops", "sum"),
                                          mfu_per_thread=("mfu_per_thread", "median"))  # fmt: skip
    per_model["share_of_flops"] = per_model.pop("train_flops") / total
    print(per_model.to_string(float_format=lambda x: f"{x:,.3g}"))


if __name__ == "__main__":
    main()
