"""One writer per directory: `cnnvit train` locks its run directory, `cnnvit run` its results directory.

Shards of one experiment (`cnnvit run --shard I/N`) share their results directory: each takes
the lock shared, so they run at once (their cells' run directories are each locked by their
trainer) while an unsharded `cnnvit run`, which takes it exclusively, waits for them or they for it.

The lock is an advisory `flock` on DIR/.lock, which the kernel releases when its holder exits or
dies, so a lock left by a killed process is never stale: the next command takes it over. The
file itself only tells who holds it (pid, host, command, start time). Without `fcntl` (Windows)
there is no locking.
"""

import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import DirectoryBusy

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

LOCK = ".lock"


@contextmanager
def directory_lock(
    directory: Path,
    *,
    shared: bool = False,
    wait: bool = False,
    on_wait: Callable[[str], None] | None = None,
    on_take_over: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Hold DIR/.lock for the block, exclusively or `shared` with other shared holders. Busy:
    DirectoryBusy naming the holder, or with `wait`, block until it is free (`on_wait(holder)` is
    told first). `on_take_over(holder)` hears of a lock file whose holder died without finishing
    (not told to shared holders: the holder named in the file may be another one still running)."""
    if fcntl is None:
        yield
        return
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe(_read(fd))
            if not wait:
                raise DirectoryBusy(
                    f"{directory} is in use by {holder}; wait until it ends, or rerun with --wait to start when it does"
                ) from None
            if on_wait:
                on_wait(holder)
            fcntl.flock(fd, mode)
        previous = _read(fd)
        if previous and on_take_over and not shared:  # a holder that released cleanly empties the file
            on_take_over(_describe(previous))
        _write(
            fd,
            {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "command": " ".join(sys.argv),
                "since": time.strftime("%Y-%m-%d %H:%M:%S"),
            },
        )
        try:
            yield
        finally:
            _write(fd, None)
    finally:
        os.close(fd)  # releases the flock


def _read(fd: int) -> dict | None:
    os.lseek(fd, 0, os.SEEK_SET)
    try:
        return json.loads(os.read(fd, 4096) or b"null")
    except ValueError:
        return None


def _write(fd: int, holder: dict | None) -> None:
    os.ftruncate(fd, 0)
    if holder is not None:
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps(holder).encode())


def _describe(holder: dict | None) -> str:
    if not holder:
        return "another cnnvit process"
    return f"pid {holder.get('pid')} on {holder.get('host')} since {holder.get('since')} ({holder.get('command')})"
