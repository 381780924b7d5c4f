"""Row 10, multimodal compatibility, a structural check: the modules a CNN would have to replace for a token
sequence, and the ViT's encoder trained on one unchanged. Reads the multimodal probe (probes/multimodal.py)."""

from collections.abc import Mapping

from ..claim import Claim
from ..claim_types import Evidence, Measured, Missing
from ..runs import Run
from ..selection import PROBE_HINT, Context, probed
from ..statistics import Estimate

RULE = (
    "structural: supported if the ViT's encoder runs a token sequence with 0 modules replaced and learns the "
    "sequence task above chance (95% binomial interval above it, encoder fine-tuned) in every probed ViT run, "
    "while the CNN's body holds >= 1 module that assumes a 2-D grid; contradicted if the CNN needs no "
    "replacement or the ViT needs one (or does not run); inconclusive if the ViT runs unchanged but does not "
    "learn above chance"
)


def decide(
    estimates: Mapping[str, Estimate], *, cnn_modules_replaced: int, vit_runs_unchanged: bool, vit_above_chance: bool
) -> str:
    """RULE over structural facts (no seeds, so its estimates hold only the exact effect): the fewest modules
    any CNN run has to replace, whether every ViT run's encoder runs a sequence unchanged and whether every
    one learns it above chance."""
    if cnn_modules_replaced == 0 or not vit_runs_unchanged:
        return "contradicted"
    return "supported" if vit_above_chance else "inconclusive"


def row(run: Run, weights: str = "fine-tuned"):
    table = run.probe_rows["multimodal"]
    return table[table["encoder_weights"] == weights].iloc[0]


def measure(ctx: Context) -> Measured | Missing:
    """effect = CNN − ViT modules that assume a 2-D image grid and would have to be replaced for a token
    sequence (exact count, n = 1); the ViT's sequence-task accuracy shows that its encoder does run and learn
    one with only a new embedding."""
    cnn, vit = probed(ctx.select("cnn"), "multimodal"), probed(ctx.select("vit"), "multimodal")
    if not cnn or not vit:
        return Missing("needs multimodal probe results of a ResNet and a ViT; " + PROBE_HINT.format(name="multimodal"))
    effect = int(row(cnn[0])["modules_replaced"]) - int(row(vit[0])["modules_replaced"])
    return Measured(
        estimates={"effect": Estimate(float(effect), n=1, method="exact count")},
        effect=Estimate(float(effect), n=1, method="exact count"),
        runs=[*cnn, *vit],
        facts={
            "cnn_modules_replaced": min(int(row(r)["modules_replaced"]) for r in cnn),
            "vit_runs_unchanged": all(bool(row(r)["runs_unchanged"]) for r in vit),
            "vit_above_chance": all(bool(row(r)["above_chance"]) for r in vit),
        },
        found=(cnn, vit),
    )


def accuracy(r) -> str:
    if not bool(r["runs"]):
        return "does not run"
    low, high = 100 * float(r["accuracy_low"]), 100 * float(r["accuracy_high"])
    return f"{100 * float(r['accuracy']):.1f}% [{low:.1f}, {high:.1f}]"


def describe(measured: Measured) -> Evidence:
    cnn, vit = measured.found
    first_cnn, first_vit = row(cnn[0]), row(vit[0])
    chance = f"chance {100 * float(first_vit['chance']):.0f}%"
    if bool(first_cnn["runs"]):
        attempt = (
            f"runs ({float(first_cnn['kernel_weights_on_padding']):.0%} of its kernel weights see only padding) "
            f"and learns {accuracy(first_cnn)} vs {chance}"
        )
    else:
        attempt = f"does not run ({first_cnn['error']})"
    details = [
        f"Effect: CNN − ViT modules that assume a 2-D image grid and would have to be replaced for a model of "
        f"token sequences ({int(measured.effect.mean)}), counted from the built models outside the input embedding "
        "and the classifier, which a sequence task replaces in either architecture. A structural check: the "
        "count is exact, no seeds involved; the accuracies show what the reused modules do with a sequence.",
        f"Task: {first_vit['task']}, {int(first_vit['steps'])} steps of {int(first_vit['batch_size'])} fresh "
        f"sequences, tested on {int(first_vit['test_sequences'])} held-out ones ({chance}: the label does not "
        "depend on the token counts). The ViT gets a token embedding and 1-D positions in place of its patch "
        "embedding and grid positions; the CNN gets a token embedding in place of its first convolution, laid "
        "out as a (B, D, 1, T) image of height 1. 'fine-tuned' trains every parameter, 'frozen' only the new "
        "embedding, positions and head.",
        "Where a CNN body runs such a height-1 image at all (zero padding does; BlurPool's reflection "
        "padding does not), its 3x3 convolutions act as 1-D convolutions with two of their three kernel rows on "
        "padding, and it can learn the task (its accuracy above). What the notes' 'not natural' names is "
        "structural: the CNN's modules are 2-D layers used degenerately, where the Transformer encoder takes a "
        "(B, T, D) sequence as it is.",
        "",
        "| arch | run | encoder weights | runs | modules replaced | modules reused | accuracy [95%] |",
        "|---|---|---|---|---|---|---|",
    ]
    for runs in (cnn, vit):
        for run in runs:
            for _, r in run.probe_rows["multimodal"].iterrows():
                details.append(
                    f"| {runs[0].arch} | {run.path} | {r['encoder_weights']} | {'yes' if bool(r['runs']) else 'no'} "
                    f"| {int(r['modules_replaced'])} | {int(r['encoder_modules_reused'])} | {accuracy(r)} |"
                )
    return Evidence(
        cnn=f"structural: {int(first_cnn['modules_replaced'])} modules assume a 2-D grid "
        f"({first_cnn['modules_replaced_types']}); laid out as a height-1 image the body {attempt}",
        vit=f"structural: the encoder runs tokens with {int(first_vit['modules_replaced'])} modules replaced "
        f"({int(first_vit['encoder_modules_reused'])} leaf modules reused) and learns {accuracy(first_vit)} "
        f"vs {chance}; frozen {accuracy(row(vit[0], 'frozen'))}",
        effect_meaning="structural: CNN − ViT modules to replace for a token sequence (count)",
        details=details,
    )


CLAIM = Claim(
    id="10",
    scale="any",
    exact=True,
    text="Multimodal compatibility: CNN not natural; ViT natural (same Transformer backbone as NLP)",
    measure=measure,
    decide=decide,
    rule=RULE,
    describe=describe,
    anchor="Dosovitskiy et al. 2020 §3.1: the standard Transformer encoder of NLP (Vaswani et al. 2017), "
    "applied unchanged to a sequence of patch embeddings.",
    probes=("multimodal",),
    groups=("full_data_probed",),
    one_setting_by_design=True,
)
