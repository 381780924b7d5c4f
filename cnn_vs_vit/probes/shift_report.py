"""How a shift-probe result is shown: a compact rich table per mode, and error-vs-shift plots."""

import io
import math
from pathlib import Path

import pandas as pd
from rich import box
from rich.markup import escape
from rich.table import Table

from .. import rundir as layout
from ..models.interface import GRID_KINDS

NOT_EXPRESSIBLE = "*"  # marks errors measured against the nearest shift the layer's grid can express


def shift_tables(rows: pd.DataFrame, summary: dict) -> list[Table]:
    """One table per mode of a shift-probe result (its rows and summary): a row per layer (equivariance error on
    grids, invariance error of vectors and [CLS]), one column per shift, then accuracy, agreement with the
    unshifted prediction and Δp(true class)."""
    tables = []
    title = summary["model"]
    for mode, rows in rows.groupby("mode", sort=False):
        shifts = sorted(rows["shift"].unique())
        table = Table(
            title=escape(f"{title} — {mode} shifts (px)"),
            title_justify="left",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
            collapse_padding=True,
        )
        table.add_column("layer /stride", no_wrap=True)
        for s in shifts:
            table.add_column(str(s), justify="right", no_wrap=True)
        for (index, layer), layer_rows in rows.groupby(["layer_index", "layer"], sort=False):
            by_shift = layer_rows.set_index("shift")
            on_grid = layer_rows["kind"].iloc[0] in GRID_KINDS
            cells = []
            for s in shifts:
                row = by_shift.loc[s]
                value = row["equivariance_error"] if on_grid else row["invariance_error"]
                exact = row["expressible"]
                mark = NOT_EXPRESSIBLE if on_grid and pd.notna(exact) and not exact else ""
                cells.append(_number(value) + mark)
            label = f"{layer} /{int(layer_rows['grid_stride'].iloc[0])}" if on_grid else f"{layer} (inv.)"
            table.add_row(escape(label), *cells)  # escape: "[cls]" is not rich markup
        predictions = summary["predictions"][mode]
        per_shift = {p["shift"]: p for p in predictions["per_shift"]}
        for key, name in (("accuracy", "accuracy"), ("consistency_with_unshifted", "same as 0 px")):
            table.add_row(name, *(_percent(per_shift[s][key]["mean"]) for s in shifts), style="bold")
        table.add_row(
            "Δp(true class)",
            *(_number(per_shift[s]["true_class_probability_change"]["mean"], signed=True) for s in shifts),
            style="bold",
        )
        overall = predictions["consistency"]
        table.caption = (
            f"consistency over all shift pairs {_percent(overall['mean'])} "
            f"[{_percent(overall['ci_low'])}, {_percent(overall['ci_high'])}] on {predictions['n_images']} images. "
            f"Rows: equivariance error (inv.: invariance error of a vector); {NOT_EXPRESSIBLE}: the grid cannot "
            "express the shift, error vs the nearest shift it can."
        )
        table.caption_justify = "left"
        tables.append(table)
    return tables


def _number(value, signed: bool = False) -> str:
    """Two decimals, or one significant digit below 0.01 (exact zeros matter: they are the oracles)."""
    if value is None or value is pd.NA or math.isnan(value):
        return "–"
    if value == 0:
        return "0"
    if abs(value) < 0.01:
        return f"{value:+.0e}" if signed else f"{value:.0e}"
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def _percent(value) -> str:
    return "–" if value is None else "100%" if value == 1 else f"{value:.1%}"


def plot_shift(rows: pd.DataFrame, summary: dict, path: Path) -> None:
    """Error vs shift of a shift-probe result, one line per layer coloured by depth, one panel per mode;
    written atomically as PNG.

    Grid layers show the equivariance error (hollow markers: shift not expressible on the grid);
    pooled vectors and [CLS] tokens show their invariance error (dashed).
    """
    import matplotlib

    matplotlib.use("Agg")  # headless: no display needed
    import matplotlib.pyplot as plt

    modes = list(dict.fromkeys(rows["mode"]))
    depth = rows["layer_index"].max() or 1
    colours = matplotlib.colormaps["viridis"]
    figure, axes = plt.subplots(1, len(modes), figsize=(5.5 * len(modes) + 2, 4.2), squeeze=False, sharey=True)
    for ax, mode in zip(axes[0], modes):
        for (index, layer), layer_rows in rows[rows["mode"] == mode].groupby(["layer_index", "layer"], sort=False):
            layer_rows = layer_rows.sort_values("shift")
            on_grid = layer_rows["kind"].iloc[0] in GRID_KINDS
            y = layer_rows["equivariance_error" if on_grid else "invariance_error"].astype(float)
            colour = colours(index / depth)
            ax.plot(layer_rows["shift"], y, color=colour, linestyle="-" if on_grid else "--", label=layer)
            if on_grid:
                exact = layer_rows["expressible"].fillna(True).astype(bool).to_numpy()
                ax.scatter(layer_rows["shift"][exact], y[exact], color=colour, s=16, zorder=3)
                ax.scatter(
                    layer_rows["shift"][~exact], y[~exact], facecolors="white", edgecolors=colour, s=16, zorder=3
                )
        ax.set_title(f"{mode} shifts")
        ax.set_xlabel("diagonal shift (px)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("relative error  ‖f(Tx) − T′f(x)‖ / ‖f(x)‖")
    axes[0][-1].legend(
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        fontsize="small",
        title="layer (solid: equivariance,\ndashed: invariance;\nhollow: nearest grid shift)",
        title_fontsize="small",
    )
    figure.suptitle(f"{summary['model']} on {summary['dataset']}: shift equivariance")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120)
    plt.close(figure)
    layout.atomic_write(path, lambda file: file.write(buffer.getvalue()))
