"""Row 14, patch composition: even a 1–2 px shift changes the ViT's patch tokens. Reads the shift probe's
token-embedding errors, and (its periodicity) those of a ViT without positional embeddings."""

import math

import numpy as np

from ..claim import Claim
from ..claim_types import Evidence, Measured, Missing
from ..formatting import fmt
from ..plots import ERROR_VS_SHIFT
from ..runs import Run
from ..selection import Context, reference_vit
from ..shift_results import PROBE_HINT, SHIFT_ANCHOR, ZERO_TOLERANCE, layer_estimate, patch_size, shifts, threshold_rule

RULE = (
    f"supported if the ViT's token-embedding equivariance error at 1 and 2 px has a 95% interval above "
    f"{ZERO_TOLERANCE:g}; contradicted if below it at both; periodicity reported: the error at a shift of "
    "one patch vs other shifts, for a ViT without positional embeddings"
)  # decided by threshold_rule


def measure(ctx: Context) -> Measured | Missing:
    """effect = equivariance error of the ViT's first token layer (`embed`) at a 1 px shift."""
    vit = reference_vit(ctx) or reference_vit(ctx, pos_embed="none")
    if not vit or not {1, 2} <= set(shifts(vit, "embed")):
        return Missing(f"needs shift-probe results at 1 and 2 px for a ViT; {PROBE_HINT}")
    one, two = (layer_estimate(vit, "embed", s) for s in (1, 2))
    return Measured(
        estimates={"1 px": one, "2 px": two},
        effect=one,
        runs=vit,
        found=(vit, reference_vit(ctx, pos_embed="none")),
    )


def describe(measured: Measured) -> Evidence:
    vit, flat = measured.found
    one, two = measured.estimates["1 px"], measured.estimates["2 px"]
    P = patch_size(vit)
    details = [
        f"Effect: equivariance error of `embed` (patch tokens + positions) at 1 px, {vit[0].label}.",
        "",
        f"Error at 1 px: {fmt(one)}; at 2 px: {fmt(two)} (patch size {P}).",
    ]
    vit_evidence = f"embed error {one.mean:.3f} at 1 px, {two.mean:.3f} at 2 px"
    if flat and P and P in shifts(flat, "embed"):
        line, evidence = periodicity(flat, P)
        details += ["", line]
        vit_evidence += evidence
    return Evidence(
        cnn="— (patching is ViT-only)",
        vit=vit_evidence,
        effect_meaning="relative token change at 1 px (unitless)",
        details=details,
    )


def periodicity(flat: list[Run], P: int) -> tuple[str, str]:
    """(a details line, an evidence suffix): the embedding error of a ViT without positional embeddings at a
    shift of one patch (P px) against the other shifts."""
    others = [s for s in shifts(flat, "embed") if s % P]
    at_p = layer_estimate(flat, "embed", P)
    rest = float(np.mean([layer_estimate(flat, "embed", s).mean for s in others])) if others else math.nan
    line = (
        f"Periodicity ({flat[0].label}): error at a shift of one patch ({P} px) {fmt(at_p)} vs mean "
        f"{rest:.4f} at the other shifts {others}: a whole-patch shift only permutes tokens."
    )
    return line, f"; pos_embed=none: {at_p.mean:.2g} at {P} px vs {rest:.3f} elsewhere"


CLAIM = Claim(
    id="14",
    scale="any",
    exact=True,
    text="Even 1–2 px shifts change the patch composition",
    measure=measure,
    decide=threshold_rule,
    rule=RULE,
    describe=describe,
    anchor=SHIFT_ANCHOR,
    probes=("shift",),
    groups=("shift_probed", "positional_embeddings"),
    plots=(ERROR_VS_SHIFT,),
)
