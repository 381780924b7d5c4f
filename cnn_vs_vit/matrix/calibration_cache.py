"""The time estimate's calibration, cached on disk: what estimate.py measured on this machine with this cnnvit,
so that a second `cnnvit run --dry-run` prints its estimate in seconds instead of measuring for a minute.

A measurement holds for the machine and the code that made it: the file records the CPU's model, its core
count, torch's version and a digest of cnnvit's source (freshness.py's), and a file recorded for any other
machine or source is read as empty and replaced at the next write. Within it, each entry is keyed by what
was measured (estimate.py's model shape, threads, processes side by side). A file that cannot be read (not
JSON, another layout, a hand edit) is read as empty too, and rewritten: a cache never stops a run. One
machine and source at a time keeps the file small for good; two checkouts of cnnvit used in turn replace each
other's measurements (one calibration per switch).

Where it lives: $CNNVIT_CALIBRATION_CACHE, else $XDG_CACHE_HOME/cnnvit/calibration.json, else
~/.cache/cnnvit/calibration.json; CNNVIT_CALIBRATION_CACHE=off measures every time and keeps nothing. Delete
the file to measure again (say, after calibrating while another job loaded the CPU).
"""

import dataclasses
import json
import os
import platform
from pathlib import Path

import torch

from .. import rundir
from .freshness import source_digest

ENVIRONMENT = "CNNVIT_CALIBRATION_CACHE"
OFF = "off"


def cache_path() -> Path | None:
    """The calibration file, or None when caching is off."""
    chosen = os.environ.get(ENVIRONMENT)
    if chosen == OFF:
        return None
    if chosen:
        return Path(chosen)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cnnvit" / "calibration.json"


def cpu_model() -> str:
    """The CPU's model name (Linux's /proc/cpuinfo; elsewhere what the platform module knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict:
    """What a measured speed depends on besides the code and what was measured."""
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "torch": torch.__version__}


def entry(*parts: object) -> str:
    """The key of one measurement: what was measured, as JSON (estimate.py's shape key, threads, jobs...)."""
    return json.dumps(parts)


def read() -> dict[str, object]:
    """The cached measurements of this machine and source, {} when there are none (or the file is unreadable)."""
    path = cache_path()
    if path is None:
        return {}
    try:
        cached = json.loads(path.read_text())
    except (OSError, ValueError):  # missing, unreadable, not UTF-8, not JSON
        return {}
    if not isinstance(cached, dict) or cached.get("context") != _context():
        return {}
    entries = cached.get("entries")
    return entries if isinstance(entries, dict) else {}


def remember(measured: dict[str, object]) -> None:
    """Add `measured` ({entry: JSON value}) to the file, written atomically; a file that cannot be written is
    left as it is (the next run measures again)."""
    path = cache_path()
    if path is None or not measured:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        cached = {"context": _context(), "entries": read() | measured}
        rundir.atomic_write_text(path, json.dumps(cached, indent=1) + "\n")
    except OSError:
        pass


def typed(value: object, kind: type):
    """`value` read back as the float, or the dataclass of strings and floats, it was stored as; None when it is
    not one (a hand-edited entry is measured again, never a traceback later)."""
    if kind is float:
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    types = {field.name: field.type for field in dataclasses.fields(kind)}
    if not isinstance(value, dict) or set(value) != set(types):
        return None
    fields = {name: typed(value[name], float) if type_ is float else value[name] for name, type_ in types.items()}
    return kind(**fields) if all(isinstance(fields[name], type_) for name, type_ in types.items()) else None


def _context() -> dict:
    return {"machine": machine(), "source": source_digest()}
