"""Flip rates: how often a rule's verdict changes when the study is rerun with new seeds, by simulation."""

import pytest
from scipy import stats

from cnn_vs_vit.report.stability import DRAWS, flip_rate
from cnn_vs_vit.report.statistics import Estimate, sign_rule, t_interval


def interval(mean: float, sd: float, n: int = 3) -> Estimate:
    half = stats.t.ppf(0.975, n - 1) * sd / n**0.5
    return Estimate(mean, mean - half, mean + half, n, sd)


def test_a_sign_rule_flips_as_often_as_the_noncentral_t_says():
    """A rerun's t statistic is noncentral t (df n - 1, noncentrality mean / (sd / sqrt n)); the rule stays
    'supported' exactly when it exceeds t(0.975, n - 1)."""
    for mean, sd, n in ((1.0, 1.0, 3), (2.0, 1.0, 3), (0.5, 1.0, 6), (3.0, 1.0, 3)):
        e = interval(mean, sd, n)
        critical = stats.t.ppf(0.975, n - 1)
        stays = stats.nct.sf(critical, n - 1, mean / (sd / n**0.5))
        observed = sign_rule({"effect": e})
        expected = 1 - stays if observed == "supported" else stays  # + a negligible chance of 'contradicted'
        assert flip_rate(sign_rule, {"effect": e}) == pytest.approx(expected, abs=4 * (0.25 / DRAWS) ** 0.5)


def test_an_effect_on_the_edge_flips_half_the_time_and_a_clear_one_never():
    edge = interval(1.0, 1.0)
    edge = Estimate(edge.mean, 0.0, 2 * edge.mean, 3, 1.0)  # the interval's lower end exactly at 0
    assert 0.35 < flip_rate(sign_rule, {"effect": edge}) < 0.65  # a rerun lands on either side about as often
    assert flip_rate(sign_rule, {"effect": t_interval([10.0, 10.1, 9.9])}) == 0.0


def test_exact_counts_and_single_seeds_have_no_flip_rate_and_the_simulation_is_deterministic():
    assert flip_rate(sign_rule, {"effect": Estimate(3.0, n=1, method="exact count")}) is None
    e = {"effect": t_interval([0.1, 0.5, 0.3])}
    assert flip_rate(sign_rule, e) == flip_rate(sign_rule, e)
