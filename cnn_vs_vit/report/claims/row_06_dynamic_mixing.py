"""Row 6, dynamic interactions: attention's token mixing depends on the input, a convolution's does not.
Reads the mixing probe (the Jacobian of the token-mixing operator across images) of the probed pair."""

from collections.abc import Mapping

from ..claim import Claim
from ..claim_types import Evidence, Measured, Missing
from ..formatting import text
from ..runs import Run
from ..selection import Context, by_key, probed_pair
from ..statistics import Estimate, difference, sign_verdict, t_interval

ZERO_VARIATION = 1e-6  # a mixing variation below this is "≈ 0" (float64 round-off of an exact 0 is ~1e-15)
RULE = (
    f"supported if the CNN's convolutions vary by less than {ZERO_VARIATION:g} (their 95% interval over seeds "
    "below it) and the ViT − CNN "
    "difference has a 95% interval above 0; contradicted if the CNN's mixing varies (interval above "
    f"{ZERO_VARIATION:g}) or the ViT's does not (interval below it); else inconclusive"
)


def decide(estimates: Mapping[str, Estimate]) -> str:
    """RULE: "effect" is ViT − CNN mixing variation, "cnn" and "vit" each one's variation."""
    cnn, vit = estimates["cnn"], estimates["vit"]
    # "in every run": with an interval, its upper end stands for the largest run a rerun may show
    cnn_fixed = cnn.ci_high < ZERO_VARIATION if cnn.has_interval else cnn.mean < ZERO_VARIATION
    if cnn_fixed and sign_verdict(estimates["effect"]) == "supported":
        return "supported"
    if (cnn.has_interval and cnn.ci_low > ZERO_VARIATION) or (vit.has_interval and vit.ci_high < ZERO_VARIATION):
        return "contradicted"
    return "inconclusive"


def measure(ctx: Context) -> Measured | Missing:
    """effect = ViT − CNN mean variation across images of the token-mixing operator's Jacobian."""
    pair = probed_pair(ctx, "mixing")
    if isinstance(pair, Missing):
        return pair
    effect = difference(by_key(pair.vit, mixing_variation), by_key(pair.cnn, mixing_variation))
    cnn_mix, vit_mix = (t_interval([mixing_variation(r) for r in runs]) for runs in (pair.cnn, pair.vit))
    return Measured(
        estimates={"effect": effect, "cnn": cnn_mix, "vit": vit_mix}, effect=effect, runs=pair.runs, found=pair
    )


def mixing_variation(run: Run, scope: str = "mixer") -> float:
    """Mean over layers of the mixing matrix's variation across images; `scope` "mixer" (the token-mixing
    operator alone) or "layer" (a whole block)."""
    table = run.probe_rows["mixing"]
    return float(table[table["scope"] == scope]["variation"].mean())


def describe(measured: Measured) -> Evidence:
    pair, effect = measured.found, measured.effect
    cnn_block = t_interval([mixing_variation(r, "layer") for r in pair.cnn])
    return Evidence(
        cnn=f"convolutions: {text(measured.estimates['cnn'])}; whole blocks: {text(cnn_block)}",
        vit=f"attention: {text(measured.estimates['vit'])}",
        effect_meaning="ViT − CNN input-dependence of the token-mixing operator (dimensionless)",
        details=[
            f"Effect: ViT − CNN variation of the mixing matrix M(x)[i, j] = ‖∂y_i/∂x_j‖ across test images "
            f"(mean over layers of mean ‖M(x) − M̄‖/‖M̄‖), at fraction {pair.fraction:g} ({effect.method} "
            "comparison).",
            f"Measured the same way on whole CNN blocks (convolutions with their ReLUs and residuals), the "
            f"CNN's mixing varies by {text(cnn_block)}: the ReLU gates make a CNN block input-dependent, even "
            "though its kernels are fixed.",
        ],
    )


CLAIM = Claim(
    id="6",
    scale="any",
    text="Dynamic interactions: CNN fixed convolution kernels; ViT dynamic token-to-token attention",
    measure=measure,
    decide=decide,
    rule=RULE,
    describe=describe,
    anchor="Dosovitskiy et al. 2020 §3.1: attention weights are computed from the input; a convolution's "
    "weights are not.",
    probes=("mixing",),
    groups=("full_data_probed",),
)
