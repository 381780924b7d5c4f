"""Two-sided p-values for sign rules ("the interval excludes 0"), so a family of rows can be adjusted together.

Each p-value is the one its interval inverts: p < 0.05 exactly when that row's 95% interval excludes 0, so an
adjusted p-value (report/multiplicity.py) says whether the verdict survives the family, by the same rule.
"""

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

from .statistics import Estimate


def t_p_value(estimate: Estimate) -> float:
    """Two-sided p of mean = 0 for a one-sample or paired t Estimate (df = n − 1); NaN below two seeds.

    A spread of zero gives 0 when the mean is not 0 (its interval is the point mean) and 1 when it is."""
    if estimate.method not in ("t", "paired"):
        raise ValueError(f"t_p_value reads t or paired estimates, not {estimate.method!r}; use welch_p_value")
    if estimate.n < 2 or not math.isfinite(estimate.std):
        return math.nan
    if estimate.std == 0:
        return 0.0 if estimate.mean != 0 else 1.0
    t = estimate.mean / (estimate.std / math.sqrt(estimate.n))
    return float(2 * stats.t.sf(abs(t), estimate.n - 1))


def welch_p_value(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p of mean(a) = mean(b) by Welch's t (report/statistics.py's welch_interval inverts it)."""
    if len(a) < 2 or len(b) < 2:
        return math.nan
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def bootstrap_p_value(resampled: np.ndarray) -> float:
    """Two-sided p of "the statistic is 0" from its resampled values: twice the smaller share on either side
    of 0 (a value at exactly 0 on both), counted as (1 + hits) / (1 + draws) so that no finite number of
    draws claims p = 0. It is below 0.05 when the 95% percentile interval excludes 0 (up to one draw)."""
    finite = resampled[np.isfinite(resampled)]
    if finite.size == 0:
        return math.nan
    tail = min(np.count_nonzero(finite <= 0), np.count_nonzero(finite >= 0))
    return min(1.0, 2 * (1 + tail) / (1 + finite.size))
