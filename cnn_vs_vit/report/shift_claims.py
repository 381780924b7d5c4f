"""Claims measured by the shift probe (probes/shift.csv, shift_summary.json of each run):
equivariance (2), patch composition (14), the three causes of broken equivariance (15a–c) and
invariance learned from augmentation (16). Errors are the probe's normalised errors (unitless);
all in circular mode, where the symmetry is exact."""

import math
from collections.abc import Mapping

import numpy as np

from .claim_types import ClaimResult, not_measured
from .formatting import fmt
from .runs import Run
from .selection import Context, at, by_key, largest_shared_fraction, probed, reference_vit
from .shift_tables import consistency, last_block, layer_estimate, patch_size, shifts, total_stride, value
from .statistics import Estimate, difference, sign_rule, t_interval

ZERO_TOLERANCE = 1e-4  # an error below this is "≈ 0" (float32 round-off of an exact symmetry is ~1e-7)
SHIFT_ANCHOR = (
    "Zhang 2019 (Making convolutional networks shift-invariant again): prediction consistency under "
    "diagonal shifts; strided CNNs are not shift-invariant (Azulay & Weiss 2019)."
)
PROBE_HINT = "run cnnvit probe-shift RUN_DIR on them"


def threshold_rule(estimates: Mapping[str, Estimate]) -> str:
    """The verdict of rows 14 and 15a–c: supported if every error's interval lies above ZERO_TOLERANCE,
    contradicted if every one lies under it; not measured without an error to judge."""
    errors = list(estimates.values())
    if not errors or any(e.n == 0 for e in errors):
        return "not measured"
    if all(e.has_interval and e.ci_low > ZERO_TOLERANCE for e in errors):
        return "supported"
    if all(e.has_interval and e.ci_high < ZERO_TOLERANCE for e in errors):
        return "contradicted"
    return "inconclusive"


# ------------------------------------------------------------------------------- row 2: equivariance

EQUIVARIANCE_RULE = (
    "supported if ViT − CNN logit invariance error, averaged over the circular shifts that are not a "
    "multiple of the CNN's total stride, has a 95% interval above 0 and the ViT's error is the larger at "
    "every one of those shifts (seed means); contradicted if the interval is below 0 and the CNN's error is "
    "the larger at every such shift; else inconclusive (also with 1 seed: no interval over seeds). One "
    "interval over the shifts, not one per shift: asking each of 7 intervals at n = 3 to exclude 0 flipped "
    "this verdict on a rerun that moved one of them by a hair"
)


def equivariance_verdict(estimates: Mapping[str, Estimate]) -> str:
    """EQUIVARIANCE_RULE: "effect" is ViT − CNN over the tested shifts, "<s> px" the same at each shift s."""
    overall = estimates["effect"].excludes_zero
    directions = {np.sign(e.mean) for key, e in estimates.items() if key != "effect"}
    if overall == 1 and directions == {1}:
        return "supported"
    return "contradicted" if overall == -1 and directions == {-1} else "inconclusive"


def equivariance(ctx: Context) -> ClaimResult:
    """Row 2. effect = ViT − CNN invariance error of the logits, mean over shifts that are not
    multiples of the CNN's total stride (circular shifts)."""
    cnn, vit = probed(ctx.select("resnet"), "shift"), probed(ctx.select("vit"), "shift")
    fraction = largest_shared_fraction(cnn, vit) if cnn and vit else None
    if fraction is None:
        return not_measured("2", f"needs shift-probe results for baseline ResNet and ViT runs; {PROBE_HINT}")
    cnn, vit = at(cnn, fraction), at(vit, fraction)
    stride = total_stride(cnn)
    tested = [s for s in shifts(cnn + vit, "logits") if s % stride]
    if not tested:
        return not_measured(
            "2", f"no probed shift is off the CNN's total stride {stride}; probe shifts 1..{stride - 1}"
        )
    error = lambda s: lambda run: value(run, "logits", s, "invariance_error")  # noqa: E731
    per_shift = {s: difference(by_key(vit, error(s)), by_key(cnn, error(s))) for s in tested}
    mean_error = lambda run: float(np.mean([error(s)(run) for s in tested]))  # noqa: E731
    effect = difference(by_key(vit, mean_error), by_key(cnn, mean_error))
    estimates = {"effect": effect, **{f"{s} px": e for s, e in per_shift.items()}}
    return ClaimResult(
        claim_id="2",
        verdict=equivariance_verdict(estimates),
        effect=effect,
        cnn_evidence=logit_evidence(cnn),
        vit_evidence=logit_evidence(vit),
        rule=EQUIVARIANCE_RULE,
        effect_meaning="ViT − CNN relative logit change under shift (unitless)",
        anchor=SHIFT_ANCHOR,
        details=equivariance_details(cnn, vit, fraction, stride, effect, per_shift),
        runs=cnn + vit,
        estimates=estimates,
        decide=equivariance_verdict,
    )


def logit_evidence(runs: list[Run]) -> str:
    return (
        f"consistency {t_interval([consistency(r) for r in runs]).mean:.1%}, "
        f"logit error at 1 px {layer_estimate(runs, 'logits', 1, 'invariance_error').mean:.4f}"
    )


def equivariance_details(
    cnn: list[Run], vit: list[Run], fraction: float, stride: int, effect: Estimate, per_shift: dict[int, Estimate]
) -> list[str]:
    """The effect, each tested shift's logit errors, and why a strided CNN's 'built-in' equivariance is not exact."""
    details = [
        f"Effect: ViT − CNN invariance error of the logits, mean over circular shifts {list(per_shift)} px "
        f"(CNN total stride {stride}), at fraction {fraction:g} ({effect.method} comparison).",
        "",
        "| shift (px) | CNN logit error | ViT logit error | ViT − CNN |",
        "|---|---|---|---|",
    ]
    for s, gap in per_shift.items():
        details.append(
            f"| {s} | {fmt(layer_estimate(cnn, 'logits', s, 'invariance_error'))} | "
            f"{fmt(layer_estimate(vit, 'logits', s, 'invariance_error'))} | {fmt(gap)} |"
        )
    cnn_one = layer_estimate(cnn, "logits", 1, "invariance_error")
    if cnn_one.n and cnn_one.mean > ZERO_TOLERANCE:
        details += [
            "",
            f"The notes' 'Yes (built-in)' is an idealisation: this CNN (total stride {stride}) changes its "
            f"logits by {cnn_one.mean:.4f} (relative) under a 1 px circular shift; only a stride-1, "
            "circular-padded CNN is exactly equivariant.",
        ]
    if effect.n == 1:
        details += [
            "",
            "With one seed the intervals in the table are over test images (the probe's own); the "
            "verdict needs >= 2 seeds to measure variation between trainings.",
        ]
    return details


# ------------------------------------------------------------------------- row 14: patch composition

PATCH_COMPOSITION_RULE = (
    f"supported if the ViT's token-embedding equivariance error at 1 and 2 px has a 95% interval above "
    f"{ZERO_TOLERANCE:g}; contradicted if below it at both; periodicity reported: the error at a shift of "
    "one patch vs other shifts, for a ViT without positional embeddings"
)  # decided by threshold_rule


def patch_composition(ctx: Context) -> ClaimResult:
    """Claim 14. effect = equivariance error of the ViT's first token layer (`embed`) at a 1 px shift."""
    vit = reference_vit(ctx) or reference_vit(ctx, pos_embed="none")
    if not vit or not {1, 2} <= set(shifts(vit, "embed")):
        return not_measured("14", f"needs shift-probe results at 1 and 2 px for a ViT; {PROBE_HINT}")
    one, two = (layer_estimate(vit, "embed", s) for s in (1, 2))
    estimates = {"1 px": one, "2 px": two}
    P = patch_size(vit)
    details = [
        f"Effect: equivariance error of `embed` (patch tokens + positions) at 1 px, {vit[0].label}.",
        "",
        f"Error at 1 px: {fmt(one)}; at 2 px: {fmt(two)} (patch size {P}).",
    ]
    vit_evidence = f"embed error {one.mean:.3f} at 1 px, {two.mean:.3f} at 2 px"
    flat = reference_vit(ctx, pos_embed="none")
    if flat and P and P in shifts(flat, "embed"):
        line, evidence = periodicity(flat, P)
        details += ["", line]
        vit_evidence += evidence
    return ClaimResult(
        claim_id="14",
        verdict=threshold_rule(estimates),
        effect=one,
        cnn_evidence="— (patching is ViT-only)",
        vit_evidence=vit_evidence,
        rule=PATCH_COMPOSITION_RULE,
        effect_meaning="relative token change at 1 px (unitless)",
        anchor=SHIFT_ANCHOR,
        details=details,
        runs=vit,
        estimates=estimates,
        decide=threshold_rule,
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


# --------------------------------------------------------- claim 15: the three causes, one variant each

CAUSE_PATCHIFY_RULE = (
    f"supported if the last block's equivariance error has a 95% interval above {ZERO_TOLERANCE:g} at "
    "every shift that is not a multiple of the patch size P (no positional embeddings, so only "
    "patchify can break it); contradicted if below at every such shift"
)
CAUSE_POSITIONAL_EMBEDDING_RULE = (
    f"supported if the last block's error at a shift of exactly one patch (where patchify alone is "
    f"exact) has a 95% interval above {ZERO_TOLERANCE:g}; contradicted if below it"
)
CAUSE_ATTENTION_RULE = (
    f"contradicted if the last block's error at a shift of one patch is ≈ 0 (95% interval below "
    f"{ZERO_TOLERANCE:g}: self-attention is permutation-equivariant); supported if clearly above it"
)
# All three are decided by threshold_rule over the last block's error at each shift.


def cause(claim_id: str, vit: list[Run], shift_list: list[int], what: str, rule: str) -> ClaimResult:
    """Last-block equivariance error of `vit` at `shift_list`; the effect is the smallest of them."""
    by_shift = {s: layer_estimate(vit, last_block, s) for s in shift_list}
    estimates = {f"{s} px": e for s, e in by_shift.items()}
    details = [
        f"Effect: {what}; {vit[0].label}, last block `{last_block(vit[0])}`, circular shifts.",
        "",
        "| shift (px) | last-block equivariance error |",
        "|---|---|",
        *(f"| {s} | {fmt(e)} |" for s, e in by_shift.items()),
    ]
    evidence = "; ".join(f"{s} px: {e.mean:.2g}" for s, e in by_shift.items())
    return ClaimResult(
        claim_id=claim_id,
        verdict=threshold_rule(estimates),
        effect=min(by_shift.values(), key=lambda e: e.mean),
        cnn_evidence="—",
        vit_evidence=f"{vit[0].label}: {evidence}",
        rule=rule,
        effect_meaning=f"{what} (unitless)",
        details=details,
        runs=vit,
        estimates=estimates,
        decide=threshold_rule,
    )


def cause_patchify(ctx: Context) -> ClaimResult:
    """Claim 15a. A ViT without positional embeddings, shifts that are not multiples of the patch size."""
    vit = reference_vit(ctx, pos_embed="none")
    P = patch_size(vit) if vit else None
    off_grid = [s for s in shifts(vit, "embed") if P and s % P] if vit else []
    if not off_grid:
        return not_measured(
            "15a", f"needs a ViT with model.pos_embed=none probed at shifts off the patch grid; {PROBE_HINT}"
        )
    what = "smallest last-block error over shifts that are not multiples of the patch size"
    return cause("15a", vit, off_grid, what, CAUSE_PATCHIFY_RULE)


def cause_positional_embedding(ctx: Context) -> ClaimResult:
    """Claim 15b. A ViT with learned positional embeddings, shifted by exactly one patch."""
    vit = reference_vit(ctx, pos_embed="learned")
    P = patch_size(vit) if vit else None
    if not vit or P not in shifts(vit, "embed"):
        return not_measured(
            "15b", f"needs a ViT with learned positional embeddings probed at a shift of one patch; {PROBE_HINT}"
        )
    return cause("15b", vit, [P], f"last-block error at a shift of one patch ({P} px)", CAUSE_POSITIONAL_EMBEDDING_RULE)


def cause_attention(ctx: Context) -> ClaimResult:
    """Claim 15c. A ViT without positional embeddings, shifted by exactly one patch: self-attention is
    permutation-equivariant, so the notes' third cause is expected to be contradicted."""
    vit = reference_vit(ctx, pos_embed="none")
    P = patch_size(vit) if vit else None
    if not vit or P not in shifts(vit, "embed"):
        return not_measured(
            "15c", f"needs a ViT with model.pos_embed=none probed at a shift of one patch; {PROBE_HINT}"
        )
    what = f"last-block error at a shift of one patch ({P} px), no positional embeddings"
    result = cause("15c", vit, [P], what, CAUSE_ATTENTION_RULE)
    result.details += [
        "",
        "Without positional embeddings a whole-patch circular shift permutes the tokens, and "
        "attention and MLPs commute with permutations: global attention by itself does not "
        "break equivariance.",
    ]
    return result


# ------------------------------------------------------------- claim 16: invariance learned from data

INVARIANCE_RULE = (
    "supported if the ViT's prediction consistency under shifts gains from augment.translate > 0 over "
    "augment.translate = 0 with a 95% interval above 0; contradicted if below 0; the CNN's gain is shown beside it"
)  # decided by statistics.sign_rule


def invariance_from_data(ctx: Context) -> ClaimResult:
    """Claim 16. effect = the ViT's gain in shift consistency from random-translation augmentation."""
    gains, texts, used = {}, {}, []
    for arch in ("resnet", "vit"):
        pair = translation_pair(ctx, arch)
        if pair is None:
            texts[arch] = "— (needs runs with augment.translate=0)"
            continue
        plain, augmented = pair
        gains[arch] = difference(by_key(augmented, consistency), by_key(plain, consistency))
        texts[arch] = (
            f"consistency {t_interval([consistency(r) for r in plain]).mean:.1%} → "
            f"{t_interval([consistency(r) for r in augmented]).mean:.1%} (gain {fmt(gains[arch], 3)})"
        )
        used += plain + augmented
    if "vit" not in gains:
        return not_measured(
            "16", f"needs probed ViT runs with augment.translate=0 and > 0; {PROBE_HINT}", cnn_evidence=texts["resnet"]
        )
    estimates = {"effect": gains["vit"]}
    return ClaimResult(
        claim_id="16",
        verdict=sign_rule(estimates),
        effect=gains["vit"],
        cnn_evidence=texts["resnet"],
        vit_evidence=texts["vit"],
        rule=INVARIANCE_RULE,
        effect_meaning="gain in prediction consistency (fraction of images)",
        anchor=SHIFT_ANCHOR,
        details=[
            f"Effect: ViT consistency with translation augmentation minus without ({gains['vit'].method} comparison)."
        ],
        runs=used,
        estimates=estimates,
        decide=sign_rule,
    )


def translation_pair(ctx: Context, arch: str) -> tuple[list[Run], list[Run]] | None:
    """(runs without, runs with translation augmentation) of `arch`, shift-probed, otherwise at baseline, at
    the largest fraction both have; None when one side is missing."""
    runs = probed(ctx.select(arch, baseline_except=("translate",)), "shift")
    augmented, plain = [r for r in runs if r.translate > 0], [r for r in runs if r.translate == 0]
    fraction = largest_shared_fraction(augmented, plain) if augmented and plain else None
    if fraction is None:
        return None
    return at(plain, fraction), at(augmented, fraction)
