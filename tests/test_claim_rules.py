"""The rewritten rules' statistics as facts: exact counts, Welch's test agreeing with Welch's interval, each
rule's p_value agreeing with its verdict, and uniform attention's distance as the probe measures it."""

import math

import pytest

from cnn_vs_vit.probes.attention_distance import patch_distances
from cnn_vs_vit.report.claims import row_01_inductive_bias as row1
from cnn_vs_vit.report.claims import row_03_global_context as row3
from cnn_vs_vit.report.claims import row_05_scalability as row5
from cnn_vs_vit.report.claims import row_06_dynamic_mixing as row6
from cnn_vs_vit.report.claims import row_16_invariance_from_data as row16
from cnn_vs_vit.report.claims.rule_statistics import (
    ALPHA,
    binomial_p,
    fisher_p,
    interval_p,
    share_difference,
    success_share,
    welch_p,
)
from cnn_vs_vit.report.statistics import Estimate, t_interval, welch_interval


def test_three_successes_of_three_have_a_clopper_pearson_lower_bound_of_29_percent():
    assert success_share(3, 3).ci_low == pytest.approx(0.292, abs=1e-3)  # (α/2)^(1/3)
    assert success_share(0, 3).ci_high == pytest.approx(1 - 0.292, abs=1e-3)


def test_fisher_exact_p_of_six_of_six_against_none_is_one_over_462_twice():
    assert fisher_p(success_share(6, 6), success_share(0, 6)) == pytest.approx(2 / 924)  # 2 / C(12, 6)
    assert fisher_p(success_share(3, 3), success_share(0, 3)) == pytest.approx(0.1)  # no 3-run cell decides alone


def test_the_binomial_p_is_below_alpha_exactly_when_the_clopper_pearson_interval_excludes_the_null():
    for runs in (3, 6, 12):
        for successes in range(runs + 1):
            share = success_share(successes, runs)
            assert (binomial_p(share, 0.5) < ALPHA) == (not share.ci_low <= 0.5 <= share.ci_high)
    assert binomial_p(success_share(6, 6), 0.5) == pytest.approx(2 / 64)


def test_newcombes_interval_holds_the_difference_and_stays_within_minus_one_and_one():
    d = share_difference(success_share(5, 6), success_share(1, 6))
    assert d.mean == pytest.approx(4 / 6) and -1 <= d.ci_low < d.mean < d.ci_high <= 1


@pytest.mark.parametrize("a, b", [([1.0, 1.2, 1.1], [0.2, 0.3, 0.1]), ([1.0, 1.5, 0.4], [0.9, 1.1, 0.5, 0.8])])
def test_welch_p_is_below_alpha_exactly_when_welchs_interval_excludes_the_null(a, b):
    interval, p = welch_interval(a, b), welch_p(t_interval(a), t_interval(b))
    assert (p < ALPHA) == (interval.excludes_zero != 0)
    for null in (interval.ci_low, interval.ci_high):  # at an end of the 95% interval p is exactly 5%
        assert welch_p(t_interval(a), t_interval(b), null=null) == pytest.approx(ALPHA)


def test_interval_p_inverts_a_t_interval():
    e = t_interval([0.1, 0.3, 0.2, 0.25])
    assert interval_p(e, df=3, null=e.ci_low) == pytest.approx(ALPHA)


def test_uniform_attention_distance_is_the_mean_distance_between_the_probes_patch_centres():
    for grid, patch in (((4, 4), 7), ((2, 3), 5)):
        assert row1.uniform_distance(*grid, patch) == pytest.approx(float(patch_distances(grid, patch).mean()))
    assert row1.uniform_distance(4, 4, 7) == pytest.approx(14.056, abs=1e-3)  # the init rows' 14.05-14.07 px


def row3_counts(vit, cnn, deep, everywhere=None):
    """Row 3's estimates from (successes, runs), the control at chance (the counts' values as in test_claims.py)."""
    vit_all, cnn_all = everywhere or (vit, cnn)
    return {"vit shallow": success_share(*vit), "cnn shallow": success_share(*cnn), "cnn deep": success_share(*deep),
            "vit all": success_share(*vit_all), "cnn all": success_share(*cnn_all),
            "control": Estimate(0.5, 0.48, 0.52, 3)}  # fmt: skip


def test_row_3s_p_value_of_support_is_the_larger_of_its_two_contrasts():
    assert row3.p_value(row3_counts((6, 6), (0, 6), (6, 6))) == pytest.approx(2 / 924)
    assert row3.p_value(row3_counts((6, 6), (0, 6), (1, 6))) == pytest.approx(1.0)  # the CNN does not need depth


@pytest.mark.parametrize(
    "estimates, p",
    [
        (row3_counts((0, 6), (5, 6), (6, 6)), 12 / 792),  # (a) reversed: the shallow CNN learns, Fisher p 0.015
        (row3_counts((0, 6), (0, 6), (6, 6), everywhere=((0, 12), (6, 12))), 2 * 924 / 134596),  # (c) reversed
        (row3_counts((6, 6), (6, 6), (6, 6)), 2 / 64),  # a shallow CNN needs no depth: 6 of 6 against 1/2
    ],
)
def test_row_3s_p_value_of_a_contradiction_is_that_of_the_test_that_gave_it(estimates, p):
    """The support's p (the larger of (a)'s and (b)'s) is 1 in each case; a contradicted verdict gets the p of the
    tests its branch reads, Bonferroni over the three it may pick from (the last, 3 · 2/64 = 0.094, then does not
    hold at 5% even alone)."""
    assert row3.decide(estimates) == "contradicted"
    assert row3.p_value(estimates) == pytest.approx(3 * p)


def test_row_6s_p_value_tests_the_margin_its_rule_decides_on():
    cnn, vit = [math.log(v) for v in (0.10, 0.11, 0.09)], [math.log(v) for v in (0.50, 0.55, 0.45)]
    estimates = {"effect": welch_interval(vit, cnn), "cnn": t_interval(cnn), "vit": t_interval(vit)}
    assert row6.decide(estimates) == "supported" and row6.p_value(estimates) < ALPHA
    equal = {"effect": welch_interval(cnn, cnn), "cnn": t_interval(cnn), "vit": t_interval(cnn)}
    assert row6.decide(equal) == "contradicted" and row6.p_value(equal) < ALPHA  # below the margin, significantly


def test_row_16s_p_value_is_welchs_test_of_equal_gains():
    vit, cnn = [0.40, 0.42, 0.38], [0.05, 0.07, 0.04]
    estimates = {"effect": welch_interval(vit, cnn), "vit gain": t_interval(vit), "cnn gain": t_interval(cnn)}
    assert row16.decide(estimates) == "supported" and row16.p_value(estimates) < ALPHA
    same = {"effect": welch_interval(vit, vit), "vit gain": t_interval(vit), "cnn gain": t_interval(vit)}
    assert row16.decide(same) == "inconclusive" and row16.p_value(same) == pytest.approx(1.0)
    # The ViT loses consistency while the CNN's gain is too noisy to compare: contradicted on the ViT's own gain
    # alone, which its p must read (the gains' Welch test cannot tell them apart).
    losing, noisy = [-0.10, -0.11, -0.09], [-0.10, 0.20, -0.40]
    against = {"effect": welch_interval(losing, noisy), "vit gain": t_interval(losing), "cnn gain": t_interval(noisy)}
    assert row16.decide(against) == "contradicted" and row16.p_value(against) < ALPHA
    # The CNN gains more, the ViT's own gain is clearly positive: a test pointing the claim's way backs no
    # contradiction, so the p is the gains' Welch test's (Bonferroni over the two alternatives).
    from cnn_vs_vit.report.claims.rule_statistics import welch_p

    gaining, more = [0.10, 0.11, 0.09], [0.30, 0.33, 0.27]
    ahead = {"effect": welch_interval(gaining, more), "vit gain": t_interval(gaining), "cnn gain": t_interval(more)}
    assert row16.decide(ahead) == "contradicted"
    assert row16.p_value(ahead) == pytest.approx(2 * welch_p(t_interval(gaining), t_interval(more)))


def test_row_1s_p_value_needs_both_the_slope_and_the_level():
    level, slope = Estimate(0.2, 0.1, 0.3, 3, 0.04), Estimate(0.1, 0.05, 0.15, 6, method="regression")
    assert row1.decide({"effect": level, "slope": slope}) == "supported"
    assert row1.p_value({"effect": level, "slope": slope}) < ALPHA
    flat = Estimate(0.0, -0.05, 0.05, 6, method="regression")
    assert row1.p_value({"effect": level, "slope": flat}) == pytest.approx(1.0)
    # Less local with more data: contradicted on the slope alone, which its p must read (Bonferroni over two).
    falling, unsure = Estimate(-0.1, -0.15, -0.05, 6, method="regression"), Estimate(0.0, -0.1, 0.1, 3, 0.04)
    assert row1.decide({"effect": unsure, "slope": falling}) == "contradicted"
    assert row1.p_value({"effect": unsure, "slope": falling}) < ALPHA


def test_row_5s_crossover_of_nearly_parallel_laws_is_infinite_not_an_overflow():
    # the ViT's law above the CNN's, its exponent larger by 1e-6: they cross at e^(0.69 / 1e-6) images, beyond any float
    assert row5.crossover((0.1, 0.3, 0.0), (0.2, 0.300001, 0.0)) == math.inf
    assert row5.crossover((0.1, 0.3, 0.0), (0.2, 0.4, 0.0)) == pytest.approx(2 ** (1 / 0.1))


def test_row_5_finds_a_floor_only_where_there_is_one_and_its_p_value_tests_what_decides():
    import numpy as np

    x = np.repeat(np.log([1, 2.5, 5, 12.5, 50]), 3)
    noise = 0.03 * np.tile([-1.0, 0.0, 1.0], 5)
    pure, floored_law = np.log(0.3 * np.exp(-0.5 * x)) + noise, np.log(0.3 * np.exp(-0.8 * x) + 0.05) + noise
    assert row5.floor_evidence(x, pure) < row5.FLOOR_EVIDENCE
    assert row5.floor_evidence(x, floored_law) >= row5.FLOOR_EVIDENCE
    # the floor's F test against the pure law it nests: no evidence on a pure law, strong on a floored one
    assert row5.floor_p(x, pure) > 0.5 and row5.floor_p(x, floored_law) < 1e-4
    steep, shallow = row5.slope(x, -0.8 * x + noise), row5.slope(x, -0.2 * x + noise)
    assert steep.mean == pytest.approx(0.8) and shallow.mean == pytest.approx(0.2)
    none, tested = (
        Estimate(0.0, n=15, method="AICc"),
        {"cnn floor p": Estimate(0.3, n=15), "vit floor p": Estimate(0.002, n=15)},
    )
    estimates = {"effect": row5.exponent_gap(steep, shallow), "vit b": steep, "cnn b": shallow,
                 "cnn floor": none, "vit floor": none, **tested}  # fmt: skip
    assert row5.p_value(estimates) < ALPHA and estimates["effect"].excludes_zero == 1  # no floor: the exponents
    floor = Estimate(row5.FLOOR_EVIDENCE, n=15, method="AICc")
    assert row5.p_value({**estimates, "vit floor": floor}) == 0.002  # contradicted on the ViT's floor: its test
    assert row5.p_value({**estimates, "cnn floor": floor}) == 0.3  # supported on the CNN's floor: its test
    assert row5.decide({**estimates, "cnn floor": floor}, crossover_within=True, plateau=True) == "supported"
    both = {**estimates, "cnn floor": floor, "vit floor": floor}
    assert row5.p_value(both) == 1.0 and row5.decide(both, crossover_within=True, plateau=True) == "inconclusive"
