"""Row 15c, the third named cause of broken equivariance: global attention. A ViT without positional
embeddings, shifted by exactly one patch: self-attention is permutation-equivariant, so the notes' third
cause is expected to be contradicted."""

from ..claim_types import Evidence, Measured, Missing
from ..selection import Context
from ..shift_results import ZERO_TOLERANCE
from .equivariance_causes import cause_claim, describe_last_block_errors, one_patch_errors

RULE = (
    f"contradicted if the last block's error at a shift of one patch is ≈ 0 (95% interval below "
    f"{ZERO_TOLERANCE:g}: self-attention is permutation-equivariant); supported if clearly above it"
)  # decided by threshold_rule


def measure(ctx: Context) -> Measured | Missing:
    return one_patch_errors(ctx, "none", "a ViT with model.pos_embed=none", ", no positional embeddings")


def describe(measured: Measured) -> Evidence:
    return describe_last_block_errors(
        measured,
        "",
        "Without positional embeddings a whole-patch circular shift permutes the tokens, and "
        "attention and MLPs commute with permutations: global attention by itself does not "
        "break equivariance.",
    )


CLAIM = cause_claim(
    id="15c",
    text="Equivariance is broken by global attention",
    measure=measure,
    rule=RULE,
    describe=describe,
    groups=("positional_embeddings",),
)
