"""Row 3, global context: accuracy vs depth on the global-context task (data/global_context.py),
whose label is the relation between the left and right edges of the image, for both architectures,
with a bag-of-local-features control (models/bag.py) that must sit at chance for the task to count.

Depth is the number of blocks: the ResNet's BasicBlocks (its stem apart), the ViT's Transformer blocks.
"""

from collections import defaultdict

from ..data.global_context import CLASSES, NAME as TASK
from ..models import BagSpec, ResNetSpec, model_spec
from .accuracy_claims import accuracy_text, by_key, percent
from .claims import ClaimResult, Context, not_measured
from .runs import Run
from .statistics import difference, format_estimate, t_interval

CHANCE = 1 / len(CLASSES)
MANY = 0.10  # the rule's "≫": the ViT at least 10 points above the CNN at depth 1 or 2
SHALLOW = (1, 2)  # "at depth 1–2"
HINT = "train the global_context group of experiments/default.yaml (cnnvit run experiments/default.yaml)"
ANCHOR = ("Dosovitskiy et al. 2020 (Fig. 7): some ViT heads attend across most of the image already in the "
          "lowest layers; Luo et al. 2016: a CNN's receptive field grows with depth.")  # fmt: skip


def depth(run: Run) -> int | None:
    """Blocks of the run's model as built from its name and options; None for the control."""
    spec = model_spec(run.model, run.options)
    if isinstance(spec, ResNetSpec):
        return sum(spec.blocks)
    if spec is None or isinstance(spec, BagSpec):
        return None
    return spec.depth


def task_runs(ctx: Context, arch: str) -> list[Run]:
    return [run for run in ctx.all_runs if run.arch == arch and run.summary.get("dataset") == TASK]


def by_depth(runs: list[Run]) -> dict[int, list[Run]]:
    groups = defaultdict(list)
    for run in runs:
        groups[depth(run)].append(run)
    return dict(sorted(groups.items()))


def global_context(ctx: Context) -> ClaimResult:
    """Row 3. effect = ViT − CNN test accuracy at the shallowest depth both were trained at."""
    rule = (f"supported if at depth 1 or 2 the ViT's accuracy exceeds the CNN's by at least {100 * MANY:g} points with "
            f"a 95% interval above 0, and the CNN's deepest model beats its depth-1 model (interval above 0); "
            f"contradicted if at every shared depth of 1–2 the interval of ViT − CNN lies below {100 * MANY:g} points "
            f"while the ViT learns the task at some depth; inconclusive otherwise, and whenever the bag-of-local-features "
            f"control is above chance ({percent(CHANCE)}), or the ViT learns the task at no depth")  # fmt: skip
    cnn, vit = by_depth(task_runs(ctx, "resnet")), by_depth(task_runs(ctx, "vit"))
    control = task_runs(ctx, "bag")
    shared = sorted(set(cnn) & set(vit))
    if not shared:
        return not_measured("3", f"needs ResNet and ViT runs on the {TASK} task at the same depths; {HINT}")
    shallow = [d for d in shared if d in SHALLOW] or shared[:1]
    effects = {d: difference(by_key(vit[d], Run.accuracy), by_key(cnn[d], Run.accuracy)) for d in shallow}
    effect = effects[shallow[0]]
    deepest = max(cnn)
    cnn_gain = difference(by_key(cnn[deepest], Run.accuracy), by_key(cnn[min(cnn)], Run.accuracy))
    control_estimate = t_interval([run.accuracy() for run in control])
    vit_depths = {d: t_interval([r.accuracy() for r in runs]) for d, runs in vit.items()}
    vit_learns = any(e.ci_low > CHANCE for e in vit_depths.values())

    reasons = []
    if not control:
        reasons.append(f"no bag-of-local-features control was trained (model bagnet-7 on {TASK}), so nothing shows "
                       "that the task needs more than pooled local evidence")  # fmt: skip
    elif not control_estimate.has_interval or control_estimate.ci_low > CHANCE:
        reasons.append(f"the control is not shown to be at chance ({accuracy_text(control)}): the task may be "
                       "solvable from local evidence")  # fmt: skip
    if not vit_learns:
        reasons.append("the ViT learned the task at no depth within the budget, so its shallow failure says "
                       "nothing about reach")  # fmt: skip
    estimates = {"cnn gain": cnn_gain, "control": control_estimate, **{f"depth {d}": e for d, e in effects.items()},
                 **{f"vit depth {d}": e for d, e in vit_depths.items()}}  # fmt: skip

    def decide(e) -> str:
        shallow_effects = [e[f"depth {d}"] for d in shallow]
        control_at_chance = bool(control) and e["control"].has_interval and e["control"].ci_low <= CHANCE
        learns = any(e[f"vit depth {d}"].ci_low > CHANCE for d in vit_depths)
        if not control_at_chance or not learns:
            return "inconclusive"
        if any(x.ci_low > 0 and x.mean >= MANY for x in shallow_effects) and e["cnn gain"].ci_low > 0:
            return "supported"
        if all(x.has_interval and x.ci_high < MANY for x in shallow_effects):
            return "contradicted"
        return "inconclusive"

    verdict = decide(estimates)

    table = ["", "| depth (blocks) | CNN accuracy | ViT accuracy | ViT − CNN [95% CI] |", "|---|---|---|---|"]
    for d in sorted(set(cnn) | set(vit)):
        gap = difference(by_key(vit[d], Run.accuracy), by_key(cnn[d], Run.accuracy)) if d in shared else None
        table.append(f"| {d} | {accuracy_text(cnn.get(d, []))} | {accuracy_text(vit.get(d, []))} | "
                     f"{format_estimate(gap, '+.3f') if gap else '—'} |")  # fmt: skip
    details = [
        f"Effect: ViT − CNN test accuracy on the {TASK} task at depth {shallow[0]} ({effect.method} comparison). "
        f"Chance is {percent(CHANCE)}; the bag-of-local-features control (7x7 windows, mean-pooled) reached "
        f"{accuracy_text(control) if control else 'n/a (not trained)'}. The CNN's deepest model ({deepest} blocks) "
        f"vs its shallowest: {format_estimate(cnn_gain, '+.3f')}.",
        *[f"Inconclusive because {reason}." for reason in reasons],
        *table,
    ]
    evidence = lambda groups: ", ".join(f"depth {d}: {accuracy_text(runs)}" for d, runs in groups.items())  # noqa: E731
    return ClaimResult("3", verdict, effect, evidence(cnn), evidence(vit), rule,
                       f"ViT − CNN test accuracy (fraction of test images) at depth {shallow[0]}",
                       ANCHOR, details, [*cnn.get(shallow[0], []), *vit.get(shallow[0], []), *control],
                       estimates=estimates, decide=decide)  # fmt: skip

