"""Row 12, a ViT ablation: the [CLS] token against mean pooling of the tokens (ablations.py)."""

from ..ablations import measure_ablation
from ..selection import Context
from .vit_ablation import ablation_claim


def measure(ctx: Context):
    """effect = accuracy(pool cls) − accuracy(pool mean)."""
    return measure_ablation(ctx, "pool", "cls", "mean")


CLAIM = ablation_claim(
    id="12",
    text="The [CLS] token is better than average pooling",
    measure=measure,
    better="cls",
    worse="mean",
    anchor="Dosovitskiy et al. 2020 App. D.3 Fig. 9: [CLS] and global average pooling work similarly "
    "well given their own learning rates; Beyer et al. 2022 Table 1: mean pooling beats [cls] "
    "by 1.5–1.8 points.",
    groups=("pooling",),
)
