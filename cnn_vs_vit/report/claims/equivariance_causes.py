"""What rows 15a–c share, the notes' three named causes of broken equivariance (patchify, positional
embeddings, global attention), each tested on a shift-probed ViT's last block: its equivariance error at the
shifts that isolate the cause (circular mode, shift_results.py), in words, and the claim every such row is (an
exact architectural fact, decided by shift_results.threshold_rule). Errors are unitless."""

from collections.abc import Callable

from ..claim import Claim
from ..claim_types import Evidence, Measured, Missing
from ..formatting import fmt
from ..plots import ERROR_VS_SHIFT
from ..runs import Run
from ..selection import Context, reference_vit
from ..shift_results import PROBE_HINT, last_block, layer_estimate, patch_size, shifts, threshold_rule


def last_block_errors(vit: list[Run], shift_list: list[int], what: str) -> Measured:
    """The last block's equivariance error of `vit` at each of `shift_list` (estimates "<s> px", decided by
    threshold_rule); the effect is the smallest of them, `what` says what it is."""
    by_shift = {s: layer_estimate(vit, last_block, s) for s in shift_list}
    return Measured(
        estimates={f"{s} px": e for s, e in by_shift.items()},
        effect=min(by_shift.values(), key=lambda e: e.mean),
        runs=vit,
        found=(vit, by_shift, what),
    )


def one_patch_errors(ctx: Context, pos_embed: str, vit_named: str, what_else: str = "") -> Measured | Missing:
    """last_block_errors of the reference ViT with model.pos_embed=`pos_embed` at a shift of exactly one patch
    (P px, where patchify alone is exact), `what_else` added to what the effect is; Missing, naming the ViT it
    needs `vit_named`, where no such ViT was probed there."""
    vit = reference_vit(ctx, pos_embed=pos_embed)
    P = patch_size(vit) if vit else None
    if not vit or P not in shifts(vit, "embed"):
        return Missing(f"needs {vit_named} probed at a shift of one patch; {PROBE_HINT}")
    return last_block_errors(vit, [P], f"last-block error at a shift of one patch ({P} px){what_else}")


def describe_last_block_errors(measured: Measured, *note: str) -> Evidence:
    """last_block_errors in words, with the lines of `note` after its table."""
    vit, by_shift, what = measured.found
    evidence = "; ".join(f"{s} px: {e.mean:.2g}" for s, e in by_shift.items())
    return Evidence(
        cnn="—",
        vit=f"{vit[0].label}: {evidence}",
        effect_meaning=f"{what} (unitless)",
        details=[
            f"Effect: {what}; {vit[0].label}, last block `{last_block(vit[0])}`, circular shifts.",
            "",
            "| shift (px) | last-block equivariance error |",
            "|---|---|",
            *(f"| {s} | {fmt(e)} |" for s, e in by_shift.items()),
            *note,
        ],
    )


def cause_claim(
    *,
    id: str,
    text: str,
    measure: Callable[[Context], Measured | Missing],
    rule: str,
    groups: tuple[str, ...],
    describe: Callable[[Measured], Evidence] = describe_last_block_errors,
) -> Claim:
    """The claim of a row naming a cause: read from the shift probe, exact, decided by threshold_rule, drawn in
    error_vs_shift.png."""
    return Claim(
        id=id,
        scale="any",
        exact=True,
        text=text,
        measure=measure,
        decide=threshold_rule,
        rule=rule,
        describe=describe,
        probes=("shift",),
        groups=groups,
        plots=(ERROR_VS_SHIFT,),
    )
