"""Flip rates: how often a rule's verdict changes when the study is rerun with new seeds, by simulation."""

import pytest
from scipy import stats

from cnn_vs_vit.report.stability import DRAWS, flip_rate
from cnn_vs_vit.report.statistics import Estimate, sign_rule, t_interval


def interval(mean: float, sd: float, n: int = 3) -> Estimate:
    half = stats.t.ppf(0.975, n - 1) * sd / n**0.5
    return Estimate(mean, mean - half, mean + half, n, sd)


def test_with_many_seeds_a_sign_rule_flips_as_the_normal_predictive_says():
    """With n large the spread is known: truth ~ N(mean, se²) and a rerun ~ N(truth, se²), so a rerun's mean
    is N(mean, 2·se²) and the rule says 'supported' when it exceeds t(0.975)·se, 'contradicted' below −t·se."""
    n = 1000
    critical = stats.t.ppf(0.975, n - 1)
    for t_observed in (1.0, 2.5, 4.0, -3.0):
        e = interval(t_observed / n**0.5, 1.0, n)  # mean / se = t_observed
        p_supported = stats.norm.cdf((t_observed - critical) / 2**0.5)
        p_contradicted = stats.norm.cdf((-t_observed - critical) / 2**0.5)
        observed = sign_rule({"effect": e})
        stays = {"supported": p_supported, "contradicted": p_contradicted}.get(
            observed, 1 - p_supported - p_contradicted
        )
        assert flip_rate(sign_rule, {"effect": e}) == pytest.approx(1 - stays, abs=4 * (0.25 / DRAWS) ** 0.5)


def test_three_seeds_flip_more_often_than_thirty_at_the_same_t_statistic():
    """A spread estimated from 3 seeds may be far off: the same observed t is less safe with fewer seeds."""
    rates = [flip_rate(sign_rule, {"effect": interval(2 * 5.0 / n**0.5, 1.0, n)}) for n in (3, 30)]
    assert rates[0] > rates[1]


def test_an_effect_on_the_edge_flips_about_half_the_time_and_a_clear_one_almost_never():
    edge = interval(1.0, 1.0)
    edge = Estimate(edge.mean, 0.0, 2 * edge.mean, 3, 1.0)  # the interval's lower end exactly at 0
    assert 0.35 < flip_rate(sign_rule, {"effect": edge}) < 0.65  # a rerun lands on either side about as often
    assert (
        flip_rate(sign_rule, {"effect": t_interval([10.0, 10.1, 9.9])}) < 0.01
    )  # 3 seeds never rule out a wild spread


def test_exact_counts_and_single_seeds_have_no_flip_rate_and_the_simulation_is_deterministic():
    assert flip_rate(sign_rule, {"effect": Estimate(3.0, n=1, method="exact count")}) is None
    e = {"effect": t_interval([0.1, 0.5, 0.3])}
    assert flip_rate(sign_rule, e) == flip_rate(sign_rule, e)
