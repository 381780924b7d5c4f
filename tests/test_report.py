"""`cnnvit report` as a specification: each verdict rule gives each of its verdicts on hand-made
run directories built to give it; intervals match a hand computation; rebuilds are byte-identical."""

import json
import math

import pytest
import yaml
from typer.testing import CliRunner

from cnn_vs_vit.cli import app
from cnn_vs_vit.errors import CnnvitError
from cnn_vs_vit.probes.shift import COLUMNS
from cnn_vs_vit.report import CLAIMS, build_report, evaluate_claims, load_runs
from cnn_vs_vit.report.formatting import p_text
from cnn_vs_vit.report.formatting import effect_text
from cnn_vs_vit.report.stability import rate_text
from cnn_vs_vit.report.statistics import difference, t_interval

P = 7  # the hand-made ViTs' patch size
SAMPLE = {"size": 512, "of": 1000, "class_counts": {str(d): 51 + (d < 2) for d in range(10)}, "hash": "0123456789abcdef",
          "seed": 0}  # what data.probe_sample records; a probe result without it is stale  # fmt: skip
CNN_LAYERS = [("stem", 0, "map", 1), ("stage4.block1", 4, "map", 8), ("logits", 6, "vector", None)]
VIT_LAYERS = [
    ("patch_embed", 0, "map", P),
    ("embed", 1, "tokens", P),
    ("block4", 5, "tokens", P),
    ("logits", 7, "vector", None),
]


def make_run(root, name, *, arch="resnet", seed=0, fraction=1.0, accuracy=0.9, translate=2, train_size=None,
             shift_errors=None, consistency=0.9, halfwidth=0.01, model=None, params=300000, **options):  # fmt: skip
    """A finished run directory as cnnvit train (+ probe-shift when `shift_errors`) would leave it.

    shift_errors: {layer: {shift: error}} for the layers of CNN_LAYERS / VIT_LAYERS (others get 0.5);
    each error is used as equivariance and invariance error, with per-image interval ± halfwidth.
    """
    model = model or ("resnet-s" if arch == "resnet" else "vit-s")
    run = root / name
    run.mkdir(parents=True)
    size = train_size or int(4000 * fraction)
    config = {"seed": seed, "model": {"name": model, **options},
              "data": {"name": "mnist5k", "fraction": fraction, "data_seed": 0},
              "train": {"steps": 600, "batch_size": 64}, "augment": {"translate": translate, "flip": False}}  # fmt: skip
    summary = {"model": model, "arch": arch, "dataset": "mnist5k", "fraction": fraction, "seed": seed, "data_seed": 0,
               "test_accuracy": accuracy, "params": params, "train_flops_per_image": 3e7, "steps": 600,
               "batch_size": 64, "images_seen": 38400, "train_size": size, "subset_hash": f"hash{size}",
               "wall_time_s": 10.0}  # fmt: skip
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    (run / "summary.json").write_text(json.dumps(summary))
    (run / "DONE").write_text("")
    if shift_errors is not None:
        write_probe(run, model, CNN_LAYERS if arch == "resnet" else VIT_LAYERS, shift_errors, consistency, halfwidth)
    return run


def write_probe(run, model, layers, errors, consistency, halfwidth):
    rows = [",".join(COLUMNS)]
    for layer, index, kind, stride in layers:
        for shift in range(P + 1):
            e = 0.0 if shift == 0 else errors.get(layer, {}).get(shift, 0.5)
            low, high = e - halfwidth * (shift > 0), e + halfwidth * (shift > 0)
            equivariance = (e, low, high) if kind != "vector" else ("", "", "")
            rows.append(",".join(map(str, [model, "circular", layer, index, kind, stride or "", shift, "", True,
                                           *equivariance, e, low, high, 512])))  # fmt: skip
    (run / "probes").mkdir()
    (run / "probes" / "shift.csv").write_text("\n".join(rows) + "\n")
    summary = {"model": model, "predictions": {"circular": {"consistency": {"mean": consistency}}}, "sample": SAMPLE}
    (run / "probes" / "shift_summary.json").write_text(json.dumps(summary))


def verdicts(root) -> dict:
    return {c.claim_id: c for c in evaluate_claims(load_runs(root))}


# ------------------------------------------------------------------------------------------ statistics


def test_t_interval_matches_a_hand_computation():
    e = t_interval([1.0, 2.0, 3.0, 4.0])
    sd = math.sqrt(((1.5**2) * 2 + (0.5**2) * 2) / 3)  # 1.2910
    half = 3.182446305284263 * sd / math.sqrt(4)  # t(0.975, 3)
    assert (e.mean, e.n) == (2.5, 4)
    assert e.ci_low == pytest.approx(2.5 - half) and e.ci_high == pytest.approx(2.5 + half)
    one = t_interval([0.7])
    assert one.n == 1 and not one.has_interval


def test_runs_pair_by_seed_and_subset_else_welch():
    # Seeds shift both groups alike: paired, the difference is exactly 0.1 every time.
    a = {(0, 0, "h"): 0.5, (1, 0, "h"): 0.7, (2, 0, "h"): 0.9}
    b = {key: value - 0.1 for key, value in a.items()}
    paired = difference(a, b)
    assert paired.method == "paired" and paired.mean == pytest.approx(0.1) and paired.ci_low == pytest.approx(0.1)
    unpaired = difference(a, {(5, 0, "h"): 0.4, (6, 0, "h"): 0.6, (7, 0, "h"): 0.8})
    assert unpaired.method == "welch" and unpaired.ci_low < 0 < unpaired.ci_high


# ------------------------------------------------------------------------------- row 9: data efficiency


def sweep(root, cnn_acc, vit_acc, fractions=(0.1, 1.0), seeds=(0, 1, 2)):
    for f in fractions:
        for s in seeds:
            make_run(root, f"cnn_f{f}_s{s}", arch="resnet", seed=s, fraction=f, accuracy=cnn_acc(f, s))
            make_run(root, f"vit_f{f}_s{s}", arch="vit", seed=s, fraction=f, accuracy=vit_acc(f, s))


@pytest.mark.parametrize("cnn, vit, expected", [
    (lambda f, s: 0.90 + 0.01 * s, lambda f, s: 0.80 + 0.01 * s, "supported"),
    (lambda f, s: 0.80 + 0.01 * s, lambda f, s: 0.90 + 0.01 * s, "contradicted"),
    (lambda f, s: 0.85, lambda f, s: [0.80, 0.90, 0.85][s], "inconclusive"),
])  # fmt: skip
def test_data_efficiency_verdicts(tmp_path, cnn, vit, expected):
    sweep(tmp_path, cnn, vit)
    claim = verdicts(tmp_path)["9"]
    assert (
        claim.rule_verdict == expected and claim.effect.n == 3 and claim.effect.method == "welch"
    )  # ResNet vs ViT: unpaired (the issue)


def test_data_efficiency_with_one_fraction_is_inconclusive_and_without_a_vit_not_measured(tmp_path):
    sweep(tmp_path / "one", lambda f, s: 0.95, lambda f, s: 0.80 + 0.01 * s, fractions=(1.0,))
    one = verdicts(tmp_path / "one")["9"]
    assert one.rule_verdict == "inconclusive" and one.effect.ci_low > 0
    assert any("Only fraction 1" in line for line in one.details)
    make_run(tmp_path / "cnn_only", "cnn", arch="resnet")
    assert verdicts(tmp_path / "cnn_only")["9"].rule_verdict == "not measured"


# --------------------------------------------------------------------------------- row 5: scalability


def scaling(root, cnn, vit, sizes=(100, 200, 400, 800, 1600)):
    """Runs whose error follows the given laws of the relative size n/100, with ±1% seed noise."""
    for i, size in enumerate(sizes):
        for s, noise in enumerate((0.99, 1.0, 1.01)):
            n = size / sizes[0]
            make_run(root, f"cnn_{size}_{s}", arch="resnet", seed=s, fraction=size / 1600, train_size=size,
                     accuracy=1 - cnn(n) * noise)  # fmt: skip
            make_run(root, f"vit_{size}_{s}", arch="vit", seed=s, fraction=size / 1600, train_size=size,
                     accuracy=1 - vit(n) * noise)  # fmt: skip


@pytest.mark.parametrize("cnn, vit, expected", [
    (lambda n: 0.3 * n**-0.2, lambda n: 0.6 * n**-0.8, "supported"),  # crosses at n ≈ 3, inside the data
    (lambda n: 0.3 * n**-0.2, lambda n: 0.9 * n**-0.4, "not reached at this scale"),  # crosses at n = 3^5 = 243
    (lambda n: 0.6 * n**-0.8, lambda n: 0.3 * n**-0.2, "contradicted"),  # the ViT's error falls slower
])  # fmt: skip
def test_scalability_verdicts(tmp_path, cnn, vit, expected):
    scaling(tmp_path, cnn, vit)
    claim = verdicts(tmp_path)["5"]
    assert claim.rule_verdict == expected, claim.details
    if expected == "not reached at this scale":
        assert any("n* ≈ 24," in line for line in claim.details), claim.details  # 243 × 100 images


def widths(root, cnn, vit, params=(20_000, 80_000)):
    """Smaller widths of both architectures on the largest subset; error laws of params/300k (the -s models)."""
    for p in params:
        for s, noise in enumerate((0.99, 1.0, 1.01)):
            make_run(root, f"cnn_w{p}_{s}", arch="resnet", seed=s, train_size=1600, model=f"resnet-{p}", params=p,
                     accuracy=1 - cnn(p / 300_000) * noise)  # fmt: skip
            make_run(root, f"vit_w{p}_{s}", arch="vit", seed=s, train_size=1600, model=f"vit-{p}", params=p,
                     accuracy=1 - vit(p / 300_000) * noise)  # fmt: skip


@pytest.mark.parametrize("cnn_width, vit_width", [
    (lambda r: 0.05 * r**-0.1, lambda r: 0.05 * r**-0.6),  # the ViT gains more from width too
    (lambda r: 0.05 * r**-0.6, lambda r: 0.05 * r**-0.1),  # data and width disagree
])  # fmt: skip
def test_scalability_shows_three_widths_without_deciding_on_them(tmp_path, cnn_width, vit_width):
    """Three widths determine a floored law exactly: no model comparison, so they are shown, not decided on."""
    cnn, vit = (lambda n: 0.3 * n**-0.2), (lambda n: 0.6 * n**-0.8)  # "supported" from data alone
    scaling(tmp_path, cnn, vit)
    widths(tmp_path, lambda r: cnn(16) * cnn_width(r) / cnn_width(1), lambda r: vit(16) * vit_width(r) / vit_width(1))
    claim = verdicts(tmp_path)["5"]
    assert claim.rule_verdict == "supported", claim.details
    assert any("Width, not in the verdict" in line for line in claim.details)
    assert any("| vit | 20,000 |" in line for line in claim.details)


def test_a_floor_under_equal_steps_makes_scalability_not_measurable_here(tmp_path):
    """The ViT's error flattens at 5% (a floor AICc prefers) while the budget fixes the steps: the floor may be the
    budget's, so the exponents say nothing about the data."""
    scaling(tmp_path, lambda n: 0.3 * n**-0.2, lambda n: 0.6 * n**-1.5 + 0.05)
    claim = verdicts(tmp_path)["5"]
    assert claim.rule_verdict == "not measured", claim.details
    assert math.isnan(claim.p) and math.isnan(claim.p_holm)  # no test: no p, and out of the family
    assert p_text(claim.p) == "—"
    assert any("Not measurable here" in line for line in claim.details)
    assert "(floor preferred)" in claim.vit_evidence and "(floor preferred)" not in claim.cnn_evidence


def test_scalability_needs_four_sizes(tmp_path):
    scaling(tmp_path, lambda n: 0.3 * n**-0.2, lambda n: 0.6 * n**-0.8, sizes=(100, 200, 400))
    claim = verdicts(tmp_path)["5"]
    assert claim.rule_verdict == "not measured" and "have 3" in claim.rule


# ------------------------------------------------------------------------------- row 2: equivariance


def shift_pair(root, cnn_error, vit_error, seeds=(0, 1)):
    for s in seeds:
        make_run(
            root, f"cnn_s{s}", arch="resnet", seed=s, shift_errors={"logits": {k: cnn_error(k, s) for k in range(1, 8)}}
        )
        make_run(
            root, f"vit_s{s}", arch="vit", seed=s, shift_errors={"logits": {k: vit_error(k, s) for k in range(1, 8)}}
        )


@pytest.mark.parametrize("cnn, vit, seeds, expected", [
    (lambda k, s: 0.1 + 0.01 * s, lambda k, s: 0.5 + 0.02 * s, (0, 1), "supported"),
    (lambda k, s: 0.5 + 0.01 * s, lambda k, s: 0.1 + 0.02 * s, (0, 1), "contradicted"),
    (lambda k, s: 0.1, lambda k, s: 0.5, (0,), "inconclusive"),  # one seed: no interval over seeds
    (lambda k, s: 0.1 if k < 4 else 0.5, lambda k, s: 0.3 + 0.01 * s, (0, 1), "inconclusive"),  # sign flips
])  # fmt: skip
def test_equivariance_verdicts(tmp_path, cnn, vit, seeds, expected):
    shift_pair(tmp_path, cnn, vit, seeds)
    assert verdicts(tmp_path)["2"].rule_verdict == expected


def test_a_row_measured_on_one_seed_has_no_rate_and_is_not_called_exact(tmp_path):
    shift_pair(tmp_path, lambda k, s: 0.1, lambda k, s: 0.5, (0,))
    claim = verdicts(tmp_path)["2"]
    assert claim.one_run and not claim.exact  # row 2 varies with the seed: one seed leaves it untested, not exact
    assert claim.disagreement is None and rate_text(claim) == "one run" and math.isnan(claim.p_holm)


def test_claims_without_probe_results_are_not_measured(tmp_path):
    make_run(tmp_path, "cnn", arch="resnet")
    make_run(tmp_path, "vit", arch="vit")
    claims = verdicts(tmp_path)
    for claim_id in ("2", "14", "15a", "15b", "15c", "16", "11", "12", "5"):
        assert claims[claim_id].rule_verdict == "not measured", claim_id


def test_probe_results_without_a_sample_record_are_stale_and_left_out(tmp_path):
    """Results computed on the first N test images (before data.probe_sample) never enter a verdict."""
    shift_pair(tmp_path, lambda k, s: 0.1 + 0.01 * s, lambda k, s: 0.5 + 0.02 * s)
    assert verdicts(tmp_path)["2"].rule_verdict == "supported"
    for path in tmp_path.glob("*/probes/shift_summary.json"):
        summary = json.loads(path.read_text())
        del summary["sample"]
        path.write_text(json.dumps(summary))
    runs = load_runs(tmp_path)
    assert all(run.shift_rows is None and not run.probe_samples for run in runs)
    assert verdicts(tmp_path)["2"].rule_verdict == "not measured"


# Row 2 at its edges: seven shifts, three seeds. The rule reads one interval (the mean over shifts) and the
# direction at every shift, so one shift whose own interval touches 0 no longer decides the row.
EDGE = {
    "all agree": (lambda k, s: 0.5 + 0.02 * s, "supported"),
    "one interval touches 0": (lambda k, s: 0.1 + 0.3 * s if k == 7 else 0.5 + 0.02 * s, "supported"),
    "one shift points the other way": (lambda k, s: 0.05 if k == 3 else 0.5 + 0.02 * s, "inconclusive"),
}


@pytest.mark.parametrize("case", EDGE)
def test_equivariance_rule_at_its_edges(tmp_path, case):
    vit_error, expected = EDGE[case]
    shift_pair(tmp_path, lambda k, s: 0.1, vit_error, seeds=(0, 1, 2))
    claim = verdicts(tmp_path)["2"]
    assert claim.rule_verdict == expected
    if (
        case == "one interval touches 0"
    ):  # the interval at 7 px alone holds 0; the old all-intervals rule said inconclusive
        assert claim.estimates["7 px"].ci_low < 0 < claim.estimates["effect"].ci_low
    assert claim.disagreement is not None and 0 <= claim.disagreement <= 1


@pytest.mark.parametrize("settings, headline, holds", [
    ({"a": "supported", "b": "supported"}, "supported", "2/2"),
    ({"a": "supported", "b": "inconclusive"}, "supported", "1/2"),
    ({"a": "supported", "b": "not measured"}, "supported", "one setting"),  # not measured counts as neither
    ({"a": "not measured", "b": "not measured"}, "not measured", "—"),
])  # fmt: skip
def test_holds_counts_the_settings_that_agree_among_those_that_measured(settings, headline, holds):
    from cnn_vs_vit.report.claim_types import ClaimResult

    assert ClaimResult(claim_id="2", verdict=headline, settings=settings).holds == holds


def test_an_unsettled_headline_counts_the_settings_that_agree_with_its_rule_and_one_setting_is_not_one_of_one():
    from cnn_vs_vit.report.claim_types import ClaimResult

    unsettled = ClaimResult(claim_id="1", verdict="unsettled", rule_verdict="inconclusive")
    unsettled.settings = {"a": "inconclusive", "b": "supported", "c": "not measured"}
    assert unsettled.holds == "1/2"
    assert ClaimResult(claim_id="1", verdict="supported", settings={"a": "supported"}).holds == "one setting"


def test_the_headline_names_which_verdict_holds_in_which_setting_when_they_disagree():
    from cnn_vs_vit.report.claim_types import ClaimResult

    split = {"mnist5k": "supported", "digits": "supported", "shapes": "inconclusive", "cifar": "not measured"}
    assert (
        ClaimResult(claim_id="2", verdict="supported", settings=split).by_setting
        == "supported on mnist5k, digits; inconclusive on shapes"
    )
    assert (
        ClaimResult(claim_id="2", verdict="supported", settings={"a": "supported", "b": "not measured"}).by_setting
        == ""
    )
    # a row whose experiment is the default study's own says so where another setting lacks it
    settings = {"a": "supported", "b": "not measured"}
    by_design = ClaimResult(claim_id="7", verdict="supported", settings=settings, one_setting_by_design=True)
    assert by_design.in_setting("b") == "one setting by design"
    assert {claim.id for claim in CLAIMS if claim.one_setting_by_design} == {"7", "10"}
    assert ClaimResult(claim_id="2", verdict="supported", settings=settings).in_setting("b") == "not measured"


def test_a_report_over_two_settings_counts_a_shared_run_once_and_shows_each_verdict(tmp_path):
    import shutil

    shift_pair(tmp_path / "one" / "runs", lambda k, s: 0.1, lambda k, s: 0.5 + 0.02 * s, seeds=(0, 1))
    shift_pair(tmp_path / "two" / "runs", lambda k, s: 0.1, lambda k, s: 0.5 + 0.02 * s, seeds=(2, 3))
    shutil.copytree(tmp_path / "one" / "runs" / "cnn_s0", tmp_path / "two" / "runs" / "cnn_s0")  # in both
    for name in ("one", "two"):
        (tmp_path / name / "experiment.yaml").write_text(f"name: {name}\ndescription: setting {name}.\n")
    with pytest.raises(CnnvitError, match="needs --out"):
        build_report([tmp_path / "one", tmp_path / "two"])
    built = build_report([tmp_path / "one", tmp_path / "two"], tmp_path / "both")
    assert len(built.runs) == 8  # 4 + 4, and the copy of cnn_s0 once
    runs_csv = (tmp_path / "both" / "runs.csv").read_text()
    assert runs_csv.count("cnn_s0,") == 1 and "one/runs/cnn_s0" in runs_csv
    claim = built.claims[1]
    assert claim.claim_id == "2" and claim.settings == {"one": claim.settings["one"], "two": claim.settings["two"]}
    assert claim.effect.n == 4 and claim.holds.endswith("/2")
    row = next(line for line in (tmp_path / "both" / "claims.csv").read_text().splitlines() if line.startswith("2,"))
    assert f"one: {claim.settings['one']}; two: {claim.settings['two']}" in row and row.endswith(claim.holds)
    report = (tmp_path / "both" / "report.md").read_text()
    assert "| verdict | one | two | holds |" in report and "Settings: one: " in report
    assert f"one: {claim.settings['one']} ({effect_text(claim.setting_effects['one'])})" in report
    assert (tmp_path / "both" / "robustness.png").stat().st_size > 0 and "![robustness.png](robustness.png)" in report


def test_directories_joined_by_plus_are_one_setting_kept_in_several_files(tmp_path):
    """A study whose rows did not fit in one file (default + default-scaling) is one setting of a robustness
    report: its runs are read together, as if in one directory, beside another setting."""
    shift_pair(tmp_path / "main" / "runs", lambda k, s: 0.1, lambda k, s: 0.5 + 0.02 * s, seeds=(0,))
    shift_pair(tmp_path / "more" / "runs", lambda k, s: 0.1, lambda k, s: 0.5 + 0.02 * s, seeds=(1,))
    shift_pair(tmp_path / "other" / "runs", lambda k, s: 0.1, lambda k, s: 0.5 + 0.02 * s, seeds=(2, 3))
    for name in ("main", "more", "other"):
        (tmp_path / name / "experiment.yaml").write_text(f"name: {name}\ndescription: file {name}.\n")
    joined = f"{tmp_path / 'main'}+{tmp_path / 'more'}"
    with pytest.raises(CnnvitError, match="needs --out"):
        build_report(joined)  # two directories, even as one setting: whose report would it overwrite?
    alone = build_report(joined, tmp_path / "alone")
    assert alone.claims[1].effect.n == 2 and list(alone.settings) == ["main"]  # seeds 0 and 1, one setting
    both = build_report([joined, tmp_path / "other"], tmp_path / "both")
    assert list(both.settings) == ["main", "other"] and both.claims[1].effect.n == 4
    main_alone = next(c for c in both.settings["main"] if c.claim_id == "2")
    assert main_alone.effect.n == 2  # the setting's own verdict reads both of its files
    report = (tmp_path / "both" / "report.md").read_text()
    assert "Settings: main (main + more), other." in report and "Setting main, also: **more**. file more." in report


# ----------------------------------------------------------------------- rows 11 and 12: ViT ablations


@pytest.mark.parametrize("learned, sincos, expected", [
    ([0.90, 0.92, 0.91], [0.85, 0.87, 0.86], "supported"),
    ([0.85, 0.87, 0.86], [0.90, 0.92, 0.91], "contradicted"),
    ([0.90, 0.85, 0.88], [0.86, 0.90, 0.87], "inconclusive"),
])  # fmt: skip
def test_learned_vs_sinusoidal_positional_embeddings(tmp_path, learned, sincos, expected):
    for s in range(3):
        make_run(tmp_path, f"learned_{s}", arch="vit", seed=s, accuracy=learned[s])
        make_run(tmp_path, f"sincos_{s}", arch="vit", seed=s, accuracy=sincos[s], pos_embed="sincos2d")
        make_run(tmp_path, f"none_{s}", arch="vit", seed=s, accuracy=0.6, pos_embed="none")
    claim = verdicts(tmp_path)["11"]
    assert claim.rule_verdict == expected and "pos_embed=none: 60.0%" in claim.vit_evidence


def test_cls_vs_mean_pooling(tmp_path):
    for s in range(2):
        make_run(tmp_path, f"cls_{s}", arch="vit", seed=s, accuracy=0.80 + 0.01 * s)
        make_run(tmp_path, f"mean_{s}", arch="vit", seed=s, accuracy=0.85 + 0.01 * s, pool="mean")
    claim = verdicts(tmp_path)["12"]
    assert claim.rule_verdict == "contradicted" and claim.effect.mean == pytest.approx(-0.05)


# ------------------------------------------------------------------ claims 14 and 15: the ViT's shifts


def vit_probe(root, name, errors, **options):
    make_run(root, name, arch="vit", shift_errors=errors, halfwidth=1e-6, **options)


def test_patch_composition_and_the_three_causes_as_a_real_vit_gives_them(tmp_path):
    off_grid = {k: 0.6 for k in range(1, P)}
    vit_probe(tmp_path, "learned", {"embed": {**off_grid, P: 0.3}, "block4": {**off_grid, P: 0.4}})
    vit_probe(tmp_path, "none", {"embed": {**off_grid, P: 1e-7}, "block4": {**off_grid, P: 2e-7}}, pos_embed="none")
    claims = verdicts(tmp_path)
    assert claims["14"].rule_verdict == "supported" and "1e-07 at 7 px" in claims["14"].vit_evidence
    assert claims["15a"].rule_verdict == "supported"
    assert claims["15b"].rule_verdict == "supported"
    assert claims["15c"].rule_verdict == "contradicted"  # self-attention is permutation-equivariant


def test_shift_claims_contradicted_when_errors_vanish_and_supported_when_attention_breaks_it(tmp_path):
    zero = {k: 0.0 for k in range(1, P + 1)}
    vit_probe(tmp_path, "learned", {"embed": zero, "block4": zero})
    vit_probe(tmp_path, "none", {"embed": zero, "block4": {**zero, P: 0.2}}, pos_embed="none")
    claims = verdicts(tmp_path)
    assert claims["14"].rule_verdict == "contradicted"
    assert claims["15a"].rule_verdict == "contradicted"
    assert claims["15b"].rule_verdict == "contradicted"
    assert claims["15c"].rule_verdict == "supported"


def test_shift_claims_are_inconclusive_when_the_interval_straddles_the_tolerance(tmp_path):
    small = {k: 5e-5 for k in range(1, P + 1)}
    make_run(
        tmp_path, "none", arch="vit", shift_errors={"embed": small, "block4": small}, halfwidth=1e-4, pos_embed="none"
    )
    assert verdicts(tmp_path)["15c"].rule_verdict == "inconclusive"


# ------------------------------------------------------------- claim 16: invariance learned from data


@pytest.mark.parametrize("vit_gain, cnn_gain, expected", [
    (0.40, 0.05, "supported"),  # the ViT learns from the augmented data what the CNN has built in
    (0.10, 0.40, "contradicted"),  # the CNN gains more from the same data
    (0.20, 0.20, "inconclusive"),  # both gain alike
])  # fmt: skip
def test_invariance_from_data_compares_both_architectures_gains(tmp_path, vit_gain, cnn_gain, expected):
    for s in range(3):
        for arch, plain, gain in (("resnet", 0.5, cnn_gain), ("vit", 0.2, vit_gain)):
            wobble = 0.01 * s if arch == "vit" else 0.01 * (2 - s) ** 2  # each seed's gain differs a little
            make_run(tmp_path, f"{arch}_aug_{s}", arch=arch, seed=s, shift_errors={},
                     consistency=plain + gain + wobble)  # fmt: skip
            make_run(tmp_path, f"{arch}_plain_{s}", arch=arch, seed=s, shift_errors={}, consistency=plain,
                     translate=0)  # fmt: skip
    claim = verdicts(tmp_path)["16"]
    assert claim.rule_verdict == expected, claim.details
    assert claim.effect.method == "welch" and claim.effect.mean == pytest.approx(vit_gain - cnn_gain + 0.01 - 5 / 300)
    assert "→" in claim.cnn_evidence and "→" in claim.vit_evidence


# ------------------------------------------------------------------------------------- the report files


def full_tree(root):
    sweep(root, lambda f, s: 0.9 + 0.01 * s, lambda f, s: 0.8 + 0.02 * s)
    shift_pair(root / "probed", lambda k, s: 0.1 + 0.01 * s, lambda k, s: 0.5 + 0.02 * s)


def test_rebuilding_gives_byte_identical_files_and_every_claim(tmp_path):
    full_tree(tmp_path / "runs")
    build_report(tmp_path / "runs", tmp_path / "a")
    build_report(tmp_path / "runs", tmp_path / "b")
    for name in ("report.md", "claims.csv", "runs.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    lines = (tmp_path / "a" / "claims.csv").read_text().splitlines()
    assert lines[0] == ("claim_id,claim,cnn_evidence,vit_evidence,verdict,effect,ci_low,ci_high,n_seeds,comparison,rule_verdict,disagreement,"
                        "seeds_to_settle,p,p_holm,scale,at_equal_steps,settings,"
                        "holds")  # fmt: skip
    assert [line.split(",")[0] for line in lines[1:]] == [claim.id for claim in CLAIMS]
    assert {str(i) for i in range(1, 17)} <= {line.split(",")[0].rstrip("abc") for line in lines[1:]}
    report = (tmp_path / "a" / "report.md").read_text()
    assert report.startswith("# CNN vs ViT") and "| # | claim (as the notes state it) |" in report
    assert "Student-t" in report and (tmp_path / "a" / "accuracy_vs_train_size.png").exists()


def test_failed_runs_are_listed_and_never_averaged(tmp_path):
    sweep(tmp_path, lambda f, s: 0.9, lambda f, s: 0.8 + 0.01 * s, fractions=(1.0,))
    before = verdicts(tmp_path)["9"].effect
    failed = make_run(tmp_path, "vit_failed", arch="vit", seed=3, accuracy=0.0)
    (failed / "DONE").unlink()
    (failed / "failed.json").write_text(json.dumps({"step": 12, "loss": "nan", "reason": "non-finite loss"}))
    built = build_report(tmp_path, tmp_path / "out")
    assert built.claims[8].effect == before  # row 9 unchanged by the failed run
    assert (
        "| vit_failed | **failed** (loss=nan; reason=non-finite loss; step=12)"
        in (tmp_path / "out" / "report.md").read_text()
    )
    assert "vit_failed,failed," in (tmp_path / "out" / "runs.csv").read_text()


def test_experiment_name_and_budget_rule_are_printed(tmp_path):
    make_run(tmp_path, "cnn", arch="resnet")
    (tmp_path / "experiment.yaml").write_text("name: data-fraction\ndescription: Row 9.\nbudget: 600 steps per run\n")
    build_report(tmp_path)
    report = (tmp_path / "report.md").read_text()
    assert "Experiment: **data-fraction**" in report and "Budget rule: 600 steps per run" in report


# -------------------------------------------------------------------------------------------- errors


def test_no_finished_run_is_a_one_line_error(tmp_path):
    with pytest.raises(CnnvitError, match="no finished runs under .*; train some with cnnvit train or cnnvit run"):
        build_report(tmp_path)


def test_cli_report_prints_the_table_and_the_files(tmp_path):
    full_tree(tmp_path / "runs")
    result = CliRunner().invoke(app, ["report", str(tmp_path / "runs"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "supported" in result.output and "report.md" in result.output


# ------------------------------------------------------- rows 1, 4, 6, 7, 13: the other probes' results


def write_probe_table(run, name: str, rows: list[dict]) -> None:
    """RUN_DIR/probes/<name>.csv and its summary, as the probe writes them."""
    import pandas as pd

    (run / "probes").mkdir(exist_ok=True)
    pd.DataFrame(rows).to_csv(run / "probes" / f"{name}.csv", index=False)
    (run / "probes" / f"{name}_summary.json").write_text(json.dumps({"sample": SAMPLE}))


def probe_pair(root, name: str, cnn_rows, vit_rows, seeds=(0, 1, 2)):
    """CNN and ViT runs (one per seed) holding `name` results; cnn_rows/vit_rows: seed -> rows."""
    for s in seeds:
        write_probe_table(make_run(root, f"cnn_s{s}", arch="resnet", seed=s), name, cnn_rows(s))
        write_probe_table(make_run(root, f"vit_s{s}", arch="vit", seed=s), name, vit_rows(s))


def erf_rows(layers: dict[str, float], s: int) -> list[dict]:
    return [{"layer": layer, "layer_index": i, "radius_px": area / 10, "area_pct": area + 0.1 * s}
            for i, (layer, area) in enumerate(layers.items())]  # fmt: skip


@pytest.mark.parametrize(
    "vit_first_block, expected", [(80.0, "supported"), (6.0, "inconclusive"), (2.0, "contradicted")]
)
def test_receptive_field_verdicts(tmp_path, vit_first_block, expected):
    cnn = {"stem": 1.1, "stage1.block1": 5.0, "stage4.block1": 60.0}
    vit = {"patch_embed": 6.3, "embed": 6.3, "block1": vit_first_block, "block4": 100.0}
    probe_pair(tmp_path, "receptive_field", lambda s: erf_rows(cnn, s), lambda s: erf_rows(vit, s))
    claim = verdicts(tmp_path)["4"]
    assert claim.rule_verdict == expected, claim.details
    assert claim.effect.mean == pytest.approx(vit_first_block - 5.0)  # first block vs the layer after the stem


def distance_rows(init: float, trained: float, s: int) -> list[dict]:
    """A 4x4 grid of 7 px patches (uniform attention's mean distance: 14.056 px), two blocks of two heads."""
    return [{"weights": weights, "layer": layer, "layer_index": i, "head": head, "mean_distance_px": d + 0.1 * s,
             "grid_h": 4, "grid_w": 4, "patch_size": 7}
            for weights, d in (("init", init), ("trained", trained)) for i, layer in enumerate(("block1", "block2"))
            for head in range(2)]  # fmt: skip


@pytest.mark.parametrize("small_data, all_data, expected", [
    (13.0, 10.0, "supported"),  # below uniform attention, more so with more data
    (10.0, 13.0, "contradicted"),  # less local with more data
    (14.0, 14.0, "inconclusive"),  # uniform attention at both fractions
])  # fmt: skip
def test_inductive_bias_is_locality_that_grows_with_the_data(tmp_path, small_data, all_data, expected):
    from cnn_vs_vit.report.claims.row_01_inductive_bias import CLAIM, uniform_distance
    from cnn_vs_vit.report.selection import Context

    for fraction, trained in ((0.1, small_data), (1.0, all_data)):
        for s in range(3):
            write_probe_table(make_run(tmp_path, f"vit_f{fraction}_s{s}", arch="vit", seed=s, fraction=fraction),
                              "attention_distance", distance_rows(14.05, trained, s))  # fmt: skip
    claim = CLAIM.result(Context.of(load_runs(tmp_path)))
    assert claim.rule_verdict == expected, claim.details
    assert claim.effect.mean == pytest.approx(1 - (all_data + 0.1) / uniform_distance(4, 4, 7))
    assert claim.estimates["slope"].n == 6  # every run a point


def mixing_rows(mixer: float, block: float, s: int) -> list[dict]:
    """Two blocks' mixing variation, the operator alone ("mixer") and the whole block ("layer"), 5% per seed."""
    return [
        {"scope": scope, "layer": layer, "variation": v * (1 + 0.05 * s)}
        for layer in ("b1", "b2")
        for scope, v in (("mixer", mixer), ("layer", block))
    ]


@pytest.mark.parametrize("cnn_block, vit_block, expected", [
    (0.1, 0.5, "supported"),  # the ViT's blocks vary 5x as much
    (0.1, 0.11, "contradicted"),  # about as much: both mix input-dependently
    (0.1, 0.2, "inconclusive"),  # on the margin
])  # fmt: skip
def test_dynamic_mixing_compares_whole_blocks(tmp_path, cnn_block, vit_block, expected):
    probe_pair(tmp_path, "mixing", lambda s: mixing_rows(0.0 + 1e-16, cnn_block, s),
               lambda s: mixing_rows(0.4, vit_block, s))  # fmt: skip
    claim = verdicts(tmp_path)["6"]
    assert claim.rule_verdict == expected, claim.details
    assert claim.effect.mean == pytest.approx(math.log(vit_block / cnn_block))
    assert "convolutions alone" in claim.cnn_evidence and "attention alone" in claim.vit_evidence


@pytest.mark.parametrize(
    "vit_counts, expected", [((1, 5), "supported"), ((9, 20), "contradicted"), ((1, 20), "inconclusive")]
)
def test_architecture_complexity_compares_exact_counts(tmp_path, vit_counts, expected):
    counts = lambda configurations, hyper: [{"parameters": 300000, "leaf_module_types": 5, "blocks": 4, "stages": 4,  # noqa: E731
                                             "block_configurations": configurations, "hyperparameters": hyper}]  # fmt: skip
    probe_pair(tmp_path, "introspection", lambda s: counts(4, 11), lambda s: counts(*vit_counts), seeds=(0,))
    claim = verdicts(tmp_path)["7"]
    assert claim.rule_verdict == expected and claim.effect.mean == 4 - vit_counts[0]


def resolution_rows(arch: str, accuracies: dict[str, float], s: int) -> list[dict]:
    return [{"variant": variant, "train_size": 28, "image_size": size, "accuracy": (acc if size != 28 else 0.95) - 0.01 * s}
            for variant, acc in accuracies.items() for size in (14, 28, 42, 56)]  # fmt: skip


@pytest.mark.parametrize(
    "interpolated, not_interpolated, expected", [(0.8, 0.4, "supported"), (0.4, 0.8, "contradicted")]
)
def test_resolution_change_compares_the_two_vit_variants(tmp_path, interpolated, not_interpolated, expected):
    probe_pair(
        tmp_path,
        "resolution",
        lambda s: resolution_rows("resnet", {"as_is": 0.9}, s),
        lambda s: resolution_rows("vit", {"interpolated": interpolated, "not_interpolated": not_interpolated}, s),
    )
    claim = verdicts(tmp_path)["13"]
    assert claim.rule_verdict == expected, claim.details
    assert claim.effect.mean == pytest.approx(interpolated - not_interpolated)
    assert any("| 42 | 90.0%" in line or "| 42 | 89" in line for line in claim.details)  # the CNN beside them


def test_matched_runs_share_one_subset_per_fraction_and_data_seed_even_where_the_data_seeds_draw_the_same_images():
    from cnn_vs_vit.report.build import matched
    from cnn_vs_vit.report.runs import Run

    def run(name, data_seed, subset):
        config = {"model": {"name": name}, "augment": {"translate": 2}}
        summary = {"seed": data_seed, "data_seed": data_seed, "fraction": 1.0, "subset_hash": subset,
                   "train_size": 100, "steps": 10, "batch_size": 8, "params": 1000, "model": name}  # fmt: skip
        return Run(f"{name}_{data_seed}", "done", config, summary)

    full_data = [run(arch, seed, "same") for arch in ("resnet-s", "vit-s") for seed in (0, 1)]  # all of it, each seed
    assert any("Same images per fraction and data seed (2 data seeds): yes" in line for line in matched(full_data))
    unmatched = full_data[:-1] + [run("vit-s", 1, "other")]  # one architecture saw other images under data seed 1
    assert any("Same images per fraction and data seed (2 data seeds): NO" in line for line in matched(unmatched))
