"""Row 11, a ViT ablation: learned positional embeddings against fixed sinusoidal ones (ablations.py)."""

from ..ablations import measure_ablation
from ..selection import Context
from .vit_ablation import ablation_claim


def measure(ctx: Context):
    """effect = accuracy(learned) − accuracy(sincos2d); `none` is reported beside them."""
    return measure_ablation(ctx, "pos_embed", "learned", "sincos2d")


CLAIM = ablation_claim(
    id="11",
    text="Learned positional embeddings beat sinusoidal ones",
    measure=measure,
    better="learned",
    worse="sincos2d",
    anchor="Dosovitskiy et al. 2020 App. D.4 Table 8: no positional embedding costs ~2.8 points, the "
    "positional variants lie within ~0.3 points of each other; Beyer et al. 2022 Table 1: "
    "sincos2d beats learned by 0.4–1.5 points.",
    groups=("positional_embeddings",),
)
