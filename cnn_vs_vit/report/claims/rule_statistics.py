"""Tests the rewritten rules of rows 1, 3, 5, 6 and 16 share: counts of successful runs (Clopper-Pearson, Fisher),
Welch's test recomputed from two Estimates, a p-value from a t or bootstrap interval, and the verdict and p-value
of a rule over two tests whose support needs both and whose contradiction needs either (rows 1 and 16).

A rule decides from Estimates (claim.py), and its `p_value(estimates)` must agree with that decision: each
function here takes the Estimates the rule reads, so that the p-value and the verdict come from the same numbers.
(Held here until the framework's statistics.py takes them: claims/ is the rules' side of the layering.)
"""

import math

from scipy import stats

from ..proportions import clopper_pearson
from ..statistics import MISSING, Estimate

ALPHA = 0.05  # every rule here tests at the level of the report's 95% intervals: no rule has a level of its own


# ------------------------------------------------------------------------ counts: runs that reached a level


def success_share(successes: int, runs: int) -> Estimate:
    """successes/runs with its exact 95% Clopper-Pearson interval (method "clopper-pearson"); MISSING without runs.
    3 of 3 has a lower bound of 29%, 0 of 3 an upper bound of 71%."""
    return clopper_pearson(successes, runs, level=1 - ALPHA) if runs else MISSING


def count(share: Estimate) -> tuple[int, int]:
    """(successes, runs) of a success_share (rounded and clipped: a simulated rerun may hand it a non-integer)."""
    return min(max(round(share.mean * share.n), 0), share.n), share.n


def fisher_p(a: Estimate, b: Estimate) -> float:
    """Two-sided Fisher exact p of the success shares `a` and `b` being equal; 1 when either has no runs."""
    if a.n == 0 or b.n == 0:
        return 1.0
    (ka, na), (kb, nb) = count(a), count(b)
    return float(stats.fisher_exact([[ka, na - ka], [kb, nb - kb]]).pvalue)


def binomial_p(share: Estimate, null: float) -> float:
    """Two-sided exact binomial p of a success_share's rate being `null`: twice its smaller tail, the test its
    Clopper-Pearson interval inverts (below ALPHA exactly when the interval excludes `null`); 1 without runs."""
    if share.n == 0:
        return 1.0
    k, n = count(share)
    tail = min(stats.binom.sf(k - 1, n, null), stats.binom.cdf(k, n, null))  # P(X >= k), P(X <= k)
    return float(min(1.0, 2 * tail))


def share_difference(a: Estimate, b: Estimate) -> Estimate:
    """a − b of two success shares with Newcombe's 95% interval (his method 10, from the two Wilson intervals)."""
    if a.n == 0 or b.n == 0:
        return MISSING
    (la, ha), (lb, hb) = wilson(*count(a)), wilson(*count(b))
    d = a.mean - b.mean
    low = d - math.sqrt((a.mean - la) ** 2 + (hb - b.mean) ** 2)
    high = d + math.sqrt((ha - a.mean) ** 2 + (b.mean - lb) ** 2)
    return Estimate(d, low, high, min(a.n, b.n), method="newcombe")


def wilson(successes: int, runs: int) -> tuple[float, float]:
    z = stats.norm.ppf(1 - ALPHA / 2)
    p = successes / runs
    centre = (p + z * z / (2 * runs)) / (1 + z * z / runs)
    half = z * math.sqrt(p * (1 - p) / runs + z * z / (4 * runs * runs)) / (1 + z * z / runs)
    return centre - half, centre + half


# ---------------------------------------------------------------------------------- means over seeds


def welch_p(a: Estimate, b: Estimate, null: float = 0.0) -> float:
    """Two-sided Welch p of mean(a) − mean(b) = `null`, from two t_interval Estimates (their mean, sd and n): the
    test whose 95% interval statistics.welch_interval gives. 1 when either side has fewer than 2 values."""
    if a.n < 2 or b.n < 2 or not (math.isfinite(a.std) and math.isfinite(b.std)):
        return 1.0
    va, vb = a.std**2 / a.n, b.std**2 / b.n
    se = math.sqrt(va + vb)
    gap = a.mean - b.mean - null
    if se == 0:
        return 0.0 if gap != 0 else 1.0
    df = (va + vb) ** 2 / (va**2 / (a.n - 1) + vb**2 / (b.n - 1))
    return float(2 * stats.t.sf(abs(gap) / se, df))


def interval_p(e: Estimate, df: float | None = None, null: float = 0.0) -> float:
    """Two-sided p of `e`'s mean being `null`, by inverting its 95% interval: a t interval with `df` degrees of
    freedom, or a normal one (a bootstrap percentile interval) when `df` is None. 1 without an interval."""
    if not e.has_interval:
        return 1.0
    quantile = stats.t.ppf(1 - ALPHA / 2, df) if df else stats.norm.ppf(1 - ALPHA / 2)
    se = (e.ci_high - e.ci_low) / (2 * quantile)
    if se == 0:
        return 0.0 if e.mean != null else 1.0
    z = abs(e.mean - null) / se
    return float(2 * (stats.t.sf(z, df) if df else stats.norm.sf(z)))


# ------------------------------------------------------------- two tests: support needs both, contradiction either


def both_or_either(first: Estimate, second: Estimate) -> str:
    """The verdict of a rule over two intervals (rows 1 and 16): supported if both lie above 0, contradicted if
    either lies below 0, inconclusive otherwise."""
    if first.excludes_zero == 1 and second.excludes_zero == 1:
        return "supported"
    if first.excludes_zero == -1 or second.excludes_zero == -1:
        return "contradicted"
    return "inconclusive"


def both_or_either_p(verdict: str, first: tuple[float, float], second: tuple[float, float]) -> float:
    """The two-sided p of both_or_either's `verdict` from its two tests, each (its p, its estimate's mean):
    support needs both (an intersection-union test: the larger p); a contradiction either below 0 (the smaller
    p of those below, Bonferroni over the two); an inconclusive row reads support's."""
    tests = (first, second)
    if verdict == "contradicted":  # only a test pointing against the claim can back it
        return min(1.0, 2 * min(p for p, mean in tests if mean < 0))
    return max(p for p, _ in tests)
