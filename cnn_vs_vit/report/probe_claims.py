"""Claims measured by the probes of trained models beyond the shift probe: inductive bias (1, via
the attention distance at initialisation and after training), receptive field (4), dynamic mixing
(6), architecture complexity (7), transfer learning (8), multimodal compatibility (10, structural) and
resolution changes (13). Each reads RUN_DIR/probes/<name>.csv of the runs at the largest data fraction where
both architectures were probed; the structural rows 7 and 10 read every probed run of the reference models."""

import math

import numpy as np

from .accuracy_claims import at, by_key, fractions
from .claims import ClaimResult, Context, not_measured
from .runs import Run
from .statistics import Estimate, difference, format_estimate, sign_rule, sign_verdict, t_interval

ZERO_VARIATION = 1e-6  # a mixing variation below this is "≈ 0" (float64 round-off of an exact 0 is ~1e-15)
MANY_TIMES = 2.0  # row 4's "≫": the ViT's first-block ERF at least this many times the CNN's
HINT = "run cnnvit probe {name} on them (or list {name} among an experiment group's probes)"


def probed(runs: list[Run], name: str) -> list[Run]:
    return [run for run in runs if name in run.probe_rows]


def largest_shared(cnn: list[Run], vit: list[Run]) -> float | None:
    shared = sorted(fractions(cnn) & fractions(vit))
    return shared[-1] if shared else None


def probed_pair(ctx: Context, claim_id: str, name: str) -> tuple[list[Run], list[Run], float] | ClaimResult:
    """The CNN and ViT runs holding probe `name` at the largest fraction both have, or the claim's
    `not measured` result when there is no such fraction."""
    cnn, vit = probed(ctx.select("resnet"), name), probed(ctx.select("vit"), name)
    fraction = largest_shared(cnn, vit)
    if fraction is None:
        return not_measured(claim_id, f"needs {name} probe results of a ResNet and a ViT at the same data fraction; "
                                      + HINT.format(name=name))  # fmt: skip
    return at(cnn, fraction), at(vit, fraction), fraction


def first_block(table, arch: str) -> str:
    """Layer 1 in the notes' sense: the CNN's first layer after its stem, the ViT's first Transformer block."""
    ordered = table.sort_values("layer_index")["layer"].drop_duplicates().tolist()
    if arch == "vit":
        blocks = [layer for layer in ordered if layer.startswith("block")]
        return blocks[0] if blocks else ordered[-1]
    after_stem = [layer for layer in ordered if layer != "stem"]
    return after_stem[0] if after_stem else ordered[0]


def text(e: Estimate) -> str:
    return format_estimate(e, ".3g")


# ---------------------------------------------------------------------------- row 4: receptive field


def receptive_field(ctx: Context) -> ClaimResult:
    """Row 4. effect = ViT − CNN share of the image (%) holding 95% of the gradient mass, first block."""
    rule = (f"supported if the ViT's first-block ERF area (95% of the gradient mass, % of the image) exceeds the "
            f"CNN's first-block area with a 95% interval above 0 and is at least {MANY_TIMES:g}x it; contradicted "
            "if the difference's interval is below 0; else inconclusive")  # fmt: skip
    pair = probed_pair(ctx, "4", "receptive_field")
    if isinstance(pair, ClaimResult):
        return pair
    cnn, vit, fraction = pair

    def area(run: Run) -> float:
        table = run.probe_rows["receptive_field"]
        return float(table[table["layer"] == first_block(table, run.arch)]["area_pct"].iloc[0])

    effect = difference(by_key(vit, area), by_key(cnn, area))
    cnn_area, vit_area = t_interval([area(r) for r in cnn]), t_interval([area(r) for r in vit])
    estimates = {"effect": effect, "cnn": cnn_area, "vit": vit_area}

    def decide(e) -> str:
        verdict = sign_verdict(e["effect"])
        return "inconclusive" if verdict == "supported" and e["vit"].mean < MANY_TIMES * e["cnn"].mean else verdict

    verdict = decide(estimates)
    details = [f"Effect: ViT − CNN ERF area (% of the image) of the first block, at fraction {fraction:g} "
               f"({effect.method} comparison). Per layer, seed means:", "",
               "| arch | layer | radius (px) | area (% of image) |", "|---|---|---|---|"]  # fmt: skip
    for arch, runs in (("resnet", cnn), ("vit", vit)):
        table = runs[0].probe_rows["receptive_field"].sort_values("layer_index")
        for layer in table["layer"].drop_duplicates():
            rows = [t[t["layer"] == layer] for t in (r.probe_rows["receptive_field"] for r in runs)]
            radius = np.mean([float(t["radius_px"].iloc[0]) for t in rows if len(t)])
            share = np.mean([float(t["area_pct"].iloc[0]) for t in rows if len(t)])
            details.append(f"| {arch} | {layer} | {radius:.1f} | {share:.1f}% |")
    return ClaimResult("4", verdict, effect, f"first block: {text(cnn_area)}% of the image",
                       f"first block: {text(vit_area)}% of the image", rule,
                       "ViT − CNN effective receptive field area of the first block (percentage points of the image)",
                       "Luo et al. 2016 (effective receptive fields are Gaussian and grow ~√depth); Raghu et al. 2021 "
                       "Fig. 4: ViT lower layers already mix local and global information.",
                       details, [*cnn, *vit], estimates=estimates, decide=decide)  # fmt: skip


# ------------------------------------------------------------------------- row 1: inductive bias


def inductive_bias(ctx: Context, equivariance: ClaimResult, data_efficiency: ClaimResult) -> ClaimResult:
    """Row 1. effect = first-block mean attention distance at initialisation − after training (px):
    positive when training makes the ViT's early attention more local. Rows 2 and 9 complete it."""
    rule = ("supported if the ViT's first-block mean attention distance (over heads) shrinks with training "
            "(init − trained with a 95% interval above 0) and rows 2 and 9 are supported; contradicted if row 2 "
            "or row 9 is contradicted; else inconclusive")  # fmt: skip
    vit = probed(ctx.select("vit"), "attention_distance")
    if not vit:
        return not_measured("1", "needs attention_distance probe results (with the init rows) of ViT runs; "
                                 + HINT.format(name="attention_distance"))  # fmt: skip
    fraction = max(fractions(vit))
    runs = at(vit, fraction)

    def distance(run: Run, weights: str) -> float:
        table = run.probe_rows["attention_distance"]
        layer = first_block(table, "vit")
        picked = table[(table["layer"] == layer) & (table["weights"] == weights)]
        return float(picked["mean_distance_px"].mean()) if len(picked) else math.nan

    effect = t_interval([distance(r, "init") - distance(r, "trained") for r in runs])
    # Rows 2 and 9 are decided again from their own estimates (under keys "2:..." and "9:..."), so that a
    # simulated rerun redraws them too: row 1's flip rate includes theirs.
    parts = {"2": equivariance, "9": data_efficiency}
    estimates = {"effect": effect, **{f"{row}:{key}": e for row, part in parts.items() for key, e in part.estimates.items()}}

    def decide(e) -> str:
        others = {part.decide({key: e[f"{row}:{key}"] for key in part.estimates}) if part.decide else part.verdict
                  for row, part in parts.items()}  # fmt: skip
        if "contradicted" in others:
            return "contradicted"
        return "supported" if sign_verdict(e["effect"]) == "supported" and others == {"supported"} else "inconclusive"

    verdict = decide(estimates)
    by_fraction = ["", "| fraction | first-block distance at init (px) | after training (px) |", "|---|---|---|"]
    for f in sorted(fractions(vit)):
        init, trained = (t_interval([distance(r, w) for r in at(vit, f)]) for w in ("init", "trained"))
        by_fraction.append(f"| {f:g} | {text(init)} | {text(trained)} |")
    details = [f"Effect: init − trained first-block mean attention distance (px, mean over heads; [CLS] excluded), "
               f"ViT runs at fraction {fraction:g} (t interval over seeds). Row 2: {equivariance.verdict}; "
               f"row 9: {data_efficiency.verdict}. Does the ViT learn locality, and less of it with less data?",
               *by_fraction]  # fmt: skip
    return ClaimResult("1", verdict, effect, f"row 2 {equivariance.verdict}, row 9 {data_efficiency.verdict}",
                       f"first-block attention distance shrinks by {text(effect)} px with training", rule,
                       "first-block mean attention distance at init − after training (pixels)",
                       "Dosovitskiy et al. 2020 Fig. 7 (right): some heads attend locally in the lowest layers "
                       "(mean distance well below the image size), more so than at init; Raghu et al. 2021.",
                       details, runs, estimates=estimates, decide=decide)  # fmt: skip


# ----------------------------------------------------------------------------- row 6: dynamic mixing


def dynamic_mixing(ctx: Context) -> ClaimResult:
    """Row 6. effect = ViT − CNN mean variation across images of the token-mixing operator's Jacobian."""
    rule = (f"supported if the CNN's convolutions vary by less than {ZERO_VARIATION:g} (their 95% interval over seeds below it) and the ViT − CNN "
            "difference has a 95% interval above 0; contradicted if the CNN's mixing varies (interval above "
            f"{ZERO_VARIATION:g}) or the ViT's does not (interval below it); else inconclusive")  # fmt: skip
    pair = probed_pair(ctx, "6", "mixing")
    if isinstance(pair, ClaimResult):
        return pair
    cnn, vit, fraction = pair

    def variation(run: Run, scope: str = "mixer") -> float:
        table = run.probe_rows["mixing"]
        return float(table[table["scope"] == scope]["variation"].mean())

    effect = difference(by_key(vit, variation), by_key(cnn, variation))
    cnn_mix, vit_mix = t_interval([variation(r) for r in cnn]), t_interval([variation(r) for r in vit])
    cnn_block = t_interval([variation(r, "layer") for r in cnn])
    estimates = {"effect": effect, "cnn": cnn_mix, "vit": vit_mix}

    def decide(e) -> str:
        cnn_e, vit_e = e["cnn"], e["vit"]
        # "in every run": with an interval, its upper end stands for the largest run a rerun may show
        cnn_fixed = cnn_e.ci_high < ZERO_VARIATION if cnn_e.has_interval else cnn_e.mean < ZERO_VARIATION
        if cnn_fixed and sign_verdict(e["effect"]) == "supported":
            return "supported"
        if (cnn_e.has_interval and cnn_e.ci_low > ZERO_VARIATION) or (vit_e.has_interval and vit_e.ci_high < ZERO_VARIATION):
            return "contradicted"
        return "inconclusive"

    verdict = decide(estimates)
    details = [f"Effect: ViT − CNN variation of the mixing matrix M(x)[i, j] = ‖∂y_i/∂x_j‖ across test images "
               f"(mean over layers of mean ‖M(x) − M̄‖/‖M̄‖), at fraction {fraction:g} ({effect.method} comparison).",
               f"Measured the same way on whole CNN blocks (convolutions with their ReLUs and residuals), the "
               f"CNN's mixing varies by {text(cnn_block)}: the ReLU gates make a CNN block input-dependent, even though "
               "its kernels are fixed."]  # fmt: skip
    return ClaimResult("6", verdict, effect, f"convolutions: {text(cnn_mix)}; whole blocks: {text(cnn_block)}",
                       f"attention: {text(vit_mix)}", rule,
                       "ViT − CNN input-dependence of the token-mixing operator (dimensionless)",
                       "Dosovitskiy et al. 2020 §3.1: attention weights are computed from the input; a convolution's "
                       "weights are not.", details, [*cnn, *vit], estimates=estimates, decide=decide)  # fmt: skip


# --------------------------------------------------------------------- row 7: architecture complexity


def architecture_complexity(ctx: Context) -> ClaimResult:
    """Row 7. effect = CNN − ViT distinct block configurations, counted from the built models (exact, n = 1)."""
    rule = ("counted from the built modules: supported if the ViT has fewer distinct block configurations and needs "
            "fewer architecture hyperparameters than the CNN; contradicted if it has more of both; else inconclusive")
    cnn, vit = probed(ctx.select("resnet"), "introspection"), probed(ctx.select("vit"), "introspection")
    if not cnn or not vit:
        return not_measured("7", "needs introspection probe results of a ResNet and a ViT; "
                                 + HINT.format(name="introspection"))  # fmt: skip
    counts = {arch: runs[0].probe_rows["introspection"].iloc[0] for arch, runs in (("resnet", cnn), ("vit", vit))}
    configurations = int(counts["resnet"]["block_configurations"]) - int(counts["vit"]["block_configurations"])
    hyperparameters = int(counts["resnet"]["hyperparameters"]) - int(counts["vit"]["hyperparameters"])
    if configurations > 0 and hyperparameters > 0:
        verdict = "supported"
    elif configurations < 0 and hyperparameters < 0:
        verdict = "contradicted"
    else:
        verdict = "inconclusive"
    describe = lambda c: (f"{int(c['block_configurations'])} block configurations, {int(c['hyperparameters'])} "  # noqa: E731
                          f"hyperparameters, {int(c['leaf_module_types'])} module types")  # fmt: skip
    details = [f"Effect: CNN − ViT distinct block configurations ({configurations}); hyperparameters CNN − ViT: "
               f"{hyperparameters}. Structural counts of the built models: exact, no seeds involved.",
               "", "| arch | parameters | module types | blocks | block configurations | stages | hyperparameters |",
               "|---|---|---|---|---|---|---|"]  # fmt: skip
    for arch, c in counts.items():
        details.append(f"| {arch} | {int(c['parameters']):,} | {int(c['leaf_module_types'])} | {int(c['blocks'])} | "
                       f"{int(c['block_configurations'])} | {int(c['stages'])} | {int(c['hyperparameters'])} |")  # fmt: skip
    return ClaimResult("7", verdict, Estimate(float(configurations), n=1, method="exact count"),
                       describe(counts["resnet"]), describe(counts["vit"]), rule,
                       "CNN − ViT distinct block configurations (count)",
                       "Dosovitskiy et al. 2020 §3.1: a standard Transformer encoder, L identical blocks.",
                       details, [cnn[0], vit[0]])  # fmt: skip


# ------------------------------------------------------------------------ row 13: resolution changes


def resolution_change(ctx: Context) -> ClaimResult:
    """Claim 13. effect = ViT accuracy with − without positional-embedding interpolation, mean over the
    evaluated resolutions other than the training one."""
    rule = ("supported if interpolated − not-interpolated ViT accuracy at resolutions other than the training one "
            "has a 95% interval above 0; contradicted if below 0; else inconclusive")  # fmt: skip
    vit = probed(ctx.select("vit"), "resolution")
    if not vit:
        return not_measured("13", "needs resolution probe results of ViT runs; " + HINT.format(name="resolution"))
    fraction = max(fractions(vit))
    runs = at(vit, fraction)

    def accuracy(run: Run, variant: str, size: int | None = None) -> float:
        table = run.probe_rows["resolution"]
        other = table[(table["variant"] == variant) & (table["image_size"] != table["train_size"])]
        if size is not None:
            other = other[other["image_size"] == size]
        return float(other["accuracy"].mean())

    effect = t_interval([accuracy(r, "interpolated") - accuracy(r, "not_interpolated") for r in runs])
    table = runs[0].probe_rows["resolution"]
    sizes = sorted(int(s) for s in table.loc[table["image_size"] != table["train_size"], "image_size"].unique())
    details = [f"Effect: ViT test accuracy with − without interpolated positional embeddings, mean over "
               f"{', '.join(map(str, sizes))} px (trained at {int(table['train_size'].iloc[0])} px), fraction "
               f"{fraction:g}, t interval over seeds. Without interpolation each trained embedding keeps its "
               "(row, col) and new positions get zero.", "",
               "| image size | CNN as is | ViT interpolated | ViT not interpolated |", "|---|---|---|---|"]  # fmt: skip
    cnn = at(probed(ctx.select("resnet"), "resolution"), fraction)
    for size in sizes:
        cells = [t_interval([accuracy(r, v, size) for r in group]) if group else None
                 for group, v in ((cnn, "as_is"), (runs, "interpolated"), (runs, "not_interpolated"))]  # fmt: skip
        details.append(f"| {size} | " + " | ".join("—" if c is None else f"{100 * c.mean:.1f}%" for c in cells) + " |")
    cnn_text = (f"accuracy at other sizes {100 * t_interval([accuracy(r, 'as_is') for r in cnn]).mean:.1f}% as is"
                if cnn else "—")  # fmt: skip
    vit_text = (f"interpolated {100 * t_interval([accuracy(r, 'interpolated') for r in runs]).mean:.1f}%, not "
                f"{100 * t_interval([accuracy(r, 'not_interpolated') for r in runs]).mean:.1f}%")  # fmt: skip
    return ClaimResult("13", sign_verdict(effect), effect, cnn_text, vit_text, rule,
                       "ViT accuracy with − without positional-embedding interpolation (fraction of test images)",
                       "Dosovitskiy et al. 2020 §3.2: 2D interpolation of the pre-trained position embeddings for "
                       "fine-tuning at higher resolution; Touvron et al. 2019 (FixRes) on train/test resolution.",
                       details, [*cnn, *runs], estimates={"effect": effect}, decide=sign_rule)  # fmt: skip


# ------------------------------------------------------------------------- row 8: transfer learning

TRANSFER_VARIANTS = ("scratch", "finetune", "linear")  # the rows of probes/transfer.py, the baseline first


def transfer_learning(ctx: Context) -> ClaimResult:
    """Row 8. effect = ViT − CNN fine-tune gain: fine-tune − from-scratch test accuracy on the target
    dataset B of a model pretrained on A, in percentage points, paired over seeds."""
    rule = ("supported if the ViT's fine-tune gain over training from scratch on the target dataset (same budget) "
            "exceeds the CNN's, the difference's 95% interval above 0; contradicted if below 0; else inconclusive")
    pair = probed_pair(ctx, "8", "transfer")
    if isinstance(pair, ClaimResult):
        return pair
    cnn, vit, fraction = pair
    tables = {id(run): run.probe_rows["transfer"].set_index("variant") for run in [*cnn, *vit]}
    directions = {(t["source_dataset"].iloc[0], t["target_dataset"].iloc[0]) for t in tables.values()}
    if len(directions) > 1:
        named = ", ".join(f"{a} -> {b}" for a, b in sorted(directions))
        return not_measured("8", f"transfer results of different dataset pairs ({named}); probe every run with the "
                                 "same target dataset")  # fmt: skip
    (source, target), first = directions.pop(), tables[id(cnn[0])]

    def value(column: str, variant: str):
        return lambda run: float(tables[id(run)].loc[variant, column])

    effect = difference(by_key(vit, value("gain", "finetune")), by_key(cnn, value("gain", "finetune")))
    linear_effect = difference(by_key(vit, value("gain", "linear")), by_key(cnn, value("gain", "linear")))

    def summary(runs: list[Run]) -> dict[str, Estimate]:
        accuracies = {v: t_interval([100 * value("accuracy", v)(r) for r in runs]) for v in TRANSFER_VARIANTS}
        gains = {f"{v} gain": t_interval([value("gain", v)(r) for r in runs]) for v in TRANSFER_VARIANTS[1:]}
        return {**accuracies, **gains}

    def evidence(runs: list[Run]) -> str:
        s = summary(runs)
        return (f"{source} -> {target}: scratch {s['scratch'].mean:.1f}%, fine-tune {s['finetune'].mean:.1f}% "
                f"({s['finetune gain'].mean:+.1f} pts), linear {s['linear'].mean:.1f}% "
                f"({s['linear gain'].mean:+.1f} pts)")  # fmt: skip

    steps, batch, n_train = (int(first[c].iloc[0]) for c in ("steps", "batch_size", "n_train"))
    points = lambda e: format_estimate(e, "+.1f")  # noqa: E731
    headroom = lambda runs: f"{100 - summary(runs)['scratch'].mean:.1f}"  # noqa: E731
    details = [f"Effect: ViT − CNN fine-tune gain (fine-tune − from-scratch test accuracy on {target}, percentage "
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
               "to other modalities; this measures image-to-image transfer between small datasets only.", "",
               "| arch | scratch | fine-tune | linear | fine-tune gain (pts) | linear gain (pts) |",
               "|---|---|---|---|---|---|"]  # fmt: skip
    for arch, runs in (("resnet", cnn), ("vit", vit)):
        s = summary(runs)
        accuracies = " | ".join(format_estimate(s[v], ".1f") + "%" for v in TRANSFER_VARIANTS)
        details.append(f"| {arch} | {accuracies} | {points(s['finetune gain'])} | {points(s['linear gain'])} |")
    return ClaimResult("8", sign_verdict(effect), effect, evidence(cnn), evidence(vit), rule,
                       f"ViT − CNN fine-tune gain over training from scratch on {target} (percentage points)",
                       "Dosovitskiy et al. 2020 §4.2–4.3, Fig. 3: pretrained on ImageNet-1k, BiT ResNets transfer "
                       "better than ViTs; pretrained on ImageNet-21k or JFT-300M, ViTs match or beat them.",
                       details, [*cnn, *vit], estimates={"effect": effect}, decide=sign_rule)  # fmt: skip


# ------------------------------------------------------------------- row 10: multimodal compatibility


def multimodal(ctx: Context) -> ClaimResult:
    """Row 10, a structural check. effect = CNN − ViT modules that assume a 2-D image grid and would have to
    be replaced for a token sequence (exact count, n = 1); the ViT's sequence-task accuracy shows that its
    encoder does run and learn one with only a new embedding."""
    rule = ("structural: supported if the ViT's encoder runs a token sequence with 0 modules replaced and learns the "
            "sequence task above chance (95% binomial interval above it, encoder fine-tuned) in every probed ViT run, "
            "while the CNN's body holds >= 1 module that assumes a 2-D grid; contradicted if the CNN needs no "
            "replacement or the ViT needs one (or does not run); inconclusive if the ViT runs unchanged but does not "
            "learn above chance")  # fmt: skip
    cnn, vit = probed(ctx.select("resnet"), "multimodal"), probed(ctx.select("vit"), "multimodal")
    if not cnn or not vit:
        return not_measured("10", "needs multimodal probe results of a ResNet and a ViT; "
                                  + HINT.format(name="multimodal"))  # fmt: skip

    def row(run: Run, weights: str = "fine-tuned"):
        table = run.probe_rows["multimodal"]
        return table[table["encoder_weights"] == weights].iloc[0]

    cnn_needs = min(int(row(r)["modules_replaced"]) for r in cnn)
    if cnn_needs == 0 or not all(bool(row(r)["runs_unchanged"]) for r in vit):
        verdict = "contradicted"
    elif all(bool(row(r)["above_chance"]) for r in vit):
        verdict = "supported"
    else:
        verdict = "inconclusive"
    first_cnn, first_vit = row(cnn[0]), row(vit[0])
    effect = int(first_cnn["modules_replaced"]) - int(first_vit["modules_replaced"])

    def accuracy(r) -> str:
        if not bool(r["runs"]):
            return "does not run"
        return (f"{100 * float(r['accuracy']):.1f}% [{100 * float(r['accuracy_low']):.1f}, "
                f"{100 * float(r['accuracy_high']):.1f}]")  # fmt: skip

    chance = f"chance {100 * float(first_vit['chance']):.0f}%"
    if bool(first_cnn["runs"]):
        attempt = (f"runs ({float(first_cnn['kernel_weights_on_padding']):.0%} of its kernel weights see only padding) "
                   f"and learns {accuracy(first_cnn)} vs {chance}")  # fmt: skip
    else:
        attempt = f"does not run ({first_cnn['error']})"
    cnn_text = (f"structural: {int(first_cnn['modules_replaced'])} modules assume a 2-D grid "
                f"({first_cnn['modules_replaced_types']}); laid out as a height-1 image the body {attempt}")
    vit_text = (f"structural: the encoder runs tokens with {int(first_vit['modules_replaced'])} modules replaced "
                f"({int(first_vit['encoder_modules_reused'])} leaf modules reused) and learns {accuracy(first_vit)} "
                f"vs {chance}; frozen {accuracy(row(vit[0], 'frozen'))}")  # fmt: skip
    details = [f"Effect: CNN − ViT modules that assume a 2-D image grid and would have to be replaced for a model of "
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
               "(B, T, D) sequence as it is.", "",
               "| arch | run | encoder weights | runs | modules replaced | modules reused | accuracy [95%] |",
               "|---|---|---|---|---|---|---|"]  # fmt: skip
    for arch, runs in (("resnet", cnn), ("vit", vit)):
        for run in runs:
            for _, r in run.probe_rows["multimodal"].iterrows():
                details.append(f"| {arch} | {run.path} | {r['encoder_weights']} | {'yes' if bool(r['runs']) else 'no'} "
                               f"| {int(r['modules_replaced'])} | {int(r['encoder_modules_reused'])} | {accuracy(r)} |")
    return ClaimResult("10", verdict, Estimate(float(effect), n=1, method="exact count"), cnn_text, vit_text, rule,
                       "structural: CNN − ViT modules to replace for a token sequence (count)",
                       "Dosovitskiy et al. 2020 §3.1: the standard Transformer encoder of NLP (Vaswani et al. 2017), "
                       "applied unchanged to a sequence of patch embeddings.", details, [*cnn, *vit])  # fmt: skip
