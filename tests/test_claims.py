"""The claims registry as a specification: every claim builds, decides each verdict its rule can give on
hand-made estimates at its edges, is "not measured" with a reason on runs that lack its inputs, and is the
only module that spells its id."""

import ast
import math
from pathlib import Path

import pytest
import yaml

import cnn_vs_vit.report
from cnn_vs_vit.probes import PROBES
from cnn_vs_vit.report.claim_types import VERDICTS
from cnn_vs_vit.report.claims import CLAIMS, ROWS
from cnn_vs_vit.report.claims.row_03_global_context import CHANCE
from cnn_vs_vit.report.claims.row_04_receptive_field import MANY_TIMES
from cnn_vs_vit.report.claims.row_05_scalability import FLOOR_EVIDENCE
from cnn_vs_vit.report.claims.row_06_dynamic_mixing import DYNAMIC_RATIO
from cnn_vs_vit.report.claims.rule_statistics import success_share
from cnn_vs_vit.report.runs import Run
from cnn_vs_vit.report.selection import Context
from cnn_vs_vit.report.shift_results import ZERO_TOLERANCE
from cnn_vs_vit.report.statistics import MISSING, Estimate

REPORT = Path(cnn_vs_vit.report.__file__).parent
GROUPS = {  # the main job and the files of rows 5 and 3 (experiments/default-scaling.yaml, default-reach.yaml)
    group
    for study in ("default.yaml", "default-scaling.yaml", "default-reach.yaml")
    for group in yaml.safe_load((REPORT.parents[1] / "experiments" / study).read_text())["groups"]
}

JUST_ABOVE = Estimate(0.01, 1e-9, 0.02, 3)  # a 95% interval just above 0
JUST_BELOW = Estimate(-0.01, -0.02, -1e-9, 3)
TOUCHES = Estimate(0.01, 0.0, 0.02, 3)  # its lower end at 0: not above it
SIGN = [({"effect": JUST_ABOVE}, {}, "supported"), ({"effect": JUST_BELOW}, {}, "contradicted"),
        ({"effect": TOUCHES}, {}, "inconclusive")]  # fmt: skip
ABOVE_TOLERANCE = Estimate(2 * ZERO_TOLERANCE, 1.01 * ZERO_TOLERANCE, 3 * ZERO_TOLERANCE, 3)
BELOW_TOLERANCE = Estimate(ZERO_TOLERANCE / 2, 0.0, 0.99 * ZERO_TOLERANCE, 3)
ON_TOLERANCE = Estimate(ZERO_TOLERANCE, ZERO_TOLERANCE / 2, 2 * ZERO_TOLERANCE, 3)
THRESHOLD = [({"1 px": ABOVE_TOLERANCE, "2 px": ABOVE_TOLERANCE}, {}, "supported"),
             ({"1 px": BELOW_TOLERANCE, "2 px": BELOW_TOLERANCE}, {}, "contradicted"),
             ({"1 px": ABOVE_TOLERANCE, "2 px": ON_TOLERANCE}, {}, "inconclusive"),
             ({"1 px": MISSING}, {}, "not measured")]  # fmt: skip


def counts(configurations: float, hyperparameters: float) -> dict:
    exact = lambda x: Estimate(x, n=1, method="exact count")  # noqa: E731
    return {"configurations": exact(configurations), "hyperparameters": exact(hyperparameters)}


AT_CHANCE = Estimate(CHANCE, CHANCE - 0.02, CHANCE + 0.02, 3)


def depths(vit: tuple[int, int], cnn: tuple[int, int], deep: tuple[int, int], everywhere=None, control=AT_CHANCE):
    """Row 3's estimates from (successes, runs): the ViT and the CNN at depths 1-2, the CNN deeper, and over every
    shared depth (the shallow counts when not given)."""
    vit_all, cnn_all = everywhere or (vit, cnn)
    return {"vit shallow": success_share(*vit), "cnn shallow": success_share(*cnn), "cnn deep": success_share(*deep),
            "vit all": success_share(*vit_all), "cnn all": success_share(*cnn_all), "control": control}  # fmt: skip


def scaling(gap: Estimate, cnn_floor: float = 0.0, vit_floor: float = 0.0) -> dict:
    exact = lambda x: Estimate(x, n=15, method="AICc")  # noqa: E731
    return {"effect": gap, "cnn floor": exact(cnn_floor), "vit floor": exact(vit_floor)}


FLOOR = FLOOR_EVIDENCE  # AICc evidence just enough for a floor
MARGIN = math.log(DYNAMIC_RATIO)
AREA = Estimate(10.0, 9.0, 11.0, 3)
GAIN = Estimate(0.2, 0.1, 0.3, 3)
STEPS, PLATEAU = {"crossover_within": True, "plateau": False}, {"crossover_within": True, "plateau": True}

# claim id -> [(estimates, decide's facts, the verdict)]: every verdict each rule can give, at its edges
EDGES = {
    "1": [({"effect": JUST_ABOVE, "slope": JUST_ABOVE}, {}, "supported"),
          ({"effect": JUST_ABOVE, "slope": TOUCHES}, {}, "inconclusive"),
          ({"effect": TOUCHES, "slope": JUST_ABOVE}, {}, "inconclusive"),
          ({"effect": JUST_ABOVE, "slope": JUST_BELOW}, {}, "contradicted"),  # more data, less local
          ({"effect": JUST_BELOW, "slope": TOUCHES}, {}, "contradicted")],  # more global than uniform attention
    "2": [({"effect": JUST_ABOVE, "1 px": JUST_ABOVE, "2 px": JUST_ABOVE}, {}, "supported"),
          ({"effect": JUST_BELOW, "1 px": JUST_BELOW}, {}, "contradicted"),
          ({"effect": JUST_ABOVE, "1 px": JUST_ABOVE, "2 px": JUST_BELOW}, {}, "inconclusive"),
          ({"effect": TOUCHES, "1 px": JUST_ABOVE}, {}, "inconclusive")],
    "3": [(depths((6, 6), (0, 6), (6, 6)), {}, "supported"),
          (depths((5, 6), (0, 6), (5, 6)), {}, "supported"),  # Fisher p = 0.015 for both contrasts
          (depths((4, 6), (0, 6), (6, 6)), {}, "inconclusive"),  # (a): p = 0.061
          (depths((6, 6), (0, 6), (6, 6), control=Estimate(0.6, 0.55, 0.65, 3)), {}, "inconclusive"),
          (depths((6, 6), (0, 6), (6, 6), control=MISSING), {}, "inconclusive"),  # no control trained
          (depths((0, 6), (5, 6), (6, 6)), {}, "contradicted"),  # the shallow CNN is the one that learns
          (depths((0, 6), (0, 6), (6, 6), everywhere=((0, 12), (6, 12))), {}, "contradicted"),  # (c): p = 0.014
          (depths((0, 6), (0, 6), (3, 3), everywhere=((0, 9), (3, 9))), {}, "inconclusive"),  # (c): p = 0.21
          (depths((6, 6), (6, 6), (6, 6)), {}, "contradicted")],  # a shallow CNN needs no depth
    "4": [({"effect": JUST_ABOVE, "cnn": AREA, "vit": Estimate(MANY_TIMES * 10.0, 19.0, 21.0, 3)}, {}, "supported"),
          ({"effect": JUST_ABOVE, "cnn": AREA, "vit": Estimate(MANY_TIMES * 10.0 - 0.1, 19.0, 21.0, 3)}, {},
           "inconclusive"),
          ({"effect": JUST_BELOW, "cnn": AREA, "vit": AREA}, {}, "contradicted")],
    "5": [(scaling(JUST_ABOVE), STEPS, "supported"),
          (scaling(JUST_ABOVE), {**STEPS, "crossover_within": False}, "not reached at this scale"),
          (scaling(JUST_BELOW), STEPS, "contradicted"),
          (scaling(TOUCHES), STEPS, "inconclusive"),
          (scaling(JUST_ABOVE, vit_floor=FLOOR), STEPS, "not measured"),  # a fixed budget may set the floor
          (scaling(JUST_ABOVE, vit_floor=FLOOR - 0.01), STEPS, "supported"),
          (scaling(JUST_BELOW, cnn_floor=FLOOR), PLATEAU, "supported"),  # at its plateau the CNN saturates
          (scaling(JUST_ABOVE, vit_floor=FLOOR), PLATEAU, "contradicted"),
          (scaling(JUST_ABOVE, cnn_floor=FLOOR, vit_floor=FLOOR), PLATEAU, "inconclusive")],
    "6": [({"effect": Estimate(MARGIN + 0.2, MARGIN + 1e-9, MARGIN + 0.4, 3)}, {}, "supported"),
          ({"effect": Estimate(MARGIN - 0.2, MARGIN - 0.4, MARGIN - 1e-9, 3)}, {}, "contradicted"),
          ({"effect": Estimate(0.0, -0.1, 0.1, 3)}, {}, "contradicted"),  # blocks equally input-dependent
          ({"effect": Estimate(MARGIN, MARGIN - 0.1, MARGIN + 0.1, 3)}, {}, "inconclusive"),
          ({"effect": Estimate(MARGIN + 1, n=1)}, {}, "inconclusive")],  # one run: no interval
    "7": [(counts(1, 1), {}, "supported"), (counts(-1, -1), {}, "contradicted"), (counts(1, -1), {}, "inconclusive"),
          (counts(0, 1), {}, "inconclusive")],
    "8": SIGN,
    "9": [*((estimates, {"fractions_measured": 2}, verdict) for estimates, _, verdict in SIGN),
          ({"effect": JUST_ABOVE}, {"fractions_measured": 1}, "inconclusive")],
    "10": [({}, {"cnn_modules_replaced": 1, "vit_runs_unchanged": True, "vit_above_chance": True}, "supported"),
           ({}, {"cnn_modules_replaced": 0, "vit_runs_unchanged": True, "vit_above_chance": True}, "contradicted"),
           ({}, {"cnn_modules_replaced": 1, "vit_runs_unchanged": False, "vit_above_chance": True}, "contradicted"),
           ({}, {"cnn_modules_replaced": 1, "vit_runs_unchanged": True, "vit_above_chance": False}, "inconclusive")],
    "11": SIGN, "12": SIGN, "13": SIGN,
    "14": THRESHOLD, "15a": THRESHOLD, "15b": THRESHOLD, "15c": THRESHOLD,
    "16": [({"effect": JUST_ABOVE, "vit gain": GAIN}, {}, "supported"),
           ({"effect": JUST_ABOVE, "vit gain": TOUCHES}, {}, "inconclusive"),
           ({"effect": TOUCHES, "vit gain": GAIN}, {}, "inconclusive"),  # both learn it, neither more
           ({"effect": JUST_BELOW, "vit gain": GAIN}, {}, "contradicted"),  # the CNN learns more from the data
           ({"effect": TOUCHES, "vit gain": JUST_BELOW}, {}, "contradicted")],
    "17": SIGN,
}  # fmt: skip
IDS = [claim.id for claim in CLAIMS]


def test_the_registry_holds_one_claim_per_row_in_the_tables_order():
    assert len(set(IDS)) == len(IDS) == len(ROWS)
    for row, claim in zip(ROWS, CLAIMS):  # the module's name carries its row: row_04_... holds claim "4"
        assert row.split("_")[1].lstrip("0") == claim.id, row
    assert set(EDGES) == set(IDS), "every claim needs its edges here"


@pytest.mark.parametrize("claim", CLAIMS, ids=IDS)
def test_a_claim_declares_what_it_reads(claim):
    assert claim.text and claim.rule and callable(claim.measure) and callable(claim.decide)
    assert set(claim.probes) <= set(PROBES) and set(claim.groups) <= GROUPS, (claim.probes, claim.groups)
    assert all(other in CLAIMS for other in claim.reads)
    assert len({variant.suffix for variant in claim.variants}) == len(claim.variants)


@pytest.mark.parametrize("claim", CLAIMS, ids=IDS)
def test_a_claim_decides_every_verdict_its_rule_can_give_at_its_edges(claim):
    for estimates, facts, expected in EDGES[claim.id]:
        assert claim.decide(estimates, **facts) == expected, (estimates, facts)
        assert expected in VERDICTS


@pytest.mark.parametrize("claim", CLAIMS, ids=IDS)
def test_a_claim_without_its_runs_is_not_measured_and_says_why(claim):
    empty = Context.of([])
    read = [other.result(empty) for other in claim.reads]
    for variant in (None, *claim.variants):
        result = claim.result(empty, *read, variant=variant)
        assert result.verdict == "not measured" and result.rule.startswith("needs "), result.rule
        assert result.details == [f"Not measured: {result.rule}."] and result.claim_id.startswith(claim.id)
        for probe in claim.probes:  # its reason names the probe to run
            assert probe.replace("_", " ") in result.rule.replace("_", " ").replace("-", " "), result.rule


def string_literals(path: Path) -> set[str]:
    return {node.value for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Constant)
            and isinstance(node.value, str)}  # fmt: skip


def test_no_claim_id_is_written_outside_its_own_module():
    """A row's id (and its variants') as a string appears in its module only: adding, renumbering or
    dropping a row touches that module alone."""
    own = {claim.id: Path(__import__(claim.measure.__module__, fromlist=["_"]).__file__) for claim in CLAIMS}
    ids = {claim.id: {claim.id, *(f"{claim.id}-{v.suffix}" for v in claim.variants)} for claim in CLAIMS}
    for path in sorted(REPORT.rglob("*.py")):
        found = string_literals(path)
        for claim_id, spelled in ids.items():
            if path != own[claim_id]:
                assert not (found & spelled), f"{path.relative_to(REPORT)} spells claim {found & spelled}"


def run(name: str, model: str, arch: str) -> Run:
    summary = {"model": model, "arch": arch, "dataset": "mnist5k", "fraction": 1.0, "seed": 0}
    return Run(name, "done", {"model": {"name": model}}, summary)


def test_a_run_is_placed_by_its_models_declared_family_and_the_control_has_no_reference_model():
    runs = [run("cnn", "resnet-s", "resnet"), run("vit", "vit-xs", "vit"), run("bag", "bagnet-7", "bag")]
    assert [r.family for r in runs] == ["cnn", "vit", "control"]
    assert run("renamed", "resnet-20000", "resnet").family == "cnn"  # a name cnnvit lacks: its recorded arch
    context = Context.of(runs)
    assert context.references == {"cnn": "resnet-s", "vit": "vit-xs"}
    assert context.select("control") == [] and context.select("control", model=False) == [runs[2]]
    assert context.select("vit") == [runs[1]]  # the most common ViT when vit-s was not run


def test_probe_results_are_read_back_with_the_probes_column_types(tmp_path):
    from test_report import make_run

    from cnn_vs_vit.report import load_runs

    make_run(tmp_path, "vit", arch="vit", shift_errors={})
    (loaded,) = load_runs(tmp_path)
    assert str(loaded.shift_rows["grid_stride"].dtype) == "Int64"  # empty for the logits: a nullable integer
    assert str(loaded.shift_rows["expressible"].dtype) == "boolean"


def test_every_claim_says_its_scale_and_the_architectural_facts_are_exact():
    from cnn_vs_vit.report.claims import CLAIMS

    scales = {claim.id: claim.scale for claim in CLAIMS}
    assert {i for i, s in scales.items() if s == "any"} >= {"4", "6", "7", "10", "13", "14", "15a", "15b", "15c"}
    assert {i for i, s in scales.items() if s == "measured"} >= {"1", "5", "8", "9", "11", "12", "16", "17"}
    assert {claim.id for claim in CLAIMS if claim.exact} == {"7", "10", "14", "15a", "15b", "15c"}
