"""Row 15b, the second named cause of broken equivariance: positional embeddings. A ViT with learned
positional embeddings, shifted by exactly one patch, where patchify alone is exact."""

from ..claim import Claim
from ..claim_types import Measured, Missing
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
    f"supported if the last block's error at a shift of exactly one patch (where patchify alone is "
    f"exact) has a 95% interval above {ZERO_TOLERANCE:g}; contradicted if below it"
)  # decided by threshold_rule


def measure(ctx: Context) -> Measured | Missing:
    vit = reference_vit(ctx, pos_embed="learned")
    P = patch_size(vit) if vit else None
    if not vit or P not in shifts(vit, "embed"):
        return Missing(f"needs a ViT with learned positional embeddings probed at a shift of one patch; {PROBE_HINT}")
    return last_block_errors(vit, [P], f"last-block error at a shift of one patch ({P} px)")


CLAIM = Claim(
    id="15b",
    scale="any",
    exact=True,
    text="Equivariance is broken by positional embeddings",
    measure=measure,
    decide=threshold_rule,
    rule=RULE,
    describe=describe_last_block_errors,
    probes=("shift",),
    groups=("shift_probed",),
    plots=(ERROR_VS_SHIFT,),
)
