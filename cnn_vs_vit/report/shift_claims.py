"""Claims measured by the shift probe (probes/shift.csv, shift_summary.json of each run):
equivariance (2), patch composition (14), the three causes of broken equivariance (15a–c) and
invariance learned from augmentation (16). Errors are the probe's normalised errors (unitless);
all in circular mode, where the symmetry is exact."""

import math

import numpy as np

from .accuracy_claims import at, by_key, fractions
from .claims import ClaimResult, Context, not_measured
from .runs import Run
from .statistics import Estimate, difference, format_estimate, sign_rule, sign_verdict, t_interval

MODE = "circular"
ZERO_TOLERANCE = 1e-4  # an error below this is "≈ 0" (float32 round-off of an exact symmetry is ~1e-7)
SHIFT_ANCHOR = ("Zhang 2019 (Making convolutional networks shift-invariant again): prediction consistency under "
                "diagonal shifts; strided CNNs are not shift-invariant (Azulay & Weiss 2019).")  # fmt: skip
PROBE_HINT = "run cnnvit probe-shift RUN_DIR on them"


def probed(runs: list[Run]) -> list[Run]:
    return [run for run in runs if run.shift_rows is not None and run.shift_summary is not None]


def rows(run: Run, layer: str | None = None) -> "np.ndarray":
    table = run.shift_rows[run.shift_rows["mode"] == MODE]
    return table if layer is None else table[table["layer"] == layer]


def value(run: Run, layer: str, shift: int, column: str) -> float:
    """One number of the run's shift.csv (circular mode); NaN when that layer/shift was not probed."""
    table = rows(run, layer)
    hit = table[table["shift"] == shift]
    return float(hit[column].iloc[0]) if len(hit) else math.nan


def shifts(runs: list[Run], layer: str) -> list[int]:
    """Shifts > 0 probed for `layer` in every run."""
    common = None
    for run in runs:
        found = set(int(s) for s in rows(run, layer)["shift"] if s > 0)
        common = found if common is None else common & found
    return sorted(common or [])


def total_stride(runs: list[Run]) -> int:
    """The CNN's total stride: the largest grid stride of its map layers."""
    strides = [s for run in runs for s in rows(run).query("kind == 'map'")["grid_stride"].dropna()]
    return int(max(strides)) if strides else 1


def patch_size(runs: list[Run]) -> int | None:
    strides = [s for run in runs for s in rows(run).query("kind == 'tokens'")["grid_stride"].dropna()]
    return int(max(strides)) if strides else None


def last_block(run: Run) -> str:
    tokens = rows(run).query("kind == 'tokens'")
    return str(tokens.sort_values("layer_index")["layer"].iloc[-1])


def layer_estimate(runs: list[Run], layer, shift: int, column: str = "equivariance_error") -> Estimate:
    """Mean over seeds with a t interval; with a single run, the probe's per-image 95% interval."""
    layer_of = layer if callable(layer) else (lambda run: layer)
    values = by_key(runs, lambda run: value(run, layer_of(run), shift, column))
    if len(values) == 1:
        run = runs[0]
        prefix = column.removesuffix("_error")
        low, high = (value(run, layer_of(run), shift, f"{prefix}_ci_{side}") for side in ("low", "high"))
        return Estimate(next(iter(values.values())), low, high, 1, method="per-image interval, 1 seed")
    return t_interval(list(values.values()))


def threshold_verdict(estimates: list[Estimate], above: str = "supported", below: str = "contradicted") -> str:
    """`above` if every interval lies above ZERO_TOLERANCE, `below` if every one lies under it."""
    if not estimates or any(e.n == 0 for e in estimates):
        return "not measured"
    if all(e.has_interval and e.ci_low > ZERO_TOLERANCE for e in estimates):
        return above
    if all(e.has_interval and e.ci_high < ZERO_TOLERANCE for e in estimates):
        return below
    return "inconclusive"


def fmt(e: Estimate, digits: int = 4) -> str:
    return format_estimate(e, f".{digits}f")


def consistency(run: Run) -> float:
    """Share of test images whose prediction is the same under every pair of probed shifts (Zhang 2019)."""
    return float(run.shift_summary["predictions"][MODE]["consistency"]["mean"])


def largest_shared_fraction(*groups: list[Run]) -> float | None:
    shared = set.intersection(*(fractions(group) for group in groups)) if groups else set()
    return max(shared) if shared else None


# ------------------------------------------------------------------------------- row 2: equivariance


def equivariance(ctx: Context) -> ClaimResult:
    """Row 2. effect = ViT − CNN invariance error of the logits, mean over shifts that are not
    multiples of the CNN's total stride (circular shifts)."""
    rule = ("supported if ViT − CNN logit invariance error, averaged over the circular shifts that are not a "
            "multiple of the CNN's total stride, has a 95% interval above 0 and the ViT's error is the larger at "
            "every one of those shifts (seed means); contradicted if the interval is below 0 and the CNN's error is "
            "the larger at every such shift; else inconclusive (also with 1 seed: no interval over seeds). One "
            "interval over the shifts, not one per shift: asking each of 7 intervals at n = 3 to exclude 0 flipped "
            "this verdict on a rerun that moved one of them by a hair")  # fmt: skip
    cnn, vit = probed(ctx.select("resnet")), probed(ctx.select("vit"))
    fraction = largest_shared_fraction(cnn, vit) if cnn and vit else None
    if fraction is None:
        return not_measured("2", f"needs shift-probe results for baseline ResNet and ViT runs; {PROBE_HINT}")
    cnn, vit = at(cnn, fraction), at(vit, fraction)
    stride = total_stride(cnn)
    tested = [s for s in shifts(cnn + vit, "logits") if s % stride]
    if not tested:
        return not_measured("2", f"no probed shift is off the CNN's total stride {stride}; probe shifts 1..{stride - 1}")
    error = lambda s: (lambda run: value(run, "logits", s, "invariance_error"))  # noqa: E731
    per_shift = {s: difference(by_key(vit, error(s)), by_key(cnn, error(s))) for s in tested}
    mean_error = lambda run: float(np.mean([error(s)(run) for s in tested]))  # noqa: E731
    effect = difference(by_key(vit, mean_error), by_key(cnn, mean_error))
    estimates = {"effect": effect, **{f"{s} px": e for s, e in per_shift.items()}}

    def decide(e) -> str:
        overall, directions = e["effect"].excludes_zero, {np.sign(e[f"{s} px"].mean) for s in tested}
        if overall == 1 and directions == {1}:
            return "supported"
        return "contradicted" if overall == -1 and directions == {-1} else "inconclusive"

    verdict = decide(estimates)
    evidence = lambda runs: (f"consistency {t_interval([consistency(r) for r in runs]).mean:.1%}, "  # noqa: E731
                             f"logit error at 1 px {layer_estimate(runs, 'logits', 1, 'invariance_error').mean:.4f}")
    details = [f"Effect: ViT − CNN invariance error of the logits, mean over circular shifts {tested} px "
               f"(CNN total stride {stride}), at fraction {fraction:g} ({effect.method} comparison).",
               "", "| shift (px) | CNN logit error | ViT logit error | ViT − CNN |", "|---|---|---|---|"]  # fmt: skip
    for s in tested:
        details.append(f"| {s} | {fmt(layer_estimate(cnn, 'logits', s, 'invariance_error'))} | "
                       f"{fmt(layer_estimate(vit, 'logits', s, 'invariance_error'))} | {fmt(per_shift[s])} |")  # fmt: skip
    cnn_one = layer_estimate(cnn, "logits", 1, "invariance_error")
    if cnn_one.n and cnn_one.mean > ZERO_TOLERANCE:
        details += ["", f"The notes' 'Yes (built-in)' is an idealisation: this CNN (total stride {stride}) changes its "
                        f"logits by {cnn_one.mean:.4f} (relative) under a 1 px circular shift; only a stride-1, "
                        "circular-padded CNN is exactly equivariant."]  # fmt: skip
    if effect.n == 1:
        details += ["", "With one seed the intervals in the table are over test images (the probe's own); the "
                        "verdict needs >= 2 seeds to measure variation between trainings."]  # fmt: skip
    return ClaimResult("2", verdict, effect, evidence(cnn), evidence(vit), rule,
                       "ViT − CNN relative logit change under shift (unitless)", SHIFT_ANCHOR, details, cnn + vit,
                       estimates=estimates, decide=decide)  # fmt: skip


# ------------------------------------------------------------------------- row 14: patch composition


def reference_vit(ctx: Context, **options) -> list[Run]:
    """Probed ViT runs with `options` (others at baseline): the reference model if it has any, else any ViT."""
    keys = tuple(options)
    match = lambda run: all(run.options.get(k, d) == v for k, (v, d) in options.items())  # noqa: E731
    for model_only in (True, False):
        chosen = [r for r in probed(ctx.select("vit", baseline_except=keys, model=model_only)) if match(r)]
        if chosen:
            fraction = max(fractions(chosen))
            model = sorted({r.model for r in chosen})[0]
            return [r for r in at(chosen, fraction) if r.model == model]
    return []


def patch_composition(ctx: Context) -> ClaimResult:
    """Claim 14. effect = equivariance error of the ViT's first token layer (`embed`) at a 1 px shift."""
    rule = (f"supported if the ViT's token-embedding equivariance error at 1 and 2 px has a 95% interval above "
            f"{ZERO_TOLERANCE:g}; contradicted if below it at both; periodicity reported: the error at a shift of "
            "one patch vs other shifts, for a ViT without positional embeddings")  # fmt: skip
    vit = reference_vit(ctx)
    if not vit:
        vit = reference_vit(ctx, pos_embed=("none", "learned"))
    if not vit or not {1, 2} <= set(shifts(vit, "embed")):
        return not_measured("14", f"needs shift-probe results at 1 and 2 px for a ViT; {PROBE_HINT}")
    estimates = {s: layer_estimate(vit, "embed", s) for s in (1, 2)}
    verdict = threshold_verdict(list(estimates.values()))
    by_name = {f"{s} px": e for s, e in estimates.items()}
    P = patch_size(vit)
    details = [f"Effect: equivariance error of `embed` (patch tokens + positions) at 1 px, {vit[0].label}.", "",
               f"Error at 1 px: {fmt(estimates[1])}; at 2 px: {fmt(estimates[2])} (patch size {P})."]  # fmt: skip
    vit_evidence = f"embed error {estimates[1].mean:.3f} at 1 px, {estimates[2].mean:.3f} at 2 px"
    flat = reference_vit(ctx, pos_embed=("none", "learned"))
    if flat and P and P in shifts(flat, "embed"):
        others = [s for s in shifts(flat, "embed") if s % P]
        at_p = layer_estimate(flat, "embed", P)
        rest = float(np.mean([layer_estimate(flat, "embed", s).mean for s in others])) if others else math.nan
        details.append("")
        details.append(f"Periodicity ({flat[0].label}): error at a shift of one patch ({P} px) {fmt(at_p)} vs mean "
                       f"{rest:.4f} at the other shifts {others}: a whole-patch shift only permutes tokens.")  # fmt: skip
        vit_evidence += f"; pos_embed=none: {at_p.mean:.2g} at {P} px vs {rest:.3f} elsewhere"
    return ClaimResult("14", verdict, estimates[1], "— (patching is ViT-only)", vit_evidence, rule,
                       "relative token change at 1 px (unitless)", SHIFT_ANCHOR, details, vit, estimates=by_name,
                       decide=lambda e: threshold_verdict(list(e.values())))  # fmt: skip


# --------------------------------------------------------- claim 15: the three causes, one variant each


def cause(claim_id: str, vit: list[Run], shift_list: list[int], what: str, rule: str,
          above: str = "supported", below: str = "contradicted") -> ClaimResult:
    """Last-block equivariance error of `vit` at `shift_list`; the effect is the smallest of them."""
    estimates = {s: layer_estimate(vit, last_block, s) for s in shift_list}
    verdict = threshold_verdict(list(estimates.values()), above, below)
    smallest = min(estimates.values(), key=lambda e: e.mean)
    details = [f"Effect: {what}; {vit[0].label}, last block `{last_block(vit[0])}`, circular shifts.",
               "", "| shift (px) | last-block equivariance error |", "|---|---|",
               *(f"| {s} | {fmt(e)} |" for s, e in estimates.items())]  # fmt: skip
    evidence = "; ".join(f"{s} px: {e.mean:.2g}" for s, e in estimates.items())
    return ClaimResult(claim_id, verdict, smallest, "—", f"{vit[0].label}: {evidence}", rule,
                       f"{what} (unitless)", "", details, vit, estimates={f"{s} px": e for s, e in estimates.items()},
                       decide=lambda e: threshold_verdict(list(e.values()), above, below))  # fmt: skip


def cause_patchify(ctx: Context) -> ClaimResult:
    """Claim 15a. A ViT without positional embeddings, shifts that are not multiples of the patch size."""
    vit = reference_vit(ctx, pos_embed=("none", "learned"))
    P = patch_size(vit) if vit else None
    off_grid = [s for s in shifts(vit, "embed") if P and s % P] if vit else []
    if not off_grid:
        return not_measured("15a", f"needs a ViT with model.pos_embed=none probed at shifts off the patch grid; {PROBE_HINT}")
    return cause("15a", vit, off_grid, "smallest last-block error over shifts that are not multiples of the patch size",
                 f"supported if the last block's equivariance error has a 95% interval above {ZERO_TOLERANCE:g} at "
                 "every shift that is not a multiple of the patch size P (no positional embeddings, so only "
                 "patchify can break it); contradicted if below at every such shift")  # fmt: skip


def cause_positional_embedding(ctx: Context) -> ClaimResult:
    """Claim 15b. A ViT with learned positional embeddings, shifted by exactly one patch."""
    vit = reference_vit(ctx, pos_embed=("learned", "learned"))
    P = patch_size(vit) if vit else None
    if not vit or P not in shifts(vit, "embed"):
        return not_measured("15b", f"needs a ViT with learned positional embeddings probed at a shift of one patch; {PROBE_HINT}")
    return cause("15b", vit, [P], f"last-block error at a shift of one patch ({P} px)",
                 f"supported if the last block's error at a shift of exactly one patch (where patchify alone is "
                 f"exact) has a 95% interval above {ZERO_TOLERANCE:g}; contradicted if below it")  # fmt: skip


def cause_attention(ctx: Context) -> ClaimResult:
    """Claim 15c. A ViT without positional embeddings, shifted by exactly one patch: self-attention is
    permutation-equivariant, so the notes' third cause is expected to be contradicted."""
    vit = reference_vit(ctx, pos_embed=("none", "learned"))
    P = patch_size(vit) if vit else None
    if not vit or P not in shifts(vit, "embed"):
        return not_measured("15c", f"needs a ViT with model.pos_embed=none probed at a shift of one patch; {PROBE_HINT}")
    result = cause("15c", vit, [P], f"last-block error at a shift of one patch ({P} px), no positional embeddings",
                   f"contradicted if the last block's error at a shift of one patch is ≈ 0 (95% interval below "
                   f"{ZERO_TOLERANCE:g}: self-attention is permutation-equivariant); supported if clearly above it")  # fmt: skip
    result.details += ["", "Without positional embeddings a whole-patch circular shift permutes the tokens, and "
                          "attention and MLPs commute with permutations: global attention by itself does not "
                          "break equivariance."]  # fmt: skip
    return result


# ------------------------------------------------------------- claim 16: invariance learned from data


def invariance_from_data(ctx: Context) -> ClaimResult:
    """Claim 16. effect = the ViT's gain in shift consistency from random-translation augmentation."""
    rule = ("supported if the ViT's prediction consistency under shifts gains from augment.translate > 0 over "
            "augment.translate = 0 with a 95% interval above 0; contradicted if below 0; the CNN's gain is shown beside it")  # fmt: skip
    gains, texts, used = {}, {}, []
    for arch in ("resnet", "vit"):
        runs = probed(ctx.select(arch, baseline_except=("translate",)))
        augmented, plain = [r for r in runs if r.translate > 0], [r for r in runs if r.translate == 0]
        fraction = largest_shared_fraction(augmented, plain) if augmented and plain else None
        if fraction is None:
            texts[arch] = "— (needs runs with augment.translate=0)"
            continue
        augmented, plain = at(augmented, fraction), at(plain, fraction)
        gains[arch] = difference(by_key(augmented, consistency), by_key(plain, consistency))
        texts[arch] = (f"consistency {t_interval([consistency(r) for r in plain]).mean:.1%} → "
                       f"{t_interval([consistency(r) for r in augmented]).mean:.1%} (gain {fmt(gains[arch], 3)})")  # fmt: skip
        used += plain + augmented
    if "vit" not in gains:
        return not_measured("16", f"needs probed ViT runs with augment.translate=0 and > 0; {PROBE_HINT}",
                            cnn_evidence=texts["resnet"])  # fmt: skip
    effect = gains["vit"]
    details = [f"Effect: ViT consistency with translation augmentation minus without ({effect.method} comparison)."]
    return ClaimResult("16", sign_verdict(effect), effect, texts["resnet"], texts["vit"], rule,
                       "gain in prediction consistency (fraction of images)", SHIFT_ANCHOR, details, used,
                       estimates={"effect": effect}, decide=sign_rule)  # fmt: skip
