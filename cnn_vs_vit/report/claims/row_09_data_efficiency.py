"""Row 9, data efficiency: the CNN ahead of the ViT at the smallest data fraction both were trained on.
Test accuracy of the data-fraction sweep; measured again under each budget rule the study holds."""

from collections.abc import Mapping

from ..claim import Claim
from ..claim_types import Evidence, Measured, Missing
from ..formatting import accuracy_text
from ..plots import ACCURACY_VS_SIZE
from ..runs import Run
from ..selection import Context, at, by_key, fractions
from ..statistics import Estimate, difference, sign_verdict

RULE = (
    "supported if CNN − ViT test accuracy at the smallest data fraction has a 95% interval above 0, "
    "contradicted if below 0; needs at least 2 fractions to speak of 'small data'"
)
DATA_ANCHOR = (  # row 5's too
    "Dosovitskiy et al. 2020 §4.3, Fig. 3–4: ViT-B/32 does much worse than ResNet50 on the 9M JFT subset "
    "and better on 90M+; BiT CNNs beat ViT when pre-trained on ImageNet-1k."
)


def decide(estimates: Mapping[str, Estimate], *, fractions_measured: int) -> str:
    """RULE: "effect" is CNN − ViT accuracy at the smallest of `fractions_measured` fractions."""
    return "inconclusive" if fractions_measured < 2 else sign_verdict(estimates["effect"])


def measure(ctx: Context) -> Measured | Missing:
    """effect = CNN − ViT test accuracy at the smallest fraction both were trained on."""
    cnn, vit = ctx.select("cnn"), ctx.select("vit")
    shared = sorted(fractions(cnn) & fractions(vit))
    if not shared:
        return Missing("needs baseline runs of a ResNet and a ViT at the same data fraction")
    smallest = shared[0]
    effect = difference(by_key(at(cnn, smallest), Run.accuracy), by_key(at(vit, smallest), Run.accuracy), paired=False)
    return Measured(
        estimates={"effect": effect},
        effect=effect,
        runs=[*at(cnn, smallest), *at(vit, smallest)],
        facts={"fractions_measured": len(shared)},
        found=(cnn, vit, shared),
    )


def per_fraction(runs: list[Run], shared: list[float]) -> str:
    return ", ".join(f"f={f:g}: {accuracy_text(at(runs, f))}" for f in shared)


def describe(measured: Measured) -> Evidence:
    """The effect at the smallest fraction, and both architectures' accuracy at every shared fraction."""
    cnn, vit, shared = measured.found
    smallest = shared[0]
    details = [f"Effect: CNN − ViT test accuracy at fraction {smallest:g} ({measured.effect.method} comparison)."]
    if len(shared) < 2:
        details += [
            "",
            f"Only fraction {smallest:g} was measured: one data size cannot show an advantage "
            "*for small data*; train a data-fraction sweep (>= 5 fractions incl. <= 5%).",
        ]
    details += ["", "| fraction | train images | CNN accuracy | ViT accuracy |", "|---|---|---|---|"]
    for fraction in shared:
        size = at(cnn, fraction)[0].summary.get("train_size", "?")
        details.append(
            f"| {fraction:g} | {size} | {accuracy_text(at(cnn, fraction))} | {accuracy_text(at(vit, fraction))} |"
        )
    return Evidence(
        cnn=per_fraction(cnn, shared),
        vit=per_fraction(vit, shared),
        effect_meaning="CNN − ViT test accuracy (fraction of test images) at the smallest fraction",
        details=details,
    )


CLAIM = Claim(
    id="9",
    scale="measured",
    text="Data efficiency: CNN strong for small data; ViT weak for small data, needs large pretraining",
    measure=measure,
    decide=decide,
    rule=RULE,
    describe=describe,
    anchor=DATA_ANCHOR,
    groups=("plateau", "equal_steps", "equal_flops", "compute_curves"),
    plots=(ACCURACY_VS_SIZE,),
    every_budget=True,
)
