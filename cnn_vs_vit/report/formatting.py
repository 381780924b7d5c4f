"""How the report writes a number: percentages, accuracies over seeds, estimates with their intervals.
One copy of each, so that the table, the sections and the plots print the same figure the same way."""

import math

from .runs import Run
from .statistics import Estimate, format_estimate, t_interval


def p_text(p: float) -> str:
    """A p-value as the table prints it; '—' for a row that has none (exact, or not measured)."""
    return "—" if not math.isfinite(p) else f"{p:.2g}" if p >= 0.001 else "< 0.001"


def percent(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{100 * x:.1f}%"


def accuracy_text(runs: list[Run]) -> str:
    """Mean test accuracy over the runs' seeds, e.g. '91.2% (n=3)'."""
    estimate = t_interval([run.accuracy() for run in runs])
    return f"{percent(estimate.mean)} (n={estimate.n})"


def fmt(e: Estimate, digits: int = 4) -> str:
    """'mean [low, high]' in fixed point with `digits` decimals (the shift probe's errors)."""
    return format_estimate(e, f".{digits}f")


def text(e: Estimate) -> str:
    """'mean [low, high]' with 3 significant digits (the other probes' figures)."""
    return format_estimate(e, ".3g")


def effect_text(e: Estimate, separator: str = " ", no_interval: str = " (no interval)") -> str:
    """A claim's effect, signed, with its 95% interval after `separator` ('—' without a finite mean); the
    plots put the interval on a line of its own and say nothing where there is none."""
    if e.n == 0 or not math.isfinite(e.mean):
        return "—"
    interval = f"{separator}[{e.ci_low:+.3g}, {e.ci_high:+.3g}]" if e.has_interval else no_interval
    return f"{e.mean:+.3g}{interval}"
