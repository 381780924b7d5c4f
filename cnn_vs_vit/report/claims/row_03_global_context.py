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
from ..plots import BOUNDED_BAND_NOTE, COLORS, band, save
from ..resampling import seed_mean_interval
from ..runs import Run
from ..selection import Context
from ..statistics import Estimate, format_estimate, t_interval, welch_interval
from .rule_statistics import ALPHA, binomial_p, count, fisher_p, share_difference, success_share

TEST_SIZES = {reach.REACH: reach.TEST_SIZE, relational.NAME: relational.TEST_SIZE}
FIRST_ORDER_CONTROL = {reach.REACH: reach.REACH_LOCAL}
CHANCE = 1 / 2  # both tasks have two balanced classes
# What a model reaches on each task without relating two far regions: "learning the task" means more.
# On reach, the first-order share (the top square alone); on the relational task, chance.
WITHOUT_REACH = {reach.REACH: reach.UP_SHARE, relational.NAME: CHANCE}
# A run "learned the task" when its test accuracy is at least halfway from what a model gets without reach to
# every test image: 87.5% on reach, 75% on the relational task. Runs there are bimodal (each either escapes the
# first-order plateau or stays on it), so a run is a success or not, and a depth a count of successes.
LEARNED = {task: (floor + 1) / 2 for task, floor in WITHOUT_REACH.items()}
SHALLOW = (1, 2)  # "at depth 1–2"
DEPTH_OPTIONS = ("depth", "widths", "blocks")  # what a row-3 model may choose besides its preset
REMEDY = {"attention": "normsoftmax"}  # the side experiment's option on the relational task
HINT = "train the reach and global_context groups (cnnvit run experiments/default-reach.yaml)"
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
    """Row 3's rule in words on `task`, decided by `decide`."""
    return (
        f"each run is a success when its test accuracy reaches {percent(LEARNED[task])} (halfway from the "
        f"{percent(WITHOUT_REACH[task])} a model gets without reach"
        + (", the top square alone," if task == reach.REACH else "")
        + " to 100%); every depth counts, pooled into three pre-set contrasts, each a two-sided Fisher exact test "
        f"at {ALPHA:g}: (a) the ViT against the CNN over all their runs at depths 1 and 2, (b) the CNN's runs deeper "
        "than 2 against its runs at 1 and 2, (c) the ViT against the CNN over every depth both trained. "
        "Supported if the ViT succeeds more often in (a) and the deeper CNN more often in (b); contradicted if the "
        "CNN succeeds more often in (a) or (c), or its runs at depths 1–2 succeed in most runs (Clopper-Pearson "
        "lower bound above 1/2: it needs no depth); inconclusive otherwise, and whenever the bag-of-local-features "
        f"control is not shown to be at chance ({percent(CHANCE)})"
    )


def decide(estimates: Mapping[str, Estimate]) -> str:
    """The rule of rule_text: "vit shallow", "cnn shallow" are success shares (rule_statistics.success_share) over
    the runs at depths 1-2, "cnn deep" over the CNN's deeper runs, "vit all", "cnn all" over every shared depth;
    "control" is the bag of local features' accuracy (no interval when untrained)."""
    control = estimates["control"]
    if not (control.has_interval and control.ci_low <= CHANCE):
        return "inconclusive"
    vit, cnn, deep = estimates["vit shallow"], estimates["cnn shallow"], estimates["cnn deep"]
    lead = fisher_p(vit, cnn) < ALPHA
    if lead and vit.mean > cnn.mean and fisher_p(deep, cnn) < ALPHA and deep.mean > cnn.mean:
        return "supported"
    everywhere = fisher_p(estimates["vit all"], estimates["cnn all"]) < ALPHA
    if (
        (lead and cnn.mean > vit.mean)
        or (everywhere and estimates["cnn all"].mean > estimates["vit all"].mean)
        or (cnn.has_interval and cnn.ci_low > 1 / 2)
    ):
        return "contradicted"
    return "inconclusive"


def p_value(estimates: Mapping[str, Estimate]) -> float:
    """Two-sided p of the test the verdict rests on. Contradicted: any of three tests may give it, so the smallest
    p of those pointing the CNN's way times three (Bonferroni): (a) or (c) reversed, each a
    Fisher p, or the CNN's shallow share above 1/2, the binomial test its Clopper-Pearson bound inverts. Otherwise
    the support's, an intersection-union test: the larger of (a)'s and (b)'s Fisher p (the claim needs both the
    ViT's shallow lead and the CNN's need of depth)."""
    vit, cnn = estimates["vit shallow"], estimates["cnn shallow"]
    if decide(estimates) == "contradicted":
        vit_all, cnn_all = estimates["vit all"], estimates["cnn all"]
        against = [
            fisher_p(vit, cnn) if cnn.mean > vit.mean else 1.0,
            fisher_p(vit_all, cnn_all) if cnn_all.mean > vit_all.mean else 1.0,
            binomial_p(cnn, 1 / 2) if cnn.mean > 1 / 2 else 1.0,
        ]
        return min(1.0, len(against) * min(against))
    return max(fisher_p(vit, cnn), fisher_p(estimates["cnn deep"], cnn))


def successes(runs: list[Run], task: str) -> Estimate:
    """The share of `runs` that learned `task` (accuracy >= LEARNED[task]) with its Clopper-Pearson interval."""
    return success_share(sum(run.accuracy() >= LEARNED[task] for run in runs), len(runs))


def measure(ctx: Context, task: str = reach.REACH, budget: str = "steps") -> Measured | Missing:
    """effect = ViT − CNN share of runs that learned `task`, over every run at depths 1-2, the ViT's runs trained
    under `budget` (task_runs); with the CNN's deeper runs and every shared depth beside it (rule_text)."""
    cnn, vit = by_depth(task_runs(ctx, "cnn", task)), by_depth(task_runs(ctx, "vit", task, budget))
    control = task_runs(ctx, "control", task)
    shared = sorted(set(cnn) & set(vit))
    if not shared:
        return Missing(f"needs ResNet and ViT runs on the {task} task at the same depths; {HINT}")
    pooled = lambda groups, depths: [run for d in depths for run in groups.get(d, [])]  # noqa: E731
    estimates = {
        "vit shallow": successes(pooled(vit, SHALLOW), task),
        "cnn shallow": successes(pooled(cnn, SHALLOW), task),
        "cnn deep": successes(pooled(cnn, [d for d in cnn if d > max(SHALLOW)]), task),
        "vit all": successes(pooled(vit, shared), task),
        "cnn all": successes(pooled(cnn, shared), task),
        "control": t_interval([run.accuracy() for run in control]),
    }
    effect = share_difference(estimates["vit shallow"], estimates["cnn shallow"])
    first_order = FIRST_ORDER_CONTROL.get(task)
    return Measured(
        estimates=estimates,
        effect=effect,
        runs=[*pooled(cnn, cnn), *pooled(vit, vit), *control],
        found=Depths(
            task=task,
            budget=budget,
            cnn=cnn,
            vit=vit,
            control=control,
            shared=shared,
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
    first_order: dict[str, dict[int, list[Run]]]  # family -> its runs by depth on the first-order control task
    remedied: dict[int, list[Run]]  # the side experiment's ViTs by depth


def describe(measured: Measured) -> Evidence:
    found, effect, e = measured.found, measured.effect, measured.estimates
    level = percent(LEARNED[found.task])
    shown = lambda key: f"{count(e[key])[0]} of {count(e[key])[1]}"  # noqa: E731
    contrasts = [
        ("(a) ViT vs CNN, depths 1–2", "vit shallow", "cnn shallow"),
        ("(b) CNN deeper than 2 vs CNN at 1–2", "cnn deep", "cnn shallow"),
        (f"(c) ViT vs CNN, every shared depth ({', '.join(map(str, found.shared))})", "vit all", "cnn all"),
    ]
    details = [
        f"Effect: ViT − CNN share of runs at depths 1–2 that learned the {found.task} task (test accuracy ≥ "
        f"{level}), every run at both depths pooled ({effect.method} interval). Chance is {percent(CHANCE)}.",
        "",
        "| contrast | successes | against | Fisher p (two-sided) |",
        "|---|---|---|---|",
        *[
            f"| {name} | {shown(a)} | {shown(b)} | {fisher_p(e[a], e[b]):.3g} |"
            for name, a, b in contrasts
            if e[a].n and e[b].n
        ],
        "",
        "How this differs from CLAIMS.md's sketch (ViT ≫ CNN at depth 1–2, the CNN catching up with depth): the "
        "sketch's test at the depth where the ViT leads most selects on the outcome, and a 600-step run either "
        "escapes the first-order plateau or does not, so accuracies are averaged bimodal outcomes. Each run is "
        "counted as a success or not, and every depth enters a contrast fixed before the runs.",
        *[f"Inconclusive because {reason}." for reason in inconclusive_reasons(found.control, found.task)],
        *([plateau_note(predicted_depth(found.cnn), found.vit)] if found.budget == "plateau" else []),
        *depth_table(found.cnn, found.vit, found.shared, found.task),
        "",
        *control_lines(found),
        *(remedy_lines(found.vit, found.remedied) if found.task == relational.NAME else []),
    ]
    return Evidence(
        cnn=per_depth(found.cnn),
        vit=per_depth(found.vit),
        effect_meaning=f"ViT − CNN share of runs at depths 1–2 reaching {level} (fraction of runs)",
        details=details,
    )


def per_depth(groups: dict[int, list[Run]]) -> str:
    return ", ".join(f"depth {d}: {accuracy_text(runs)}" for d, runs in groups.items())


def inconclusive_reasons(control: list[Run], task: str) -> list[str]:
    """Why the control leaves the row inconclusive, whatever the counts: in words, for the claim's section."""
    control_estimate = t_interval([run.accuracy() for run in control])
    if not control:
        return [
            f"no bag-of-local-features control was trained (model bagnet-7 on {task}), so nothing shows "
            "that the task needs more than pooled local evidence"
        ]
    if not control_estimate.has_interval or control_estimate.ci_low > CHANCE:
        return [
            f"the control is not shown to be at chance ({accuracy_text(control)}): the task may be "
            "solvable from local evidence"
        ]
    return []


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
    lines += [
        "",
        header + f" CNN accuracy | ViT accuracy | ViT − CNN [95% CI] | runs ≥ {percent(LEARNED[task])}, CNN / ViT |",
        rule + "---|---|---|---|",
    ]
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
        accuracies = {arch: [r.accuracy() for r in groups.get(d, [])] for arch, groups in (("cnn", cnn), ("vit", vit))}
        gap = welch_interval(accuracies["vit"], accuracies["cnn"]) if d in shared else None
        learned = " / ".join(
            f"{count(successes(groups[d], task))[0]} of {len(groups[d])}" if d in groups else "—"
            for groups in (cnn, vit)
        )
        row += (
            f" {accuracy_text(cnn.get(d, []))} | {accuracy_text(vit.get(d, []))} | "
            f"{format_estimate(gap, '+.3f') if gap else '—'} | {learned} |"
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
            bounded=True,
        )
    control = task_runs(ctx, "control", task)
    if control:
        e = seed_mean_interval([r.accuracy() for r in control])
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
    ax.axhline(
        LEARNED[task], color="tab:purple", linewidth=1, linestyle=(0, (5, 5)), label=f"a success: {LEARNED[task]:.1%}"
    )
    ax.axhline(CHANCE, color="black", linewidth=1, linestyle=":", label=f"chance ({CHANCE:.0%})")
    ax.set(xlabel="depth (blocks)", ylabel="test accuracy", xticks=sorted(set(cnn) | set(vit)), ylim=(0.4, 1.03))
    ax.set_title(f"{task} task: accuracy vs depth, points dodged sideways\n({BOUNDED_BAND_NOTE})", fontsize=10)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)  # below: the lines fill the axes
    figure.tight_layout()
    save(figure, path)
    return True


CLAIM = Claim(
    id="3",
    scale="measured",  # the ViT side is a learning outcome under a budget: rows 3 and 3-plateau differ only in it
    text="Global context: CNN hard, large depth needed; ViT immediate global self-attention",
    measure=measure,
    decide=decide,
    rule=rule_text(reach.REACH),
    describe=describe,
    p_value=p_value,
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
)
