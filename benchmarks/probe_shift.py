"""Benchmark of `cnnvit probe-shift`: batched shifts with reductions in forward hooks vs a naive loop.

Claim: 1,000 images x 9 diagonal shifts (0..8 px) x every feature layer, circular mode, takes under
30 s per model on a 2-core CPU, at least 5x faster than running one shift and one layer at a time.

    .venv/bin/python benchmarks/probe_shift.py            # ~3-4 min, most of it the naive loop
    .venv/bin/python benchmarks/probe_shift.py --images 200 --repeats 1   # a quick look

What it does, for resnet-s and vit-s with random weights on the 1,000 mnist5k test images (1x28x28):
  batched -- probes.shift.probe_shift: per batch of 64 images one forward pass over 64 x 9 shifted
             copies, every layer reduced to per-image errors inside its hook (median of --repeats);
  naive   -- probes.shift_naive.naive_shift_errors: for each layer, for each shift, a forward pass
             over all images capturing that layer only (same forward batch of 576 images; 1 repeat).
Both compute the same numbers; the largest difference between them is printed as a check.
The load average is printed first: on a CPU shared with another job, times rise several-fold
(each parallel kernel waits for a descheduled thread), so compare runs made on an idle machine.

Last run (idle 2-core CPU, 2 threads, torch 2.14.1, --repeats 5, 2026-11-23):
  resnet-s  7 layers  batched  7.3 s  naive 43.0 s  5.9x   max |diff| 9e-08
  vit-s     8 layers  batched  2.8 s  naive 19.9 s  7.0x   max |diff| 1e-07
On a CPU shared with a training job (load average ~3) both paths slow down 3-6x.
"""

import argparse
import os
import statistics
import time

import torch

from cnn_vs_vit.data import load_dataset, probe_sample
from cnn_vs_vit.models import build_model
from cnn_vs_vit.probes.shift import probe_shift
from cnn_vs_vit.probes.shift_naive import naive_shift_errors

MODELS = ("resnet-s", "vit-s")
SHIFTS = list(range(9))
BATCH_SIZE = 64  # images per batched forward pass, i.e. 576 shifted copies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3, help="repeats of the batched probe (median reported)")
    parser.add_argument("--skip-naive", action="store_true", help="time only the batched probe")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default, one per core)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    data = load_dataset("mnist5k")
    sample = probe_sample(data, args.images)  # the probes' own images; repeated below if more are asked
    index = torch.arange(args.images) % len(sample.indices)
    images, labels = sample.images[index], sample.labels[index]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}; {len(images)} images x {len(SHIFTS)} shifts, circular")  # fmt: skip

    results = []
    for name in MODELS:
        torch.manual_seed(0)
        model = build_model(name, image_shape=data.image_shape, num_classes=data.num_classes).eval()
        layers = len(model.feature_layers())
        times = []
        for _ in range(args.repeats):
            tic = time.perf_counter()
            batched = probe_shift(model, images, labels, shifts=SHIFTS, modes=["circular"], batch_size=BATCH_SIZE)
            times.append(time.perf_counter() - tic)
        fast = statistics.median(times)
        slow, difference = float("nan"), float("nan")
        if not args.skip_naive:
            tic = time.perf_counter()
            naive = naive_shift_errors(model, images, shifts=SHIFTS, mode="circular",
                                       batch_size=BATCH_SIZE * len(SHIFTS))  # fmt: skip
            slow = time.perf_counter() - tic
            joined = batched.rows.merge(naive, on=["layer", "shift"], suffixes=("", "_naive"))
            difference = max((joined["invariance_error"] - joined["invariance_error_naive"]).abs().max(),
                             (joined["equivariance_error"] - joined["equivariance_error_naive"]).abs().max())  # fmt: skip
        results.append((name, layers, times, fast, slow, difference))
        print(f"  {name}: batched {', '.join(f'{t:.1f}' for t in times)} s; naive {slow:.1f} s", flush=True)

    print()
    header = f"{'model':<10}{'layers':>7}{'batched (s)':>13}{'naive (s)':>11}{'speed-up':>10}{'max |diff|':>12}"
    print(header + "  under 30 s")
    for name, layers, _, fast, slow, difference in results:
        print(f"{name:<10}{layers:>7}{fast:>13.1f}{slow:>11.1f}{slow / fast:>9.1f}x{difference:>12.1e}  "
              f"{'yes' if fast < 30 else 'NO'}")  # fmt: skip


if __name__ == "__main__":
    main()
