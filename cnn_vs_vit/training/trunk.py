"""The trunk of a wsd run (schedule.py): what its steps 0..F-1 compute, where they are kept, and when saved.

The scheme and the runner's API: branches.py. Layout of the store: rundir.py.
"""

from contextlib import ExitStack
from pathlib import Path
from typing import Self

import yaml

from .. import rundir as layout
from ..config import RunConfig, semantic_keys
from ..locks import directory_lock
from .schedule import cooldown_start

# What tells apart the branches of one trunk: their budget, their cool-down, their evaluations along the way
# (an evaluation changes no weight: tests/test_budget.py) and the budget rule they are labelled with.
# Everything else decides steps 0..F-1.
BRANCH_KEYS = frozenset(
    {
        "train.steps",
        "train.epochs",
        "train.min_steps",
        "train.max_steps",
        "train.match_flops",
        "train.cooldown_fraction",
        "train.cooldown",
        "train.eval_every",
        "train.budget",
    }
)


def trunk_key(config: RunConfig) -> str:
    """The trunk a wsd config's branch continues: run_name's form over the config less BRANCH_KEYS. Configs that
    differ only in their budget or cool-down share it, whether resolved (the loop names the store from the
    resolved config, so a changed recipe never continues an old trunk) or as written (to group them)."""
    return layout.run_name(config, leave_out=BRANCH_KEYS)


class Trunk:
    """The trunk of one resolved wsd run as its training loop uses it (rank 0 only): the checkpoint to continue
    from, the steps to save it at, and the lock that keeps a second run from training it at the same time.

    `fork_steps` are other branches' forks to save on the way (those before this run's own fork, which is
    always saved). A context manager: leaving it releases the lock.
    """

    def __init__(self, config: RunConfig, store: Path, fork_steps=()):
        self.fork = cooldown_start(config.train.steps, config.train.cooldown_fraction)
        self.key = trunk_key(config)
        self.directory = layout.TrunkDir(Path(store) / self.key)
        self.save_steps = sorted({step for step in fork_steps if 0 < step < self.fork} | {self.fork})
        self._description = {k: v for k, v in semantic_keys(config).items() if k not in BRANCH_KEYS}
        self._lock = ExitStack()

    def checkpoint_after(self, step: int) -> Path | None:
        """The trunk checkpoint to continue from instead of the run's own at `step` (0: none): the latest at or
        before the fork past `step`, or None. Until this run has taken the trunk to its fork, it holds the
        trunk's lock, waiting first for a run that holds it (which may save the very checkpoint it needs)."""
        if step >= self.fork:
            return None
        self._lock.enter_context(directory_lock(self.directory.path, wait=True))
        later = [s for s in self.directory.steps() if step < s <= self.fork]
        if later and later[-1] == self.fork:
            self.release()  # nothing of the trunk left to train
        return self.directory.checkpoint(later[-1]) if later else None

    def save(self, step: int, checkpoint: bytes | memoryview) -> None:
        """Store a checkpoint's bytes as the trunk after `step` steps (one of save_steps), unless it is there
        already; at the fork, release the trunk: what follows is this run's own cool-down."""
        if not self.directory.checkpoint(step).exists():
            if not (self.directory.path / layout.TRUNK_CONFIG).exists():
                text = yaml.safe_dump(self._description, sort_keys=True)
                layout.atomic_write_text(self.directory.path / layout.TRUNK_CONFIG, text)
            layout.atomic_write_bytes(self.directory.checkpoint(step), checkpoint)
        if step == self.fork:
            self.release()

    def release(self) -> None:
        self._lock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> bool:
        self.release()
        return False
