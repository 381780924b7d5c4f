"""The ViT ablations (rows 11 and 12): one model option at two values, every other at its preset's own, at
the largest data fraction both were trained at. One measurement for both rows, and for their figure."""

from .claim_types import Evidence, Measured, Missing
from .formatting import accuracy_text
from .runs import Run
from .selection import Context, at, by_key, fractions
from .statistics import difference


def ablation_groups(ctx: Context, option: str) -> dict[object, list[Run]]:
    """{value of model option `option`: the ViT runs with it, every other option at baseline}, values sorted."""
    runs = ctx.select("vit", baseline_except=(option,))
    values = sorted({run.option(option) for run in runs}, key=str)
    return {v: [run for run in runs if run.option(option) == v] for v in values}


def by_option(option: str, groups: dict[object, list[Run]]) -> str:
    return "; ".join(f"{option}={v}: {accuracy_text(runs)}" for v, runs in groups.items() if runs)


def measure_ablation(ctx: Context, option: str, better: str, worse: str) -> Measured | Missing:
    """effect = ViT accuracy with `option`=`better` minus with `option`=`worse` (decided by
    statistics.sign_rule); the other values of `option` are shown beside them."""
    groups = ablation_groups(ctx, option)
    shared = sorted(fractions(groups.get(better, [])) & fractions(groups.get(worse, [])))
    if not shared:
        missing = [v for v in (better, worse) if v not in groups]
        return Missing(
            f"needs ViT runs with model.{option}={' and '.join(missing) or better + ' and ' + worse} "
            "at a shared data fraction",
            vit_evidence=by_option(option, groups) or "—",
        )
    fraction = shared[-1]
    cells = {v: at(runs, fraction) for v, runs in groups.items()}
    effect = difference(by_key(cells[better], Run.accuracy), by_key(cells[worse], Run.accuracy), paired=True)
    return Measured(
        estimates={"effect": effect},
        effect=effect,
        runs=[run for runs in cells.values() for run in runs],
        found=(option, better, worse, fraction, cells),
    )


def describe_ablation(measured: Measured) -> Evidence:
    option, better, worse, fraction, cells = measured.found
    return Evidence(
        cnn="— (ViT-only ablation)",
        vit=by_option(option, cells),
        effect_meaning=f"accuracy difference {better} − {worse}",
        details=[
            f"Effect: ViT test accuracy with {option}={better} minus {option}={worse}, at fraction {fraction:g} "
            f"({measured.effect.method} comparison)."
        ],
    )
