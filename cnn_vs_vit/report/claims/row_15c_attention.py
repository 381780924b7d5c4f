"""Row 15c, the third named cause of broken equivariance: global attention. A ViT without positional
embeddings, shifted by exactly one patch: self-attention is permutation-equivariant, so the notes' third
cause is expected to be contradicted."""

from ..claim import Claim
from ..claim_types import Evidence, Measured, Missing
from ..plots import ERROR_VS_SHIFT
from ..selection import Context, reference_vit
from ..shift_results import (
    PROBE_HINT,
    ZERO_TOLERANCE,
    describe_last_block_errors,
    last_block_errors,
    patch_size,
    shifts,
    threshold_rule,
)

RULE = (
    f"contradicted if the last block's error at a shift of one patch is ≈ 0 (95% interval below "
    f"{ZERO_TOLERANCE:g}: self-attention is permutation-equivariant); supported if clearly above it"
)  # decided by threshold_rule


def measure(ctx: Context) -> Measured | Missing:
    vit = reference_vit(ctx, pos_embed="none")
    P = patch_size(vit) if vit else None
    if not vit or P not in shifts(vit, "embed"):
        return Missing(f"needs a ViT with model.pos_embed=none probed at a shift of one patch; {PROBE_HINT}")
    return last_block_errors(vit, [P], f"last-block error at a shift of one patch ({P} px), no positional embeddings")


def describe(measured: Measured) -> Evidence:
    return describe_last_block_errors(
        measured,
        "",
        "Without positional embeddings a whole-patch circular shift permutes the tokens, and "
        "attention and MLPs commute with permutations: global attention by itself does not "
        "break equivariance.",
    )


CLAIM = Claim(
    id="15c",
    scale="any",
    exact=True,
    text="Equivariance is broken by global attention",
    measure=measure,
    decide=threshold_rule,
    rule=RULE,
    describe=describe,
    probes=("shift",),
    groups=("positional_embeddings",),
    plots=(ERROR_VS_SHIFT,),
)
