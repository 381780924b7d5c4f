"""Sanity check of the reach task (row 3): can the models memorise 256 of its training images?

Claim checked: the task and the models are wired so that learning is possible at all (Karpathy's "overfit
one batch"). A model that cannot fit 256 images it sees every step has a bug or a task it cannot read, and
its failure on the test set would say nothing about reach. Each model trains on the same 256 scenes, the
whole batch every step, with AdamW at its recipe's peak learning rate (training/recipes.py), no weight
decay, no augmentation, no schedule, until every training image is classified right (evaluated in eval
mode every 25 steps) or MAX_STEPS. Prints steps to 100%, the loss there, and the seconds it took.

    .venv/bin/python benchmarks/reach_overfit.py [--threads 1]

The depth-1 CNN of the study (one 64-channel block at full resolution) is left out for time: a step on
256 images costs it ~45 GFLOP, 4.6x resnet-s.
"""

import argparse
import time

import torch
import torch.nn.functional as F

from cnn_vs_vit.data.model_input import to_model_input
from cnn_vs_vit.data.reach import draw_scenes
from cnn_vs_vit.models import build_model
from cnn_vs_vit.training.recipes import RECIPES

IMAGES, MAX_STEPS, EVERY = 256, 1500, 25
MODELS = [("vit-s", {"depth": 1}), ("vit-s", {}), ("resnet-s", {})]  # depth 1 and 4 ViTs, the depth-4 CNN


def overfit(name: str, options: dict, images: torch.Tensor, labels: torch.Tensor) -> dict:
    torch.manual_seed(0)
    model = build_model(name, image_shape=tuple(images.shape[1:]), num_classes=2, options=options)
    optimiser = torch.optim.AdamW(model.parameters(), lr=RECIPES[model.arch].lr, weight_decay=0.0)
    x, start = to_model_input(images), time.perf_counter()
    for step in range(1, MAX_STEPS + 1):
        model.train()
        loss = F.cross_entropy(model(x), labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if step % EVERY == 0:
            model.eval()
            with torch.no_grad():
                accuracy = (model(x).argmax(dim=1) == labels).float().mean().item()
            if accuracy == 1.0:
                break
    return {"model": name, "options": options, "steps": step, "train_accuracy": accuracy, "loss": loss.item(),
            "seconds": time.perf_counter() - start}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    images, labels, _ = draw_scenes(IMAGES, seed=11)  # not the task's train (5) or test (6) seed
    print(f"{IMAGES} reach scenes, full batch, AdamW at the recipe's lr, evaluated every {EVERY} steps")
    for name, options in MODELS:
        r = overfit(name, options, images, labels)
        print(
            f"{name} {options or ''}: {r['train_accuracy']:.1%} of the training images after {r['steps']} steps, "
            f"loss {r['loss']:.4f}, {r['seconds']:.0f} s",
            flush=True,
        )


if __name__ == "__main__":
    main()
