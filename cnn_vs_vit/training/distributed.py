"""Data-parallel training over the processes torchrun starts: one run, trained by every rank together.

`torchrun --nproc_per_node N -m cnn_vs_vit train ...` starts N copies of one command with RANK,
WORLD_SIZE and LOCAL_RANK set (across machines too, with torchrun's rendezvous flags). They train
one run together: every rank draws the same global batch and takes its slice of it,
DistributedDataParallel averages the gradients, and rank 0 alone reads and writes the run
directory; what the others need from it (a checkpoint to resume, the summary) they receive over
the process group, so the run directory need not be on a shared file system.

Without those variables, or with WORLD_SIZE=1, a process is rank 0 of 1 and every method here
returns its argument untouched: results are bit-identical to a plain `cnnvit train`.
"""

import gc
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from ..errors import EXIT_BAD_INPUT, EXIT_TRAINING_FAILED, CnnvitError, RankError, StoppedElsewhere
from ..torchrun import placement

# How long a rank waits for the others at one collective before it gives up. Long enough for the
# slowest wait of a healthy run (a rank loading a large image folder, the others waiting while
# rank 0 evaluates the test set); a rank that dies is usually noticed at once (gloo's sockets
# close, torchrun stops the other workers of its machine), and this bounds every other case.
TIMEOUT = timedelta(minutes=30)


@dataclass(frozen=True)
class World:
    """This process's place among the ranks training one run, and the few ways they agree."""

    rank: int = 0
    size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def check_batch(self, batch_size: int) -> None:
        """A one-line error unless the global batch splits evenly over the ranks."""
        if batch_size % self.size:
            raise CnnvitError(
                f"train.batch_size={batch_size} does not split evenly over {self.size} processes: the "
                f"batch size is the global batch, give a multiple of {self.size}"
            )

    def shard(self, batch: torch.Tensor) -> torch.Tensor:
        """This rank's contiguous slice of a global batch: (B, ...) -> (B / size, ...)."""
        if self.size == 1:
            return batch
        per_rank = len(batch) // self.size
        return batch[self.rank * per_rank : (self.rank + 1) * per_rank]

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        """A scalar averaged over ranks: over equal slices, the global batch's mean."""
        if self.size == 1:
            return value
        total = value.detach().float().clone()
        dist.all_reduce(total)
        return total / self.size

    def max(self, value: int) -> int:
        """The largest of every rank's `value`."""
        if self.size == 1:
            return value
        total = torch.tensor(value, dtype=torch.int64, device=self.device)
        dist.all_reduce(total, op=dist.ReduceOp.MAX)
        return int(total.item())

    def broadcast(self, value):
        """Rank 0's `value` on every rank (pickled over the process group; tensors keep their device)."""
        if self.size == 1:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0, device=self.device)
        return box[0]

    @contextmanager
    def together(self) -> Iterator[None]:
        """A block every rank leaves the same way: a CnnvitError on any rank stops them all.

        Where it happened it is raised (on ranks other than 0 as a RankError naming the rank); the
        other ranks raise StoppedElsewhere with its exit code, instead of waiting for a rank that
        is gone at their next collective."""
        if self.size == 1:
            yield
            return
        try:
            yield
        except CnnvitError as error:
            self.max(error.exit_code)
            if self.is_main or isinstance(error, RankError):
                raise
            raise _on_rank(self.rank, str(error), error.exit_code) from None
        code = self.max(0)
        if code:
            stopped = StoppedElsewhere("another rank stopped with an error (printed above)")
            stopped.exit_code = code
            raise stopped

    def data_parallel(self, model: torch.nn.Module) -> torch.nn.Module:
        """What training calls: `model` itself on one process; over several, DistributedDataParallel
        around it (gradients averaged over ranks during backward; `model` keeps its parameters).

        BatchNorm: on GPUs it becomes SyncBatchNorm (same parameters and state-dict keys), whose
        statistics are the global batch's, as on one process. torch has no SyncBatchNorm on the
        CPU: there each rank normalises by its own slice's statistics (the running statistics
        saved are rank 0's), so a ResNet trained on N CPU processes matches one process within
        seed noise, not to float precision; a ViT (LayerNorm) matches to float precision."""
        if self.size == 1:
            return model
        if self.device.type == "cuda":
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)  # replaces the modules inside `model`
        return DistributedDataParallel(model, device_ids=[self.device.index] if self.device.type == "cuda" else None)


@contextmanager
def joined(device: torch.device) -> Iterator[World]:
    """This process's World for the block: rank 0 of 1 on `device`, or, started by torchrun among
    several, a member of the process group (NCCL on CUDA with one GPU per local rank, gloo on the
    CPU) that it leaves afterwards."""
    rank, size, local_rank = placement()
    if size == 1:
        yield World(device=device)
        return
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise _on_rank(
                rank,
                f"local rank {local_rank} has no GPU of its own ({torch.cuda.device_count()} visible); "
                "start at most one process per GPU (torchrun --nproc_per_node)",
                EXIT_BAD_INPUT,
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    elif device.type == "cpu":
        backend = "gloo"
    else:
        raise CnnvitError(
            f"torchrun runs cnnvit on CUDA (NCCL) or on the CPU (gloo), not on {device.type}; "
            "add device=cpu or device=cuda"
        )
    dist.init_process_group(backend, timeout=TIMEOUT)  # rendezvous from torchrun's MASTER_ADDR and MASTER_PORT
    try:
        yield World(rank, size, device)
    except RuntimeError as error:  # DistError, or gloo's plain RuntimeError from inside DDP's backward
        if not (isinstance(error, dist.DistError) or "gloo" in str(error)):
            raise  # not the process group's: a bug, with its traceback
        # A rank died, the network failed or a collective timed out. The cause is the message's
        # first sentence, without the source location gloo puts first ("[.../pair.cc:545] ").
        message = re.sub(r"^\[[^\]]*\]\s*", "", str(error).strip())
        cause = message.split(". ")[0].split("\n")[0] or type(error).__name__
        raise _on_rank(
            rank,
            f"lost contact with the other ranks ({cause}); once they have stopped, run the same "
            "command again to resume from the last checkpoint",
            EXIT_TRAINING_FAILED,
        ) from None
    finally:
        # What training left in reference cycles is freed while the interpreter is whole, before the group
        # goes: left to the exit, a gloo rank aborted now and then after finishing its run (SIGABRT,
        # "terminate called without an active exception"): 2 of ~100 two-process runs of the torchrun test's
        # command on a 2-core CPU, 0 of 120 with this collection.
        gc.collect()
        dist.destroy_process_group()


def _on_rank(rank: int, message: str, exit_code: int) -> CnnvitError:
    """An error of this rank alone: rank 0's is a plain CnnvitError, another rank's names it."""
    error = CnnvitError(message) if rank == 0 else RankError(f"rank {rank}: {message}")
    error.exit_code = exit_code
    return error
