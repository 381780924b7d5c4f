"""Claims measured by test accuracy: data efficiency (9), scalability (5), and the ViT ablations
learned vs sinusoidal positional embeddings (11) and [CLS] vs mean pooling (12)."""

import math
from collections import defaultdict
from collections.abc import Mapping
from functools import partial

import numpy as np
from scipy.optimize import curve_fit

from .claim_types import ClaimResult, not_measured
from .formatting import accuracy_text, percent
from .runs import Run
from .selection import Context, at, by_key, fractions
from .statistics import Estimate, difference, sign_rule, sign_verdict

BOOTSTRAP_RESAMPLES = 200
BOOTSTRAP_SEED = 0  # fixed: the same runs give the same interval on every rebuild
MIN_SIZES_FOR_FIT = 4
MIN_WIDTHS = 3
CROSSOVER_SEARCH_DECADES = 12  # look for n* up to 10^12 times the smallest training set
DATA_ANCHOR = (
    "Dosovitskiy et al. 2020 §4.3, Fig. 3–4: ViT-B/32 does much worse than ResNet50 on the 9M JFT subset "
    "and better on 90M+; BiT CNNs beat ViT when pre-trained on ImageNet-1k."
)


# ------------------------------------------------------------------------------ row 9: data efficiency

DATA_EFFICIENCY_RULE = (
    "supported if CNN − ViT test accuracy at the smallest data fraction has a 95% interval above 0, "
    "contradicted if below 0; needs at least 2 fractions to speak of 'small data'"
)


def data_efficiency_verdict(estimates: Mapping[str, Estimate], *, fractions_measured: int) -> str:
    """DATA_EFFICIENCY_RULE: "effect" is CNN − ViT accuracy at the smallest of `fractions_measured` fractions."""
    return "inconclusive" if fractions_measured < 2 else sign_verdict(estimates["effect"])


def data_efficiency(ctx: Context) -> ClaimResult:
    """Row 9. effect = CNN − ViT test accuracy at the smallest fraction both were trained on."""
    cnn, vit = ctx.select("resnet"), ctx.select("vit")
    shared = sorted(fractions(cnn) & fractions(vit))
    if not shared:
        return not_measured("9", "needs baseline runs of a ResNet and a ViT at the same data fraction")
    smallest = shared[0]
    effect = difference(by_key(at(cnn, smallest), Run.accuracy), by_key(at(vit, smallest), Run.accuracy))
    estimates = {"effect": effect}
    decide = partial(data_efficiency_verdict, fractions_measured=len(shared))
    return ClaimResult(
        claim_id="9",
        verdict=decide(estimates),
        effect=effect,
        cnn_evidence=per_fraction(cnn, shared),
        vit_evidence=per_fraction(vit, shared),
        rule=DATA_EFFICIENCY_RULE,
        effect_meaning="CNN − ViT test accuracy (fraction of test images) at the smallest fraction",
        anchor=DATA_ANCHOR,
        details=data_efficiency_details(cnn, vit, shared, effect),
        runs=[*at(cnn, smallest), *at(vit, smallest)],
        estimates=estimates,
        decide=decide,
    )


def per_fraction(runs: list[Run], shared: list[float]) -> str:
    return ", ".join(f"f={f:g}: {accuracy_text(at(runs, f))}" for f in shared)


def data_efficiency_details(cnn: list[Run], vit: list[Run], shared: list[float], effect: Estimate) -> list[str]:
    """The effect at the smallest fraction, and both architectures' accuracy at every shared fraction."""
    smallest = shared[0]
    details = [f"Effect: CNN − ViT test accuracy at fraction {smallest:g} ({effect.method} comparison)."]
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
    return details


# ------------------------------------------------------------------------------- row 5: scalability


def power_law(n, a, b, c):
    """Test error a·n^(−b) + c, with n in units of the smallest training set (keeps the fit well conditioned)."""
    return a * np.power(n, -b) + c


def fit_power_law(sizes: np.ndarray, errors: np.ndarray) -> tuple[float, float, float]:
    """(a, b, c) with a, b, c >= 0 (c <= 1, b <= 5); NaNs when the fit fails. `sizes` relative to the smallest."""
    try:
        params, _ = curve_fit(
            power_law,
            sizes,
            errors,
            p0=(max(errors[0], 1e-3), 0.5, 0.0),
            bounds=([0, 0, 0], [np.inf, 5, 1]),
            maxfev=20000,
        )
    except (RuntimeError, ValueError):
        return (math.nan, math.nan, math.nan)
    return tuple(float(p) for p in params)


def crossover(cnn_fit, vit_fit) -> float:
    """Smallest relative size where the fitted ViT error falls below the CNN's; 1 if already at the
    smallest; inf if not within 10^12. Relative sizes, like the fits."""
    grid = np.logspace(0, CROSSOVER_SEARCH_DECADES, 4000)
    below = power_law(grid, *vit_fit) < power_law(grid, *cnn_fit)
    return float(grid[np.argmax(below)]) if below.any() else math.inf


def width_exponent(errors_by_params: dict[int, list[float]], rng: np.random.Generator) -> tuple[float, list[float]]:
    """Slope b of log(error) = log(a) − b·log(params) on seed means, and its bootstrap over seeds.

    A pure power law (no floor): with three or four widths a three-parameter fit would be exactly
    determined and meaningless."""
    sizes = sorted(errors_by_params)
    x = np.log(np.array(sizes, dtype=float))

    def slope(means: list[float]) -> float:
        return -float(np.polyfit(x, np.log(np.maximum(means, 1e-6)), 1)[0])

    point = slope([np.mean(errors_by_params[p]) for p in sizes])
    boot = [
        slope([np.mean(rng.choice(errors_by_params[p], size=len(errors_by_params[p]))) for p in sizes])
        for _ in range(BOOTSTRAP_RESAMPLES)
    ]
    return point, boot


def width_scaling(ctx: Context, fraction: float, steps: int) -> tuple[str, Estimate, dict, list[Run]] | None:
    """Error vs parameter count over the widths trained at `fraction` with `steps`; None with < 3 widths."""
    errors, used = {}, []
    for arch in ("resnet", "vit"):
        runs = [run for run in at(ctx.select(arch, model=False), fraction) if run.summary.get("steps") == steps]
        per_params = defaultdict(list)
        for run in runs:
            per_params[int(run.summary.get("params", 0))].append(1.0 - run.accuracy())
        errors[arch] = dict(per_params)
        used += runs
    if min(len(errors[arch]) for arch in errors) < MIN_WIDTHS:
        return None
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    slopes = {arch: width_exponent(errors[arch], rng) for arch in errors}
    gaps = np.array(slopes["vit"][1]) - np.array(slopes["resnet"][1])
    n_seeds = min(len(v) for arch in errors for v in errors[arch].values())
    point = slopes["vit"][0] - slopes["resnet"][0]
    if n_seeds >= 2:
        effect = Estimate(
            point,
            float(np.percentile(gaps, 2.5)),
            float(np.percentile(gaps, 97.5)),
            n_seeds,
            method="bootstrap over seeds",
        )
    else:
        effect = Estimate(point, n=n_seeds, method="bootstrap over seeds")
    table = {arch: {p: float(np.mean(e)) for p, e in sorted(errors[arch].items())} for arch in errors}
    return sign_verdict(effect), effect, {"slopes": {a: slopes[a][0] for a in slopes}, "errors": table}, used


def combine_scaling(data_verdict: str, width_verdict: str | None) -> str:
    """Row 5 speaks of data *and* compute: both scalings must agree for a verdict beyond 'inconclusive'."""
    if width_verdict is None or width_verdict == data_verdict:
        return data_verdict
    if {data_verdict, width_verdict} <= {"supported", "not reached at this scale"}:
        return "not reached at this scale"
    return "inconclusive"


SCALABILITY_RULE = (
    "fit err = a·n^(−b) + c per architecture on seed means (>= 4 sizes); supported if b_ViT − b_CNN has "
    "a bootstrap 95% interval above 0 and the fitted curves cross within the measured sizes; "
    "'not reached at this scale' if above 0 but the crossover n* lies beyond the largest size; "
    "contradicted if below 0; inconclusive otherwise or with one seed. With >= 3 widths per architecture, "
    "err = a·params^(−b) is fitted too and the row keeps its verdict only if the width exponents agree "
    "(both above 0: 'not reached at this scale' when only one has a crossover; disagreement: inconclusive)"
)


def scalability_verdict(estimates: Mapping[str, Estimate], *, crossover_within: bool) -> str:
    """SCALABILITY_RULE: "effect" is b_ViT − b_CNN of error vs training images, "width" (where measured) of
    error vs parameters; `crossover_within`: the fitted data curves cross within the measured sizes."""
    verdict = sign_verdict(estimates["effect"])
    if verdict == "supported" and not crossover_within:
        verdict = "not reached at this scale"
    return combine_scaling(verdict, sign_verdict(estimates["width"]) if "width" in estimates else None)


def scalability(ctx: Context) -> ClaimResult:
    """Row 5. effect = b_ViT − b_CNN, the difference of fitted power-law exponents of test error vs
    training-set size; 95% interval by bootstrap over seeds within each size. Where >= 3 widths of
    both architectures were trained on the largest subset, the exponents of error vs parameters too."""
    errors = {arch: errors_by_size(ctx.select(arch)) for arch in ("resnet", "vit")}
    sizes = sorted(set(errors["resnet"]) & set(errors["vit"]))
    if len(sizes) < MIN_SIZES_FOR_FIT:
        return not_measured(
            "5",
            f"needs >= {MIN_SIZES_FOR_FIT} training-set sizes with both architectures "
            f"to fit a power law (have {len(sizes)}); run a data-fraction sweep",
        )
    relative = np.array(sizes, dtype=float) / sizes[0]
    means = {arch: np.array([np.mean(errors[arch][s]) for s in sizes]) for arch in errors}
    fits = {arch: fit_power_law(relative, means[arch]) for arch in errors}
    effect = exponent_gap(errors, sizes, fits)
    n_star = crossover(fits["resnet"], fits["vit"]) * sizes[0]
    used = [run for arch in ("resnet", "vit") for run in ctx.select(arch)]
    largest = [run for run in used if int(run.summary.get("train_size", 0)) == sizes[-1]]
    width = width_scaling(ctx, float(largest[0].summary["fraction"]), largest[0].summary.get("steps"))
    estimates = {"effect": effect}
    if width is not None:
        estimates["width"] = width[1]
        used += [run for run in width[3] if run not in used]
    decide = partial(scalability_verdict, crossover_within=n_star <= sizes[-1])
    cnn_text, vit_text, details = scalability_text(fits, sizes, n_star, width)
    return ClaimResult(
        claim_id="5",
        verdict=decide(estimates),
        effect=effect,
        cnn_evidence=cnn_text,
        vit_evidence=vit_text,
        rule=SCALABILITY_RULE,
        effect_meaning="difference of power-law exponents b of error vs training images (error ∝ n^−b)",
        anchor=DATA_ANCHOR,
        details=details,
        runs=used,
        estimates=estimates,
        decide=decide,
    )


def errors_by_size(runs: list[Run]) -> dict[int, list[float]]:
    """{training images: the test errors of the runs trained on that many}."""
    per_size = defaultdict(list)
    for run in runs:
        per_size[int(run.summary.get("train_size", 0))].append(1.0 - run.accuracy())
    return per_size


def exponent_gap(errors: dict[str, dict[int, list[float]]], sizes: list[int], fits: dict[str, tuple]) -> Estimate:
    """b_ViT − b_CNN of the fits, with a 95% interval from refitting seed means resampled within each size."""
    relative = np.array(sizes, dtype=float) / sizes[0]
    n_seeds = min(len(errors[arch][s]) for arch in errors for s in sizes)
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    gaps = []
    for _ in range(BOOTSTRAP_RESAMPLES):
        b = {}
        for arch in ("resnet", "vit"):
            resampled = np.array([np.mean(rng.choice(errors[arch][s], size=len(errors[arch][s]))) for s in sizes])
            b[arch] = fit_power_law(relative, resampled)[1]
        gaps.append(b["vit"] - b["resnet"])
    gaps = np.array([g for g in gaps if math.isfinite(g)])
    gap = fits["vit"][1] - fits["resnet"][1]
    if n_seeds >= 2 and len(gaps):
        low, high = float(np.percentile(gaps, 2.5)), float(np.percentile(gaps, 97.5))
        return Estimate(gap, low, high, n_seeds, method="bootstrap over seeds")
    return Estimate(gap, n=n_seeds, method="bootstrap over seeds")


def scalability_text(fits: dict[str, tuple], sizes: list[int], n_star: float, width) -> tuple[str, str, list[str]]:
    """(CNN evidence, ViT evidence, details) of row 5: the data fits, their crossover, and the width fits."""
    where = "never within 10^12× the smallest set" if math.isinf(n_star) else f"n* ≈ {n_star:,.0f} images"
    text = lambda arch: f"b = {fits[arch][1]:.3f}, c = {fits[arch][2]:.4f}"  # noqa: E731
    details = [
        f"Effect: b_ViT − b_CNN. Fitted crossover of the error curves: {where} "
        f"(largest measured: {sizes[-1]:,} images).",
        f"CNN fit: a = {fits['resnet'][0]:.4g}, {text('resnet')}; ViT fit: a = {fits['vit'][0]:.4g}, {text('vit')} "
        f"(n in units of {sizes[0]:,} images).",
    ]
    cnn_text, vit_text = f"data: {text('resnet')}; {where}", f"data: {text('vit')}"
    if width is None:
        details.append(
            f"Width: not measured (needs >= {MIN_WIDTHS} widths of each architecture trained on the "
            f"largest subset with the same steps; e.g. the -xxs/-xs/-s presets)."
        )
        return cnn_text, vit_text, details
    width_verdict, width_effect, numbers, _ = width
    cnn_text += f"; width: b = {numbers['slopes']['resnet']:.3f}"
    vit_text += f"; width: b = {numbers['slopes']['vit']:.3f}"
    details += [
        "",
        f"Width: err = a·params^(−b) on seed means at the largest subset; b_ViT − b_CNN = "
        f"{width_effect.mean:.3f} [{width_effect.ci_low:.3f}, {width_effect.ci_high:.3f}] "
        f"(bootstrap over seeds, n = {width_effect.n}) → {width_verdict}.",
        "",
        "| arch | parameters | test error (seed mean) |",
        "|---|---|---|",
    ]
    details += [
        f"| {arch} | {p:,} | {percent(e)} |" for arch in ("resnet", "vit") for p, e in numbers["errors"][arch].items()
    ]
    return cnn_text, vit_text, details


# ------------------------------------------------------------------------ rows 11 and 12: ViT ablations

LEARNED_VS_SINCOS_RULE = "supported if learned − sincos2d accuracy has a 95% interval above 0, contradicted if below 0"
CLS_VS_MEAN_RULE = "supported if cls − mean accuracy has a 95% interval above 0, contradicted if below 0"
# Both rules are the sign of "effect", statistics.sign_rule.


def ablation(ctx: Context, claim_id: str, option: str, better: str, worse: str, rule: str, anchor: str) -> ClaimResult:
    """ViT accuracy with `option`=`better` minus with `option`=`worse`, all other options at baseline,
    at the largest data fraction where both were trained."""
    groups = ablation_groups(ctx, option)
    shared = sorted(fractions(groups.get(better, [])) & fractions(groups.get(worse, [])))
    if not shared:
        missing = [v for v in (better, worse) if v not in groups]
        return not_measured(
            claim_id,
            f"needs ViT runs with model.{option}={' and '.join(missing) or better + ' and ' + worse} "
            "at a shared data fraction",
            vit_evidence=by_option(option, groups) or "—",
        )
    fraction = shared[-1]
    cells = {v: at(runs, fraction) for v, runs in groups.items()}
    effect = difference(by_key(cells[better], Run.accuracy), by_key(cells[worse], Run.accuracy))
    estimates = {"effect": effect}
    return ClaimResult(
        claim_id=claim_id,
        verdict=sign_rule(estimates),
        effect=effect,
        cnn_evidence="— (ViT-only ablation)",
        vit_evidence=by_option(option, cells),
        rule=rule,
        effect_meaning=f"accuracy difference {better} − {worse}",
        anchor=anchor,
        details=[
            f"Effect: ViT test accuracy with {option}={better} minus {option}={worse}, at fraction {fraction:g} "
            f"({effect.method} comparison)."
        ],
        runs=[run for runs in cells.values() for run in runs],
        estimates=estimates,
        decide=sign_rule,
    )


def ablation_groups(ctx: Context, option: str) -> dict[object, list[Run]]:
    """{value of model option `option`: the ViT runs with it, every other option at baseline}, values sorted."""
    runs = ctx.select("vit", baseline_except=(option,))
    values = sorted({run.option(option) for run in runs}, key=str)
    return {v: [run for run in runs if run.option(option) == v] for v in values}


def by_option(option: str, groups: dict[object, list[Run]]) -> str:
    return "; ".join(f"{option}={v}: {accuracy_text(runs)}" for v, runs in groups.items() if runs)


def learned_vs_sincos(ctx: Context) -> ClaimResult:
    """Claim 11. effect = accuracy(learned) − accuracy(sincos2d); `none` is reported beside them."""
    return ablation(
        ctx,
        "11",
        "pos_embed",
        "learned",
        "sincos2d",
        LEARNED_VS_SINCOS_RULE,
        "Dosovitskiy et al. 2020 App. D.4 Table 8: no positional embedding costs ~2.8 points, the "
        "positional variants lie within ~0.3 points of each other; Beyer et al. 2022 Table 1: "
        "sincos2d beats learned by 0.4–1.5 points.",
    )


def cls_vs_mean(ctx: Context) -> ClaimResult:
    """Claim 12. effect = accuracy(pool cls) − accuracy(pool mean)."""
    return ablation(
        ctx,
        "12",
        "pool",
        "cls",
        "mean",
        CLS_VS_MEAN_RULE,
        "Dosovitskiy et al. 2020 App. D.3 Fig. 9: [CLS] and global average pooling work similarly "
        "well given their own learning rates; Beyer et al. 2022 Table 1: mean pooling beats [cls] "
        "by 1.5–1.8 points.",
    )
