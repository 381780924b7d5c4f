"""Row 12, a ViT ablation: the [CLS] token against mean pooling of the tokens (ablations.py)."""

from ..ablations import describe_ablation, measure_ablation
from ..claim import Claim
from ..plots import ABLATIONS
from ..selection import Context
from ..statistics import sign_rule

RULE = "supported if cls − mean accuracy has a 95% interval above 0, contradicted if below 0"


def measure(ctx: Context):
    """effect = accuracy(pool cls) − accuracy(pool mean)."""
    return measure_ablation(ctx, "pool", "cls", "mean")


CLAIM = Claim(
    id="12",
    scale="measured",
    text="The [CLS] token is better than average pooling",
    measure=measure,
    decide=sign_rule,
    rule=RULE,
    describe=describe_ablation,
    anchor="Dosovitskiy et al. 2020 App. D.3 Fig. 9: [CLS] and global average pooling work similarly "
    "well given their own learning rates; Beyer et al. 2022 Table 1: mean pooling beats [cls] "
    "by 1.5–1.8 points.",
    groups=("pooling",),
    plots=(ABLATIONS,),
)
