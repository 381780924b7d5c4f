"""Row 5, scalability: the ViT's test error falls faster with training images (fitted power laws) and, where
several widths were trained, with parameters. Measured again under each budget rule the study holds."""

import math
from collections import defaultdict
from collections.abc import Mapping

import numpy as np
from scipy.optimize import curve_fit

from ..claim import Claim
from ..claim_types import Evidence, Measured, Missing
from ..formatting import percent
from ..plots import ACCURACY_VS_SIZE
from ..runs import CONTENDERS, Run
from ..selection import Context, at
from ..statistics import Estimate, sign_verdict
from ..pvalues import all_of
from .row_09_data_efficiency import DATA_ANCHOR

BOOTSTRAP_RESAMPLES = 200
BOOTSTRAP_SEED = 0  # fixed: the same runs give the same interval on every rebuild
MIN_SIZES_FOR_FIT = 4
MIN_WIDTHS = 3
CROSSOVER_SEARCH_DECADES = 12  # look for n* up to 10^12 times the smallest training set
RULE = (
    "fit err = a·n^(−b) + c per architecture on seed means (>= 4 sizes); supported if b_ViT − b_CNN has "
    "a bootstrap 95% interval above 0 and the fitted curves cross within the measured sizes; "
    "'not reached at this scale' if above 0 but the crossover n* lies beyond the largest size; "
    "contradicted if below 0; inconclusive otherwise or with one seed. With >= 3 widths per architecture, "
    "err = a·params^(−b) is fitted too and the row keeps its verdict only if the width exponents agree "
    "(both above 0: 'not reached at this scale' when only one has a crossover; disagreement: inconclusive)"
)


def decide(estimates: Mapping[str, Estimate], *, crossover_within: bool) -> str:
    """RULE: "effect" is b_ViT − b_CNN of error vs training images, "width" (where measured) of error vs
    parameters; `crossover_within`: the fitted data curves cross within the measured sizes."""
    verdict = sign_verdict(estimates["effect"])
    if verdict == "supported" and not crossover_within:
        verdict = "not reached at this scale"
    return combine_scaling(verdict, sign_verdict(estimates["width"]) if "width" in estimates else None)


def combine_scaling(data_verdict: str, width_verdict: str | None) -> str:
    """Row 5 speaks of data *and* compute: both scalings must agree for a verdict beyond 'inconclusive'."""
    if width_verdict is None or width_verdict == data_verdict:
        return data_verdict
    if {data_verdict, width_verdict} <= {"supported", "not reached at this scale"}:
        return "not reached at this scale"
    return "inconclusive"


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
    for family in CONTENDERS:
        runs = [run for run in at(ctx.select(family, model=False), fraction) if run.summary.get("steps") == steps]
        per_params = defaultdict(list)
        for run in runs:
            per_params[int(run.summary.get("params", 0))].append(1.0 - run.accuracy())
        errors[family] = dict(per_params)
        used += runs
    if min(len(errors[family]) for family in errors) < MIN_WIDTHS:
        return None
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    slopes = {family: width_exponent(errors[family], rng) for family in errors}
    gaps = np.array(slopes["vit"][1]) - np.array(slopes["cnn"][1])
    n_seeds = min(len(v) for family in errors for v in errors[family].values())
    point = slopes["vit"][0] - slopes["cnn"][0]
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
    table = {family: {p: float(np.mean(e)) for p, e in sorted(errors[family].items())} for family in errors}
    return sign_verdict(effect), effect, {"slopes": {f: slopes[f][0] for f in slopes}, "errors": table}, used


def measure(ctx: Context) -> Measured | Missing:
    """effect = b_ViT − b_CNN, the difference of fitted power-law exponents of test error vs training-set
    size; 95% interval by bootstrap over seeds within each size. Where >= 3 widths of both architectures were
    trained on the largest subset, the exponents of error vs parameters too."""
    errors = {family: errors_by_size(ctx.select(family)) for family in CONTENDERS}
    sizes = sorted(set(errors["cnn"]) & set(errors["vit"]))
    if len(sizes) < MIN_SIZES_FOR_FIT:
        return Missing(
            f"needs >= {MIN_SIZES_FOR_FIT} training-set sizes with both architectures "
            f"to fit a power law (have {len(sizes)}); run a data-fraction sweep"
        )
    relative = np.array(sizes, dtype=float) / sizes[0]
    means = {family: np.array([np.mean(errors[family][s]) for s in sizes]) for family in errors}
    fits = {family: fit_power_law(relative, means[family]) for family in errors}
    effect = exponent_gap(errors, sizes, fits)
    n_star = crossover(fits["cnn"], fits["vit"]) * sizes[0]
    used = [run for family in CONTENDERS for run in ctx.select(family)]
    largest = [run for run in used if int(run.summary.get("train_size", 0)) == sizes[-1]]
    width = width_scaling(ctx, float(largest[0].summary["fraction"]), largest[0].summary.get("steps"))
    estimates = {"effect": effect}
    if width is not None:
        estimates["width"] = width[1]
        used += [run for run in width[3] if run not in used]
    return Measured(
        estimates=estimates,
        effect=effect,
        runs=used,
        facts={"crossover_within": n_star <= sizes[-1]},
        found=(fits, sizes, n_star, width),
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
    n_seeds = min(len(errors[family][s]) for family in errors for s in sizes)
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    gaps = []
    for _ in range(BOOTSTRAP_RESAMPLES):
        b = {}
        for family in CONTENDERS:
            resampled = np.array([np.mean(rng.choice(errors[family][s], size=len(errors[family][s]))) for s in sizes])
            b[family] = fit_power_law(relative, resampled)[1]
        gaps.append(b["vit"] - b["cnn"])
    gaps = np.array([g for g in gaps if math.isfinite(g)])
    gap = fits["vit"][1] - fits["cnn"][1]
    if n_seeds >= 2 and len(gaps):
        low, high = float(np.percentile(gaps, 2.5)), float(np.percentile(gaps, 97.5))
        return Estimate(gap, low, high, n_seeds, method="bootstrap over seeds")
    return Estimate(gap, n=n_seeds, method="bootstrap over seeds")


def describe(measured: Measured) -> Evidence:
    """The data fits, their crossover, and the width fits."""
    fits, sizes, n_star, width = measured.found
    where = "never within 10^12× the smallest set" if math.isinf(n_star) else f"n* ≈ {n_star:,.0f} images"
    text = lambda family: f"b = {fits[family][1]:.3f}, c = {fits[family][2]:.4f}"  # noqa: E731
    details = [
        f"Effect: b_ViT − b_CNN. Fitted crossover of the error curves: {where} "
        f"(largest measured: {sizes[-1]:,} images).",
        f"CNN fit: a = {fits['cnn'][0]:.4g}, {text('cnn')}; ViT fit: a = {fits['vit'][0]:.4g}, {text('vit')} "
        f"(n in units of {sizes[0]:,} images).",
    ]
    cnn_text, vit_text = f"data: {text('cnn')}; {where}", f"data: {text('vit')}"
    meaning = "difference of power-law exponents b of error vs training images (error ∝ n^−b)"
    if width is None:
        details.append(
            f"Width: not measured (needs >= {MIN_WIDTHS} widths of each architecture trained on the "
            f"largest subset with the same steps; e.g. the -xxs/-xs/-s presets)."
        )
        return Evidence(cnn=cnn_text, vit=vit_text, effect_meaning=meaning, details=details)
    width_verdict, width_effect, numbers, runs = width
    cnn_text += f"; width: b = {numbers['slopes']['cnn']:.3f}"
    vit_text += f"; width: b = {numbers['slopes']['vit']:.3f}"
    archs = {run.family: run.arch for run in runs}  # the names the table prints
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
        f"| {archs[family]} | {p:,} | {percent(e)} |"
        for family in CONTENDERS
        for p, e in numbers["errors"][family].items()
    ]
    return Evidence(cnn=cnn_text, vit=vit_text, effect_meaning=meaning, details=details)


CLAIM = Claim(
    id="5",
    scale="measured",
    p_value=all_of("effect", "width"),
    resamples=16,
    text="Scalability: CNN saturates when scaled; ViT scales extremely well with data/compute",
    measure=measure,
    decide=decide,
    rule=RULE,
    describe=describe,
    anchor=DATA_ANCHOR,
    groups=("data_fraction", "width", "equal_flops", "compute_curves"),
    plots=(ACCURACY_VS_SIZE,),
    every_budget=True,
)
