"""Row 17, layer similarity (Raghu et al. 2021, Figs. 1-2): a ViT's representations are more uniform across
depth than a ResNet's, whose layers change in stages. Reads the cka probe (probes/cka.py): CKA between every
pair of a run's layers, and the Gram matrices that give CKA across a ResNet and a ViT on the same images."""

from pathlib import Path

import matplotlib.pyplot as plt  # its backend set by plots.py, imported below before any figure is drawn
import numpy as np
import pandas as pd

from ...probes.cka import GRAMS_FILE, cka_rows, saved_grams
from ..claim import Claim, Plot
from ..claim_types import Evidence, Measured, Missing
from ..formatting import text
from ..plots import save
from ..runs import Run
from ..selection import Context, by_key, probed_pair
from ..statistics import Estimate, difference, sign_verdict, t_interval

GRID = ("map", "tokens")  # layers with a spatial grid: stem or patch embedding up to the last block
# A layer whose CKA with the one before it is this close to 1 is that layer again (the ViT's `embed` adds the
# same positions to every image's patch embedding, which centring removes: CKA 1 by construction) and is
# counted once, so both architectures enter with an input-side layer and their blocks.
SAME = 1 - 1e-6
RULE = (
    "supported if the ViT's mean CKA between its distinct grid layers (feature maps and tokens, from the stem or "
    "patch embedding to the last block, a layer identical to the one before it counted once; minibatch CKA "
    "with unbiased HSIC) exceeds the CNN's with a 95% interval above 0; contradicted if the interval is below "
    "0; else inconclusive"
)


def decide(estimates: dict[str, Estimate]) -> str:
    """RULE: "effect" is ViT − CNN mean CKA between distinct grid layers."""
    return sign_verdict(estimates["effect"])


def uniformity(run: Run) -> float:
    """Mean CKA over the pairs of distinct grid layers of a run (each pair once)."""
    table = run.probe_rows["cka"]
    kept = grid_layers(table)
    pairs = table[table["index_a"].isin(kept) & table["index_b"].isin(kept) & (table["index_a"] < table["index_b"])]
    return float(pairs["cka"].mean())


def grid_layers(table: pd.DataFrame) -> list[int]:
    """Indices of a run's grid layers, without a layer identical to the one before it (SAME)."""
    grid = sorted(table[table["kind_a"].isin(GRID)]["index_a"].unique())
    cka = table.set_index(["index_a", "index_b"])["cka"]
    return [i for k, i in enumerate(grid) if k == 0 or cka[grid[k - 1], i] < SAME]


def measure(ctx: Context) -> Measured | Missing:
    """effect = ViT − CNN mean CKA between distinct grid layers, unpaired (Welch): a seed index pairs nothing
    between a ResNet and a ViT."""
    pair = probed_pair(ctx, "cka")
    if isinstance(pair, Missing):
        return pair
    effect = difference(by_key(pair.vit, uniformity), by_key(pair.cnn, uniformity), paired=False)
    return Measured(estimates={"effect": effect}, effect=effect, runs=pair.runs, found=pair)


def describe(measured: Measured) -> Evidence:
    pair = measured.found
    cnn_mean, vit_mean = (t_interval([uniformity(r) for r in runs]) for runs in (pair.cnn, pair.vit))
    return Evidence(
        cnn=f"mean CKA between layers {text(cnn_mean)}",
        vit=f"mean CKA between layers {text(vit_mean)}",
        effect_meaning="ViT − CNN mean CKA between distinct grid layers (0 = unrelated, 1 = the same up to "
        "rotation and scale)",
        details=similarity_details(pair.cnn, pair.vit, pair.fraction, measured.effect),
    )


def within(runs: list[Run]) -> pd.DataFrame:
    """Seed-mean CKA between a model's layers (rows and columns in layer order)."""
    tables = [run.probe_rows["cka"] for run in runs]
    mean = pd.concat(tables).groupby(["index_a", "index_b"])["cka"].mean().unstack()
    names = tables[0].drop_duplicates("index_a").set_index("index_a")["layer_a"]
    return mean.rename(index=names, columns=names)


def across(cnn: list[Run], vit: list[Run]) -> pd.DataFrame | None:
    """Seed-mean CKA between the CNN's layers (rows) and the ViT's (columns), over the seeds both have probed
    on the same test images; None when no pair shares them."""
    vit_by_key = {run.pairing_key: run for run in vit}
    frames = []
    for run in cnn:
        other = vit_by_key.get(run.pairing_key)
        if other is None or run.probe_samples.get("cka") != other.probe_samples.get("cka"):
            continue
        frames.append(
            cka_rows(saved_grams(run.probe_files[GRAMS_FILE]), "across", saved_grams(other.probe_files[GRAMS_FILE]))
        )
    if not frames:
        return None
    mean = pd.concat(frames).groupby(["index_a", "index_b"])["cka"].mean().unstack()
    rows = frames[0].drop_duplicates("index_a").set_index("index_a")["layer_a"]
    columns = frames[0].drop_duplicates("index_b").set_index("index_b")["layer_b"]
    return mean.rename(index=rows, columns=columns)


def matrix_table(matrix: pd.DataFrame, corner: str) -> list[str]:
    lines = [f"| {corner} | " + " | ".join(matrix.columns) + " |", "|---" * (len(matrix.columns) + 1) + "|"]
    lines += [f"| {row} | " + " | ".join(f"{v:.2f}" for v in matrix.loc[row]) + " |" for row in matrix.index]
    return lines


def similarity_details(cnn: list[Run], vit: list[Run], fraction: float, effect: Estimate) -> list[str]:
    """The effect per seed, then the three CKA maps (seed means) as tables."""
    details = [
        f"Effect: ViT − CNN mean CKA between distinct grid layers, at fraction {fraction:g} ({effect.method} "
        f"comparison), on {int(cnn[0].probe_rows['cka']['n_images'].iloc[0])} test images in minibatches of "
        f"{int(cnn[0].probe_rows['cka']['minibatch'].iloc[0])}. Per run: "
        + ", ".join(f"{run.label} seed {run.summary.get('seed')}: {uniformity(run):.3f}" for run in [*cnn, *vit])
        + ".",
    ]
    for runs in (cnn, vit):
        details += ["", f"CKA between the layers of {runs[0].label} (mean of {len(runs)} seeds):", ""]
        details += matrix_table(within(runs), "layer")
    between = across(cnn, vit)
    if between is not None:
        details += [
            "",
            f"CKA between {cnn[0].label} (rows) and {vit[0].label} (columns), same test images "
            "(mean over paired seeds):",
            "",
        ]
        details += matrix_table(between, "CNN \\ ViT")
    return details


def cka_maps(ctx: Context, path: Path) -> bool:
    """CKA heat maps, within the CNN, within the ViT and across them (seed means)."""
    pair = probed_pair(ctx, "cka")
    if isinstance(pair, Missing):
        return False
    cnn, vit = pair.cnn, pair.vit
    maps = [(within(cnn), f"{cnn[0].label}: its layers"), (within(vit), f"{vit[0].label}: its layers")]
    between = across(cnn, vit)
    if between is not None:
        maps.append((between, f"{cnn[0].label} (rows) vs {vit[0].label}"))
    figure, axes = plt.subplots(1, len(maps), figsize=(4.8 * len(maps), 4.8), layout="constrained")
    for ax, (matrix, title) in zip(np.atleast_1d(axes), maps):
        image = ax.imshow(matrix.to_numpy(), vmin=0, vmax=1, cmap="viridis", origin="lower")
        ax.set_xticks(range(len(matrix.columns)), matrix.columns, rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(len(matrix.index)), matrix.index, fontsize=8)
        for (i, j), value in np.ndenumerate(matrix.to_numpy()):
            ax.text(
                j, i, f"{value:.2f}", ha="center", va="center", fontsize=6, color="black" if value > 0.6 else "white"
            )
        ax.set_title(title, fontsize=10)
    figure.colorbar(image, ax=axes, shrink=0.8, label="linear CKA (minibatch, unbiased HSIC)")
    figure.suptitle(f"Layer similarity, mean of {len(cnn)} seeds: a uniform map means layers alike across depth")
    save(figure, path)
    return True


CLAIM = Claim(
    id="17",
    scale="measured",
    text="ViT representations are more uniform across depth than a ResNet's (Raghu et al. 2021)",
    measure=measure,
    decide=decide,
    rule=RULE,
    describe=describe,
    anchor="Raghu et al. 2021 Fig. 1: ViT-L/16 layers are similar across depth (a near-uniform CKA map), "
    "ResNet-50's in stages; Fig. 2: ViT's lower half resembles ResNet's lower quarter.",
    probes=("cka",),
    groups=("full_data_probed",),
    plots=(Plot("cka.png", cka_maps),),
)
