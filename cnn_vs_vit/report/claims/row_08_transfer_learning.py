"""Row 8, transfer learning: what pretraining gives each architecture on a target dataset, fine-tuned
against trained from scratch at the same budget. Reads the transfer probe (probes/transfer.py)."""

from ..claim import Claim
from ..claim_types import Evidence, Measured, Missing
from ..runs import Run
from ..selection import Context, Pair, by_key, probed_pair
from ..statistics import Estimate, difference, format_estimate, sign_rule, t_interval

VARIANTS = ("scratch", "finetune", "linear")  # the rows of probes/transfer.py, the baseline first
RULE = (
    "supported if the ViT's fine-tune gain over training from scratch on the target dataset (same budget) "
    "exceeds the CNN's, the difference's 95% interval above 0; contradicted if below 0; else inconclusive"
)  # decided by statistics.sign_rule


def measure(ctx: Context) -> Measured | Missing:
    """effect = ViT − CNN fine-tune gain: fine-tune − from-scratch test accuracy on the target dataset B of
    a model pretrained on A, in percentage points, unpaired (Welch: ResNet against ViT)."""
    pair = probed_pair(ctx, "transfer")
    if isinstance(pair, Missing):
        return pair
    directions = {direction(run) for run in pair.runs}
    if len(directions) > 1:
        named = ", ".join(f"{a} -> {b}" for a, b in sorted(directions))
        return Missing(
            f"transfer results of different dataset pairs ({named}); probe every run with the same target dataset"
        )
    effect = difference(
        by_key(pair.vit, value("gain", "finetune")), by_key(pair.cnn, value("gain", "finetune")), paired=False
    )
    return Measured(estimates={"effect": effect}, effect=effect, runs=pair.runs, found=(pair, directions.pop()))


def direction(run: Run) -> tuple[str, str]:
    """(pretraining dataset, target dataset) of the run's transfer probe."""
    table = run.probe_rows["transfer"]
    return table["source_dataset"].iloc[0], table["target_dataset"].iloc[0]


def value(column: str, variant: str):
    """run -> `column` of the transfer probe's row for `variant` ("scratch", "finetune", "linear")."""
    return lambda run: float(run.probe_rows["transfer"].set_index("variant").loc[variant, column])


def summary(runs: list[Run]) -> dict[str, Estimate]:
    """Each variant's accuracy (%) and each pretrained variant's gain over scratch (points), over seeds."""
    accuracies = {v: t_interval([100 * value("accuracy", v)(r) for r in runs]) for v in VARIANTS}
    gains = {f"{v} gain": t_interval([value("gain", v)(r) for r in runs]) for v in VARIANTS[1:]}
    return {**accuracies, **gains}


def evidence(runs: list[Run], source: str, target: str) -> str:
    s = summary(runs)
    return (
        f"{source} -> {target}: scratch {s['scratch'].mean:.1f}%, fine-tune {s['finetune'].mean:.1f}% "
        f"({s['finetune gain'].mean:+.1f} pts), linear {s['linear'].mean:.1f}% "
        f"({s['linear gain'].mean:+.1f} pts)"
    )


def describe(measured: Measured) -> Evidence:
    pair, (source, target) = measured.found
    return Evidence(
        cnn=evidence(pair.cnn, source, target),
        vit=evidence(pair.vit, source, target),
        effect_meaning=f"ViT − CNN fine-tune gain over training from scratch on {target} (percentage points)",
        details=details(pair, measured.effect, source, target),
    )


def details(pair: Pair, effect: Estimate, source: str, target: str) -> list[str]:
    """The effect, the linear-probe effect, the budget and headroom of each variant, and a table per architecture."""
    cnn, vit = pair.cnn, pair.vit
    linear_effect = difference(by_key(vit, value("gain", "linear")), by_key(cnn, value("gain", "linear")), paired=False)
    first = cnn[0].probe_rows["transfer"].set_index("variant")
    steps, batch, n_train = (int(first[c].iloc[0]) for c in ("steps", "batch_size", "n_train"))
    points = lambda e: format_estimate(e, "+.1f")  # noqa: E731
    headroom = lambda runs: f"{100 - summary(runs)['scratch'].mean:.1f}"  # noqa: E731
    lines = [
        f"Effect: ViT − CNN fine-tune gain (fine-tune − from-scratch test accuracy on {target}, percentage "
        f"points) of models pretrained on {source} at fraction {pair.fraction:g} ({effect.method} comparison over "
        f"seeds). The same difference of linear-probe gains: {points(linear_effect)} pts.",
        f"Budget: every variant trains for the pretraining run's own budget, {steps} steps of {batch} images "
        f"({steps * batch / n_train:.1f} epochs of {n_train} {target} training images, resized to the run's "
        "image size: probes/transfer.py keeps a share of the target's training split, TARGET_FRACTION, small "
        "enough that training from scratch leaves both architectures room for a gain), with the run's recipe "
        "(AdamW, warm-up then cosine, its learning rate, weight decay and augmentation), and is tested on "
        f"{int(first['n_test'].iloc[0])} {target} test images. Scratch is the same model built afresh with the "
        "run's seed; fine-tune starts from the pretrained weights with a new head; linear freezes the "
        "pretrained backbone and trains only the new head, on features computed once (no augmentation).",
        f"Headroom: a gain cannot exceed 100 − the scratch accuracy, {headroom(cnn)} pts for the CNN and "
        f"{headroom(vit)} pts for the ViT: a target an architecture masters from scratch leaves it no gain "
        "to show.",
        "The notes' 'excellent' transfer of ViTs refers to pretraining at scale (ImageNet-21k, JFT-300M) and "
        "to other modalities; this measures image-to-image transfer between small datasets only.",
        "",
        "| arch | scratch | fine-tune | linear | fine-tune gain (pts) | linear gain (pts) |",
        "|---|---|---|---|---|---|",
    ]
    for runs in (cnn, vit):
        s = summary(runs)
        accuracies = " | ".join(format_estimate(s[v], ".1f") + "%" for v in VARIANTS)
        lines.append(f"| {runs[0].arch} | {accuracies} | {points(s['finetune gain'])} | {points(s['linear gain'])} |")
    return lines


CLAIM = Claim(
    id="8",
    scale="measured",
    text="Transfer learning: CNN moderate, mostly vision-only; ViT excellent, cross-modal + large-scale",
    measure=measure,
    decide=sign_rule,
    rule=RULE,
    describe=describe,
    anchor="Dosovitskiy et al. 2020 §4.2–4.3, Fig. 3: pretrained on ImageNet-1k, BiT ResNets transfer "
    "better than ViTs; pretrained on ImageNet-21k or JFT-300M, ViTs match or beat them.",
    probes=("transfer",),
    groups=("full_data_probed",),
)
