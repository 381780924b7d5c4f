"""What torchrun tells each process it starts (RANK, WORLD_SIZE, LOCAL_RANK), and so who speaks.

Torch-free, so that the command line can ask without importing torch; the process group itself
is `training/distributed.py`'s.
"""

import os
from typing import NamedTuple

from .errors import CnnvitError, RankError, StoppedElsewhere


class Placement(NamedTuple):
    rank: int
    world_size: int
    local_rank: int  # which GPU of its machine the process takes


def placement() -> Placement:
    """This process's place among torchrun's workers; rank 0 of 1 when torchrun did not start it."""
    return Placement(
        int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))
    )


def is_main_process() -> bool:
    """False only in a torchrun worker of rank 1 or more: rank 0 speaks for the run."""
    return placement().rank == 0


def reports(error: CnnvitError) -> bool:
    """Whether this process prints `error`. Every rank runs the same command line and meets its
    errors alike, so rank 0 prints them; another rank prints only what happened to it alone."""
    return not isinstance(error, StoppedElsewhere) and (is_main_process() or isinstance(error, RankError))
