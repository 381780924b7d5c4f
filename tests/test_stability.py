"""The rerun-disagreement rate: runs resampled jointly and every row re-measured on the same resample, a
shared outcome never taken as certain, resamples of one seed repeated left out."""

import pytest

from cnn_vs_vit.report.claim_types import ClaimResult
from cnn_vs_vit.report.proportions import chance_all_recur
from cnn_vs_vit.report.resampling import replicate_key
from cnn_vs_vit.report.runs import Run
from cnn_vs_vit.report.selection import by_key
from cnn_vs_vit.report.stability import Rerun, disagreements, stratum
from cnn_vs_vit.report.statistics import difference, sign_verdict, t_interval


def run(seed, value, arch="vit") -> Run:
    summary = {"seed": seed, "data_seed": 0, "subset_hash": "s", "arch": arch, "test_accuracy": value, "dataset": "x"}
    return Run(f"{arch}/s{seed}", "done", {}, summary)


def estimates_of(runs):
    vit = [r for r in runs if r.arch == "vit"]
    cnn = [r for r in runs if r.arch == "resnet"]
    effect = difference(by_key(vit, Run.accuracy), by_key(cnn, Run.accuracy), paired=False)
    # "vit again" is computed separately from the same runs, as two rows' estimates are
    return {
        "effect": effect,
        "vit": t_interval([r.accuracy() for r in vit]),
        "vit again": t_interval([r.accuracy() for r in vit]),
    }


def both(estimates):  # a conjunctive rule over two estimates of the same runs
    return "supported" if {sign_verdict(e) for e in estimates.values()} == {"supported"} else "inconclusive"


def rate(rule, runs, archs=("vit", "resnet")):
    replicates = frozenset(replicate_key(r, stratum) for r in runs if r.arch in archs)
    observed = ClaimResult(claim_id="r", verdict="inconclusive", estimates=estimates_of(runs), decide=rule)
    observed.rule_verdict = rule(observed.estimates)
    rerun = Rerun("r", replicates, lambda ctx, _: rule(estimates_of(ctx.runs)))
    return disagreements([rerun], {"r": observed}, runs)["r"]


RUNS = [run(0, 0.05), run(1, 0.2), run(2, 0.3), run(0, 0.0, "resnet"), run(1, 0.04, "resnet"), run(2, -0.01, "resnet")]


def test_two_estimates_from_the_same_runs_move_together():
    """ "vit" and "vit again" come from the same runs: a rule needing both is exactly as stable as one needing
    either (drawn independently, the conjunction would fail more often)."""
    alone = rate(lambda e: sign_verdict(e["vit"]), RUNS)
    assert 0 < alone < 1
    assert rate(lambda e: both({"a": e["vit"], "b": e["vit again"]}), RUNS) == pytest.approx(alone)


def test_a_three_of_three_outcome_is_not_certain():
    """Every ViT at 100%, every CNN at 75%: no resample moves the numbers, yet a rerun breaks the shared
    outcome with its Jeffreys chance (27.8% at 3 of 3), and then the effect has no interval."""
    runs = [run(s, 1.0) for s in range(3)] + [run(s, 0.75, "resnet") for s in range(3)]
    rule = lambda e: sign_verdict(e["effect"])  # noqa: E731
    assert rule(estimates_of(runs)) == "supported"
    assert rate(rule, runs) == pytest.approx(1 - chance_all_recur(3))
    assert 1 - chance_all_recur(3) == pytest.approx(0.278125)


def test_a_seed_repeated_is_no_resample_so_an_inconclusive_row_can_settle_at_three_seeds():
    """Kept in, the three resamples of one seed repeated (1 in 9) would each be 'supported' or 'contradicted'
    (zero spread); left out, every resample of two or three distinct seeds stays inconclusive."""
    runs = [run(0, -1.0), run(1, 0.1), run(2, 1.0)]
    rule = lambda e: sign_verdict(e["vit"])  # noqa: E731
    assert rule(estimates_of(runs)) == "inconclusive"
    assert rate(rule, runs, archs=("vit",)) == 0


def test_the_rate_is_deterministic():
    rule = lambda e: sign_verdict(e["effect"])  # noqa: E731
    assert rate(rule, RUNS) == rate(rule, RUNS)
