"""The hierarchical bootstrap over runs: what a resampled study is made of, and that estimates sharing runs
move together."""

from collections import Counter

import numpy as np
import pytest

from cnn_vs_vit.report import resampling
from cnn_vs_vit.report.runs import Run
from cnn_vs_vit.report.statistics import difference, sign_verdict, t_interval


def run(seed, value, *, arch="resnet", cell="depth2", data_seed=0) -> Run:
    summary = {"seed": seed, "data_seed": data_seed, "subset_hash": f"subset{data_seed}", "arch": arch,
               "cell": cell, "test_accuracy": value}  # fmt: skip
    return Run(f"{cell}/{arch}/d{data_seed}/s{seed}", "done", {}, summary)


def cell_values(study, cell, arch=None):
    return [r.accuracy() for r in study if r.summary["cell"] == cell and (arch is None or r.arch == arch)]


def test_three_seeds_give_ten_distinct_studies_one_in_nine_of_them_a_single_seed_three_times():
    keys = [(0, None, seed) for seed in range(3)]
    drawn = resampling.counts(keys, 20000, np.random.default_rng(1))
    assert (drawn.sum(axis=1) == 3).all()
    assert len({tuple(row) for row in drawn}) == 10  # multisets of 3 from 3: C(5, 3)
    assert np.mean(drawn.max(axis=1) == 3) == pytest.approx(3 / 27, abs=0.01)


def test_data_seeds_are_drawn_first_and_bring_as_many_seeds_as_they_hold():
    """Two data seeds of three seeds each: a drawn data seed contributes 3 seeds, so each data seed appears 0, 3
    or 6 times in a study, and both halves come from the same data seed half the time."""
    keys = [(d, None, seed) for d in (0, 1) for seed in range(3)]
    drawn = resampling.counts(keys, 4000, np.random.default_rng(2))
    per_data_seed = np.stack([drawn[:, :3].sum(axis=1), drawn[:, 3:].sum(axis=1)], axis=1)
    assert set(per_data_seed.ravel()) == {0, 3, 6}
    assert np.mean(per_data_seed.max(axis=1) == 6) == pytest.approx(0.5, abs=0.03)


def test_with_one_data_seed_it_is_the_bootstrap_over_seeds():
    keys = [(0, None, seed) for seed in range(5)]
    drawn = resampling.counts(keys, 20000, np.random.default_rng(3))
    assert drawn.mean(axis=0) == pytest.approx(np.ones(5), abs=0.03)
    assert drawn.var(axis=0) == pytest.approx(np.full(5, 5 * (1 / 5) * (4 / 5)), abs=0.03)  # Multinomial(5, 1/5)


def test_a_replicates_runs_enter_together_and_a_replicate_drawn_twice_counts_twice():
    runs = [run(s, v, arch=a) for s, v in enumerate((0.7, 0.8, 0.9)) for a in ("resnet", "vit")]
    for study in resampling.draws(runs, 200, seed=4):
        origins = Counter((r.arch, r.summary["resampled_from"]) for r in study)
        for seed in range(3):
            assert origins[("resnet", (0, seed))] == origins[("vit", (0, seed))]
        # keyed by pairing key, as the statistics module keys runs, every copy is its own replicate
        keyed = {r.pairing_key: r.accuracy() for r in study if r.arch == "resnet"}
        assert len(keyed) == 3
        assert np.mean(list(keyed.values())) == pytest.approx(np.mean(cell_values(study, "depth2", "resnet")))


def test_architectures_drawn_independently_still_share_their_data_seed():
    runs = [run(s, 0.5, arch=a, data_seed=d) for d in (0, 1) for s in range(3) for a in ("resnet", "vit")]
    apart = 0
    for study in resampling.draws(runs, 300, seed=5, independent_by=lambda r: r.arch):
        origins = Counter((r.arch, r.summary["resampled_from"]) for r in study)
        for d in (0, 1):
            resnet = sum(origins[("resnet", (d, s))] for s in range(3))
            vit = sum(origins[("vit", (d, s))] for s in range(3))
            assert resnet == vit  # the data seed is drawn for both
        apart += any(origins[("resnet", (d, s))] != origins[("vit", (d, s))] for d in (0, 1) for s in range(3))
    assert apart > 240  # the seeds are not: most studies draw different seeds for the two (87%)


def test_estimates_that_read_the_same_runs_are_the_same_number_in_every_draw():
    """The review's case: 'depth 2' and 'ViT at depth 2' are the same runs, so a rule that needs both is
    exactly as stable as a rule that needs one of them."""
    runs = [run(s, v, arch="vit") for s, v in enumerate((0.52, 0.61, 0.49))]
    runs += [run(s, v, arch="resnet") for s, v in enumerate((0.50, 0.50, 0.51))]

    def depth2(study):
        return np.mean(cell_values(study, "depth2"))

    def vit_at_depth2(study):
        return np.mean(cell_values(study, "depth2", "vit"))

    def one(study):
        return "supported" if vit_at_depth2(study) > 0.53 else "inconclusive"

    def both(study):
        return "supported" if vit_at_depth2(study) > 0.53 and depth2(study) > 0.5 else "inconclusive"

    def resnet_at_depth2(study):
        return np.mean(cell_values(study, "depth2", "resnet"))

    # each draw's depth-2 mean is the mean of that same draw's ViT and ResNet means
    halves = resampling.bootstrap(vit_at_depth2, runs, 500) + resampling.bootstrap(resnet_at_depth2, runs, 500)
    assert resampling.bootstrap(depth2, runs, 500) == pytest.approx(halves / 2)
    assert resampling.disagreement(both, runs, 500) == resampling.disagreement(one, runs, 500) > 0


def test_draws_are_deterministic_and_leave_the_runs_as_they_were():
    runs = [run(s, v) for s, v in enumerate((0.1, 0.2, 0.4))]
    first = [[r.summary["resampled_from"] for r in study] for study in resampling.draws(runs, 50, seed=7)]
    again = [[r.summary["resampled_from"] for r in study] for study in resampling.draws(runs, 50, seed=7)]
    assert first == again
    assert [r.summary["seed"] for r in runs] == [0, 1, 2] and "resampled_from" not in runs[0].summary


def test_a_percentile_interval_of_accuracies_stays_in_zero_one_where_the_t_interval_does_not():
    values = [1.0, 1.0, 0.55, 1.0]  # three runs reach 100%, one stops at 55%
    runs = [run(s, v) for s, v in enumerate(values)]
    resampled = resampling.bootstrap(lambda study: np.mean(cell_values(study, "depth2")), runs, 2000)
    interval = resampling.percentile_interval(float(np.mean(values)), resampled, len(values))
    assert t_interval(values).ci_high > 1
    assert 0 <= interval.ci_low <= interval.mean <= interval.ci_high <= 1
    assert interval.ci_low == pytest.approx(0.55 + 0.45 * 1 / 4, abs=1e-9)  # 2.5% quantile: 3 of 4 at 55%


def test_the_plots_accuracy_band_is_the_percentile_interval_and_stays_in_zero_one():
    """The band the plots draw for accuracies: where the t interval passes 100%, the seed mean's bootstrap stays
    inside the seeds' range; at three seeds it is that range, and one seed has none."""
    values = [1.0, 1.0, 0.877]
    assert t_interval(values).ci_high > 1
    band = resampling.seed_mean_interval(values)
    assert band.mean == pytest.approx(t_interval(values).mean)
    assert (band.ci_low, band.ci_high) == pytest.approx((0.877, 1.0))
    assert not resampling.seed_mean_interval([0.9]).has_interval


def test_a_paired_statistic_recomputed_from_resampled_runs_pairs_within_each_copy():
    """Runs that pair in the real study (same replicate, one option changed) pair in every resampled one."""
    base = [run(s, v, cell="learned") for s, v in enumerate((0.70, 0.74, 0.78))]
    variant = [run(s, v + 0.01, cell="sincos") for s, v in enumerate((0.70, 0.74, 0.78))]
    for study in resampling.draws(base + variant, 100, seed=8):
        a = {r.pairing_key: r.accuracy() for r in study if r.summary["cell"] == "sincos"}
        b = {r.pairing_key: r.accuracy() for r in study if r.summary["cell"] == "learned"}
        effect = difference(a, b)
        assert effect.method == "paired" and effect.mean == pytest.approx(0.01)
        assert sign_verdict(effect) == "supported"  # a constant difference: zero spread in every draw


def test_at_three_seeds_the_percentile_interval_of_a_mean_is_the_range_of_the_seeds():
    """A resample of one seed three times has probability 1/27 = 3.7% > 2.5%, so the 95% percentile interval
    is [min, max]: it excludes 0 whenever the three seeds share a sign, in 2 · (1/2)³ = 25% of null studies."""
    drawn = resampling.counts([(0, None, seed) for seed in range(3)], resampling.DRAWS, np.random.default_rng(0))
    for values in np.random.default_rng(1).normal(size=(20, 3)):
        interval = resampling.percentile_interval(values.mean(), drawn @ values / 3, 3)
        assert (interval.ci_low, interval.ci_high) == pytest.approx((values.min(), values.max()))
