"""The report's figures (matplotlib, Agg): each returns False when it has no data to draw.

PNGs carry no software/date metadata, so the same runs give the same bytes on a rebuild.
"""

from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

from .. import rundir as layout  # noqa: E402
from .ablations import ablation_groups  # noqa: E402
from .budget import budget_cells, curves  # noqa: E402
from .claim import Plot  # noqa: E402
from .claim_types import BUDGETS, ClaimResult, Missing  # noqa: E402
from .formatting import effect_text  # noqa: E402
from .resampling import seed_mean_interval  # noqa: E402
from .runs import CONTENDERS  # noqa: E402
from .selection import Context, at, first_block, largest_shared_fraction, probed, probed_pair, reference_vit  # noqa: E402
from .shift_results import MODE, last_block, value  # noqa: E402, F401 (MODE: read by DataFrame.query as @MODE)
from .statistics import t_interval  # noqa: E402

COLORS = {"cnn": "tab:blue", "vit": "tab:orange"}  # by family


def save(figure, path: Path) -> None:
    layout.atomic_write(path, lambda file: figure.savefig(file, format="png", dpi=100, metadata={"Software": None}))
    plt.close(figure)


BAND_NOTE = "line: mean over seeds; band: its 95% t interval"
# Accuracies near 100% over 3 seeds give t bands past 1; the bootstrap's percentile interval stays inside [0, 1].
BOUNDED_BAND_NOTE = "line: mean over seeds; band: its 95% bootstrap interval,\nwhich at 3 seeds is their range"


def band(
    ax,
    x,
    groups: list[list[float]],
    label: str,
    color: str,
    marker: str = "o",
    *,
    bounded: bool = False,
    linestyle: str = "-",
) -> None:
    """Mean line with the seeds' 95% band where there are >= 2 seeds: the t interval (BAND_NOTE), or for values
    in [0, 1] (`bounded`: accuracies) the percentile bootstrap over seeds (BOUNDED_BAND_NOTE)."""
    interval = seed_mean_interval if bounded else t_interval
    estimates = [interval(values) for values in groups]
    ax.plot(x, [e.mean for e in estimates], marker=marker, linestyle=linestyle, color=color, label=label)
    low = [e.ci_low if e.has_interval else e.mean for e in estimates]
    high = [e.ci_high if e.has_interval else e.mean for e in estimates]
    ax.fill_between(x, low, high, color=color, alpha=0.2, linewidth=0)


# How accuracy_vs_size draws each budget rule: (line style, marker); equal FLOPs only changes the ViT's budget.
BUDGET_STYLES = {"plateau": ("-", "o"), "steps": ("--", "^"), "flops": (":", "s")}


def accuracy_vs_size(ctx: Context, path: Path) -> bool:
    """Test accuracy vs training-set size, one line per family under each budget rule the study holds (each to
    its plateau, equal steps; equal training FLOPs for the ViT only, the CNN's being its equal steps)."""
    figure, ax = plt.subplots(figsize=(6, 4.2))
    drawn = False
    budgets = sorted(ctx.budgets(), key=list(BUDGET_STYLES).index) or ["steps"]
    lines = [(family, b) for b in budgets for family in CONTENDERS if b != "flops" or family == "vit"]
    for family, budget in lines:
        per_size = defaultdict(list)
        for run in ctx.under(budget).select(family):
            per_size[int(run.summary.get("train_size", 0))].append(run.accuracy())
        if len(per_size) > 1:  # one size is no curve (e.g. a recipe search, all on the full data)
            sizes = sorted(per_size)
            name = ctx.references[family]
            linestyle, marker = BUDGET_STYLES[budget]
            band(
                ax,
                sizes,
                [per_size[s] for s in sizes],
                f"{name}, {BUDGETS[budget]}" if len(budgets) > 1 else name,
                COLORS[family] if budget != "flops" else "tab:red",
                marker=marker,
                bounded=True,
                linestyle=linestyle,
            )
            drawn = True
    if not drawn:
        plt.close(figure)
        return False
    ax.set(xscale="log", xlabel="training images (log scale)", ylabel="test accuracy")
    ax.set_title(f"accuracy vs training-set size\n({BOUNDED_BAND_NOTE})", fontsize=10)
    ax.legend(fontsize=8)
    figure.tight_layout()
    save(figure, path)
    return True


def reach_by_layer(ctx: Context, path: Path) -> bool:
    """Reach in pixels, block by block: each block's ERF radius (both architectures) and the ViT's mean
    attention distance (trained and at initialisation), beside the first block's ERF maps."""
    pair = probed_pair(ctx, "receptive_field")
    if isinstance(pair, Missing):
        return False
    figure, (lines, *maps) = plt.subplots(1, 3, figsize=(12, 4.2), gridspec_kw={"width_ratios": [2, 1, 1]})
    for runs, color in ((pair.cnn, COLORS["cnn"]), (pair.vit, COLORS["vit"])):
        tables = [run.probe_rows["receptive_field"] for run in runs]
        blocks = _blocks(tables[0], runs[0].family)
        band(
            lines,
            range(1, len(blocks) + 1),
            [[_value(t, b, "radius_px") for t in tables] for b in blocks],
            f"{runs[0].model}: effective receptive field radius",
            color,
        )
    distance = [run for run in pair.vit if "attention_distance" in run.probe_rows]
    for weights, style in (("trained", "-"), ("init", "--")):
        tables = [t[t["weights"] == weights] for t in (run.probe_rows["attention_distance"] for run in distance)]
        if tables and len(tables[0]):
            blocks = list(dict.fromkeys(tables[0].sort_values("layer_index")["layer"]))
            means = [np.mean([t[t["layer"] == b]["mean_distance_px"].mean() for t in tables]) for b in blocks]
            lines.plot(
                range(1, len(blocks) + 1),
                means,
                style,
                marker="s",
                color="tab:red",
                label=f"{distance[0].model}: mean attention distance ({weights})",
            )
    lines.xaxis.get_major_locator().set_params(integer=True)
    lines.set(xlabel="block", ylabel="pixels")
    lines.set_title(
        f"reach per block, in pixels\nERF radius: the disc holding 95% of the input-gradient mass\n({BAND_NOTE})",
        fontsize=9,
    )
    lines.legend(fontsize=8)
    for ax, runs in zip(maps, (pair.cnn, pair.vit)):
        first = _blocks(runs[0].probe_rows["receptive_field"], runs[0].family)[0]
        maps_file = runs[0].probe_files.get("receptive_field_maps.safetensors")
        if maps_file is not None:
            image = ax.imshow(load_file(maps_file)[first].numpy(), cmap="magma")
            figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04).set_label("mean |gradient|", fontsize=8)
        ax.set(xlabel="x (px)", ylabel="y (px)")
        ax.set_title(f"{runs[0].model} {first}:\neffective receptive field of the centre unit", fontsize=9)
    figure.tight_layout()
    save(figure, path)
    return True


def _blocks(table, family: str) -> list[str]:
    """The layers after the stem / embeddings, in forward order: the blocks a depth counts."""
    ordered = list(dict.fromkeys(table.sort_values("layer_index")["layer"]))
    first = ordered.index(first_block(table, family))
    return ordered[first:]


def _value(table, layer: str, column: str) -> float:
    return float(table[table["layer"] == layer][column].mean())


def error_vs_shift(ctx: Context, path: Path) -> bool:
    """Logit invariance error (CNN vs ViT) and ViT token-layer equivariance error vs shift."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 5.4))
    drawn = False
    for family in CONTENDERS:
        runs = probed(ctx.select(family), "shift")
        if runs:
            shift_values = sorted({int(s) for r in runs for s in r.shift_rows.query("mode == @MODE")["shift"]})
            groups = [[value(r, "logits", s, "invariance_error") for r in runs] for s in shift_values]
            band(left, shift_values, groups, runs[0].label, COLORS[family])
            drawn = True
    left.set(xlabel="circular shift (px)", ylabel="relative logit change")
    left.set_title(f"invariance error of the logits\n({BAND_NOTE})", fontsize=10)
    for pos_embed, color in (("learned", "tab:orange"), ("sincos2d", "tab:green"), ("none", "tab:red")):
        runs = reference_vit(ctx, pos_embed=pos_embed)
        if not runs:
            continue
        shift_values = sorted({int(s) for r in runs for s in r.shift_rows.query("mode == @MODE")["shift"]})
        for layer, style in (("embed", "--"), (last_block, "-")):
            name = layer if isinstance(layer, str) else last_block(runs[0])
            where = "token embedding (patches + positions)" if name == "embed" else f"last block ({name})"
            means = [np.mean([value(r, name, s, "equivariance_error") for r in runs]) for s in shift_values]
            right.plot(shift_values, means, style, marker="o", color=color, label=f"pos_embed={pos_embed}, {where}")
        drawn = True
    right.set(xlabel="circular shift (px)", ylabel="relative feature error")
    right.set_title(
        "ViT equivariance error by layer (seed means)\ndashed: token embedding; solid: last block", fontsize=10
    )
    for ax in (left, right):
        if ax.get_legend_handles_labels()[0]:  # below the axes: the curves fill the plot area
            ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2 if ax is left else 1)
    figure.tight_layout()
    save(figure, path) if drawn else plt.close(figure)
    return drawn


def ablation_bars(ctx: Context, path: Path) -> bool:
    """ViT test accuracy per positional embedding and per pooling (others at baseline), each option at the
    largest data fraction all its values were trained at (where rows 11 and 12 compare them)."""
    labels, estimates = [], []
    for option in ("pos_embed", "pool"):
        groups = ablation_groups(ctx, option)
        fraction = largest_shared_fraction(*groups.values())
        if fraction is None:
            continue
        for v, runs in groups.items():
            labels.append(f"{option}={v} ({fraction:.0%} of the data)")
            estimates.append(seed_mean_interval([r.accuracy() for r in at(runs, fraction)]))
    if len(labels) < 3:  # only the baseline, twice: nothing to compare
        return False
    figure, ax = plt.subplots(figsize=(6, 3.8))
    errors = [
        [e.mean - e.ci_low if e.has_interval else 0 for e in estimates],
        [e.ci_high - e.mean if e.has_interval else 0 for e in estimates],
    ]
    ax.bar(range(len(labels)), [e.mean for e in estimates], yerr=errors, color="tab:orange", capsize=4)
    ax.set_xticks(range(len(labels)), labels, rotation=20, fontsize=8)
    ax.set_ylabel("test accuracy")
    ax.set_title(
        f"{ctx.vit_model} ablations (bar: mean over seeds; error bar: its\n95% bootstrap interval, which at 3 seeds "
        "is their range)",
        fontsize=10,
    )
    figure.tight_layout()
    save(figure, path)
    return True


def accuracy_vs_compute(ctx: Context, path: Path) -> bool:
    """Validation (solid, seed band) and test (dashed) accuracy at each branch's budget (or along the long runs
    of a study before branches), against optimiser steps (top) and training FLOPs (bottom), one column per
    data fraction; the study's cells marked on top."""
    found = curves(ctx)
    if not found:
        return False
    columns = sorted({curve.fraction for curve in found})
    figure, axes = plt.subplots(2, len(columns), figsize=(5 * len(columns), 7.5), squeeze=False)
    markers = {"steps": "X", "flops": "s", "plateau": "*"}
    for curve in found:
        column = columns.index(curve.fraction)
        validation, test = curve.accuracy("validation"), curve.accuracy("test")
        for row, scale in enumerate((1.0, curve.flops_per_step)):
            ax = axes[row][column]
            x = validation.index.to_numpy() * scale
            band(
                ax,
                x,
                [list(values) for _, values in validation.iterrows()],
                f"{curve.model} validation",
                COLORS[curve.family],
                marker="",
                bounded=True,
            )
            ax.plot(
                test.index.to_numpy() * scale,
                test.mean(axis=1),
                linestyle="--",
                linewidth=1,
                color=COLORS[curve.family],
                label=f"{curve.model} test",
            )
            for budget, runs in budget_cells(ctx, curve).items():
                steps = np.mean([run.summary["steps"] for run in runs])
                scored = np.mean([run.summary.get("validation_accuracy", np.nan) for run in runs])
                ax.plot(
                    [steps * scale],
                    [scored],
                    marker=markers[budget],
                    markersize=9,
                    linestyle="",
                    markeredgecolor="black",
                    color=COLORS[curve.family],
                    label=f"{curve.model}: study cells, {BUDGETS[budget]}",
                )
            ax.set(
                xscale="log", xlabel="optimiser steps (log)" if row == 0 else "training FLOPs (log)", ylabel="accuracy"
            )
            ax.set_title(f"fraction {curve.fraction:g} ({curve.train_size:,} images)", fontsize=10)
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # labelled minor ticks overlap
            if row == 0:  # steps: a tick at every doubling, written out
                ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(base=2))
                ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:,.0f}"))
            ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    for ax in axes.flat[1:]:  # one legend for the figure: every entry once
        for handle, text in zip(*ax.get_legend_handles_labels()):
            if text not in labels:
                handles.append(handle)
                labels.append(text)
    figure.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    how = (
        "at each budget's branch of one warmup-stable-decay trunk per seed (each point a finished model"
        if all(curve.branched for curve in found)
        else "along one long run per seed (warm-up + cosine over the whole run"
    )
    figure.suptitle(
        f"accuracy vs compute {how};\n"
        f"validation: {BOUNDED_BAND_NOTE}; markers: the study's own runs, validation, seed mean)",
        fontsize=10,
    )
    figure.tight_layout(rect=(0, 0.09, 1, 1))
    save(figure, path)
    return True


VERDICT_COLORS = {
    "supported": "#8fd19e",
    "contradicted": "#f1a3a3",
    "inconclusive": "#e6e6e6",
    "not reached at this scale": "#c9b8e8",
    "unsettled": "#f3d9a4",
    "not measured": "white",
}


def robustness(claims: list[ClaimResult], path: Path) -> bool:
    """Claims down, settings across: each cell coloured by the setting's verdict, its effect and 95% interval
    written in it; the last column is the headline over every setting's runs (a setting shows its rule's verdict,
    the headline the settled one), and each claim's label says how many settings that measured it agree."""
    settings = list(dict.fromkeys(name for c in claims for name in c.settings))
    if not claims or not settings:
        return False
    columns = [*settings, "headline"]
    figure, ax = plt.subplots(figsize=(2.3 * len(columns) + 1.2, 0.42 * len(claims) + 1.4))
    for row, claim in enumerate(claims):
        for col, name in enumerate(columns):
            verdict = claim.verdict if name == "headline" else claim.settings.get(name, "not measured")
            effect = claim.effect if name == "headline" else claim.setting_effects.get(name)
            ax.add_patch(
                plt.Rectangle((col, row), 1, 1, facecolor=VERDICT_COLORS[verdict], edgecolor="white", linewidth=2)
            )
            text = "—" if verdict == "not measured" or effect is None else effect_text(effect, "\n", "")
            if name != "headline" and claim.in_setting(name) == "one setting by design":
                text = "one setting\nby design"
            ax.text(col + 0.5, row + 0.5, text, ha="center", va="center", fontsize=7)
    ax.set(xlim=(0, len(columns)), ylim=(len(claims), 0))
    ax.set_xticks([i + 0.5 for i in range(len(columns))], columns, fontsize=8)
    ax.xaxis.tick_top()
    labels = [f"{c.claim_id} (holds {c.holds})" if c.holds != "—" else c.claim_id for c in claims]
    ax.set_yticks([i + 0.5 for i in range(len(claims))], labels, fontsize=8)
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    handles = [
        plt.Rectangle((0, 0), 1, 1, facecolor=color, edgecolor="gray", linewidth=0.5)
        for color in VERDICT_COLORS.values()
    ]
    ax.legend(handles, VERDICT_COLORS, loc="upper center", bbox_to_anchor=(0.5, 0), ncol=3, fontsize=7, frameon=False)
    ax.set_title("verdict and effect [95% CI] of each claim in each setting", fontsize=10, pad=22)
    figure.tight_layout()
    save(figure, path)
    return True


# The figures several claims show, each declared by every claim that shows it (claim.Plot).
ACCURACY_VS_SIZE = Plot("accuracy_vs_train_size.png", accuracy_vs_size)
REACH_BY_LAYER = Plot("reach_by_layer.png", reach_by_layer)
ERROR_VS_SHIFT = Plot("error_vs_shift.png", error_vs_shift)
ABLATIONS = Plot("vit_ablations.png", ablation_bars)
