"""Benchmark of `cnnvit train` at the default budget: accuracy and wall time of resnet-s and vit-s.

Claim: on full mnist5k with the default budget (600 steps of 64 images, the same for both),
resnet-s reaches >= 97% and vit-s >= 90% test accuracy, each run in under 2 minutes on a 2-core CPU.

    .venv/bin/python benchmarks/train_default.py [--seeds 0 1 2]    # ~2.5 min per seed

Runs train into a temporary directory (nothing is kept); the table gives test accuracy, wall time
of the training loop, images per second and the training FLOP rate. Times rise several-fold when
another job shares the CPU: the load average is printed so runs can be compared fairly.
"""

import argparse
import os
import statistics
import tempfile
from pathlib import Path

from cnn_vs_vit.config import build_config
from cnn_vs_vit.training import train_run

MODELS = ("resnet-s", "vit-s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        for model in MODELS:
            rows = [train_run(build_config({}, [f"model.name={model}", f"seed={seed}"]), Path(tmp) / f"{model}-{seed}")
                    for seed in args.seeds]  # fmt: skip
            accuracy = [r["test_accuracy"] for r in rows]
            wall = [r["wall_time_s"] for r in rows]
            speed = [r["train_images_per_s"] for r in rows]
            gflops = statistics.median(speed) * rows[0]["train_flops_per_image"] / 1e9
            print(f"{model:9s} accuracy {' '.join(f'{a:.1%}' for a in accuracy)}  wall median {statistics.median(wall):.0f} s "
                  f"(max {max(wall):.0f} s)  {statistics.median(speed):.0f} img/s  {gflops:.1f} GFLOP/s")  # fmt: skip
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
