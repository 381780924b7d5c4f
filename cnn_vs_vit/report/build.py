"""`build_report`: run directories in, runs.csv + claims.csv + report.md + plots out.

Every output is a pure function of the run directories (sorted, fixed float formats, no
timestamps), so rebuilding from the same runs gives byte-identical files.

Several results directories are several settings of one study (e.g. the same cells with other
seeds). Each claim gets a verdict per setting and a headline verdict over every run of every
setting (a run directory found in two of them counts once), and `holds` counts the settings
that agree with the headline among those where the claim was measured ("one setting" where only
one did): a claim that flips is shown flipping, with the settings named, never averaged away.
Rerun rates and the family-wise test are the headline's; a setting shows its rule's verdict.

A setting may be kept in several results directories, named joined by '+' (results/default+results/default-
scaling: one study whose rows did not fit in one file); its runs are read as one setting's, named after the
first directory.
"""

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .. import rundir as layout
from ..errors import CnnvitError
from . import budget, plots, recipe_search
from .claim_types import ClaimResult, Plot
from .claims import CLAIMS
from .evaluate import FAMILY_NOTE, evaluate_claims
from .formatting import effect_text, p_text
from .runs import CONTENDERS, Run, load_runs, read_experiment, runs_table
from .selection import Context
from .settling import SETTLED_AT, sequential_note
from .stability import RATE_NOTE, rate_text
from .statistics import INTERVAL_NOTE

CLAIM_COLUMNS = [
    "claim_id",
    "claim",
    "cnn_evidence",
    "vit_evidence",
    "verdict",
    "effect",
    "ci_low",
    "ci_high",
    "n_seeds",
    "comparison",
    "rule_verdict",
    "disagreement",
    "seeds_to_settle",
    "p",
    "p_holm",
    "scale",
    "at_equal_steps",
    "settings",
    "holds",
]
COMPUTE_PLOT = Plot("accuracy_vs_compute.png", plots.accuracy_vs_compute)  # the budget section's, no claim's


@dataclass
class Study:
    """What a report is built from: the runs of its results directories and every claim measured on them."""

    dirs: list[list[Path]]  # each setting's results directories
    experiments: dict[str, list[dict]]  # setting name -> the experiment.yaml of each of its directories ({}: none)
    runs: list[Run]
    claims: list[ClaimResult]
    settings: dict[str, list[ClaimResult]]  # setting name -> its own claims, in the order of `claims`


@dataclass
class Report:
    """What build_report wrote: the claims and the paths of every file."""

    claims: list[ClaimResult]
    runs: list[Run]
    paths: list[Path]
    settings: dict[str, list[ClaimResult]]  # setting name -> its own claims, in the order of `claims`


def build_report(
    results_dirs: Path | str | Sequence[Path | str], out_dir: Path | str | None = None, *, provisional: bool = False
) -> Report:
    """Read every run under the results directories, compute each claim's verdict, write the report files
    into `out_dir` (default: the one results directory; required with several). Raises CnnvitError when a
    directory holds no finished run. `provisional`: built while an experiment still trains (between its
    waves): each verdict is marked with the seeds it rests on."""
    report_dir(as_settings(results_dirs), out_dir)  # its error before the measuring, which takes a while
    return write_report(measure_study(results_dirs), out_dir, provisional=provisional)


def as_settings(results_dirs: Path | str | Sequence[Path | str]) -> list[list[Path]]:
    """Each setting's results directories: an argument is a directory, or several joined by '+' (a path that
    exists as written is one directory, '+' or not)."""
    if isinstance(results_dirs, (str, Path)):
        results_dirs = [results_dirs]
    return [
        [Path(given)] if Path(given).exists() or "+" not in str(given) else [Path(d) for d in str(given).split("+")]
        for given in results_dirs
    ]


def report_dir(settings: Sequence[Sequence[Path]], out_dir: Path | str | None) -> Path:
    """Where the report of `settings` goes: `out_dir`, else the one results directory."""
    if sum(map(len, settings)) > 1 and out_dir is None:
        raise CnnvitError(
            "a report over several results directories needs --out DIR (a directory of its own, so "
            "that no setting's own report is overwritten)"
        )
    return Path(out_dir) if out_dir is not None else Path(settings[0][0])


def measure_study(results_dirs: Path | str | Sequence[Path | str]) -> Study:
    """Every run under the results directories and each claim's result on them: the headline over all the runs
    and, with several directories, each setting's own. Raises CnnvitError when a directory holds no finished
    run."""
    dirs = as_settings(results_dirs)
    read = [[read_experiment(d) for d in setting] for setting in dirs]
    names = setting_names([setting[0] for setting in dirs], [files[0] for files in read])
    experiments = dict(zip(names, read))
    per_setting = {name: setting_runs(setting, files) for name, setting, files in zip(names, dirs, read)}
    runs = merged_runs(per_setting) if len(dirs) > 1 else per_setting[names[0]]
    claims = evaluate_claims(runs)
    settings = (
        {name: evaluate_claims(runs_of, rates=False) for name, runs_of in per_setting.items()}
        if len(dirs) > 1
        else {names[0]: claims}
    )
    for claim in claims:  # by id: a setting without a second budget rule lacks its rows
        own = {
            name: next((c for c in results if c.claim_id == claim.claim_id), None) for name, results in settings.items()
        }
        claim.settings = {name: c.verdict if c else "not measured" for name, c in own.items()}
        claim.setting_effects = {name: c.effect for name, c in own.items() if c and c.verdict != "not measured"}
    return Study(dirs, experiments, runs, claims, settings)


def write_report(study: Study, out_dir: Path | str | None = None, *, provisional: bool = False) -> Report:
    """Write the report files of `study` into `out_dir` (default: its one results directory; required with
    several); `provisional` as build_report's."""
    out_dir = report_dir(study.dirs, out_dir)
    claims, runs = study.claims, study.runs
    for claim in claims:
        claim.provisional = provisional
    context = Context.of(runs)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    figures = {plot.file: plot for claim in CLAIMS for plot in claim.figures}  # each drawn once
    for plot in [*figures.values(), COMPUTE_PLOT]:
        if plot.draw(context, out_dir / plot.file):
            paths.append(out_dir / plot.file)
            for claim in claims:
                if plot in claim.figures and claim.verdict != "not measured":
                    claim.plots.append(plot.file)
    if len(study.dirs) > 1 and plots.robustness(claims, out_dir / "robustness.png"):
        paths.append(out_dir / "robustness.png")
    table = runs_table(runs)
    layout.atomic_write_text(out_dir / "runs.csv", table.to_csv(index=False, float_format="%.6g", lineterminator="\n"))
    layout.atomic_write_text(out_dir / "claims.csv", claims_csv(claims))
    search = recipe_search.search_table(runs)
    if not search.empty:
        layout.atomic_write_text(
            out_dir / "recipes.csv", search.to_csv(index=False, float_format="%.6g", lineterminator="\n")
        )
        paths.append(out_dir / "recipes.csv")
    compute_plot = COMPUTE_PLOT.file if out_dir / COMPUTE_PLOT.file in paths else None
    sections = budget.markdown(context, compute_plot) + recipe_search.markdown(search)
    layout.atomic_write_text(out_dir / "report.md", markdown(claims, runs, context, study.experiments, sections))
    paths = [out_dir / "report.md", out_dir / "claims.csv", out_dir / "runs.csv", *paths]
    return Report(claims, runs, paths, study.settings)


def setting_names(dirs: list[Path], experiments: list[dict]) -> list[str]:
    """Each directory's experiment name (its experiment.yaml), else its folder name; made unique in order."""
    names = []
    for d, experiment in zip(dirs, experiments):
        name = str(experiment.get("name") or d.resolve().name)
        names.append(name if name not in names else f"{name} ({len(names) + 1})")
    return names


def setting_runs(dirs: list[Path], experiments: list[dict]) -> list[Run]:
    """The runs of a setting kept in `dirs`: one directory's as they are, several merged (merged_runs, each under
    its directory's experiment name)."""
    if len(dirs) == 1:
        return load_runs(dirs[0])
    return merged_runs({name: load_runs(d) for name, d in zip(setting_names(dirs, experiments), dirs)})


def merged_runs(per_setting: dict[str, list[Run]]) -> list[Run]:
    """Every setting's runs, each run directory once (by name: a name hashes what the run computes), under
    <setting>/<its path>, sorted."""
    merged, seen = [], set()
    for name, runs in per_setting.items():
        for run in runs:
            key = Path(run.path).name
            if key in seen:
                continue
            seen.add(key)
            run.path = f"{name}/{run.path}"
            merged.append(run)
    return sorted(merged, key=lambda run: run.path)


def rate_cell(c: ClaimResult) -> str:
    return "" if c.verdict == "not measured" else rate_text(c)


def verdict_text(c: ClaimResult) -> str:
    """The verdict as the table prints it: 'unsettled (leans supported, 34.0%; ~7 seeds per cell)' where the
    reruns disagree, 'inconclusive (supported before the family-wise test)' where Holm took it back."""
    if c.verdict == "unsettled":
        seeds = (
            f"{c.seeds_to_settle} seeds per cell would settle it, an optimistic projection"
            if c.seeds_to_settle
            else "not projected to settle by 10 seeds per cell"
        )
        return f"unsettled (leans {c.rule_verdict}, {rate_text(c)}; {seeds})"
    if c.verdict != c.rule_verdict:
        return f"{c.verdict} ({c.rule_verdict} before the family-wise test)"
    return c.verdict


def comparison(c: ClaimResult) -> str:
    """How its effect compares runs, in words: the pairing each row states."""
    return {
        "paired": "paired (one architecture, one option changed)",
        "welch": "unpaired, Welch (ResNet vs ViT)",
        "t": "over seeds (t)",
    }.get(c.effect.method, c.effect.method)


def scale_cell(c: ClaimResult) -> str:
    if c.verdict == "not measured":
        return ""
    return "any scale (architectural)" if c.scale == "any" else f"at {c.scale_text or 'the measured scale'}"


def settings_text(c: ClaimResult) -> str:
    """Each setting's verdict and effect, which ones differ from the headline, and by how much."""
    listed = "; ".join(
        f"{name}: {c.in_setting(name)}"
        + (f" ({effect_text(c.setting_effects[name])})" if name in c.setting_effects else "")
        for name in c.settings
    )
    differing = [name for name, verdict in c.settings.items() if verdict not in (c.rule_verdict, "not measured")]
    flips = f" **Flips** in {', '.join(differing)}." if differing else ""
    if c.by_setting:
        effects = {name: e.mean for name, e in c.setting_effects.items() if math.isfinite(e.mean)}
        low, high = min(effects, key=effects.get), max(effects, key=effects.get)
        flips += (
            f" By setting: {c.by_setting}; the effect ranges from {effects[low]:+.3g} ({low}) to "
            f"{effects[high]:+.3g} ({high}), {effects[high] - effects[low]:.3g} apart."
        )
    return f"Settings: {listed} (holds {c.holds}).{flips}"


def number(x: float) -> str:
    return "" if x is None or not math.isfinite(x) else f"{x:.6g}"


def claims_csv(claims: list[ClaimResult]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CLAIM_COLUMNS)
    for c in claims:
        e = c.effect
        writer.writerow(
            [
                c.claim_id,
                c.claim,
                c.cnn_evidence,
                c.vit_evidence,
                c.verdict + c.provisional_mark,
                number(e.mean),
                number(e.ci_low),
                number(e.ci_high),
                e.n,
                e.method if c.verdict != "not measured" else "",
                c.rule_verdict if c.verdict != "not measured" else "",
                rate_text(c) if (c.exact or c.one_run) and c.verdict != "not measured" else number(c.disagreement),
                c.seeds_to_settle or "",
                number(c.p),
                number(c.p_holm),
                scale_cell(c),
                c.at_equal_steps,
                "; ".join(f"{name}: {verdict}" for name, verdict in c.settings.items()),
                c.holds,
            ]
        )
    return buffer.getvalue()


def cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown(
    claims: list[ClaimResult],
    runs: list[Run],
    context: Context,
    experiments: dict[str, list[dict]],
    sections: Sequence[str] = (),
) -> str:
    """report.md: the claims table, a section per measured claim, then `sections` (markdown lines), the
    unmeasured claims, the probe samples and the runs."""
    lines = ["# CNN vs ViT: the notes' summary table, measured", ""]
    if any(c.provisional for c in claims):
        lines += [
            "**Provisional**: written between waves while the experiment still trains; every verdict rests on "
            "the seeds finished so far (its n) and may change when the rest finish.",
            "",
        ]
    several = len(experiments) > 1
    budgets = set()  # printed once however many of a setting's files share it
    for name, files in experiments.items():
        for index, experiment in enumerate(files):
            if not experiment:
                continue
            kind = "Setting" if several else "Experiment"
            lines += [
                (f"{kind}: " if index == 0 else f"{kind} {name}, also: ")
                + f"**{experiment.get('name', name)}**. {experiment.get('description', '')}".rstrip(),
                "",
            ]
            if experiment.get("budget") and not several and experiment["budget"] not in budgets:
                budgets.add(experiment["budget"])
                lines += [f"Budget rule: {experiment['budget']}", ""]
            if experiment.get("settle"):
                lines += [
                    f"Seeds until settled{f' ({name})' if several else ''}: "
                    f"{sequential_note(experiment['settle']['cap'])}.",
                    "",
                ]
    done = [r for r in runs if r.status == "done"]
    lines += [
        f"{len(done)} finished run(s), {len(runs) - len(done)} failed; dataset {context.dataset}; "
        f"CNN = {context.cnn_model or '—'}, ViT = {context.vit_model or '—'}. Verdicts are computed from the "
        "numbers by the rule printed in each section.",
        "",
        f"Intervals: {INTERVAL_NOTE}. Where a claim has a single run, intervals shown are the shift probe's "
        "95% normal-approximation interval over test images, and n = 1.",
        "",
        f"Rerun disagreement: {RATE_NOTE}. A verdict is supported, contradicted or inconclusive only when at "
        f"most {100 * SETTLED_AT:g}% of reruns disagree; otherwise it is unsettled, with the verdict its numbers "
        "lean to and the seeds per cell that settling.py's projection (a Bayesian bootstrap of these seeds, "
        "optimistic: benchmarks/settling_error_rates.py) says would settle it.",
        "",
        f"Family-wise control: {FAMILY_NOTE}.",
        "",
        "Scale: an architectural fact holds at any scale; a claim about data and compute is judged at the scale "
        "its runs measured (training images, parameters, tokens per image), written beside it.",
        "",
    ]
    if several:
        lines += [
            f"Settings: {', '.join(setting_label(name, files) for name, files in experiments.items())}. The verdict column is the headline, over every run of every "
            "setting (a run directory found in several counts once), followed, where the settings disagree, by "
            "which verdict holds in which; each setting's own verdict follows, and holds counts the settings "
            "that agree with the headline among those where the claim was measured. robustness.png draws "
            "each setting's verdict and effect.",
            "",
            "![robustness.png](robustness.png)",
            "",
        ]
    setting_columns = "".join(f" {name} |" for name in experiments) if several else ""
    lines += [
        f"| # | claim (as the notes state it) | CNN evidence | ViT evidence | verdict |{setting_columns}"
        f"{' holds |' if several else ''} effect [95% CI] | n | rerun disagreement | p | p_holm | scale |",
        "|---|---|---|---|---|" + "---|" * (len(experiments) + 1 if several else 0) + "---|---|---|---|---|---|",
    ]
    for c in claims:
        per_setting = "".join(f" {c.in_setting(name)} |" for name in c.settings) if several else ""
        split = f" ({c.by_setting})" if several and c.by_setting else ""
        lines.append(
            f"| {c.claim_id} | {cell(c.claim)} | {cell(c.cnn_evidence)} | "
            f"{cell(c.vit_evidence)} | **{cell(verdict_text(c))}**{c.provisional_mark}{split} |{per_setting}"
            f"{f' {c.holds} |' if several else ''} "
            f"{effect_text(c.effect)} | {c.effect.n} | {rate_cell(c)} | {p_text(c.p)} | {p_text(c.p_holm)} | "
            f"{cell(scale_cell(c))} |"
        )
    for c in claims:
        if c.verdict == "not measured":
            continue
        lines += [
            "",
            f"## {c.claim_id}. {c.claim}",
            "",
            f"**Verdict: {verdict_text(c)}{c.provisional_mark}**"
            + (f", {scale_cell(c)}" if c.scale == "measured" else "")
            + f". Effect ({c.effect_meaning}): {effect_text(c.effect)}, n = {c.effect.n} ({comparison(c)}).",
            "",
            f"Rule: {c.rule}. Rerun disagreement: {rate_text(c)}"
            + (f"; p = {p_text(c.p)}, p_holm = {p_text(c.p_holm)}" if math.isfinite(c.p_holm) else "")
            + (f". {c.reason[0].upper()}{c.reason[1:]}" if c.reason else "")
            + (f". On the equal-steps runs instead, the rule gives {c.at_equal_steps}" if c.at_equal_steps else "")
            + ".",
            "",
        ]
        if several:
            lines += [settings_text(c), ""]
        lines += [*c.details, "", *matched(c.runs)]
        if c.anchor:
            lines += ["", f"Literature: {c.anchor}"]
        lines += [f"\n![{name}]({name})" for name in c.plots]
    lines += sections
    missing = [f"- {c.claim_id}. {c.claim}: {c.rule}" for c in claims if c.verdict == "not measured"]
    if missing:
        lines += ["", "## Not measured yet", "", *missing]
    lines += probe_samples(runs)
    lines += [
        "",
        "## Runs",
        "",
        "| run | status | model | arch | fraction | seed | test accuracy | params | train MFLOPs/img | wall s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        s = r.summary
        if r.status == "done":
            lines.append(
                f"| {r.path} | done | {cell(r.label)} | {r.arch} | {s.get('fraction')} | {s.get('seed')} | "
                f"{r.accuracy():.4f} | {s.get('params', 0):,} | {s.get('train_flops_per_image', 0) / 1e6:.1f} | "
                f"{s.get('wall_time_s', 0):.0f} |"
            )
        else:
            lines.append(
                f"| {r.path} | **failed** ({cell(r.failure)}) | {cell(r.config.get('model', {}).get('name', '?'))} "
                "| | | | not averaged | | | |"
            )
    return "\n".join(lines) + "\n"


def setting_label(name: str, files: list[dict]) -> str:
    """A setting's name, with its files' where it has several: 'default (default + default-scaling)'."""
    if len(files) == 1:
        return name
    return f"{name} ({' + '.join(str(experiment.get('name', '?')) for experiment in files)})"


def probe_samples(runs: list[Run]) -> list[str]:
    """Once per probe: the test images its figures average over (size, class counts, hash), over how many runs."""
    used: dict[tuple[str, str], dict] = {}  # (probe, sample hash) -> the sample with the runs that read it
    for run in runs:
        for probe, sample in run.probe_samples.items():
            entry = used.setdefault((probe, sample["hash"]), {**sample, "runs": 0, "datasets": set()})
            entry["runs"] += 1
            entry["datasets"].add(str(run.summary.get("dataset", "?")))
    if not used:
        return []
    lines = [
        "",
        "## Probe samples",
        "",
        "Every probe reads a fixed class-stratified sample of the test split "
        "(`cnn_vs_vit/data/probe_sample.py`), the same images for every model, so each figure is a mean over "
        "all classes in proportion.",
        "",
        "| probe | dataset | images | of | class counts | sample hash | runs |",
        "|---|---|---|---|---|---|---|",
    ]
    for (probe, digest), s in sorted(used.items()):
        counts = ", ".join(f"{name}: {count}" for name, count in s["class_counts"].items())
        lines.append(
            f"| {probe} | {', '.join(sorted(s['datasets']))} | {s['size']} | {s['of']} | {cell(counts)} | "
            f"{digest} | {s['runs']} |"
        )
    return lines


def matched(runs: list[Run]) -> list[str]:
    """What the compared runs share and what differs: subsets, budget, augmentation, size, compute."""
    if not runs:
        return []
    lines = [
        "What was matched:",
        "",
        "| run | subset hash | train images | steps | batch | translate | params | train MFLOPs/img |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(runs, key=lambda run: run.path):
        s = r.summary
        lines.append(
            f"| {cell(r.label)} (seed {s.get('seed')}) | {s.get('subset_hash')} | {s.get('train_size')} | "
            f"{s.get('steps')} | {s.get('batch_size')} | {r.translate} | {s.get('params', 0):,} | "
            f"{s.get('train_flops_per_image', 0) / 1e6:.1f} |"
        )
    # CNN against ViT: a control (the bag of local features) is small by design and matched to neither.
    params = [r.summary.get("params", 0) for r in runs if r.summary.get("params") and r.family in CONTENDERS]
    # A subset is drawn by (fraction, data seed): with data seeds that follow the seeds, each seed has its own (at
    # fraction 1 every data seed draws the same images). Matched: each (fraction, data seed) has one subset.
    hashes = {(r.summary.get("fraction"), r.summary.get("data_seed"), r.summary.get("subset_hash")) for r in runs}
    same_subset = len(hashes) == len({(f, d) for f, d, _ in hashes})
    data_seeds = len({d for _, d, _ in hashes})
    per = "fraction" if data_seeds == 1 else f"fraction and data seed ({data_seeds} data seeds)"
    lines += [
        "",
        f"Same images per {per}: {'yes' if same_subset else 'NO'}; same steps: "
        f"{'yes' if len({r.summary.get('steps') for r in runs}) == 1 else 'NO'}; parameter ratio "
        f"{max(params) / min(params):.2f} (matched means within ~1.5)."
        if params
        else "",
    ]
    if data_seeds == 1 and len({f for f, _, _ in hashes}) > 1:  # a row comparing fractions (issue 28)
        lines += [
            "",
            "One data seed: which images form each fraction's subset did not vary with the seed, so the intervals "
            "leave that source of variation out (a group with data_seed_follows_seed draws each seed its own).",
        ]
    return lines
