"""The verdict rules as pure functions of their estimates: each rule's edge, without a run directory."""

from cnn_vs_vit.report.claims.row_02_equivariance import decide as equivariance_verdict
from cnn_vs_vit.report.claims.row_04_receptive_field import MANY_TIMES
from cnn_vs_vit.report.claims.row_04_receptive_field import decide as receptive_field_verdict
from cnn_vs_vit.report.claims.row_05_scalability import decide as scalability_verdict
from cnn_vs_vit.report.claims.row_09_data_efficiency import decide as data_efficiency_verdict
from cnn_vs_vit.report.shift_results import ZERO_TOLERANCE, threshold_rule
from cnn_vs_vit.report.statistics import MISSING, Estimate

ABOVE = Estimate(0.2, 0.1, 0.3, 3)  # a 95% interval above 0
BELOW = Estimate(-0.2, -0.3, -0.1, 3)
STRADDLES = Estimate(0.0, -0.05, 0.05, 3)


def test_one_data_fraction_cannot_show_an_advantage_for_small_data():
    assert data_efficiency_verdict({"effect": ABOVE}, fractions_measured=1) == "inconclusive"
    assert data_efficiency_verdict({"effect": ABOVE}, fractions_measured=2) == "supported"
    assert data_efficiency_verdict({"effect": BELOW}, fractions_measured=2) == "contradicted"


def test_a_steeper_vit_whose_curve_crosses_beyond_the_data_is_not_reached_at_this_scale():
    pure = {"cnn floor": Estimate(0.0, n=15), "vit floor": Estimate(0.0, n=15)}
    steps = {"crossover_within": True, "plateau": False}
    assert scalability_verdict({"effect": ABOVE, **pure}, **steps) == "supported"
    assert scalability_verdict({"effect": ABOVE, **pure}, **{**steps, "crossover_within": False}) == (
        "not reached at this scale"
    )
    assert scalability_verdict({"effect": BELOW, **pure}, **steps) == "contradicted"


def test_a_larger_vit_field_must_also_be_many_times_the_cnns():
    cnn, wide, narrow = (
        Estimate(10.0, 9.0, 11.0, 3),
        Estimate(10.0 * MANY_TIMES, 19.0, 21.0, 3),
        Estimate(15.0, 14, 16, 3),
    )
    assert receptive_field_verdict({"effect": ABOVE, "cnn": cnn, "vit": wide}) == "supported"
    assert receptive_field_verdict({"effect": ABOVE, "cnn": cnn, "vit": narrow}) == "inconclusive"


def test_equivariance_needs_the_mean_and_every_shift_to_agree():
    assert equivariance_verdict({"effect": ABOVE, "1 px": ABOVE, "2 px": ABOVE}) == "supported"
    assert equivariance_verdict({"effect": ABOVE, "1 px": ABOVE, "2 px": BELOW}) == "inconclusive"
    assert equivariance_verdict({"effect": BELOW, "1 px": BELOW}) == "contradicted"


def test_an_error_is_zero_only_when_its_whole_interval_is_below_the_tolerance():
    zero = Estimate(0.0, 0.0, ZERO_TOLERANCE / 2, 3)
    assert threshold_rule({"1 px": ABOVE, "2 px": ABOVE}) == "supported"
    assert threshold_rule({"8 px": zero}) == "contradicted"
    assert threshold_rule({"1 px": ABOVE, "8 px": zero}) == "inconclusive"
    assert threshold_rule({"1 px": MISSING}) == "not measured"


def test_layer_similarity_counts_a_layer_identical_to_the_one_before_it_once():
    """The ViT's `embed` is its patch embedding plus the same positions for every image: CKA 1 by construction."""
    import pandas as pd

    from cnn_vs_vit.report.runs import Run
    from cnn_vs_vit.report.claims.row_17_layer_similarity import decide as uniformity_verdict
    from cnn_vs_vit.report.claims.row_17_layer_similarity import uniformity

    layers = [("patch_embed", "map"), ("embed", "tokens"), ("block1", "tokens"), ("logits", "vector")]
    similar = {(0, 1): 1.0, (0, 2): 0.5, (1, 2): 0.5, (0, 3): 0.1, (1, 3): 0.1, (2, 3): 0.2}
    rows = [
        {"index_a": a, "index_b": b, "layer_a": layers[a][0], "layer_b": layers[b][0], "kind_a": layers[a][1],
         "kind_b": layers[b][1], "cka": 1.0 if a == b else similar[min(a, b), max(a, b)]}
        for a in range(4) for b in range(4)
    ]  # fmt: skip
    run = Run("vit", "done", {}, probe_rows={"cka": pd.DataFrame(rows)})
    assert uniformity(run) == 0.5  # patch_embed-block1 only: embed is patch_embed again, logits has no grid
    assert uniformity_verdict({"effect": ABOVE}) == "supported"
    assert uniformity_verdict({"effect": STRADDLES}) == "inconclusive"
    assert uniformity_verdict({"effect": BELOW}) == "contradicted"
