"""What the ViT ablation rows (11 and 12) share: the claim such a row is. ViT accuracy with one model option
at the value the notes favour minus at the other (ablations.measure_ablation, which the row's `measure`
calls), decided by the sign rule, drawn in vit_ablations.png."""

from collections.abc import Callable

from ..ablations import describe_ablation
from ..claim import Claim
from ..claim_types import Measured, Missing
from ..plots import ABLATIONS
from ..selection import Context
from ..statistics import sign_rule


def ablation_claim(
    *,
    id: str,
    text: str,
    measure: Callable[[Context], Measured | Missing],
    better: str,
    worse: str,
    anchor: str,
    groups: tuple[str, ...],
) -> Claim:
    """The claim that the option's value `better` beats `worse` (the values `measure` compares, in its order)."""
    return Claim(
        id=id,
        scale="measured",
        text=text,
        measure=measure,
        decide=sign_rule,
        rule=f"supported if {better} − {worse} accuracy has a 95% interval above 0, contradicted if below 0",
        describe=describe_ablation,
        anchor=anchor,
        groups=groups,
        plots=(ABLATIONS,),
    )
