"""Row 11, a ViT ablation: learned positional embeddings against fixed sinusoidal ones (ablations.py)."""

from ..ablations import describe_ablation, measure_ablation
from ..claim import Claim
from ..plots import ABLATIONS
from ..selection import Context
from ..statistics import sign_rule

RULE = "supported if learned − sincos2d accuracy has a 95% interval above 0, contradicted if below 0"


def measure(ctx: Context):
    """effect = accuracy(learned) − accuracy(sincos2d); `none` is reported beside them."""
    return measure_ablation(ctx, "pos_embed", "learned", "sincos2d")


CLAIM = Claim(
    id="11",
    scale="measured",
    text="Learned positional embeddings beat sinusoidal ones",
    measure=measure,
    decide=sign_rule,
    rule=RULE,
    describe=describe_ablation,
    anchor="Dosovitskiy et al. 2020 App. D.4 Table 8: no positional embedding costs ~2.8 points, the "
    "positional variants lie within ~0.3 points of each other; Beyer et al. 2022 Table 1: "
    "sincos2d beats learned by 0.4–1.5 points.",
    groups=("positional_embeddings",),
    plots=(ABLATIONS,),
)
