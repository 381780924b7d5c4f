"""`cnnvit run --shard I/N`: a deterministic 1/N of an experiment's cells, for job arrays.

The cells are sorted by run-directory name and dealt round-robin: shard I of N holds the cells at
sorted positions I-1, I-1+N, I-1+2N... The partition is a function of the experiment file alone,
never of which cells are done, so every machine computes the same one and the N shards hold every
cell exactly once. Sorted names interleave models, fractions and seeds: shards cost about alike.
"""

import re
from dataclasses import dataclass

from ..errors import CnnvitError


@dataclass(frozen=True)
class Shard:
    index: int  # 1..count, as job arrays number their tasks (Slurm's --array=1-N)
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def select(self, names: list[str]) -> set[str]:
        """The names (run-directory names of cells) that fall in this shard."""
        return set(sorted(names)[self.index - 1 :: self.count])


def parse_shard(text: str) -> Shard:
    """'2/4' -> Shard(2, 4); anything else is a one-line error."""
    match = re.fullmatch(r"\s*(-?\d+)\s*/\s*(-?\d+)\s*", text)
    if not match:
        raise CnnvitError(f'--shard "{text}" is not I/N; give e.g. --shard 2/4 for the second of four shards')
    index, count = map(int, match.groups())
    if count < 1:
        raise CnnvitError(f"--shard {text}: the number of shards must be at least 1")
    if not 1 <= index <= count:
        raise CnnvitError(
            f"--shard {text}: shards of {count} are numbered 1 to {count} (for a job array numbered "
            f"from 0, pass $((SLURM_ARRAY_TASK_ID + 1))/{count})"
        )
    return Shard(index, count)
