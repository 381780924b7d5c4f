"""Row 15a, the first named cause of broken equivariance: patchify. A ViT without positional embeddings,
shifted by amounts that are not multiples of its patch size, where only the patch grid can break it."""

from ..claim_types import Measured, Missing
from ..selection import Context, reference_vit
from ..shift_results import PROBE_HINT, ZERO_TOLERANCE, patch_size, shifts
from .equivariance_causes import cause_claim, last_block_errors

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


CLAIM = cause_claim(
    id="15a",
    text="Equivariance is broken by patchify",
    measure=measure,
    rule=RULE,
    groups=("positional_embeddings",),
)
