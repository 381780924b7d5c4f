"""Training throughput of cnnvit against a textbook PyTorch loop, and model FLOP utilisation.

Claim checked (performance issue): on this 2-core CPU cnnvit trains resnet-s and vit-s at least
2x faster than the textbook loop on the same model and data, at >= 40% model FLOP utilisation.

The textbook loop is what a tutorial writes: a torch Dataset of PIL images with per-sample
torchvision transforms (ToTensor, RandomAffine for the same ±2 px translation, Normalize), a
DataLoader (batch 64, shuffle, default workers), NCHW tensors, torch's default AdamW and thread
count. cnnvit's is `train_run` (uint8 data resident as one tensor, indexed per batch, batched
augmentation on tensors, channels_last for the ResNet), timed by its own `train_images_per_s`
(the training loop with its checkpoints and metrics; start-up and evaluation not).
Both run `STEPS` steps of 64 images on full mnist5k with 2 threads, alternately, `--repeats`
times; medians are reported with the fp32 matmul peak measured in the same process.

    .venv/bin/python benchmarks/train_vs_textbook.py [--repeats 3] [--steps 150]

Run it on an idle machine: another job on the CPU changes every number.
"""

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from experiment_floor import peak_flops  # noqa: E402  (same folder)
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from cnn_vs_vit.config import build_config
from cnn_vs_vit.data import load_dataset
from cnn_vs_vit.models import build_model
from cnn_vs_vit.training import train_run
from cnn_vs_vit.training.recipes import RECIPES

MODELS = ("resnet-s", "vit-s")
BATCH = 64
THREADS = 2


class DigitImages(Dataset):
    """mnist5k as a tutorial holds it: PIL images, transformed one at a time."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        self.images = [transforms.functional.to_pil_image(image) for image in images]
        self.labels = labels.tolist()
        side = images.shape[-1]
        self.transform = transforms.Compose([
            transforms.RandomAffine(0, translate=(2 / side, 2 / side)),
            transforms.ToTensor(),
            transforms.Normalize((0.5,), (0.5,)),
        ])  # fmt: skip

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        return self.transform(self.images[index]), self.labels[index]


def textbook_images_per_s(model_name: str, steps: int) -> float:
    dataset = load_dataset("mnist5k")
    loader = DataLoader(DigitImages(dataset.train_images, dataset.train_labels), batch_size=BATCH, shuffle=True)
    torch.manual_seed(0)
    model = build_model(model_name, image_shape=dataset.image_shape, num_classes=dataset.num_classes).train()
    recipe = RECIPES[model.arch]
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    done, images, tic = 0, 0, time.perf_counter()
    while done < steps:
        for x, y in loader:
            loss = F.cross_entropy(model(x), y, label_smoothing=0.1)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            done, images = done + 1, images + len(y)
            if done == steps:
                break
    return images / (time.perf_counter() - tic)


def cnnvit_summary(model_name: str, steps: int) -> dict:
    config = build_config({}, [f"model.name={model_name}", f"train.steps={steps}", f"threads={THREADS}"])
    with tempfile.TemporaryDirectory() as tmp:
        return train_run(config, Path(tmp) / "run")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=150)
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    print(f"load average {os.getloadavg()[0]:.2f}; torch {torch.__version__}; {THREADS} threads; "
          f"{args.steps} steps x {BATCH} images; {args.repeats} repeats")  # fmt: skip
    for model_name in MODELS:
        ours, textbook, flops = [], [], 0
        for _ in range(args.repeats):
            summary = cnnvit_summary(model_name, args.steps)
            ours.append(summary["train_images_per_s"])
            flops = summary["train_flops_per_image"]
            textbook.append(textbook_images_per_s(model_name, args.steps))
        torch.set_num_threads(THREADS)
        peak = peak_flops(THREADS)
        mine, theirs = statistics.median(ours), statistics.median(textbook)
        print(f"{model_name:9s} cnnvit {mine:6.0f} img/s (runs: {', '.join(f'{v:.0f}' for v in ours)})  "
              f"textbook {theirs:6.0f} img/s (runs: {', '.join(f'{v:.0f}' for v in textbook)})  "
              f"ratio {mine / theirs:.2f}x  MFU {mine * flops / peak:.1%} of {peak / 1e9:.1f} GFLOP/s "
              f"(textbook {theirs * flops / peak:.1%})")  # fmt: skip


if __name__ == "__main__":
    main()
