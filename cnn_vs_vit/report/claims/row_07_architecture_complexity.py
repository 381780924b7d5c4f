"""Row 7, architecture complexity: a structural count of the built models (the introspection probe):
distinct block configurations and the hyperparameters that specify each architecture. Exact, no seeds."""

from collections.abc import Mapping

from ..claim import Claim
from ..claim_types import Evidence, Measured, Missing
from ..selection import PROBE_HINT, Context, probed
from ..statistics import Estimate

RULE = (
    "counted from the built modules: supported if the ViT has fewer distinct block configurations and needs "
    "fewer architecture hyperparameters than the CNN; contradicted if it has more of both; else inconclusive"
)
COUNTS = {"configurations": "block_configurations", "hyperparameters": "hyperparameters"}  # estimate -> column


def decide(estimates: Mapping[str, Estimate]) -> str:
    """RULE: "configurations" and "hyperparameters" are CNN − ViT counts (exact)."""
    configurations, hyperparameters = estimates["configurations"].mean, estimates["hyperparameters"].mean
    if configurations > 0 and hyperparameters > 0:
        return "supported"
    if configurations < 0 and hyperparameters < 0:
        return "contradicted"
    return "inconclusive"


def measure(ctx: Context) -> Measured | Missing:
    """effect = CNN − ViT distinct block configurations, counted from the built models (exact, n = 1)."""
    cnn, vit = probed(ctx.select("cnn"), "introspection"), probed(ctx.select("vit"), "introspection")
    if not cnn or not vit:
        return Missing(
            "needs introspection probe results of a ResNet and a ViT; " + PROBE_HINT.format(name="introspection")
        )
    counts = [(runs[0].arch, runs[0].probe_rows["introspection"].iloc[0]) for runs in (cnn, vit)]  # CNN, ViT
    (_, first), (_, second) = counts
    estimates = {
        key: Estimate(float(int(first[column]) - int(second[column])), n=1, method="exact count")
        for key, column in COUNTS.items()
    }
    return Measured(estimates=estimates, effect=estimates["configurations"], runs=[cnn[0], vit[0]], found=counts)


def describe(measured: Measured) -> Evidence:
    counts = measured.found
    configurations, hyperparameters = (int(measured.estimates[key].mean) for key in COUNTS)
    details = [
        f"Effect: CNN − ViT distinct block configurations ({configurations}); hyperparameters CNN − ViT: "
        f"{hyperparameters}. Structural counts of the built models: exact, no seeds involved.",
        "",
        "| arch | parameters | module types | blocks | block configurations | stages | hyperparameters |",
        "|---|---|---|---|---|---|---|",
    ]
    for arch, c in counts:
        details.append(
            f"| {arch} | {int(c['parameters']):,} | {int(c['leaf_module_types'])} | {int(c['blocks'])} | "
            f"{int(c['block_configurations'])} | {int(c['stages'])} | {int(c['hyperparameters'])} |"
        )
    (_, cnn), (_, vit) = counts
    return Evidence(
        cnn=describe_architecture(cnn),
        vit=describe_architecture(vit),
        effect_meaning="CNN − ViT distinct block configurations (count)",
        details=details,
    )


def describe_architecture(counts) -> str:
    return (
        f"{int(counts['block_configurations'])} block configurations, {int(counts['hyperparameters'])} "
        f"hyperparameters, {int(counts['leaf_module_types'])} module types"
    )


CLAIM = Claim(
    id="7",
    scale="any",
    exact=True,
    text="Architecture complexity: CNN requires manual design (kernels, pooling); ViT simple repeated blocks",
    measure=measure,
    decide=decide,
    rule=RULE,
    describe=describe,
    anchor="Dosovitskiy et al. 2020 §3.1: a standard Transformer encoder, L identical blocks.",
    probes=("introspection",),
    groups=("shift_probed",),
    one_setting_by_design=True,
)
