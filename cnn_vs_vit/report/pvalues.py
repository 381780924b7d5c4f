"""Two-sided p-values for sign rules ("the interval excludes 0"), so a family of rows can be adjusted together.

Each p-value is the one its interval inverts: p < 0.05 exactly when that row's 95% interval excludes 0, so an
adjusted p-value (report/multiplicity.py) says whether the verdict survives the family, by the same rule.
"""

import math
from collections.abc import Callable, Mapping, Sequence

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


def p_value(estimate: Estimate) -> float:
    """Two-sided p of "the estimate is 0", the one its 95% interval inverts: from the t statistic's standard
    error and degrees of freedom (t, paired and Welch estimates: p < 0.05 exactly when the interval excludes 0);
    for another interval (a bootstrap's), the normal approximation with the interval's half-width as 1.96 se,
    which agrees with the interval where it is symmetric; NaN without an interval."""
    if not estimate.has_interval or not math.isfinite(estimate.mean):
        return math.nan
    if math.isfinite(estimate.se):
        if estimate.se == 0:
            return 0.0 if estimate.mean != 0 else 1.0
        if math.isfinite(estimate.df):
            return float(2 * stats.t.sf(abs(estimate.mean) / estimate.se, estimate.df))
    se = (estimate.ci_high - estimate.ci_low) / 2 / stats.norm.ppf(0.975)
    if se == 0:
        return 0.0 if estimate.mean != 0 else 1.0
    return float(2 * stats.norm.sf(abs(estimate.mean) / se))


def effect_p(estimates: Mapping[str, Estimate]) -> float:
    """A row's p-value by default: p_value of its "effect" estimate (the sign rule's); NaN without one (a
    threshold rule of an exact row, which is in no family)."""
    return p_value(estimates["effect"]) if "effect" in estimates else math.nan


def all_of(*parts: "str | Callable[[Mapping[str, Estimate]], float]") -> Callable[[Mapping[str, Estimate]], float]:
    """A compound rule's p-value where its verdict needs every one of `parts` (estimate names, those present, or
    p-value functions) to exclude 0: the largest of their p-values, the intersection-union test, valid at 5%
    whatever their dependence."""

    def p(estimates: Mapping[str, Estimate]) -> float:
        found = [
            part(estimates) if callable(part) else p_value(estimates[part])
            for part in parts
            if callable(part) or part in estimates
        ]
        return max(found)

    return p
