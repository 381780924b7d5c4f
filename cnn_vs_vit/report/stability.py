"""How often a verdict would change if the study were run again with new seeds: each rule's flip rate.

A rule decides from Estimates (means over n seeds with 95% intervals). A rerun with n new seeds is
simulated for every estimate the rule reads from what its n seeds say about the truth, not from the
observed numbers taken as the truth: three seeds estimate a spread poorly, and a rate computed as if
their spread were exact came out at 0.9% for a verdict (row 12) that seeds 3-5 then flipped. With se
the observed standard error (the interval's half-width over t(0.975, n−1); exact for t and paired
intervals, a normal approximation for Welch and bootstrap ones), each draw takes
    the true se   σ = se · sqrt((n−1) / χ²(n−1))        (its posterior under the usual flat prior)
    the true mean μ ~ N(mean, σ²)
    a rerun       mean* ~ N(μ, σ²), se* = σ · sqrt(χ²(n−1) / (n−1)), interval mean* ± t(0.975, n−1) · se*
and the flip rate is the share of DRAWS reruns whose verdict differs from the verdict of the observed
numbers: the posterior predictive chance that new seeds give another verdict.

Estimates are drawn independently. Where they share seeds (the per-shift errors of one run move
together), independence overstates how often one of several intervals fails, so a rule that needs
every one of them to agree is shown at worst less stable than it is.
"""

from collections.abc import Callable, Mapping

import numpy as np
from scipy import stats

from .statistics import Estimate

DRAWS = 2000
SEED = 0  # fixed: the same numbers give the same flip rate on every rebuild
FLIP_NOTE = (
    "the share of 2,000 simulated reruns with new seeds whose verdict differs from this one, each "
    "estimate redrawn from what its seeds say about its true mean and spread (report/stability.py)"
)

Decide = Callable[[Mapping[str, Estimate]], str]


def flip_rate(decide: Decide, estimates: Mapping[str, Estimate]) -> float | None:
    """Share of simulated reruns whose verdict differs from decide(estimates); None when no estimate varies
    from seed to seed (exact counts, or a single seed: nothing to redraw)."""
    varying = {key: e for key, e in estimates.items() if e.has_interval and e.n >= 2}
    if not varying:
        return None
    observed = decide(estimates)
    rng = np.random.default_rng(SEED)
    draws = {key: _redraw(e, rng) for key, e in sorted(varying.items())}
    flips = 0
    for i in range(DRAWS):
        rerun = dict(estimates)
        for key, (means, halves) in draws.items():
            e = estimates[key]
            rerun[key] = Estimate(
                float(means[i]), float(means[i] - halves[i]), float(means[i] + halves[i]), e.n, e.std, e.method
            )
        flips += decide(rerun) != observed
    return flips / DRAWS


def _redraw(e: Estimate, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """DRAWS (mean*, half-width*) pairs of a rerun of estimate `e` with its n seeds (see the module docstring)."""
    t = stats.t.ppf(0.975, e.n - 1)
    se = (e.ci_high - e.ci_low) / 2 / t
    true_se = se * np.sqrt((e.n - 1) / rng.chisquare(e.n - 1, DRAWS))
    true_mean = e.mean + true_se * rng.standard_normal(DRAWS)
    means = true_mean + true_se * rng.standard_normal(DRAWS)
    return means, t * true_se * np.sqrt(rng.chisquare(e.n - 1, DRAWS) / (e.n - 1))


def flip_text(rate: float | None) -> str:
    """'12.3%' or, without seed-to-seed noise, why there is none."""
    if rate is None:
        return "0 (nothing here varies with the seed: exact counts, or one seed)"
    return f"{100 * rate:.1f}%" if rate >= 0.001 or rate == 0 else "< 0.1%"
