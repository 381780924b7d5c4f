"""Ctrl-C and SIGTERM stop training at a step boundary, after a checkpoint, instead of mid-write."""

import signal
import threading

from ..errors import CnnvitError

EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


class Interrupted(CnnvitError):
    """Training stopped on a signal after saving a checkpoint; rerunning resumes it."""

    def __init__(self, signum: int):
        name = signal.Signals(signum).name
        super().__init__(f"stopped by {name} after saving a checkpoint; run the same command again to resume")
        self.exit_code = EXIT_CODES.get(signum, 1)


class GracefulStop:
    """Within the block, the first SIGINT/SIGTERM only sets `signum` (the loop stops at its next step
    boundary, after a checkpoint, raising Interrupted); a second SIGINT stops at once."""

    def __init__(self):
        self.signum: int | None = None
        self._previous: dict = {}

    def _handle(self, signum, _frame) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # second Ctrl-C: the last checkpoint stays as it was
        self.signum = signum

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():  # handlers can only be set there
            for signum in EXIT_CODES:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        return False
