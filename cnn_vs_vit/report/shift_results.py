"""Reading the shift probe's results of a run (probes/shift.csv, shift_summary.json), in circular mode, where
the symmetry is exact: errors per layer and shift, the shifts and strides probed, prediction consistency; and
what the rows measured by it share (rows 2, 14, 15a–c, 16): the tolerance of an exact symmetry and the rule of
the ViT-only rows (rows 15a–c's measurement of the last block's error: claims/equivariance_causes.py). Errors are
the probe's normalised errors (unitless)."""

import math
from collections.abc import Mapping

import numpy as np

from .runs import Run
from .selection import by_key
from .statistics import Estimate, t_interval

MODE = "circular"
ZERO_TOLERANCE = 1e-4  # an error below this is "≈ 0" (float32 round-off of an exact symmetry is ~1e-7)
SHIFT_ANCHOR = (
    "Zhang 2019 (Making convolutional networks shift-invariant again): prediction consistency under "
    "diagonal shifts; strided CNNs are not shift-invariant (Azulay & Weiss 2019)."
)
PROBE_HINT = "run cnnvit probe-shift RUN_DIR on them"


def rows(run: Run, layer: str | None = None) -> "np.ndarray":
    table = run.shift_rows[run.shift_rows["mode"] == MODE]
    return table if layer is None else table[table["layer"] == layer]


def value(run: Run, layer: str, shift: int, column: str) -> float:
    """One number of the run's shift.csv (circular mode); NaN when that layer/shift was not probed."""
    table = rows(run, layer)
    hit = table[table["shift"] == shift]
    return float(hit[column].iloc[0]) if len(hit) else math.nan


def shifts(runs: list[Run], layer: str) -> list[int]:
    """Shifts > 0 probed for `layer` in every run."""
    common = None
    for run in runs:
        found = set(int(s) for s in rows(run, layer)["shift"] if s > 0)
        common = found if common is None else common & found
    return sorted(common or [])


def total_stride(runs: list[Run]) -> int:
    """The CNN's total stride: the largest grid stride of its map layers."""
    strides = [s for run in runs for s in rows(run).query("kind == 'map'")["grid_stride"].dropna()]
    return int(max(strides)) if strides else 1


def patch_size(runs: list[Run]) -> int | None:
    strides = [s for run in runs for s in rows(run).query("kind == 'tokens'")["grid_stride"].dropna()]
    return int(max(strides)) if strides else None


def last_block(run: Run) -> str:
    tokens = rows(run).query("kind == 'tokens'")
    return str(tokens.sort_values("layer_index")["layer"].iloc[-1])


def layer_estimate(runs: list[Run], layer, shift: int, column: str = "equivariance_error") -> Estimate:
    """Mean over seeds with a t interval; with a single run, the probe's per-image 95% interval."""
    layer_of = layer if callable(layer) else (lambda run: layer)
    values = by_key(runs, lambda run: value(run, layer_of(run), shift, column))
    if len(values) == 1:
        run = runs[0]
        prefix = column.removesuffix("_error")
        low, high = (value(run, layer_of(run), shift, f"{prefix}_ci_{side}") for side in ("low", "high"))
        return Estimate(next(iter(values.values())), low, high, 1, method="per-image interval, 1 seed")
    return t_interval(list(values.values()))


def consistency(run: Run) -> float:
    """Share of test images whose prediction is the same under every pair of probed shifts (Zhang 2019)."""
    return float(run.shift_summary["predictions"][MODE]["consistency"]["mean"])


def threshold_rule(estimates: Mapping[str, Estimate]) -> str:
    """The verdict of rows 14 and 15a–c: supported if every error's interval lies above ZERO_TOLERANCE,
    contradicted if every one lies under it; not measured without an error to judge."""
    errors = list(estimates.values())
    if not errors or any(e.n == 0 for e in errors):
        return "not measured"
    if all(e.has_interval and e.ci_low > ZERO_TOLERANCE for e in errors):
        return "supported"
    if all(e.has_interval and e.ci_high < ZERO_TOLERANCE for e in errors):
        return "contradicted"
    return "inconclusive"
