"""Means over seeds with a 95% Student-t interval, and differences between two groups of runs.

The unit of a result is one training run (a seed). Over n >= 2 seeds the interval is
mean ± t(0.975, n−1) · sd / √n (sd with n − 1 degrees of freedom); one seed gives no interval.
Two groups are compared paired (the t interval of per-key differences) only where the comparison says its
runs share something real: the same architecture on the same subset and seed, one option changed (an
ablation). A ResNet and a ViT share no variance a seed index could pair (different weights, different
initialisation streams; row 17's pairs correlated at −0.62 by chance), so they are compared unpaired, by
Welch's unequal-variance interval, even when their seeds match.
"""

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

from scipy import stats

INTERVAL_NOTE = (
    "95% Student-t interval over seeds, mean ± t(0.975, n−1)·sd/√n; a comparison within one architecture "
    "(an ablation: one option changed, same seeds and subset) is paired over (seed, data seed, subset), a "
    "ResNet against a ViT is unpaired (Welch's interval: a seed index pairs nothing between two architectures); "
    "each row states which; no interval from a single seed"
)
NAN = math.nan


@dataclass(frozen=True)
class Estimate:
    """A mean (or mean difference) with its 95% interval; ci_low/ci_high are NaN without one."""

    mean: float
    ci_low: float = NAN
    ci_high: float = NAN
    n: int = 0
    std: float = NAN
    method: str = "t"
    # The t statistic's standard error and degrees of freedom, so that pvalues.p_value inverts the interval
    # exactly (NaN where the interval is not a t interval: bootstrap, per-image, exact).
    se: float = NAN
    df: float = NAN

    @property
    def has_interval(self) -> bool:
        return math.isfinite(self.ci_low) and math.isfinite(self.ci_high)

    @property
    def excludes_zero(self) -> int:
        """+1 when the interval lies above 0, −1 below 0, 0 when it holds 0 or there is none."""
        if not self.has_interval:
            return 0
        return 1 if self.ci_low > 0 else -1 if self.ci_high < 0 else 0


MISSING = Estimate(NAN, n=0, method="none")


def t_interval(values: Sequence[float]) -> Estimate:
    """Mean, sd and 95% Student-t interval of `values` (one per seed)."""
    values = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    n = len(values)
    if n == 0:
        return MISSING
    mean = math.fsum(values) / n
    if n == 1:
        return Estimate(mean, n=1, method="t")
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    se = std / math.sqrt(n)
    half = stats.t.ppf(0.975, n - 1) * se
    return Estimate(mean, mean - half, mean + half, n, std, "t", se, n - 1)


def welch_interval(a: Sequence[float], b: Sequence[float]) -> Estimate:
    """mean(a) − mean(b) with Welch's 95% interval; no interval unless both sides have >= 2 values."""
    ea, eb = t_interval(a), t_interval(b)
    if ea.n == 0 or eb.n == 0:
        return MISSING
    mean = ea.mean - eb.mean
    n = min(ea.n, eb.n)
    if ea.n < 2 or eb.n < 2:
        return Estimate(mean, n=n, method="welch")
    va, vb = ea.std**2 / ea.n, eb.std**2 / eb.n
    se = math.sqrt(va + vb)
    if se == 0:
        return Estimate(mean, mean, mean, n, 0.0, "welch", 0.0, NAN)
    df = (va + vb) ** 2 / (va**2 / (ea.n - 1) + vb**2 / (eb.n - 1))
    half = stats.t.ppf(0.975, df) * se
    return Estimate(mean, mean - half, mean + half, n, NAN, "welch", se, df)


def difference(a: Mapping[Hashable, float], b: Mapping[Hashable, float], *, paired: bool = True) -> Estimate:
    """a − b for two groups of per-run values keyed by selection.by_key (architecture, seed, data seed, subset).

    `paired` is the comparison's decision: True for runs that share a real source of variance (an ablation
    within one architecture), which pair where the keys match: the t interval of the per-key differences;
    since the keys carry the architecture, a ResNet and a ViT never pair. False (a ResNet against a ViT, said
    where it is made): Welch over the two groups. A paired comparison whose keys differ (a run missing on one
    side) falls back to Welch, and its method says so.
    """
    if paired and a and set(a) == set(b):
        d = t_interval([a[key] - b[key] for key in sorted(a, key=repr)])
        return Estimate(d.mean, d.ci_low, d.ci_high, d.n, d.std, "paired", d.se, d.df)
    return welch_interval([a[k] for k in sorted(a, key=repr)], [b[k] for k in sorted(b, key=repr)])


def sign_verdict(estimate: Estimate, above: str = "supported", below: str = "contradicted") -> str:
    """`above` when the 95% interval lies above 0, `below` when under 0, else inconclusive (also with n = 1)."""
    if estimate.n == 0:
        return "not measured"
    return {1: above, -1: below, 0: "inconclusive"}[estimate.excludes_zero]


def sign_rule(estimates) -> str:
    """The most common rule as a function of its estimates: sign_verdict of the one called "effect"."""
    return sign_verdict(estimates["effect"])


def format_estimate(e: Estimate, spec: str) -> str:
    """'mean [low, high]' with the format `spec` (e.g. ".4f"); 'n/a' without a finite mean."""
    if e.n == 0 or not math.isfinite(e.mean):
        return "n/a"
    interval = f" [{e.ci_low:{spec}}, {e.ci_high:{spec}}]" if e.has_interval else ""
    return f"{e.mean:{spec}}{interval}"
