"""One run, every budget: with train.schedule=wsd (schedule.py), the budgets of a run are branches of one trunk.

A wsd run with train.steps = B is branch B: the trunk, steps 0..F-1 at the warm-up then constant lr that
every budget shares (F = fork_step(config) = B - round(cooldown_fraction * B)), then its own cool-down
from F to B, in its own run directory (resumable and cached like any run). The trunk's state at each fork
is kept in the results directory's trunk store (rundir.py: <results>/trunks/<trunk_key>/step_<F>.pt), and
a branch continues the trunk from the latest checkpoint at or before its fork (or from scratch): branch
B2 > B1 trains the trunk from B1's fork, not from 0. The trunk is paid once; each budget adds its cool-down.

Bit for bit (tests/test_branches.py), on one device and thread count, as a resumed run is:
- a trunk checkpoint holds what a run's checkpoint holds (weights, AdamW's moments and step counts, the
  schedule's position, images seen, training time), and that is all a step depends on: its batch and
  augmentation come from a generator seeded by (seed, step) (inputs.py), no step draws from torch's
  global generator, and steps 0..F-1 take the same lr for every budget (schedule.py);
- so a branch ends with the same weights whether it trained its trunk itself or continued a shorter
  branch's, a trunk continues the same whether or not a branch forked from it, and an interrupted branch
  resumes from its own checkpoint (or a later trunk checkpoint before its fork) to the same weights.

A branch's metrics hold what it trained itself: continuing the trunk at step s, its first logged step is past
s (its summary's trunk_step is s), and its wall_time_s includes the trunk's time to s (the time to train that
model from scratch). Its evaluations along the way (train.eval_every) are its own, the trunk's before s none.

For the runner (cnnvit run), given wsd configs (as written or resolved):
    trunk_key(config)   the trunk a branch continues: group the configs by it
    fork_step(config)   where a branch forks off its trunk (its budget resolved as training resolves it)
    train_run(config, run_dir, trunks=<results>/trunks, fork_steps=<the forks of its group>)
                        trains one branch, saving the trunk at its own fork and at each of fork_steps it passes
    train_branches(runs, trunks)
                        all of it in one process: every trunk's branches in budget order, each trunk paid once
Branches of one trunk may also train at the same time, in separate processes: a branch that still needs the
trunk takes its lock, waiting for the one that holds it, then continues from the latest fork saved; so give
each the forks of all its group (a branch trained first would otherwise save only its own).
"""

from collections.abc import Iterable
from pathlib import Path

import torch

from ..config import RunConfig
from .budget import budget_steps
from .loop import train_run
from .schedule import cooldown_start
from .trunk import trunk_key

__all__ = ["fork_step", "train_branches", "trunk_key"]


def fork_step(config: RunConfig, train_labels: torch.Tensor | None = None) -> int:
    """The step where wsd `config`'s branch leaves its trunk: its last constant-lr step is fork_step - 1. An
    epoch budget needs the training split's labels (budget.budget_steps)."""
    if config.train.schedule != "wsd":
        raise ValueError(f"a {config.train.schedule} schedule has no trunk to fork from; use train.schedule=wsd")
    return cooldown_start(budget_steps(config, train_labels), config.train.cooldown_fraction)


def train_branches(runs: Iterable[tuple[RunConfig, Path | str]], trunks: Path | str | None = None, **options) -> list:
    """Train each (wsd config, run directory) of `runs` and return their summaries, in the order given.

    Trained by trunk, each trunk's branches from the shortest budget up, each saving the trunk at every fork
    of its group, so that every trunk step is trained once. `options`: train_run's (progress, restart). Budgets
    in steps (train.steps, match_flops): an epoch budget's fork needs the training split's labels (fork_step).
    """
    runs = [(config, Path(run_dir)) for config, run_dir in runs]
    keys = [trunk_key(config) for config, _ in runs]
    forks = [fork_step(config) for config, _ in runs]
    group_forks = {key: sorted({f for k, f in zip(keys, forks) if k == key}) for key in keys}
    summaries = [None] * len(runs)
    for i in sorted(range(len(runs)), key=lambda i: (keys[i], forks[i])):
        config, run_dir = runs[i]
        summaries[i] = train_run(config, run_dir, trunks=trunks, fork_steps=group_forks[keys[i]], **options)
    return summaries
