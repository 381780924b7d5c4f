"""Row 4, receptive field: the ViT's first block already sees much of the image, the CNN's a small patch.
Reads the receptive_field probe (effective receptive fields, Luo et al. 2016) of the probed pair."""

from collections.abc import Mapping

import numpy as np

from ..claim import Claim
from ..claim_types import Evidence, Measured, Missing
from ..formatting import text
from ..plots import REACH_BY_LAYER
from ..runs import Run
from ..selection import Context, by_key, first_block, probed_pair
from ..statistics import Estimate, difference, sign_verdict, t_interval

MANY_TIMES = 2.0  # the rule's "≫": the ViT's first-block ERF at least this many times the CNN's
RULE = (
    f"supported if the ViT's first-block ERF area (95% of the gradient mass, % of the image) exceeds the "
    f"CNN's first-block area with a 95% interval above 0 and is at least {MANY_TIMES:g}x it; contradicted "
    "if the difference's interval is below 0; else inconclusive"
)


def decide(estimates: Mapping[str, Estimate]) -> str:
    """RULE: "effect" is ViT − CNN first-block ERF area, "cnn" and "vit" each one's area."""
    verdict = sign_verdict(estimates["effect"])
    if verdict == "supported" and estimates["vit"].mean < MANY_TIMES * estimates["cnn"].mean:
        return "inconclusive"
    return verdict


def measure(ctx: Context) -> Measured | Missing:
    """effect = ViT − CNN share of the image (%) holding 95% of the gradient mass, first block."""
    pair = probed_pair(ctx, "receptive_field")
    if isinstance(pair, Missing):
        return pair
    effect = difference(by_key(pair.vit, first_block_area), by_key(pair.cnn, first_block_area), paired=False)
    cnn_area, vit_area = (t_interval([first_block_area(r) for r in runs]) for runs in (pair.cnn, pair.vit))
    return Measured(
        estimates={"effect": effect, "cnn": cnn_area, "vit": vit_area}, effect=effect, runs=pair.runs, found=pair
    )


def first_block_area(run: Run) -> float:
    """The share of the image (%) holding 95% of the gradient mass of the run's first block."""
    table = run.probe_rows["receptive_field"]
    return float(table[table["layer"] == first_block(table, run.family)]["area_pct"].iloc[0])


def describe(measured: Measured) -> Evidence:
    """The areas, then every layer's ERF radius and area, seed means."""
    pair, effect = measured.found, measured.effect
    details = [
        f"Effect: ViT − CNN ERF area (% of the image) of the first block, at fraction {pair.fraction:g} "
        f"({effect.method} comparison). Per layer, seed means:",
        "",
        "| arch | layer | radius (px) | area (% of image) |",
        "|---|---|---|---|",
    ]
    for runs in (pair.cnn, pair.vit):
        table = runs[0].probe_rows["receptive_field"].sort_values("layer_index")
        for layer in table["layer"].drop_duplicates():
            rows = [t[t["layer"] == layer] for t in (r.probe_rows["receptive_field"] for r in runs)]
            radius = np.mean([float(t["radius_px"].iloc[0]) for t in rows if len(t)])
            share = np.mean([float(t["area_pct"].iloc[0]) for t in rows if len(t)])
            details.append(f"| {runs[0].arch} | {layer} | {radius:.1f} | {share:.1f}% |")
    return Evidence(
        cnn=f"first block: {text(measured.estimates['cnn'])}% of the image",
        vit=f"first block: {text(measured.estimates['vit'])}% of the image",
        effect_meaning="ViT − CNN effective receptive field area of the first block (percentage points of the image)",
        details=details,
    )


CLAIM = Claim(
    id="4",
    scale="any",
    text="Receptive field: CNN grows slowly; ViT global from the first layer",
    measure=measure,
    decide=decide,
    rule=RULE,
    describe=describe,
    anchor="Luo et al. 2016 (effective receptive fields are Gaussian and grow ~√depth); Raghu et al. 2021 "
    "Fig. 4: ViT lower layers already mix local and global information.",
    probes=("receptive_field",),
    groups=("shift_probed",),
    plots=(REACH_BY_LAYER,),
)
