"""Learning-rate schedules: the factor of the peak lr that training step t (0-based) takes, by train.schedule.

cosine: a linear warm-up over warmup_fraction of the steps, then cosine to zero at the last step. Its
shape depends on the budget from step 0, so each budget is a run of its own.

wsd (warmup-stable-decay: Hu et al. 2024, MiniCPM; Hägele et al. 2024, who find that a cool-down of ~20%,
linear or 1-sqrt, matches a cosine schedule tuned for each length). For a budget of B steps, with W warm-up
steps and the cool-down starting at the fork F = B - max(1, round(cooldown_fraction * B)):
    t < W        (t + 1) / W                                  linear warm-up, as cosine's
    W <= t < F   1                                            the trunk: the same for every budget
    F <= t <= B  1 - (t - F) / (B - F)  or  1 - sqrt((t - F) / (B - F))   the cool-down, linear or 1-sqrt
so steps 0..F-1 are the same for every B (a longer budget continues the trunk a shorter one forked from),
the cool-down starts at the peak (factor 1 at F, as the trunk's) and ends at 0 at step B, which is never
taken: the last step, B - 1, trains at a small positive lr.
"""

import math
from collections.abc import Callable

from ..config import TrainConfig
from ..errors import CnnvitError


def lr_factor(train: TrainConfig) -> Callable[[int], float]:
    """The factor of train.lr that step t takes, for the resolved `train` (its steps and warm-up set)."""
    if train.schedule == "cosine":
        return warmup_cosine(train.steps, train.warmup_fraction)
    return warmup_stable_decay(train.steps, train.warmup_steps, train.cooldown_fraction, train.cooldown)


def warmup_cosine(total_steps: int, warmup_fraction: float) -> Callable[[int], float]:
    warmup = max(1, round(total_steps * warmup_fraction))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor


def cooldown_start(total_steps: int, cooldown_fraction: float) -> int:
    """The fork F of a wsd budget of `total_steps`: its last step on the trunk's constant lr is F - 1. At
    least one step cools down, so that every budget, however short, ends at lr 0."""
    return total_steps - max(1, round(cooldown_fraction * total_steps))


def warmup_stable_decay(
    total_steps: int, warmup_steps: int, cooldown_fraction: float, cooldown: str
) -> Callable[[int], float]:
    fork = cooldown_start(total_steps, cooldown_fraction)
    if warmup_steps > fork:
        raise CnnvitError(
            f"train.warmup_steps={warmup_steps} does not end before the cool-down of a {total_steps}-step budget "
            f"(it starts at step {fork}); lower train.warmup_steps or give more train.steps"
        )
    shape = {"linear": lambda progress: 1 - progress, "1-sqrt": lambda progress: 1 - math.sqrt(progress)}[cooldown]

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        if step < fork:
            return 1.0
        return shape(min(1.0, (step - fork) / (total_steps - fork)))

    return factor
