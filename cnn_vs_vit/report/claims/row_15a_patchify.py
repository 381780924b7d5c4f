"""Row 15a, the first named cause of broken equivariance: patchify. A ViT without positional embeddings,
shifted by amounts that are not multiples of its patch size, where only the patch grid can break it."""

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
    f"supported if the last block's equivariance error has a 95% interval above {ZERO_TOLERANCE:g} at "
    "every shift that is not a multiple of the patch size P (no positional embeddings, so only "
    "patchify can break it); contradicted if below at every such shift"
)  # decided by threshold_rule


def measure(ctx: Context) -> Measured | Missing:
    vit = reference_vit(ctx, pos_embed="none")
    P = patch_size(vit) if vit else None
    off_grid = [s for s in shifts(vit, "embed") if P and s % P] if vit else []
    if not off_grid:
        return Missing(f"needs a ViT with model.pos_embed=none probed at shifts off the patch grid; {PROBE_HINT}")
    return last_block_errors(
        vit, off_grid, "smallest last-block error over shifts that are not multiples of the patch size"
    )


CLAIM = Claim(
    id="15a",
    scale="any",
    exact=True,
    text="Equivariance is broken by patchify",
    measure=measure,
    decide=threshold_rule,
    rule=RULE,
    describe=describe_last_block_errors,
    probes=("shift",),
    groups=("positional_embeddings",),
    plots=(ERROR_VS_SHIFT,),
)
