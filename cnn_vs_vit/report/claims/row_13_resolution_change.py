"""Row 13, resolution changes: a ViT tested at other image sizes needs its positional embeddings
interpolated. Reads the resolution probe (probes/resolution.py); the CNN, as is, is shown beside it."""

from ..claim import Claim
from ..claim_types import Evidence, Measured, Missing
from ..runs import Run
from ..selection import PROBE_HINT, Context, at, fractions, probed
from ..statistics import sign_rule, t_interval

RULE = (
    "supported if interpolated − not-interpolated ViT accuracy at resolutions other than the training one "
    "has a 95% interval above 0; contradicted if below 0; else inconclusive"
)  # decided by statistics.sign_rule


def measure(ctx: Context) -> Measured | Missing:
    """effect = ViT accuracy with − without positional-embedding interpolation, mean over the evaluated
    resolutions other than the training one."""
    vit = probed(ctx.select("vit"), "resolution")
    if not vit:
        return Missing("needs resolution probe results of ViT runs; " + PROBE_HINT.format(name="resolution"))
    fraction = max(fractions(vit))
    runs = at(vit, fraction)
    cnn = at(probed(ctx.select("cnn"), "resolution"), fraction)
    effect = t_interval([resized_accuracy(r, "interpolated") - resized_accuracy(r, "not_interpolated") for r in runs])
    return Measured(estimates={"effect": effect}, effect=effect, runs=[*cnn, *runs], found=(cnn, runs, fraction))


def resized_accuracy(run: Run, variant: str, size: int | None = None) -> float:
    """Test accuracy of `variant` ("as_is", "interpolated", "not_interpolated") at image `size`, or mean over
    the sizes other than the training one."""
    table = run.probe_rows["resolution"]
    other = table[(table["variant"] == variant) & (table["image_size"] != table["train_size"])]
    if size is not None:
        other = other[other["image_size"] == size]
    return float(other["accuracy"].mean())


def describe(measured: Measured) -> Evidence:
    cnn, vit, fraction = measured.found
    mean = lambda group, variant: 100 * t_interval([resized_accuracy(r, variant) for r in group]).mean  # noqa: E731
    return Evidence(
        cnn=f"accuracy at other sizes {mean(cnn, 'as_is'):.1f}% as is" if cnn else "—",
        vit=f"interpolated {mean(vit, 'interpolated'):.1f}%, not {mean(vit, 'not_interpolated'):.1f}%",
        effect_meaning="ViT accuracy with − without positional-embedding interpolation (fraction of test images)",
        details=details(cnn, vit, fraction),
    )


def details(cnn: list[Run], vit: list[Run], fraction: float) -> list[str]:
    """The effect, then each architecture's accuracy per evaluated size."""
    table = vit[0].probe_rows["resolution"]
    sizes = sorted(int(s) for s in table.loc[table["image_size"] != table["train_size"], "image_size"].unique())
    lines = [
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
        lines.append(f"| {size} | " + " | ".join("—" if c is None else f"{100 * c.mean:.1f}%" for c in cells) + " |")
    return lines


CLAIM = Claim(
    id="13",
    scale="any",
    text="Resolution changes need positional-embedding interpolation",
    measure=measure,
    decide=sign_rule,
    rule=RULE,
    describe=describe,
    anchor="Dosovitskiy et al. 2020 §3.2: 2D interpolation of the pre-trained position embeddings for "
    "fine-tuning at higher resolution; Touvron et al. 2019 (FixRes) on train/test resolution.",
    probes=("resolution",),
    groups=("full_data_probed",),
)
