"""Settled verdicts, the seeds a projection says would settle one, and the planner of the next wave."""

import numpy as np
import pytest

from cnn_vs_vit.report import resampling, settling
from cnn_vs_vit.report.proportions import clopper_pearson
from cnn_vs_vit.report.runs import Run
from cnn_vs_vit.report.statistics import sign_verdict, t_interval


def study(values, data_seed=0) -> list[Run]:
    return [Run(f"s{s}", "done", {}, {"seed": s, "data_seed": data_seed, "subset_hash": "h", "test_accuracy": v})
            for s, v in enumerate(values)]  # fmt: skip


def sign_rule(runs):
    return sign_verdict(t_interval([r.accuracy() for r in runs]))


def test_a_clear_effect_is_settled_at_the_seeds_it_has():
    s = settling.settle(sign_rule, study([10.0, 10.1, 9.9]), n_draws=500)
    assert s.settled and s.status == "settled" and s.disagreement == 0.0
    assert (s.seeds, s.seeds_to_settle, s.projected_verdict) == (3, 3, "supported")


def test_at_three_seeds_an_inconclusive_verdict_is_never_settled():
    """One resample in nine repeats a single seed: zero spread, so the interval is the point mean and excludes 0.
    A 3-seed 'inconclusive' therefore disagrees with at least 1/9 = 11% > 10% of its resamples."""
    for values in ([1.0, 2.0, 3.0], [-1.0, 0.2, 1.1], [-0.5, 0.1, 0.4]):
        assert sign_rule(study(values)) == "inconclusive"
        assert resampling.disagreement(sign_rule, study(values), 2000) >= 3 / 27 - 0.02


def test_seeds_that_share_a_sign_are_projected_to_settle_as_supported_since_no_other_sign_is_ever_drawn():
    s = settling.settle(sign_rule, study([1.0, 2.0, 3.0]), n_draws=500, projection_draws=200)
    assert not s.settled and s.seeds == 3
    assert 3 < s.seeds_to_settle <= settling.CAP and s.projected_verdict == "supported"
    assert "seeds per cell" in s.text


def test_a_projection_draws_the_requested_seeds_from_every_data_seed_it_picks():
    keys = [(d, None, seed) for d in (0, 1) for seed in range(3)]
    drawn = settling.projected_counts(keys, 7, 300, np.random.default_rng(0))
    per_data_seed = np.stack([drawn[:, :3].sum(axis=1), drawn[:, 3:].sum(axis=1)], axis=1)
    assert set(per_data_seed.ravel()) <= {0, 7, 14} and (per_data_seed.sum(axis=1) == 14).all()


def test_where_each_seed_drew_its_own_subset_a_projection_adds_data_seeds_and_counts_them_as_seeds():
    # data_seed_follows_seed: seed k trains on subset k, for both architectures (the strata)
    keys = [(k, arch, k) for k in range(6) for arch in ("cnn", "vit")]
    assert settling.follows_seed(keys) and not settling.follows_seed([(0, None, s) for s in range(3)])
    drawn = settling.projected_counts(keys, 9, 300, np.random.default_rng(0))
    per_arch = drawn[:, 0::2].sum(axis=1), drawn[:, 1::2].sum(axis=1)
    assert (per_arch[0] == 9).all() and (per_arch[1] == 9).all()  # 9 seeds per cell, each with its own subset
    assert (drawn[:, 0::2] == drawn[:, 1::2]).all()  # a drawn subset brings both architectures' run on it
    runs = [Run(f"r{k}{arch}", "done", {}, {"data_seed": k, "seed": k}) for k in range(6) for arch in "ab"]
    assert settling.seeds_per_cell(runs, lambda run: run.path[-1]) == 6  # not 1 seed per data seed


def test_three_successes_of_three_are_not_a_certainty():
    """'all runs reach the level': a rerun of three fails it with probability 1 − E[p³] = 27.8% (Jeffreys)."""

    def all_reach(k, n):
        return "supported" if k == n else "contradicted"

    s = settling.settle_count(all_reach, 3, 3)
    assert s.disagreement == pytest.approx(0.278, abs=0.03) and not s.settled


def test_a_count_rule_that_three_runs_cannot_satisfy_is_settled_as_inconclusive():
    """Clopper-Pearson's lower bound of n of n is 0.025^(1/n): above 0.5 only from n = 6."""

    def rate_above_half(k, n):
        return "supported" if clopper_pearson(k, n).ci_low > 0.5 else "inconclusive"

    assert [rate_above_half(n, n) for n in (5, 6)] == ["inconclusive", "supported"]
    s = settling.settle_count(rate_above_half, 3, 3)
    assert s.settled and s.projected_verdict == "inconclusive"


def test_the_t_rule_at_95_percent_rejects_about_5_percent_of_null_studies():
    values = np.random.default_rng(0).normal(size=(4000, 3))
    rejected = np.mean([sign_verdict(t_interval(list(v))) != "inconclusive" for v in values])
    assert rejected == pytest.approx(0.05, abs=0.012)


CELLS = {"row9": ["cnn@5%", "vit@5%"], "row12": ["vit-cls", "vit-mean"], "row3": ["cnn@depth2", "vit@depth2"]}


def test_the_next_wave_adds_seeds_only_to_the_cells_unsettled_rows_read():
    status = {"row9": "unsettled", "row12": "settled", "row3": "settled"}
    done = {cell: 3 for cells in CELLS.values() for cell in cells}
    assert settling.next_wave(status, CELLS, done) == {"cnn@5%": 1, "vit@5%": 1}
    assert settling.next_wave(status, CELLS, done, step=2) == {"cnn@5%": 2, "vit@5%": 2}


def test_the_waves_stop_when_every_row_is_settled_or_its_cells_reach_the_cap():
    done = {cell: 3 for cells in CELLS.values() for cell in cells}
    assert settling.next_wave(dict.fromkeys(CELLS, "settled"), CELLS, done) == {}
    at_cap = {cell: settling.CAP for cell in done}
    assert settling.next_wave(dict.fromkeys(CELLS, "unsettled"), CELLS, at_cap) == {}
    near_cap = {**done, "cnn@5%": 9, "vit@5%": 9}
    assert settling.next_wave({"row9": "unsettled"}, CELLS, near_cap, step=3) == {"cnn@5%": 1, "vit@5%": 1}


def test_a_lagging_cell_catches_up_first_and_a_shared_cell_gets_the_most_asked():
    cells = {"a": ["x", "shared"], "b": ["shared", "y"]}
    done = {"x": 5, "shared": 3, "y": 3}
    # row a: x is ahead, so shared catches up to 5; row b: level, so both go to 4; shared takes max(2, 1)
    assert settling.next_wave({"a": "unsettled", "b": "unsettled"}, cells, done) == {"shared": 2, "y": 1}
    with pytest.raises(ValueError, match="settled"):
        settling.next_wave({"a": "maybe"}, cells, done)
