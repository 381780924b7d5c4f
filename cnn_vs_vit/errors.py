"""User-facing errors: one line that names the problem and the fix.

The CLI turns each into a message on stderr and a distinct exit code, never a traceback.
"""

import difflib
from collections.abc import Iterable

EXIT_BAD_INPUT = 2  # unknown names, bad numbers, missing files, malformed configs
EXIT_TRAINING_FAILED = 3  # the run itself failed (e.g. non-finite loss)
EXIT_BUSY = 4  # another cnnvit process is writing the same directory


class CnnvitError(Exception):
    """A problem the user can fix; `str(error)` is the whole one-line message."""

    exit_code = EXIT_BAD_INPUT


class TrainingFailed(CnnvitError):
    """Training stopped because it could not go on (e.g. the loss became non-finite)."""

    exit_code = EXIT_TRAINING_FAILED


class DirectoryBusy(CnnvitError):
    """Another cnnvit process holds the directory's lock."""

    exit_code = EXIT_BUSY


class RankError(CnnvitError):
    """Under torchrun, an error that happened on this rank and not on rank 0: its message names the rank."""


class StoppedElsewhere(CnnvitError):
    """Under torchrun, another rank stopped with an error (and printed it); this one stops too, silently."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """' (did you mean "x"?)' for the closest choice, or '' when nothing is close."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f' (did you mean "{close[0]}"?)' if close else ""


def unknown_name(kind: str, name: str, choices: Iterable[str]) -> CnnvitError:
    """The error for an unknown model, dataset, mode...: names the choices and the closest one."""
    choices = sorted(choices)
    return CnnvitError(f'unknown {kind} "{name}"{did_you_mean(name, choices)}; choose one of: {", ".join(choices)}')


def validation_message(error, where: str) -> str:
    """One line from a pydantic ValidationError: every offending key, what was wrong, what was given."""
    problems = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "value"
        given = item.get("input")
        if item["type"] == "extra_forbidden":
            problems.append(f'unknown key "{key}"')
        else:
            message = item["msg"].removeprefix("Value error, ").rstrip(".")
            problems.append(f"{key}: {message} (got {given!r})")
    return f"{where}: " + "; ".join(problems)
