"""Benchmark of torch.compile on cnnvit's training step: compiled against eager, per preset, on this CPU.

Claim checked (issue 27): what `compile: true` buys a run here, and what it costs. Per preset, the
training step itself (training.step.TrainingStep with the preset's recipe, fed by training.finetune's
augmented_inputs as the time estimate's calibration feeds it; compiled as training/loop.py compiles it,
`forward=torch.compile(model)`), batch 64 of random mnist5k-shaped images (1x28x28, 10 classes):

- the median step time over 20 steps after a warm-up, eager and compiled, with 1 and 2 threads;
- the compile time in a fresh process with an empty inductor cache (first step less a compiled step),
  and again in a second fresh process that finds the first one's on-disk cache (FX graph and AOTAutograd
  caches; dynamo still traces);
- the 2048^3 fp32 matmul peak beside them (experiment_floor.peak_flops), so that the rates compare
  across machines.

    .venv/bin/python benchmarks/compile_steps.py [--presets resnet-s vit-s] [--steps 20]

Every measurement runs in its own process (threads and inductor's cache are per process); about 5-10
min on 2 cores. Run it on an idle machine: the load average is printed. It only measures; `cnnvit run
--compile auto` makes the same measurement per shape of its own cells and compiles where it pays
(cnn_vs_vit/matrix/compiling.py).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch
from experiment_floor import peak_flops  # benchmarks/ is on the path when this script runs

BATCH = 64
IMAGES = 1024  # random uint8 images the batches are drawn from
WARM_UP = 3  # steps after the first (which compiles) before the timed ones
DATASET = "mnist5k"


def measure(preset: str, threads: int, compiled: bool, steps: int) -> dict:
    """{"first_step_s", "step_s" (median of `steps` after the warm-up), "graphs", "graph_breaks"} of the
    preset's training step in this process."""
    from cnn_vs_vit.config import build_config
    from cnn_vs_vit.data.registry import dataset_shape
    from cnn_vs_vit.models import build_model
    from cnn_vs_vit.training.device import configure_threads, use_channels_last
    from cnn_vs_vit.training.finetune import augmented_inputs
    from cnn_vs_vit.training.inputs import BatchOrder
    from cnn_vs_vit.training.recipes import with_recipe
    from cnn_vs_vit.training.step import TrainingStep

    configure_threads(threads)
    cpu = torch.device("cpu")
    shape, classes = dataset_shape(DATASET)
    config = build_config({"model": {"name": preset}, "data": {"name": DATASET}, "train": {"batch_size": BATCH}})
    torch.manual_seed(0)
    model = build_model(preset, image_shape=shape, num_classes=classes, options=config.model.options)
    # As the time estimate's calibration resolves a config (estimate.measure_speed): the preset's recipe, a
    # fixed number of steps for its schedule, the flip setting as a boolean.
    train = with_recipe(config.train, model.capabilities.recipe).with_fixed_steps(1 + WARM_UP + steps)
    augment = config.augment.model_copy(update={"flip": bool(config.augment.flip)})
    config = config.model_copy(update={"train": train, "augment": augment})
    channels_last = use_channels_last(model, cpu)
    model = model.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format).train()
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (IMAGES, *shape), dtype=torch.uint8, generator=generator)
    labels = torch.randint(0, classes, (IMAGES,), generator=generator)
    inputs = augmented_inputs(images, config, device=cpu, channels_last=channels_last)
    update = TrainingStep(model, config, device=cpu, forward=torch.compile(model) if compiled else model)
    order = BatchOrder(IMAGES, BATCH, config.seed)
    times = []
    for step in range(1 + WARM_UP + steps):
        tic = time.perf_counter()
        index = order.batch(step)
        update(inputs(step, index), labels[index])
        times.append(time.perf_counter() - tic)
    from torch._dynamo.utils import counters

    return {
        "first_step_s": times[0],
        "step_s": statistics.median(times[1 + WARM_UP :]),
        "graphs": counters["stats"]["unique_graphs"],
        "graph_breaks": sum(counters["graph_break"].values()),
    }


def in_fresh_process(preset: str, threads: int, compiled: bool, steps: int, cache: str) -> dict:
    """`measure` in a new interpreter whose inductor cache is the directory `cache`."""
    environment = os.environ | {"TORCHINDUCTOR_CACHE_DIR": cache}
    arguments = json.dumps([preset, threads, compiled, steps])
    result = subprocess.run([sys.executable, __file__, "--child", arguments], check=False, env=environment,
                            capture_output=True, text=True)  # fmt: skip
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    if result.returncode or not lines:
        return {"error": (result.stderr.strip().splitlines() or [f"exit code {result.returncode}"])[-1]}
    return json.loads(lines[-1].removeprefix("RESULT "))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["resnet-s", "vit-s"])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--child", help=argparse.SUPPRESS)  # [preset, threads, compiled, steps] as JSON
    args = parser.parse_args()
    if args.child:
        print("RESULT " + json.dumps(measure(*json.loads(args.child))))
        return

    from cnn_vs_vit.matrix.calibration_cache import cpu_model

    print(f"CPU: {cpu_model()}, {os.cpu_count()} logical cores; torch {torch.__version__}; "
          f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    peaks = {threads: peak_flops(threads) for threads in (1, 2)}
    print(
        "fp32 matmul 2048^3: " + ", ".join(f"{peaks[t] / 1e9:.1f} GFLOP/s on {t} thread{'s' * (t > 1)}" for t in peaks)
    )
    steps, compiles = [], []
    for preset in args.presets:
        with tempfile.TemporaryDirectory(prefix="cnnvit-inductor-") as cache:
            tic = time.perf_counter()
            cold = in_fresh_process(preset, 2, True, args.steps, cache)  # empty cache: compiles everything
            warm = in_fresh_process(preset, 2, True, args.steps, cache)  # the first one's cache on disk
            one = in_fresh_process(preset, 1, True, args.steps, cache)
            compiled = {2: cold, 1: one}
            eager = {t: in_fresh_process(preset, t, False, args.steps, cache) for t in (1, 2)}
            print(f"{preset}: measured in {time.perf_counter() - tic:.0f} s", file=sys.stderr)
        for threads in (1, 2):
            e, c = eager[threads], compiled[threads]
            if "error" in e or "error" in c:
                steps.append(f"| {preset} | {threads} | {e.get('error', '')} {c.get('error', '')} | | | |")
                continue
            steps.append(f"| {preset} | {threads} | {e['step_s'] * 1e3:.1f} | {c['step_s'] * 1e3:.1f} | "
                         f"**{e['step_s'] / c['step_s']:.2f}x** | {c['graphs']} / {c['graph_breaks']} |")  # fmt: skip
        if any("error" in r for r in (cold, warm, eager[2])):
            compiles.append(f"| {preset} | {cold.get('error', '')} | {warm.get('error', '')} | | |")
            continue
        compile_cold, compile_warm = (r["first_step_s"] - r["step_s"] for r in (cold, warm))
        gain = eager[2]["step_s"] - cold["step_s"]
        break_even = f"{compile_cold / gain:,.0f} / {compile_warm / gain:,.0f}" if gain > 0 else "never"
        compiles.append(f"| {preset} | {compile_cold:.1f} | {compile_warm:.1f} | {one['first_step_s'] - one['step_s']:.1f} "
                        f"| {break_even} |")  # fmt: skip
    print(f"\nTraining step, batch {BATCH} of {DATASET}-shaped images, median of {args.steps} (ms per step):\n")
    print(
        "| preset | threads | eager | compiled | eager / compiled | graphs / graph breaks |\n|---|---|---|---|---|---|"
    )
    print("\n".join(steps))
    print("\nCompile time (s: the first step less a compiled step; 2 threads unless stated):\n")
    print("| preset | fresh process, empty cache | second fresh process (cache hit) | 1 thread, after those "
          "| steps to break even (empty / hit) |\n|---|---|---|---|---|")  # fmt: skip
    print("\n".join(compiles))


if __name__ == "__main__":
    main()
