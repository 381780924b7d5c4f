"""Row 3, global context: accuracy vs depth on a task that needs reach, both architectures, with controls.

Two tasks, each through the same rule, reported as two rows:
- row 3, `reach` (data/reach.py): a marker on the left says which of two squares on the right holds the
  label. First-order evidence reaches every model from step 0 (the top square alone is right in 3/4 of
  the scenes); the last quarter needs one feature that sees the marker and a square, 24 px apart. The
  CNN's need for depth is predicted from its geometry before training (models.resnet.receptive_fields,
  reach.predicted_depth): below the predicted depth no unit sees two patterns, its pooled linear head is
  additive over them and capped at reach.UP_SHARE. Controls: a bag of local features (models/bag.py, at
  chance by construction) and the first-order task `reach-local` (the marker always up), which both
  architectures must learn for a failure on `reach` to mean anything.
- row 3-relational (a variant of this row), `global-context` (data/global_context.py): the label is a
  same/different relation of two far squares with no first-order signal, a harder task on which
  transformers are known to sit on a loss plateau (Hoffmann et al. 2024). A side experiment outside its
  verdict trains the ViT with NormSoftmax attention, their remedy (models/vit.py).

Row 3-plateau is row 3 under "each to its plateau": the ViT's long runs beside the CNN's equal-steps runs.
Depth is the number of blocks: the ResNet's BasicBlocks (its stem apart), the ViT's Transformer blocks.
"""

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import matplotlib.pyplot as plt  # its backend set by plots.py, imported below before any figure is drawn

from ...data import global_context as relational
from ...data import reach
from ...models import BagSpec, ResNetSpec, model_spec, receptive_fields
from ..claim import Claim, Plot, Variant
from ..claim_types import Evidence, Measured, Missing
from ..formatting import accuracy_text, percent
from ..plots import BAND_NOTE, COLORS, band, save
from ..runs import Run
from ..selection import Context, by_key
from ..statistics import Estimate, difference, format_estimate, t_interval
from ..pvalues import all_of, any_of

TEST_SIZES = {reach.REACH: reach.TEST_SIZE, relational.NAME: relational.TEST_SIZE}
FIRST_ORDER_CONTROL = {reach.REACH: reach.REACH_LOCAL}
CHANCE = 1 / 2  # both tasks have two balanced classes
# What a model reaches on each task without relating two far regions: "learning the task" means more.
# On reach, the first-order share (the top square alone); on the relational task, chance.
WITHOUT_REACH = {reach.REACH: reach.UP_SHARE, relational.NAME: CHANCE}
MANY = 0.10  # the rule's "≫": the ViT at least 10 points above the CNN at depth 1 or 2
SHALLOW = (1, 2)  # "at depth 1–2"
DEPTH_OPTIONS = ("depth", "widths", "blocks")  # what a row-3 model may choose besides its preset
REMEDY = {"attention": "normsoftmax"}  # the side experiment's option on the relational task
HINT = "train the reach and global_context groups of experiments/default.yaml (cnnvit run experiments/default.yaml)"
ANCHOR = (
    "Dosovitskiy et al. 2020 (Fig. 7): some ViT heads attend across most of the image already in the "
    "lowest layers; Luo et al. 2016: a CNN's receptive field grows with depth."
)


def depth(run: Run) -> int | None:
    """Blocks of the run's model as built from its name and options; None for the control."""
    spec = model_spec(run.model, run.options)
    if isinstance(spec, ResNetSpec):
        return sum(spec.blocks)
    if spec is None or isinstance(spec, BagSpec):
        return None
    return spec.depth


def task_runs(ctx: Context, family: str, task: str = reach.REACH, budget: str = "steps") -> list[Run]:
    """Finished runs of `family` on `task` whose models differ from their preset in depth and width only, trained
    under `budget`: "steps", the study's equal steps; "plateau", the ViT's long runs (evaluated along the way)
    and every other family's equal-steps runs (see plateau_note)."""
    rule = ctx.under("plateau" if budget == "plateau" and family == "vit" else "steps")
    return [
        run
        for run in ctx.all_runs
        if run.family == family
        and run.summary.get("dataset") == task
        and run.is_baseline_except(*DEPTH_OPTIONS)
        and rule.in_budget(run)
    ]


def plateau_note(predicted: int | None, vit: dict[int, list[Run]]) -> str:
    """Why row 3-plateau pairs the ViT's long runs with the CNN's equal-steps runs."""
    below = f"below depth {predicted}" if predicted else "at every depth trained"
    steps = "/".join(sorted({str(r.summary.get("steps")) for runs in vit.values() for r in runs}))
    return (
        f"Each to its plateau: the ViTs trained for {steps} steps, evaluated along the way (accuracy where those "
        f"runs end); the CNNs at the study's "
        f"steps, because {below} no budget lifts them above the top square's "
        f"{percent(reach.UP_SHARE)} (their logit adds up what each unit sees of one pattern: tests/test_reach.py), "
        f"and the CNN's deepest model is compared only as far as it beats its shallowest."
    )


def remedy_runs(ctx: Context, task: str = relational.NAME) -> list[Run]:
    """The side experiment's ViTs on `task`: REMEDY's options, otherwise differing in depth only."""
    return [
        run
        for run in ctx.all_runs
        if run.family == "vit"
        and run.summary.get("dataset") == task
        and all(run.options.get(k) == v for k, v in REMEDY.items())
        and run.is_baseline_except(*DEPTH_OPTIONS, *REMEDY)
    ]


def by_depth(runs: list[Run]) -> dict[int, list[Run]]:
    groups = defaultdict(list)
    for run in runs:
        groups[depth(run)].append(run)
    return dict(sorted(groups.items()))


def cnn_prediction(runs: list[Run]) -> tuple[int, int | None]:
    """(the receptive field of the model's last block in px, the least depth whose units can read the reach
    task's label, None when none of its blocks' can) of a CNN depth group, from its architecture alone."""
    fields = receptive_fields(model_spec(runs[0].model, runs[0].options))
    return fields[-1].size, reach.predicted_depth(fields)


def predicted_depth(cnn: dict[int, list[Run]]) -> int | None:
    """The least depth at which any of the CNNs' units can read the reach task's label; None if none can."""
    return min((least for runs in cnn.values() if (least := cnn_prediction(runs)[1]) is not None), default=None)


def binomial_band(n: int) -> tuple[float, float]:
    """The accuracies a classifier at chance reaches on n test images in 95% of draws (normal approximation)."""
    half = 1.96 * math.sqrt(CHANCE * (1 - CHANCE) / n)
    return CHANCE - half, CHANCE + half


def rule_text(task: str) -> str:
    """Row 3's rule in words on `task`, decided by global_context_verdict."""
    return (
        f"supported if at depth 1 or 2 the ViT's accuracy exceeds the CNN's by at least {100 * MANY:g} points with "
        f"a 95% interval above 0, and the CNN's deepest model beats its depth-1 model (interval above 0); "
        f"contradicted if at every shared depth of 1–2 the interval of ViT − CNN lies below {100 * MANY:g} points "
        f"while the ViT learns the task at some depth; inconclusive otherwise, and whenever the "
        f"bag-of-local-features control is above chance ({percent(CHANCE)}), or the ViT learns the task at no "
        f"depth (its interval above {percent(WITHOUT_REACH[task])}, "
        + ("the share the top square alone gives" if task == reach.REACH else "chance")
        + ")"
    )


def decide(estimates: Mapping[str, Estimate], *, floor: float) -> str:
    """The rule of rule_text(task), whose accuracy without reach is `floor`: "depth <d>" is ViT − CNN at each
    shallow depth d, "vit depth <d>" the ViT's accuracy at each depth it was trained at, "cnn gain" the CNN's
    deepest model − its shallowest, "control" the bag of local features' accuracy (no interval when untrained)."""
    shallow_effects = [e for key, e in estimates.items() if key.startswith("depth ")]
    control = estimates["control"]
    control_at_chance = control.has_interval and control.ci_low <= CHANCE
    learns = any(e.ci_low > floor for key, e in estimates.items() if key.startswith("vit depth "))
    if not control_at_chance or not learns:
        return "inconclusive"
    if any(x.ci_low > 0 and x.mean >= MANY for x in shallow_effects) and estimates["cnn gain"].ci_low > 0:
        return "supported"
    if all(x.has_interval and x.ci_high < MANY for x in shallow_effects):
        return "contradicted"
    return "inconclusive"


def measure(ctx: Context, task: str = reach.REACH, budget: str = "steps") -> Measured | Missing:
    """effect = ViT − CNN test accuracy on `task` at the shallow depth where the ViT leads most, the ViT's runs
    trained under `budget` (task_runs)."""
    cnn, vit = by_depth(task_runs(ctx, "cnn", task)), by_depth(task_runs(ctx, "vit", task, budget))
    control = task_runs(ctx, "control", task)
    shared = sorted(set(cnn) & set(vit))
    if not shared:
        return Missing(f"needs ResNet and ViT runs on the {task} task at the same depths; {HINT}")
    shallow = [d for d in shared if d in SHALLOW] or shared[:1]
    effects = {d: difference(by_key(vit[d], Run.accuracy), by_key(cnn[d], Run.accuracy)) for d in shallow}
    # The effect shown is at the shallow depth where the ViT leads most (the rule asks for depth 1 or 2).
    at = max(shallow, key=lambda d: (effects[d].mean, -d))
    deepest = max(cnn)
    cnn_gain = difference(by_key(cnn[deepest], Run.accuracy), by_key(cnn[min(cnn)], Run.accuracy))
    vit_depths = {d: t_interval([r.accuracy() for r in runs]) for d, runs in vit.items()}
    first_order = FIRST_ORDER_CONTROL.get(task)
    return Measured(
        estimates={
            "cnn gain": cnn_gain,
            "control": t_interval([run.accuracy() for run in control]),
            **{f"depth {d}": e for d, e in effects.items()},
            **{f"vit depth {d}": e for d, e in vit_depths.items()},
        },
        effect=effects[at],
        runs=[*cnn.get(at, []), *vit.get(at, []), *control],
        facts={"floor": WITHOUT_REACH[task]},
        found=Depths(
            task=task,
            budget=budget,
            cnn=cnn,
            vit=vit,
            control=control,
            shared=shared,
            at=at,
            vit_depths=vit_depths,
            first_order={f: by_depth(task_runs(ctx, f, first_order)) for f in ("cnn", "vit")} if first_order else {},
            remedied=by_depth(remedy_runs(ctx, task)) if task == relational.NAME else {},
        ),
    )


@dataclass(kw_only=True)
class Depths:
    """What row 3 compared on one task: each family's runs by depth, and its controls."""

    task: str
    budget: str
    cnn: dict[int, list[Run]]
    vit: dict[int, list[Run]]
    control: list[Run]  # the bag of local features
    shared: list[int]  # the depths both families were trained at
    at: int  # the depth of the effect shown
    vit_depths: dict[int, Estimate]  # the ViT's accuracy at each depth
    first_order: dict[str, dict[int, list[Run]]]  # family -> its runs by depth on the first-order control task
    remedied: dict[int, list[Run]]  # the side experiment's ViTs by depth


def describe(measured: Measured) -> Evidence:
    found, effect = measured.found, measured.effect
    cnn_gain, deepest = measured.estimates["cnn gain"], max(found.cnn)
    details = [
        f"Effect: ViT − CNN test accuracy on the {found.task} task at depth {found.at}, the shallow depth where the "
        f"ViT leads most ({effect.method} comparison). "
        f"Chance is {percent(CHANCE)}. The CNN's deepest model ({deepest} blocks) vs its shallowest: "
        f"{format_estimate(cnn_gain, '+.3f')}.",
        *[
            f"Inconclusive because {reason}."
            for reason in inconclusive_reasons(found.control, found.vit_depths, found.task)
        ],
        *([plateau_note(predicted_depth(found.cnn), found.vit)] if found.budget == "plateau" else []),
        *depth_table(found.cnn, found.vit, found.shared, found.task),
        "",
        *control_lines(found),
        *(remedy_lines(found.vit, found.remedied) if found.task == relational.NAME else []),
    ]
    return Evidence(
        cnn=per_depth(found.cnn),
        vit=per_depth(found.vit),
        effect_meaning=f"ViT − CNN test accuracy (fraction of test images) at depth {found.at}",
        details=details,
    )


def per_depth(groups: dict[int, list[Run]]) -> str:
    return ", ".join(f"depth {d}: {accuracy_text(runs)}" for d, runs in groups.items())


def inconclusive_reasons(control: list[Run], vit_depths: dict[int, Estimate], task: str) -> list[str]:
    """Why the controls leave the row inconclusive, whatever the effect: in words, for the claim's section."""
    reasons = []
    control_estimate = t_interval([run.accuracy() for run in control])
    if not control:
        reasons.append(
            f"no bag-of-local-features control was trained (model bagnet-7 on {task}), so nothing shows "
            "that the task needs more than pooled local evidence"
        )
    elif not control_estimate.has_interval or control_estimate.ci_low > CHANCE:
        reasons.append(
            f"the control is not shown to be at chance ({accuracy_text(control)}): the task may be "
            "solvable from local evidence"
        )
    floor = WITHOUT_REACH[task]
    if not any(e.ci_low > floor for e in vit_depths.values()):
        reasons.append(
            f"the ViT learned the task at no depth within the budget (no interval above "
            f"{percent(floor)}), so its shallow failure says nothing about reach"
        )
    return reasons


def depth_table(cnn: dict[int, list[Run]], vit: dict[int, list[Run]], shared: list[int], task: str) -> list[str]:
    """Accuracy and parameters per depth; on the reach task, beside what the CNN's geometry predicts."""
    predicts = task == reach.REACH
    lines = []
    if predicts:
        predicted, cap = predicted_depth(cnn), percent(reach.UP_SHARE)
        lines += [
            "",
            f"What the CNN's geometry predicts, before training (models.resnet.receptive_fields, "
            f"reach.predicted_depth): the least depth at which a unit of the last block sees a pixel of the "
            f"marker's bar and one of a square is {predicted or 'beyond the depths trained'}. Below "
            f"it no unit sees two patterns, so the pooled linear head adds up what it sees of each, and such "
            f"a model is right in at most {cap} of the scenes (the top square's share); from it on, nothing "
            f"in the geometry stops it (tests/test_reach.py checks both on the built models).",
        ]
    header = "| depth (blocks) | CNN parameters | ViT parameters | CNN / ViT |"
    rule = "|---|---|---|---|"
    if predicts:
        header += " CNN field (px) | geometry predicts |"
        rule += "---|---|"
    lines += ["", header + " CNN accuracy | ViT accuracy | ViT − CNN [95% CI] |", rule + "---|---|---|"]
    for d in sorted(set(cnn) | set(vit)):
        params = {
            arch: groups[d][0].summary.get("params") if d in groups else None
            for arch, groups in (("cnn", cnn), ("vit", vit))
        }
        ratio = f"{params['cnn'] / params['vit']:.2f}" if params["cnn"] and params["vit"] else "—"
        row = f"| {d} | {_count(params['cnn'])} | {_count(params['vit'])} | {ratio} |"
        if predicts:
            size, least = cnn_prediction(cnn[d]) if d in cnn else (None, None)
            expected = (
                "—"
                if size is None
                else (f"≤ {percent(reach.UP_SHARE)}" if least is None or d < least else "can read the label")
            )
            row += f" {size or '—'} | {expected} |"
        gap = difference(by_key(vit[d], Run.accuracy), by_key(cnn[d], Run.accuracy)) if d in shared else None
        row += (
            f" {accuracy_text(cnn.get(d, []))} | {accuracy_text(vit.get(d, []))} | "
            f"{format_estimate(gap, '+.3f') if gap else '—'} |"
        )
        lines.append(row)
    return lines


def _count(n: int | None) -> str:
    return f"{n:,}" if n else "—"


def control_lines(found: Depths) -> list[str]:
    """The bag of local features against chance's binomial band, and the first-order control task."""
    control, task = found.control, found.task
    low, high = binomial_band(TEST_SIZES[task])
    inside = sum(low <= run.accuracy() <= high for run in control)
    lines = [
        "Bag-of-local-features control (7x7 windows, mean-pooled): "
        + (
            f"{accuracy_text(control)}; {inside} of {len(control)} runs inside the band a classifier at chance "
            f"reaches on {TEST_SIZES[task]:,} test images in 95% of draws, {percent(low)}–{percent(high)}."
            if control
            else "not trained."
        )
    ]
    first_order = FIRST_ORDER_CONTROL.get(task)
    if first_order:
        learned = "; ".join(
            f"{runs[0].arch} depth {d}: {accuracy_text(runs)}"
            for by in found.first_order.values()
            for d, runs in by.items()
        )
        lines.append(
            f"First-order control, the {first_order} task (the marker always points up, so the top square "
            f"alone gives every label): {learned or 'not trained'}. A model that learns it but not {task} "
            "can learn at all and fails on the reach itself."
        )
    return lines


def remedy_lines(vit: dict[int, list[Run]], remedied: dict[int, list[Run]]) -> list[str]:
    """The side experiment: the ViT with NormSoftmax attention beside the plain ViT, per depth (not in the verdict)."""
    if not remedied:
        return []
    lines = [
        "",
        "Side experiment, not in the verdict: does a published remedy for transformers' loss plateaus lift "
        "the ViT off this task's? NormSoftmax (Hoffmann et al. 2024, 'Eureka-moments in transformers'): "
        "attention logits divided by min(√d, their standard deviation over the keys), otherwise the same "
        "model, recipe and budget.",
        "",
        "| depth (blocks) | ViT | ViT with NormSoftmax |",
        "|---|---|---|",
    ]
    for d in sorted(set(vit) | set(remedied)):
        lines.append(f"| {d} | {accuracy_text(vit.get(d, []))} | {accuracy_text(remedied.get(d, []))} |")
    return lines


DODGE = 0.06  # depth-axis offset of each architecture, so that equal accuracies stay visible


def accuracy_vs_depth(ctx: Context, path: Path, task: str) -> bool:
    """Accuracy on `task` vs depth, both architectures, the bag-of-local-features control and chance; on the
    reach task the cap the CNN's geometry predicts below its predicted depth, on the relational task the ViT
    with NormSoftmax (the side experiment)."""
    cnn, vit = by_depth(task_runs(ctx, "cnn", task)), by_depth(task_runs(ctx, "vit", task))
    if not (cnn and vit):
        return False
    figure, ax = plt.subplots(figsize=(7.5, 5.6))
    # The lines may coincide (a ViT, the control and chance all at 50%): the two architectures are dodged
    # sideways and drawn with their own markers, the control is a band, chance a thin dotted line.
    lines = [(cnn, -DODGE, "o", COLORS["cnn"], None), (vit, DODGE, "s", COLORS["vit"], None)]
    remedied = by_depth(remedy_runs(ctx, task)) if task == relational.NAME else {}
    if remedied:
        lines.append((remedied, 2 * DODGE, "^", "tab:red", "with NormSoftmax (side experiment)"))
    longer = by_depth(task_runs(ctx, "vit", task, "plateau"))
    if longer:
        steps = "/".join(sorted({str(r.summary.get("steps")) for runs in longer.values() for r in runs}))
        lines.append((longer, 2 * DODGE, "D", "tab:red", f"at {steps} steps (row 3-plateau)"))
    for groups, dodge, marker, color, note in lines:
        label = groups[min(groups)][0].model + (f" {note}" if note else "")
        band(
            ax,
            [d + dodge for d in groups],
            [[r.accuracy() for r in runs] for runs in groups.values()],
            label,
            color,
            marker,
        )
    control = task_runs(ctx, "control", task)
    if control:
        e = t_interval([r.accuracy() for r in control])
        ax.axhspan(
            e.ci_low if e.has_interval else e.mean,
            e.ci_high if e.has_interval else e.mean,
            color="tab:gray",
            alpha=0.25,
            linewidth=0,
        )
        ax.axhline(
            e.mean,
            color="tab:gray",
            linestyle="--",
            linewidth=2.5,
            label=f"{control[0].model}: bag of 7x7 local features (control)",
        )
    if WITHOUT_REACH[task] != CHANCE:
        ax.axhline(
            WITHOUT_REACH[task],
            color="tab:green",
            linewidth=1.5,
            linestyle="-.",
            label=f"without reach: the top square alone ({WITHOUT_REACH[task]:.0%})",
        )
    if task == reach.REACH:
        least = predicted_depth(cnn)
        if least is not None:
            ax.axvline(
                least - 0.5,
                color=COLORS["cnn"],
                linestyle=":",
                linewidth=1.5,
                label=f"CNN's geometry: no unit sees marker and square below depth {least}",
            )
    ax.axhline(CHANCE, color="black", linewidth=1, linestyle=":", label=f"chance ({CHANCE:.0%})")
    ax.set(xlabel="depth (blocks)", ylabel="test accuracy", xticks=sorted(set(cnn) | set(vit)), ylim=(0.4, 1.03))
    ax.set_title(f"{task} task: accuracy vs depth\n({BAND_NOTE}; points dodged sideways)", fontsize=10)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)  # below: the lines fill the axes
    figure.tight_layout()
    save(figure, path)
    return True


CLAIM = Claim(
    id="3",
    scale="measured",  # the ViT side is a learning outcome under a budget: rows 3 and 3-plateau differ only in it
    p_value=all_of(any_of("depth "), "cnn gain"),
    text="Global context: CNN hard, large depth needed; ViT immediate global self-attention",
    measure=measure,
    decide=decide,
    rule=rule_text(reach.REACH),
    describe=describe,
    anchor=ANCHOR,
    groups=("reach", "reach_plateau", "reach_local", "global_context", "normsoftmax"),
    plots=(Plot("accuracy_vs_depth.png", partial(accuracy_vs_depth, task=reach.REACH)),),
    variants=(
        Variant(suffix="plateau", options={"budget": "plateau"}, budget="plateau"),
        Variant(
            suffix="relational",
            options={"task": relational.NAME},
            task=f"task: a same/different relation, {relational.NAME}",
            rule=rule_text(relational.NAME),
            plots=(Plot("accuracy_vs_depth_relational.png", partial(accuracy_vs_depth, task=relational.NAME)),),
        ),
    ),
    one_setting_by_design=True,
)
