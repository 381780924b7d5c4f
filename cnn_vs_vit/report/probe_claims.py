"""Claims measured by the probes of trained models beyond the shift probe: inductive bias (1, via
the attention distance at initialisation and after training), receptive field (4), dynamic mixing
(6), architecture complexity (7), transfer learning (8), multimodal compatibility (10, structural) and
resolution changes (13). Each reads RUN_DIR/probes/<name>.csv of the runs at the largest data fraction where
both architectures were probed; the structural rows 7 and 10 read every probed run of the reference models."""

import math
from collections.abc import Mapping
from functools import partial

import numpy as np

from .claim_types import ClaimResult, not_measured
from .formatting import text
from .runs import Run
from .selection import PROBE_HINT, Context, at, by_key, first_block, fractions, probed, probed_pair
from .statistics import Estimate, difference, format_estimate, sign_rule, sign_verdict, t_interval

ZERO_VARIATION = 1e-6  # a mixing variation below this is "≈ 0" (float64 round-off of an exact 0 is ~1e-15)
MANY_TIMES = 2.0  # row 4's "≫": the ViT's first-block ERF at least this many times the CNN's


# ---------------------------------------------------------------------------- row 4: receptive field

RECEPTIVE_FIELD_RULE = (
    f"supported if the ViT's first-block ERF area (95% of the gradient mass, % of the image) exceeds the "
    f"CNN's first-block area with a 95% interval above 0 and is at least {MANY_TIMES:g}x it; contradicted "
    "if the difference's interval is below 0; else inconclusive"
)


def receptive_field_verdict(estimates: Mapping[str, Estimate]) -> str:
    """RECEPTIVE_FIELD_RULE: "effect" is ViT − CNN first-block ERF area, "cnn" and "vit" each one's area."""
    verdict = sign_verdict(estimates["effect"])
    if verdict == "supported" and estimates["vit"].mean < MANY_TIMES * estimates["cnn"].mean:
        return "inconclusive"
    return verdict


def receptive_field(ctx: Context) -> ClaimResult:
    """Row 4. effect = ViT − CNN share of the image (%) holding 95% of the gradient mass, first block."""
    pair = probed_pair(ctx, "4", "receptive_field")
    if isinstance(pair, ClaimResult):
        return pair
    cnn, vit, fraction = pair
    effect = difference(by_key(vit, first_block_area), by_key(cnn, first_block_area))
    cnn_area, vit_area = (t_interval([first_block_area(r) for r in runs]) for runs in (cnn, vit))
    estimates = {"effect": effect, "cnn": cnn_area, "vit": vit_area}
    return ClaimResult(
        claim_id="4",
        verdict=receptive_field_verdict(estimates),
        effect=effect,
        cnn_evidence=f"first block: {text(cnn_area)}% of the image",
        vit_evidence=f"first block: {text(vit_area)}% of the image",
        rule=RECEPTIVE_FIELD_RULE,
        effect_meaning="ViT − CNN effective receptive field area of the first block (percentage points of the image)",
        anchor="Luo et al. 2016 (effective receptive fields are Gaussian and grow ~√depth); Raghu et al. 2021 "
        "Fig. 4: ViT lower layers already mix local and global information.",
        details=receptive_field_details(cnn, vit, fraction, effect),
        runs=[*cnn, *vit],
        estimates=estimates,
        decide=receptive_field_verdict,
    )


def first_block_area(run: Run) -> float:
    """The share of the image (%) holding 95% of the gradient mass of the run's first block."""
    table = run.probe_rows["receptive_field"]
    return float(table[table["layer"] == first_block(table, run.arch)]["area_pct"].iloc[0])


def receptive_field_details(cnn: list[Run], vit: list[Run], fraction: float, effect: Estimate) -> list[str]:
    """The effect, then every layer's ERF radius and area, seed means."""
    details = [
        f"Effect: ViT − CNN ERF area (% of the image) of the first block, at fraction {fraction:g} "
        f"({effect.method} comparison). Per layer, seed means:",
        "",
        "| arch | layer | radius (px) | area (% of image) |",
        "|---|---|---|---|",
    ]
    for arch, runs in (("resnet", cnn), ("vit", vit)):
        table = runs[0].probe_rows["receptive_field"].sort_values("layer_index")
        for layer in table["layer"].drop_duplicates():
            rows = [t[t["layer"] == layer] for t in (r.probe_rows["receptive_field"] for r in runs)]
            radius = np.mean([float(t["radius_px"].iloc[0]) for t in rows if len(t)])
            share = np.mean([float(t["area_pct"].iloc[0]) for t in rows if len(t)])
            details.append(f"| {arch} | {layer} | {radius:.1f} | {share:.1f}% |")
    return details


# ------------------------------------------------------------------------- row 1: inductive bias

INDUCTIVE_BIAS_RULE = (
    "supported if the ViT's first-block mean attention distance (over heads) shrinks with training "
    "(init − trained with a 95% interval above 0) and rows 2 and 9 are supported; contradicted if row 2 "
    "or row 9 is contradicted; else inconclusive"
)


def inductive_bias_verdict(estimates: Mapping[str, Estimate], *, parts: Mapping[str, ClaimResult]) -> str:
    """INDUCTIVE_BIAS_RULE: "effect" is init − trained attention distance; "<row>:<key>" are the estimates of
    row <row> of `parts` (2 and 9), decided again by their own rules, so that a simulated rerun redraws them too:
    row 1's flip rate includes theirs."""
    others = {
        part.decide({key: estimates[f"{row}:{key}"] for key in part.estimates}) if part.decide else part.verdict
        for row, part in parts.items()
    }
    if "contradicted" in others:
        return "contradicted"
    supported = sign_verdict(estimates["effect"]) == "supported" and others == {"supported"}
    return "supported" if supported else "inconclusive"


def inductive_bias(ctx: Context, equivariance: ClaimResult, data_efficiency: ClaimResult) -> ClaimResult:
    """Row 1. effect = first-block mean attention distance at initialisation − after training (px):
    positive when training makes the ViT's early attention more local. Rows 2 and 9 complete it."""
    vit = probed(ctx.select("vit"), "attention_distance")
    if not vit:
        return not_measured(
            "1",
            "needs attention_distance probe results (with the init rows) of ViT runs; "
            + PROBE_HINT.format(name="attention_distance"),
        )
    fraction = max(fractions(vit))
    runs = at(vit, fraction)
    effect = t_interval([attention_distance(r, "init") - attention_distance(r, "trained") for r in runs])
    parts = {"2": equivariance, "9": data_efficiency}
    estimates = {
        "effect": effect,
        **{f"{row}:{key}": e for row, part in parts.items() for key, e in part.estimates.items()},
    }
    decide = partial(inductive_bias_verdict, parts=parts)
    details = [
        f"Effect: init − trained first-block mean attention distance (px, mean over heads; [CLS] excluded), "
        f"ViT runs at fraction {fraction:g} (t interval over seeds). Row 2: {equivariance.verdict}; "
        f"row 9: {data_efficiency.verdict}. Does the ViT learn locality, and less of it with less data?",
        *distance_by_fraction(vit),
    ]
    return ClaimResult(
        claim_id="1",
        verdict=decide(estimates),
        effect=effect,
        cnn_evidence=f"row 2 {equivariance.verdict}, row 9 {data_efficiency.verdict}",
        vit_evidence=f"first-block attention distance shrinks by {text(effect)} px with training",
        rule=INDUCTIVE_BIAS_RULE,
        effect_meaning="first-block mean attention distance at init − after training (pixels)",
        anchor="Dosovitskiy et al. 2020 Fig. 7 (right): some heads attend locally in the lowest layers "
        "(mean distance well below the image size), more so than at init; Raghu et al. 2021.",
        details=details,
        runs=runs,
        estimates=estimates,
        decide=decide,
    )


def attention_distance(run: Run, weights: str) -> float:
    """The ViT's first-block mean attention distance (px, mean over heads) with `weights` "init" or "trained"."""
    table = run.probe_rows["attention_distance"]
    layer = first_block(table, "vit")
    picked = table[(table["layer"] == layer) & (table["weights"] == weights)]
    return float(picked["mean_distance_px"].mean()) if len(picked) else math.nan


def distance_by_fraction(vit: list[Run]) -> list[str]:
    lines = ["", "| fraction | first-block distance at init (px) | after training (px) |", "|---|---|---|"]
    for f in sorted(fractions(vit)):
        init, trained = (t_interval([attention_distance(r, w) for r in at(vit, f)]) for w in ("init", "trained"))
        lines.append(f"| {f:g} | {text(init)} | {text(trained)} |")
    return lines


# ----------------------------------------------------------------------------- row 6: dynamic mixing

DYNAMIC_MIXING_RULE = (
    f"supported if the CNN's convolutions vary by less than {ZERO_VARIATION:g} (their 95% interval over seeds "
    "below it) and the ViT − CNN "
    "difference has a 95% interval above 0; contradicted if the CNN's mixing varies (interval above "
    f"{ZERO_VARIATION:g}) or the ViT's does not (interval below it); else inconclusive"
)


def dynamic_mixing_verdict(estimates: Mapping[str, Estimate]) -> str:
    """DYNAMIC_MIXING_RULE: "effect" is ViT − CNN mixing variation, "cnn" and "vit" each one's variation."""
    cnn, vit = estimates["cnn"], estimates["vit"]
    # "in every run": with an interval, its upper end stands for the largest run a rerun may show
    cnn_fixed = cnn.ci_high < ZERO_VARIATION if cnn.has_interval else cnn.mean < ZERO_VARIATION
    if cnn_fixed and sign_verdict(estimates["effect"]) == "supported":
        return "supported"
    if (cnn.has_interval and cnn.ci_low > ZERO_VARIATION) or (vit.has_interval and vit.ci_high < ZERO_VARIATION):
        return "contradicted"
    return "inconclusive"


def dynamic_mixing(ctx: Context) -> ClaimResult:
    """Row 6. effect = ViT − CNN mean variation across images of the token-mixing operator's Jacobian."""
    pair = probed_pair(ctx, "6", "mixing")
    if isinstance(pair, ClaimResult):
        return pair
    cnn, vit, fraction = pair
    effect = difference(by_key(vit, mixing_variation), by_key(cnn, mixing_variation))
    cnn_mix, vit_mix = (t_interval([mixing_variation(r) for r in runs]) for runs in (cnn, vit))
    cnn_block = t_interval([mixing_variation(r, "layer") for r in cnn])
    estimates = {"effect": effect, "cnn": cnn_mix, "vit": vit_mix}
    details = [
        f"Effect: ViT − CNN variation of the mixing matrix M(x)[i, j] = ‖∂y_i/∂x_j‖ across test images "
        f"(mean over layers of mean ‖M(x) − M̄‖/‖M̄‖), at fraction {fraction:g} ({effect.method} comparison).",
        f"Measured the same way on whole CNN blocks (convolutions with their ReLUs and residuals), the "
        f"CNN's mixing varies by {text(cnn_block)}: the ReLU gates make a CNN block input-dependent, even though "
        "its kernels are fixed.",
    ]
    return ClaimResult(
        claim_id="6",
        verdict=dynamic_mixing_verdict(estimates),
        effect=effect,
        cnn_evidence=f"convolutions: {text(cnn_mix)}; whole blocks: {text(cnn_block)}",
        vit_evidence=f"attention: {text(vit_mix)}",
        rule=DYNAMIC_MIXING_RULE,
        effect_meaning="ViT − CNN input-dependence of the token-mixing operator (dimensionless)",
        anchor="Dosovitskiy et al. 2020 §3.1: attention weights are computed from the input; a convolution's "
        "weights are not.",
        details=details,
        runs=[*cnn, *vit],
        estimates=estimates,
        decide=dynamic_mixing_verdict,
    )


def mixing_variation(run: Run, scope: str = "mixer") -> float:
    """Mean over layers of the mixing matrix's variation across images; `scope` "mixer" (the token-mixing
    operator alone) or "layer" (a whole block)."""
    table = run.probe_rows["mixing"]
    return float(table[table["scope"] == scope]["variation"].mean())


# --------------------------------------------------------------------- row 7: architecture complexity

ARCHITECTURE_COMPLEXITY_RULE = (
    "counted from the built modules: supported if the ViT has fewer distinct block configurations and needs "
    "fewer architecture hyperparameters than the CNN; contradicted if it has more of both; else inconclusive"
)


def architecture_complexity_verdict(estimates: Mapping[str, Estimate]) -> str:
    """ARCHITECTURE_COMPLEXITY_RULE: "configurations" and "hyperparameters" are CNN − ViT counts (exact)."""
    configurations, hyperparameters = estimates["configurations"].mean, estimates["hyperparameters"].mean
    if configurations > 0 and hyperparameters > 0:
        return "supported"
    if configurations < 0 and hyperparameters < 0:
        return "contradicted"
    return "inconclusive"


def architecture_complexity(ctx: Context) -> ClaimResult:
    """Row 7. effect = CNN − ViT distinct block configurations, counted from the built models (exact, n = 1)."""
    cnn, vit = probed(ctx.select("resnet"), "introspection"), probed(ctx.select("vit"), "introspection")
    if not cnn or not vit:
        return not_measured(
            "7", "needs introspection probe results of a ResNet and a ViT; " + PROBE_HINT.format(name="introspection")
        )
    counts = {arch: runs[0].probe_rows["introspection"].iloc[0] for arch, runs in (("resnet", cnn), ("vit", vit))}
    estimates = {
        key: Estimate(float(int(counts["resnet"][column]) - int(counts["vit"][column])), n=1, method="exact count")
        for key, column in (("configurations", "block_configurations"), ("hyperparameters", "hyperparameters"))
    }
    configurations, hyperparameters = (int(estimates[key].mean) for key in ("configurations", "hyperparameters"))
    details = [
        f"Effect: CNN − ViT distinct block configurations ({configurations}); hyperparameters CNN − ViT: "
        f"{hyperparameters}. Structural counts of the built models: exact, no seeds involved.",
        "",
        "| arch | parameters | module types | blocks | block configurations | stages | hyperparameters |",
        "|---|---|---|---|---|---|---|",
    ]
    for arch, c in counts.items():
        details.append(
            f"| {arch} | {int(c['parameters']):,} | {int(c['leaf_module_types'])} | {int(c['blocks'])} | "
            f"{int(c['block_configurations'])} | {int(c['stages'])} | {int(c['hyperparameters'])} |"
        )
    return ClaimResult(
        claim_id="7",
        verdict=architecture_complexity_verdict(estimates),
        effect=estimates["configurations"],
        cnn_evidence=describe_architecture(counts["resnet"]),
        vit_evidence=describe_architecture(counts["vit"]),
        rule=ARCHITECTURE_COMPLEXITY_RULE,
        effect_meaning="CNN − ViT distinct block configurations (count)",
        anchor="Dosovitskiy et al. 2020 §3.1: a standard Transformer encoder, L identical blocks.",
        details=details,
        runs=[cnn[0], vit[0]],
        estimates=estimates,
        decide=architecture_complexity_verdict,
    )


def describe_architecture(counts) -> str:
    return (
        f"{int(counts['block_configurations'])} block configurations, {int(counts['hyperparameters'])} "
        f"hyperparameters, {int(counts['leaf_module_types'])} module types"
    )


# ------------------------------------------------------------------------ row 13: resolution changes

RESOLUTION_RULE = (
    "supported if interpolated − not-interpolated ViT accuracy at resolutions other than the training one "
    "has a 95% interval above 0; contradicted if below 0; else inconclusive"
)  # decided by statistics.sign_rule


def resolution_change(ctx: Context) -> ClaimResult:
    """Claim 13. effect = ViT accuracy with − without positional-embedding interpolation, mean over the
    evaluated resolutions other than the training one."""
    vit = probed(ctx.select("vit"), "resolution")
    if not vit:
        return not_measured("13", "needs resolution probe results of ViT runs; " + PROBE_HINT.format(name="resolution"))
    fraction = max(fractions(vit))
    runs = at(vit, fraction)
    cnn = at(probed(ctx.select("resnet"), "resolution"), fraction)
    effect = t_interval([resized_accuracy(r, "interpolated") - resized_accuracy(r, "not_interpolated") for r in runs])
    estimates = {"effect": effect}
    mean = lambda group, variant: 100 * t_interval([resized_accuracy(r, variant) for r in group]).mean  # noqa: E731
    return ClaimResult(
        claim_id="13",
        verdict=sign_rule(estimates),
        effect=effect,
        cnn_evidence=f"accuracy at other sizes {mean(cnn, 'as_is'):.1f}% as is" if cnn else "—",
        vit_evidence=f"interpolated {mean(runs, 'interpolated'):.1f}%, not {mean(runs, 'not_interpolated'):.1f}%",
        rule=RESOLUTION_RULE,
        effect_meaning="ViT accuracy with − without positional-embedding interpolation (fraction of test images)",
        anchor="Dosovitskiy et al. 2020 §3.2: 2D interpolation of the pre-trained position embeddings for "
        "fine-tuning at higher resolution; Touvron et al. 2019 (FixRes) on train/test resolution.",
        details=resolution_details(cnn, runs, fraction),
        runs=[*cnn, *runs],
        estimates=estimates,
        decide=sign_rule,
    )


def resized_accuracy(run: Run, variant: str, size: int | None = None) -> float:
    """Test accuracy of `variant` ("as_is", "interpolated", "not_interpolated") at image `size`, or mean over
    the sizes other than the training one."""
    table = run.probe_rows["resolution"]
    other = table[(table["variant"] == variant) & (table["image_size"] != table["train_size"])]
    if size is not None:
        other = other[other["image_size"] == size]
    return float(other["accuracy"].mean())


def resolution_details(cnn: list[Run], vit: list[Run], fraction: float) -> list[str]:
    """The effect, then each architecture's accuracy per evaluated size."""
    table = vit[0].probe_rows["resolution"]
    sizes = sorted(int(s) for s in table.loc[table["image_size"] != table["train_size"], "image_size"].unique())
    details = [
        f"Effect: ViT test accuracy with − without interpolated positional embeddings, mean over "
        f"{', '.join(map(str, sizes))} px (trained at {int(table['train_size'].iloc[0])} px), fraction "
        f"{fraction:g}, t interval over seeds. Without interpolation each trained embedding keeps its "
        "(row, col) and new positions get zero.",
        "",
        "| image size | CNN as is | ViT interpolated | ViT not interpolated |",
        "|---|---|---|---|",
    ]
    for size in sizes:
        cells = [
            t_interval([resized_accuracy(r, v, size) for r in group]) if group else None
            for group, v in ((cnn, "as_is"), (vit, "interpolated"), (vit, "not_interpolated"))
        ]
        details.append(f"| {size} | " + " | ".join("—" if c is None else f"{100 * c.mean:.1f}%" for c in cells) + " |")
    return details


# ------------------------------------------------------------------------- row 8: transfer learning

TRANSFER_VARIANTS = ("scratch", "finetune", "linear")  # the rows of probes/transfer.py, the baseline first
TRANSFER_RULE = (
    "supported if the ViT's fine-tune gain over training from scratch on the target dataset (same budget) "
    "exceeds the CNN's, the difference's 95% interval above 0; contradicted if below 0; else inconclusive"
)  # decided by statistics.sign_rule


def transfer_learning(ctx: Context) -> ClaimResult:
    """Row 8. effect = ViT − CNN fine-tune gain: fine-tune − from-scratch test accuracy on the target
    dataset B of a model pretrained on A, in percentage points, paired over seeds."""
    pair = probed_pair(ctx, "8", "transfer")
    if isinstance(pair, ClaimResult):
        return pair
    cnn, vit, fraction = pair
    directions = {transfer_direction(run) for run in [*cnn, *vit]}
    if len(directions) > 1:
        named = ", ".join(f"{a} -> {b}" for a, b in sorted(directions))
        return not_measured(
            "8", f"transfer results of different dataset pairs ({named}); probe every run with the same target dataset"
        )
    source, target = directions.pop()
    effect = difference(
        by_key(vit, transfer_value("gain", "finetune")), by_key(cnn, transfer_value("gain", "finetune"))
    )
    estimates = {"effect": effect}
    evidence = lambda runs: transfer_evidence(runs, source, target)  # noqa: E731
    return ClaimResult(
        claim_id="8",
        verdict=sign_rule(estimates),
        effect=effect,
        cnn_evidence=evidence(cnn),
        vit_evidence=evidence(vit),
        rule=TRANSFER_RULE,
        effect_meaning=f"ViT − CNN fine-tune gain over training from scratch on {target} (percentage points)",
        anchor="Dosovitskiy et al. 2020 §4.2–4.3, Fig. 3: pretrained on ImageNet-1k, BiT ResNets transfer "
        "better than ViTs; pretrained on ImageNet-21k or JFT-300M, ViTs match or beat them.",
        details=transfer_details(cnn, vit, fraction, effect, source, target),
        runs=[*cnn, *vit],
        estimates=estimates,
        decide=sign_rule,
    )


def transfer_direction(run: Run) -> tuple[str, str]:
    """(pretraining dataset, target dataset) of the run's transfer probe."""
    table = run.probe_rows["transfer"]
    return table["source_dataset"].iloc[0], table["target_dataset"].iloc[0]


def transfer_value(column: str, variant: str):
    """run -> `column` of the transfer probe's row for `variant` ("scratch", "finetune", "linear")."""
    return lambda run: float(run.probe_rows["transfer"].set_index("variant").loc[variant, column])


def transfer_summary(runs: list[Run]) -> dict[str, Estimate]:
    """Each variant's accuracy (%) and each pretrained variant's gain over scratch (points), over seeds."""
    accuracies = {v: t_interval([100 * transfer_value("accuracy", v)(r) for r in runs]) for v in TRANSFER_VARIANTS}
    gains = {f"{v} gain": t_interval([transfer_value("gain", v)(r) for r in runs]) for v in TRANSFER_VARIANTS[1:]}
    return {**accuracies, **gains}


def transfer_evidence(runs: list[Run], source: str, target: str) -> str:
    s = transfer_summary(runs)
    return (
        f"{source} -> {target}: scratch {s['scratch'].mean:.1f}%, fine-tune {s['finetune'].mean:.1f}% "
        f"({s['finetune gain'].mean:+.1f} pts), linear {s['linear'].mean:.1f}% "
        f"({s['linear gain'].mean:+.1f} pts)"
    )


def transfer_details(
    cnn: list[Run], vit: list[Run], fraction: float, effect: Estimate, source: str, target: str
) -> list[str]:
    """The effect, the linear-probe effect, the budget and headroom of each variant, and a table per architecture."""
    linear_effect = difference(
        by_key(vit, transfer_value("gain", "linear")), by_key(cnn, transfer_value("gain", "linear"))
    )
    first = cnn[0].probe_rows["transfer"].set_index("variant")
    steps, batch, n_train = (int(first[c].iloc[0]) for c in ("steps", "batch_size", "n_train"))
    points = lambda e: format_estimate(e, "+.1f")  # noqa: E731
    headroom = lambda runs: f"{100 - transfer_summary(runs)['scratch'].mean:.1f}"  # noqa: E731
    details = [
        f"Effect: ViT − CNN fine-tune gain (fine-tune − from-scratch test accuracy on {target}, percentage "
        f"points) of models pretrained on {source} at fraction {fraction:g} ({effect.method} comparison over "
        f"seeds). The same difference of linear-probe gains: {points(linear_effect)} pts.",
        f"Budget: every variant trains for the pretraining run's own budget, {steps} steps of {batch} images "
        f"({steps * batch / n_train:.1f} epochs of {n_train} {target} training images, resized to the run's "
        "image size: probes/transfer.py keeps a share of the target's training split, TARGET_FRACTION, small "
        "enough that training from scratch leaves both architectures room for a gain), with the run's recipe (AdamW, warm-up then cosine, its learning rate, weight decay and "
        "augmentation), and is tested on "
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
    for arch, runs in (("resnet", cnn), ("vit", vit)):
        s = transfer_summary(runs)
        accuracies = " | ".join(format_estimate(s[v], ".1f") + "%" for v in TRANSFER_VARIANTS)
        details.append(f"| {arch} | {accuracies} | {points(s['finetune gain'])} | {points(s['linear gain'])} |")
    return details


# ------------------------------------------------------------------- row 10: multimodal compatibility

MULTIMODAL_RULE = (
    "structural: supported if the ViT's encoder runs a token sequence with 0 modules replaced and learns the "
    "sequence task above chance (95% binomial interval above it, encoder fine-tuned) in every probed ViT run, "
    "while the CNN's body holds >= 1 module that assumes a 2-D grid; contradicted if the CNN needs no "
    "replacement or the ViT needs one (or does not run); inconclusive if the ViT runs unchanged but does not "
    "learn above chance"
)


def multimodal_verdict(*, cnn_modules_replaced: int, vit_runs_unchanged: bool, vit_above_chance: bool) -> str:
    """MULTIMODAL_RULE over structural facts (no seeds): the fewest modules any CNN run has to replace, whether
    every ViT run's encoder runs a sequence unchanged and whether every one learns it above chance."""
    if cnn_modules_replaced == 0 or not vit_runs_unchanged:
        return "contradicted"
    return "supported" if vit_above_chance else "inconclusive"


def multimodal(ctx: Context) -> ClaimResult:
    """Row 10, a structural check. effect = CNN − ViT modules that assume a 2-D image grid and would have to
    be replaced for a token sequence (exact count, n = 1); the ViT's sequence-task accuracy shows that its
    encoder does run and learn one with only a new embedding."""
    cnn, vit = probed(ctx.select("resnet"), "multimodal"), probed(ctx.select("vit"), "multimodal")
    if not cnn or not vit:
        return not_measured(
            "10", "needs multimodal probe results of a ResNet and a ViT; " + PROBE_HINT.format(name="multimodal")
        )

    def row(run: Run, weights: str = "fine-tuned"):
        table = run.probe_rows["multimodal"]
        return table[table["encoder_weights"] == weights].iloc[0]

    verdict = multimodal_verdict(
        cnn_modules_replaced=min(int(row(r)["modules_replaced"]) for r in cnn),
        vit_runs_unchanged=all(bool(row(r)["runs_unchanged"]) for r in vit),
        vit_above_chance=all(bool(row(r)["above_chance"]) for r in vit),
    )
    first_cnn, first_vit = row(cnn[0]), row(vit[0])
    effect = int(first_cnn["modules_replaced"]) - int(first_vit["modules_replaced"])

    def accuracy(r) -> str:
        if not bool(r["runs"]):
            return "does not run"
        return (
            f"{100 * float(r['accuracy']):.1f}% [{100 * float(r['accuracy_low']):.1f}, "
            f"{100 * float(r['accuracy_high']):.1f}]"
        )

    chance = f"chance {100 * float(first_vit['chance']):.0f}%"
    if bool(first_cnn["runs"]):
        attempt = (
            f"runs ({float(first_cnn['kernel_weights_on_padding']):.0%} of its kernel weights see only padding) "
            f"and learns {accuracy(first_cnn)} vs {chance}"
        )
    else:
        attempt = f"does not run ({first_cnn['error']})"
    cnn_text = (
        f"structural: {int(first_cnn['modules_replaced'])} modules assume a 2-D grid "
        f"({first_cnn['modules_replaced_types']}); laid out as a height-1 image the body {attempt}"
    )
    vit_text = (
        f"structural: the encoder runs tokens with {int(first_vit['modules_replaced'])} modules replaced "
        f"({int(first_vit['encoder_modules_reused'])} leaf modules reused) and learns {accuracy(first_vit)} "
        f"vs {chance}; frozen {accuracy(row(vit[0], 'frozen'))}"
    )
    details = [
        f"Effect: CNN − ViT modules that assume a 2-D image grid and would have to be replaced for a model of "
        f"token sequences ({effect}), counted from the built models outside the input embedding and the "
        "classifier, which a sequence task replaces in either architecture. A structural check: the count is "
        "exact, no seeds involved; the accuracies show what the reused modules do with a sequence.",
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
    for arch, runs in (("resnet", cnn), ("vit", vit)):
        for run in runs:
            for _, r in run.probe_rows["multimodal"].iterrows():
                details.append(
                    f"| {arch} | {run.path} | {r['encoder_weights']} | {'yes' if bool(r['runs']) else 'no'} "
                    f"| {int(r['modules_replaced'])} | {int(r['encoder_modules_reused'])} | {accuracy(r)} |"
                )
    return ClaimResult(
        claim_id="10",
        verdict=verdict,
        effect=Estimate(float(effect), n=1, method="exact count"),
        cnn_evidence=cnn_text,
        vit_evidence=vit_text,
        rule=MULTIMODAL_RULE,
        effect_meaning="structural: CNN − ViT modules to replace for a token sequence (count)",
        anchor="Dosovitskiy et al. 2020 §3.1: the standard Transformer encoder of NLP (Vaswani et al. 2017), "
        "applied unchanged to a sequence of patch embeddings.",
        details=details,
        runs=[*cnn, *vit],
    )
