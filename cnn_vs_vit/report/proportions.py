"""Counts of successes (k of n runs reach a level, pass a check): an exact interval, and what a rerun would count.

A share over few runs is bounded and discrete; a normal or t interval around k/n can leave [0, 1] and collapses
to a point at 0 or n successes. The Clopper-Pearson interval inverts the binomial test: its ends are the
values of p under which k or a more extreme count has probability 2.5%, so it holds [0, 1] and has at least
95% coverage for every p. Three successes of three leave p as low as 0.025^(1/3) = 29.2%.
"""

import numpy as np
from scipy import stats

from .statistics import Estimate


def clopper_pearson(k: int, n: int, level: float = 0.95) -> Estimate:
    """k/n with its exact (Clopper-Pearson) interval, as an Estimate (a share in [0, 1]; no interval at n = 0)."""
    if n == 0:
        return Estimate(float("nan"), n=0, method="clopper-pearson")
    tail = (1 - level) / 2
    low = 0.0 if k == 0 else float(stats.beta.ppf(tail, k, n - k + 1))
    high = 1.0 if k == n else float(stats.beta.ppf(1 - tail, k + 1, n - k))
    return Estimate(k / n, low, high, n, method="clopper-pearson")


def rerun_successes(k: int, n: int, n_rerun: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """`size` simulated success counts of a rerun with `n_rerun` runs, given k of n observed: ints, shape (size,).

    Each draw takes a success rate p from its Jeffreys posterior Beta(k + 1/2, n − k + 1/2), then counts
    Binomial(n_rerun, p). Resampling the observed runs would give 3 of 3 every time (a certainty three runs do
    not provide); the posterior gives a 3-of-3 outcome a mean rate of 3.5/4 and a rerun of three a 27.8% chance
    of at least one failure. Jeffreys' prior is the invariant one for a binomial rate: it adds half a success
    and half a failure, less than the uniform prior's one each (which would pull 3 of 3 to a mean of 0.8), and
    its intervals have close to nominal coverage down to small n (Brown, Cai & DasGupta 2001)."""
    p = rng.beta(k + 0.5, n - k + 0.5, size=size)
    return rng.binomial(n_rerun, p)


def chance_all_recur(n: int) -> float:
    """The chance that a rerun of n runs repeats an outcome all n observed runs shared (n of n successes), from
    the Jeffreys posterior of its rate: E[p^n] under Beta(n + 1/2, 1/2), a beta-binomial mass. At n = 3, 72.2%:
    a rerun breaks a 3-of-3 outcome 27.8% of the time."""
    return float(stats.betabinom.pmf(n, n, n + 0.5, 0.5))
