"""Claims measured by the probes of trained models beyond the shift probe: inductive bias (1, via
the attention distance at initialisation and after training), receptive field (4), dynamic mixing
(6), architecture complexity (7) and resolution changes (13). Each reads RUN_DIR/probes/<name>.csv
of the runs at the largest data fraction where both architectures were probed."""

import math

import numpy as np

from .accuracy_claims import at, by_key, fractions
from .claims import ClaimResult, Context, not_measured
from .runs import Run
from .statistics import Estimate, difference, format_estimate, sign_verdict, t_interval

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
    verdict = sign_verdict(effect)
    if verdict == "supported" and vit_area.mean < MANY_TIMES * cnn_area.mean:
        verdict = "inconclusive"
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
                       details, [*cnn, *vit])  # fmt: skip


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
    learned = sign_verdict(effect)
    others = {equivariance.verdict, data_efficiency.verdict}
    if "contradicted" in others:
        verdict = "contradicted"
    elif learned == "supported" and others == {"supported"}:
        verdict = "supported"
    else:
        verdict = "inconclusive"
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
                       details, runs)  # fmt: skip


# ----------------------------------------------------------------------------- row 6: dynamic mixing


def dynamic_mixing(ctx: Context) -> ClaimResult:
    """Row 6. effect = ViT − CNN mean variation across images of the token-mixing operator's Jacobian."""
    rule = (f"supported if the CNN's convolutions vary by less than {ZERO_VARIATION:g} in every run and the ViT − CNN "
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
    if all(variation(r) < ZERO_VARIATION for r in cnn) and sign_verdict(effect) == "supported":
        verdict = "supported"
    elif (cnn_mix.has_interval and cnn_mix.ci_low > ZERO_VARIATION) or (vit_mix.has_interval and vit_mix.ci_high < ZERO_VARIATION):
        verdict = "contradicted"
    else:
        verdict = "inconclusive"
    details = [f"Effect: ViT − CNN variation of the mixing matrix M(x)[i, j] = ‖∂y_i/∂x_j‖ across test images "
               f"(mean over layers of mean ‖M(x) − M̄‖/‖M̄‖), at fraction {fraction:g} ({effect.method} comparison).",
               f"Measured the same way on whole CNN blocks (convolutions with their ReLUs and residuals), the "
               f"CNN's mixing varies by {text(cnn_block)}: the ReLU gates make a CNN block input-dependent, even though "
               "its kernels are fixed."]  # fmt: skip
    return ClaimResult("6", verdict, effect, f"convolutions: {text(cnn_mix)}; whole blocks: {text(cnn_block)}",
                       f"attention: {text(vit_mix)}", rule,
                       "ViT − CNN input-dependence of the token-mixing operator (dimensionless)",
                       "Dosovitskiy et al. 2020 §3.1: attention weights are computed from the input; a convolution's "
                       "weights are not.", details, [*cnn, *vit])  # fmt: skip


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
                       details, [*cnn, *runs])  # fmt: skip
