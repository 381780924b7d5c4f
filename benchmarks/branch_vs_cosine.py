"""The branch schedule against cosine, per architecture and budget: is a wsd branch as good as a cosine run
of the same length? (issue 27: each architecture's plateau within noise of what cosine reached).

Claim checked: at every budget both studies trained, the seed-mean validation and test accuracy of the wsd
branches (one trunk per architecture, fraction and seed, a 20% linear cool-down at each budget) is within
noise of the cosine runs of that length (warm-up, then cosine to zero over the budget), i.e. the Welch 95%
interval of wsd − cosine holds 0, or lies above it. Read from two results directories, no training:

    .venv/bin/python benchmarks/branch_vs_cosine.py results/default results/archive/default-cosine

A cosine run of a budget is a finished run of that many steps: the study's cells (600 steps, the ViT's
1,473 at equal FLOPs) and the long runs of its accuracy-vs-compute curves, where they end (2,400 / 4,800
steps: the last evaluation of a run is its final model). A branch of a budget is a wsd run of that many
steps, whatever its label. Runs are matched on (model, fraction, steps), baseline options only; the two
studies' subsets differ where their data seeds do, which is part of what the interval measures.
"""

import argparse
from collections import defaultdict

from cnn_vs_vit.report import load_runs
from cnn_vs_vit.report.statistics import welch_interval


def by_budget(results_dir: str, schedule: str) -> dict[tuple[str, float, int], list]:
    """{(model, fraction, steps): [(validation, test) of each seed]} of the finished baseline runs of `schedule`."""
    found = defaultdict(list)
    for run in load_runs(results_dir):
        s = run.summary
        if run.status != "done" or not run.is_baseline or s.get("dataset") != "mnist5k":
            continue
        if (s.get("schedule") or "cosine") != schedule:
            continue
        found[run.model, float(s["fraction"]), int(s["steps"])].append(
            (float(s.get("validation_accuracy", "nan")), run.accuracy())
        )
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wsd", help="results directory of the branched study")
    parser.add_argument("cosine", help="results directory of the cosine study")
    args = parser.parse_args()
    wsd, cosine = by_budget(args.wsd, "wsd"), by_budget(args.cosine, "cosine")
    print(
        "| model | fraction | steps | seeds (wsd / cosine) | validation: wsd / cosine | wsd − cosine [95% Welch] "
        "| test: wsd / cosine | wsd − cosine [95% Welch] |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for key in sorted(set(wsd) & set(cosine)):
        a, b = wsd[key], cosine[key]
        cells = []
        for index in (0, 1):  # validation, test
            x, y = [v[index] for v in a], [v[index] for v in b]
            gap = welch_interval(x, y)
            cells.append(
                f"{100 * sum(x) / len(x):.1f}% / {100 * sum(y) / len(y):.1f}% | {100 * gap.mean:+.1f} "
                f"[{100 * gap.ci_low:+.1f}, {100 * gap.ci_high:+.1f}]"
            )
        print(f"| {key[0]} | {key[1]:g} | {key[2]:,} | {len(a)} / {len(b)} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
