"""Holm and Benjamini-Hochberg adjusted p-values, by worked examples and by their defining properties."""

import numpy as np
import pytest
from scipy import stats

from cnn_vs_vit.report.multiplicity import benjamini_hochberg, holm


def test_a_worked_example_by_hand():
    """p = [0.01, 0.04, 0.03, 0.005], m = 4; sorted: 0.005, 0.01, 0.03, 0.04.
    Holm multiplies by m − k + 1 = 4, 3, 2, 1: 0.02, 0.03, 0.06, 0.04, then the running maximum: 0.02, 0.03, 0.06,
    0.06; back in the input order [0.03, 0.06, 0.06, 0.02].
    BH multiplies by m / k = 4, 2, 4/3, 1: 0.02, 0.02, 0.04, 0.04, then the running minimum from the top (no
    change); in the input order [0.02, 0.04, 0.04, 0.02]."""
    p = [0.01, 0.04, 0.03, 0.005]
    assert holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert benjamini_hochberg(p) == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert benjamini_hochberg(p) == pytest.approx(list(stats.false_discovery_control(p)))


def test_a_second_example_where_the_running_max_and_min_matter_and_values_cap_at_1():
    """p = [0.04, 0.01, 0.5, 0.02]: sorted 0.01, 0.02, 0.04, 0.5.
    Holm: 0.04, 0.06, 0.08, 0.5 (already increasing) -> input order [0.08, 0.04, 0.5, 0.06].
    BH: ·4/1, ·4/2, ·4/3, ·4/4 = 0.04, 0.04, 0.0533, 0.5 -> [0.0533, 0.04, 0.5, 0.04].
    With p = [0.6, 0.9]: Holm 1.2 -> 1 and max(1, 0.9) = 1; BH 1.2 -> running min with 0.9 = 0.9."""
    assert holm([0.04, 0.01, 0.5, 0.02]) == pytest.approx([0.08, 0.04, 0.5, 0.06])
    assert benjamini_hochberg([0.04, 0.01, 0.5, 0.02]) == pytest.approx([0.16 / 3, 0.04, 0.5, 0.04])
    assert holm([0.6, 0.9]) == [1.0, 1.0]
    assert benjamini_hochberg([0.6, 0.9]) == pytest.approx([0.9, 0.9])


def test_random_families_keep_order_bound_the_raw_values_and_match_scipy():
    rng = np.random.default_rng(0)
    for _ in range(200):
        p = rng.uniform(0, 0.2, int(rng.integers(1, 25))) ** 2
        h, q = np.array(holm(p)), np.array(benjamini_hochberg(p))
        order = np.argsort(p)
        assert (np.diff(h[order]) >= 0).all() and (np.diff(q[order]) >= 0).all()  # the p-values' order kept
        assert (p <= q + 1e-15).all() and (q <= h + 1e-15).all() and (h <= np.minimum(1, len(p) * p) + 1e-15).all()
        assert q == pytest.approx(stats.false_discovery_control(p))


def test_holm_controls_the_family_wise_error_under_the_global_null():
    """22 rows, all nulls true: raw p < 0.05 shows a false row in 1 − 0.95²² = 68% of families, Holm in ≤ 5%."""
    p = np.random.default_rng(1).uniform(size=(4000, 22))
    assert np.mean((p < 0.05).any(axis=1)) == pytest.approx(1 - 0.95**22, abs=0.02)
    assert np.mean([min(holm(row)) < 0.05 for row in p]) == pytest.approx(0.05, abs=0.01)


def test_a_row_without_a_p_value_is_not_in_the_family():
    with pytest.raises(ValueError, match="not in the family"):
        holm([0.01, float("nan")])
