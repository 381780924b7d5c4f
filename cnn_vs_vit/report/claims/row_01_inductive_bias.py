"""Row 1, inductive bias: does the ViT learn locality from data? Its first block's attention distance (the
attention_distance probe) against uniform attention's on its patch grid, at every data fraction probed. The
CNN's locality is its architecture's (a 3x3 kernel sees its neighbours only); rows 2 and 9 measure equivariance
and data efficiency with rules of their own, so this row no longer reads them."""

import math
from collections.abc import Mapping

import numpy as np
from scipy import stats

from ..claim import Claim
from ..claim_types import Evidence, Measured, Missing
from ..formatting import text
from ..plots import REACH_BY_LAYER
from ..runs import Run
from ..selection import PROBE_HINT, Context, at, first_block, fraction, fractions, probed
from ..statistics import MISSING, Estimate, t_interval
from .rule_statistics import both_or_either, both_or_either_p, interval_p

RULE = (
    "locality of the ViT's first block = 1 − (its mean attention distance over heads) / (the distance uniform "
    "attention gives on its patch grid): 0 for no preference, up to 1 attending to itself, below 0 attending "
    "farther than uniform. Supported if locality grows with the training data (slope over log10 data fraction, "
    "every ViT run a point, with a 95% interval above 0) and is above 0 at the largest fraction (interval above "
    "0); contradicted if the slope's interval is below 0 (more data, less local) or the locality at the largest "
    "fraction is below 0 (interval below 0: training makes the early attention more global than uniform); "
    "inconclusive otherwise"
)


def decide(estimates: Mapping[str, Estimate]) -> str:
    """RULE: "slope" is the locality's growth per decade of data, "effect" the locality at the largest fraction."""
    return both_or_either(estimates["slope"], estimates["effect"])


def p_value(estimates: Mapping[str, Estimate]) -> float:
    """Two-sided p of the verdict's tests, as both_or_either_p combines them: the slope's t test (n − 2 degrees
    of freedom) and the largest fraction's (n − 1)."""
    slope, level = estimates["slope"], estimates["effect"]
    if slope.n < 3 or level.n < 2:
        return 1.0
    slope_test = (interval_p(slope, slope.n - 2), slope.mean)
    level_test = (interval_p(level, level.n - 1), level.mean)
    return both_or_either_p(decide(estimates), slope_test, level_test)


def uniform_distance(grid_h: int, grid_w: int, patch_size: int) -> float:
    """Mean attention distance (px) of uniform attention over a grid_h x grid_w patch grid, the self included:
    the mean distance between patch centres, as probes/attention_distance.py measures it."""
    rows, cols = np.meshgrid(np.arange(grid_h), np.arange(grid_w), indexing="ij")
    centres = np.stack([rows.ravel(), cols.ravel()], axis=1) * float(patch_size)  # (h·w, 2)
    return float(np.linalg.norm(centres[:, None] - centres[None], axis=-1).mean())


def locality(run: Run, weights: str = "trained") -> float:
    """1 − first-block mean attention distance / uniform attention's, of the run's ViT with `weights`."""
    table = run.probe_rows["attention_distance"]
    picked = table[(table["layer"] == first_block(table, "vit")) & (table["weights"] == weights)]
    if not len(picked):
        return math.nan
    first = picked.iloc[0]
    uniform = uniform_distance(int(first["grid_h"]), int(first["grid_w"]), int(first["patch_size"]))
    return 1.0 - float(picked["mean_distance_px"].mean()) / uniform


def slope_over_data(runs: list[Run]) -> Estimate:
    """OLS slope of locality over log10(data fraction), every run a point, with its 95% t interval (n − 2
    degrees of freedom); MISSING with fewer than 2 fractions, no interval with fewer than 3 runs."""
    points = [(math.log10(fraction(r)), locality(r)) for r in runs if math.isfinite(locality(r))]
    if len({x for x, _ in points}) < 2:
        return MISSING
    x, y = (np.array(v) for v in zip(*points))
    fit = stats.linregress(x, y)
    n = len(x)
    if n < 3:
        return Estimate(float(fit.slope), n=n, method="regression")
    half = stats.t.ppf(0.975, n - 2) * fit.stderr
    return Estimate(float(fit.slope), fit.slope - half, fit.slope + half, n, method="regression")


def measure(ctx: Context) -> Measured | Missing:
    """effect = the ViT's first-block locality after training at the largest fraction; "slope" its growth per
    decade of training data over every fraction probed."""
    vit = [r for r in probed(ctx.select("vit"), "attention_distance") if math.isfinite(locality(r))]
    if not vit:
        return Missing(
            "needs attention_distance probe results of ViT runs; " + PROBE_HINT.format(name="attention_distance")
        )
    largest = max(fractions(vit))
    effect = t_interval([locality(r) for r in at(vit, largest)])
    return Measured(
        estimates={"effect": effect, "slope": slope_over_data(vit)}, effect=effect, runs=vit, found=(vit, largest)
    )


def describe(measured: Measured) -> Evidence:
    vit, largest = measured.found
    slope = measured.estimates["slope"]
    return Evidence(
        cnn="locality built in: a 3x3 convolution sees its neighbours only, whatever the data (not measured here)",
        vit=f"first-block locality {text(measured.effect)} at fraction {largest:g}; per decade of data {text(slope)}",
        effect_meaning="the ViT's first-block locality, 1 − attention distance / uniform attention's (dimensionless)",
        details=[
            f"Effect: locality of the ViT's first block (1 − mean attention distance over heads / the distance "
            f"uniform attention gives on its patch grid; [CLS] excluded) at fraction {largest:g}, t interval over "
            f"seeds; growth per decade of training data: {text(slope)} (OLS over {slope.n} runs).",
            "How this differs from CLAIMS.md's sketch (init − trained distance, and rows 2 and 9 supported): rows 2 "
            "and 9 have verdicts of their own and are no longer counted twice; the distance at initialisation is "
            "uniform attention's by construction (shown below), so init − trained measures training, not data. "
            "'Learns from data' is read as locality that grows with the training data, on a scale with room on "
            "both sides of uniform attention.",
            *distance_by_fraction(vit),
        ],
    )


def distance_by_fraction(vit: list[Run]) -> list[str]:
    lines = [
        "",
        "| fraction | first-block distance at init (px) | after training (px) | locality after training |",
        "|---|---|---|---|",
    ]
    for f in sorted(fractions(vit)):
        init, trained = (t_interval([distance(r, w) for r in at(vit, f)]) for w in ("init", "trained"))
        lines.append(
            f"| {f:g} | {text(init)} | {text(trained)} | {text(t_interval([locality(r) for r in at(vit, f)]))} |"
        )
    return lines


def distance(run: Run, weights: str) -> float:
    """The ViT's first-block mean attention distance (px, mean over heads) with `weights` "init" or "trained"."""
    table = run.probe_rows["attention_distance"]
    picked = table[(table["layer"] == first_block(table, "vit")) & (table["weights"] == weights)]
    return float(picked["mean_distance_px"].mean()) if len(picked) else math.nan


CLAIM = Claim(
    id="1",
    scale="measured",
    text="Inductive bias: CNN strong (locality, translation equivariance); ViT weak, learns everything from data",
    measure=measure,
    decide=decide,
    rule=RULE,
    describe=describe,
    p_value=p_value,
    anchor="Dosovitskiy et al. 2020 Fig. 7 (right): some heads attend locally in the lowest layers "
    "(mean distance well below the image size), more so than at init; Raghu et al. 2021.",
    probes=("attention_distance",),
    groups=("plateau", "equal_steps"),
    plots=(REACH_BY_LAYER,),
)
