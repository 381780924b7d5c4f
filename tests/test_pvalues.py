"""p-values for sign rules: each is below 0.05 exactly when its 95% interval excludes 0."""

import numpy as np
import pytest
from scipy import stats

from cnn_vs_vit.report.pvalues import bootstrap_p_value, t_p_value, welch_p_value
from cnn_vs_vit.report.statistics import Estimate, difference, t_interval, welch_interval


def test_the_t_p_value_is_below_005_exactly_when_the_t_interval_excludes_0():
    rng = np.random.default_rng(0)
    for _ in range(300):
        n = int(rng.integers(2, 8))
        e = t_interval(list(rng.normal(0.8, 1.0, n)))
        assert (t_p_value(e) < 0.05) == (e.excludes_zero != 0)


def test_an_interval_whose_end_touches_0_has_p_005():
    on_edge = Estimate(stats.t.ppf(0.975, 2) / 3**0.5, n=3, std=1.0, method="t")  # mean = t(0.975, 2) · sd / √3
    assert t_p_value(on_edge) == pytest.approx(0.05)


def test_paired_estimates_read_the_same_way_and_welch_has_its_own():
    paired = difference({0: 1.0, 1: 1.4, 2: 0.9}, {0: 0.2, 1: 0.5, 2: 0.4})
    assert paired.method == "paired" and t_p_value(paired) < 0.05
    a, b = [0.71, 0.74, 0.78], [0.61, 0.66, 0.60]
    assert (welch_p_value(a, b) < 0.05) == (welch_interval(a, b).excludes_zero != 0)
    with pytest.raises(ValueError, match="welch_p_value"):
        t_p_value(welch_interval(a, b))


def test_a_spread_of_zero_and_a_single_seed():
    assert t_p_value(t_interval([0.3, 0.3, 0.3])) == 0.0
    assert t_p_value(t_interval([0.0, 0.0])) == 1.0
    assert np.isnan(t_p_value(t_interval([0.3])))


def test_the_bootstrap_p_value_never_claims_0_and_is_1_for_a_symmetric_spread():
    assert bootstrap_p_value(np.full(1999, 0.2)) == pytest.approx(2 / 2000)
    assert bootstrap_p_value(np.linspace(-1, 1, 2001)) == 1.0
    resampled = np.random.default_rng(1).normal(2.0, 1.0, 4000)  # P(≤ 0) = 2.3%: the interval just excludes 0
    assert bootstrap_p_value(resampled) == pytest.approx(2 * 0.0228, abs=0.01)


def test_p_value_inverts_the_interval_of_t_paired_and_welch_estimates():
    from cnn_vs_vit.report.pvalues import all_of, p_value
    from cnn_vs_vit.report.statistics import t_interval, welch_interval

    for e in (t_interval([0.1, 0.3, 0.2]), t_interval([-0.1, 0.3, 0.2]), welch_interval([1, 2, 3], [0, 0.5, 1.2])):
        assert (p_value(e) < 0.05) == (e.excludes_zero != 0)
    a, b = t_interval([0.1, 0.3, 0.2]), t_interval([-0.1, 0.3, 0.2])
    assert all_of("a", "b")({"a": a, "b": b}) == max(p_value(a), p_value(b))
