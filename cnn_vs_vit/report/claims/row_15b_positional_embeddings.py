"""Row 15b, the second named cause of broken equivariance: positional embeddings. A ViT with learned
positional embeddings, shifted by exactly one patch, where patchify alone is exact."""

from ..claim_types import Measured, Missing
from ..selection import Context
from ..shift_results import ZERO_TOLERANCE
from .equivariance_causes import cause_claim, one_patch_errors

RULE = (
    f"supported if the last block's error at a shift of exactly one patch (where patchify alone is "
    f"exact) has a 95% interval above {ZERO_TOLERANCE:g}; contradicted if below it"
)  # decided by threshold_rule


def measure(ctx: Context) -> Measured | Missing:
    return one_patch_errors(ctx, "learned", "a ViT with learned positional embeddings")


CLAIM = cause_claim(
    id="15b",
    text="Equivariance is broken by positional embeddings",
    measure=measure,
    rule=RULE,
    groups=("shift_probed",),
)
