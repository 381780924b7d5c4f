"""Counts of successes: the exact interval and the rerun a count implies."""

import numpy as np
import pytest
from scipy import stats

from cnn_vs_vit.report.proportions import clopper_pearson, rerun_successes


def test_three_of_three_leaves_the_rate_as_low_as_29_percent():
    e = clopper_pearson(3, 3)
    assert e.mean == 1.0 and e.ci_high == 1.0
    assert e.ci_low == pytest.approx(0.025 ** (1 / 3)) == pytest.approx(0.2924, abs=1e-4)  # P(3 of 3 | p) = p³
    assert clopper_pearson(0, 3).ci_high == pytest.approx(1 - e.ci_low)  # symmetric in successes and failures


@pytest.mark.parametrize("n", [3, 5, 10])
def test_the_interval_covers_every_rate_at_least_95_percent_of_the_time(n):
    """Exact coverage: the sum of binomial probabilities of the counts whose interval holds p."""
    intervals = [clopper_pearson(k, n) for k in range(n + 1)]
    for p in np.linspace(0.01, 0.99, 99):
        covered = sum(stats.binom.pmf(k, n, p) for k, e in enumerate(intervals) if e.ci_low <= p <= e.ci_high)
        assert covered >= 0.95 - 1e-12


def test_a_rerun_of_three_successes_fails_somewhere_28_percent_of_the_time():
    """Jeffreys posterior Beta(3.5, 0.5): P(3 of 3 again) = E[p³] = B(6.5, 0.5) / B(3.5, 0.5) = 0.7219."""
    reruns = rerun_successes(3, 3, 3, 40000, np.random.default_rng(0))
    assert np.mean(reruns == 3) == pytest.approx(0.721875, abs=0.01)
    assert np.mean(reruns) / 3 == pytest.approx(3.5 / 4, abs=0.01)  # the posterior mean rate
    assert rerun_successes(3, 3, 10, 100, np.random.default_rng(0)).max() <= 10
