"""Row 1, inductive bias: does the ViT learn locality from data (its first block's attention distance at
initialisation and after training, the attention_distance probe), with rows 2 (equivariance) and 9 (data
efficiency) completing it: it reads their results."""

import math
from collections.abc import Mapping

from ..claim import Claim
from ..claim_types import ClaimResult, Evidence, Measured, Missing
from ..formatting import text
from ..plots import REACH_BY_LAYER
from ..runs import Run
from ..selection import PROBE_HINT, Context, at, first_block, fractions, probed
from ..statistics import Estimate, sign_verdict, t_interval
from ..pvalues import all_of
from . import row_02_equivariance, row_09_data_efficiency

RULE = (
    "supported if the ViT's first-block mean attention distance (over heads) shrinks with training "
    "(init − trained with a 95% interval above 0) and rows 2 and 9 are supported; contradicted if row 2 "
    "or row 9 is contradicted; else inconclusive"
)


def decide(estimates: Mapping[str, Estimate], *, parts: Mapping[str, ClaimResult]) -> str:
    """RULE: "effect" is init − trained attention distance; "<row>:<key>" are the estimates of row <row> of
    `parts` (2 and 9), decided again by their own rules, so that a simulated rerun redraws them too: row 1's
    flip rate includes theirs."""
    others = {
        part.decide({key: estimates[f"{row}:{key}"] for key in part.estimates}) if part.decide else part.verdict
        for row, part in parts.items()
    }
    if "contradicted" in others:
        return "contradicted"
    supported = sign_verdict(estimates["effect"]) == "supported" and others == {"supported"}
    return "supported" if supported else "inconclusive"


def measure(ctx: Context, equivariance: ClaimResult, data_efficiency: ClaimResult) -> Measured | Missing:
    """effect = first-block mean attention distance at initialisation − after training (px): positive when
    training makes the ViT's early attention more local."""
    vit = probed(ctx.select("vit"), "attention_distance")
    if not vit:
        return Missing(
            "needs attention_distance probe results (with the init rows) of ViT runs; "
            + PROBE_HINT.format(name="attention_distance")
        )
    fraction = max(fractions(vit))
    runs = at(vit, fraction)
    effect = t_interval([attention_distance(r, "init") - attention_distance(r, "trained") for r in runs])
    parts = {part.claim_id: part for part in (equivariance, data_efficiency)}
    return Measured(
        estimates={
            "effect": effect,
            **{f"{row}:{key}": e for row, part in parts.items() for key, e in part.estimates.items()},
        },
        effect=effect,
        runs=runs,
        facts={"parts": parts},
        found=(vit, fraction),
    )


def attention_distance(run: Run, weights: str) -> float:
    """The ViT's first-block mean attention distance (px, mean over heads) with `weights` "init" or "trained"."""
    table = run.probe_rows["attention_distance"]
    layer = first_block(table, "vit")
    picked = table[(table["layer"] == layer) & (table["weights"] == weights)]
    return float(picked["mean_distance_px"].mean()) if len(picked) else math.nan


def describe(measured: Measured) -> Evidence:
    vit, fraction = measured.found
    equivariance, data_efficiency = measured.facts["parts"].values()
    return Evidence(
        cnn=f"row 2 {equivariance.verdict}, row 9 {data_efficiency.verdict}",
        vit=f"first-block attention distance shrinks by {text(measured.effect)} px with training",
        effect_meaning="first-block mean attention distance at init − after training (pixels)",
        details=[
            f"Effect: init − trained first-block mean attention distance (px, mean over heads; [CLS] excluded), "
            f"ViT runs at fraction {fraction:g} (t interval over seeds). Row 2: {equivariance.verdict}; "
            f"row 9: {data_efficiency.verdict}. Does the ViT learn locality, and less of it with less data?",
            *distance_by_fraction(vit),
        ],
    )


def distance_by_fraction(vit: list[Run]) -> list[str]:
    lines = ["", "| fraction | first-block distance at init (px) | after training (px) |", "|---|---|---|"]
    for f in sorted(fractions(vit)):
        init, trained = (t_interval([attention_distance(r, w) for r in at(vit, f)]) for w in ("init", "trained"))
        lines.append(f"| {f:g} | {text(init)} | {text(trained)} |")
    return lines


CLAIM = Claim(
    id="1",
    scale="measured",
    p_value=all_of("effect", "2:effect", "9:effect"),
    text="Inductive bias: CNN strong (locality, translation equivariance); ViT weak, learns everything from data",
    measure=measure,
    decide=decide,
    rule=RULE,
    describe=describe,
    anchor="Dosovitskiy et al. 2020 Fig. 7 (right): some heads attend locally in the lowest layers "
    "(mean distance well below the image size), more so than at init; Raghu et al. 2021.",
    probes=("attention_distance",),
    groups=("data_fraction",),
    reads=(row_02_equivariance.CLAIM, row_09_data_efficiency.CLAIM),
    plots=(REACH_BY_LAYER,),
)
