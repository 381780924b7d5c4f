"""evaluate_claims: every claim of the registry (claims/) measured on one set of runs, in the table's order, with
the statistics that say how far each verdict can be taken.

Each claim's row comes first, then its variants that were measured (claim.Variant) and, for a claim whose
subject is data and compute, one row per other budget rule the runs hold. A claim that reads others is
measured after them, on their results. Then, for every row that is not exact (Claim.exact) and has an
interval over two or more runs (not `one_run`):
- its rerun-disagreement rate (stability.py): over 10%, the row is "unsettled", with the verdict its numbers
  lean to and the seeds per cell settling.py's projection says would settle it;
- its p-value (Claim.p_value), Holm-adjusted over the family of every such row (multiplicity.holm): a
  supported, contradicted or "not reached" verdict whose adjusted p is 0.05 or more becomes inconclusive.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

from . import settling
from .claim import Claim, Variant
from .claim_types import POSITIVE, ClaimResult
from .claims import CLAIMS
from .multiplicity import holm
from .resampling import replicate_key
from .runs import CONTENDERS, Run
from .selection import Context
from .stability import Rerun, disagreements, stratum

# Context is re-exported: callers that evaluate claims build the Context the claims read.
__all__ = ["Context", "evaluate_claims"]

ALPHA = 0.05  # the family-wise level
# Simulated studies per projected seed count (settling.projected): few, since each re-measures the row on a
# study of n' seeds per cell; a 10% rate known to ±5.5% (one sd), enough to size a wave, not to state a verdict.
PROJECTION_DRAWS = 30
FAMILY_NOTE = (
    "p is each rule's two-sided p-value (that of its effect's interval; for a rule needing several intervals, "
    "the largest of theirs), p_holm its Holm adjustment over the family of every row with a rerun rate (every "
    "measured row but the exact ones, variants and budget rules included), so that the chance of any false "
    "supported or contradicted verdict in the table stays at most 5% whatever the dependence between rows; a "
    "verdict other than inconclusive needs p_holm < 0.05"
)


@dataclass(frozen=True, eq=False)
class Row:
    """One row of the table: a claim, measured as itself, as one of its variants, or under another budget."""

    claim: Claim
    variant: Variant | None = None
    under: str = ""  # the budget rule whose context it is measured on ("": the report's own)

    @property
    def id(self) -> str:
        return self.claim.id + (f"-{self.variant.suffix}" if self.variant else "")


def evaluate_claims(runs: list[Run], *, rates: bool = True) -> list[ClaimResult]:
    """Every claim's result, in the order of the registry ("not measured" where the runs lack what it needs);
    with `rates` (a report's headline), the rerun rates, p-values and the verdicts they settle; without, the
    rules' verdicts alone (a setting of a robustness report, which only shows them)."""
    context = Context.of(runs)
    budgets = context.budgets()
    rows: list[Row] = []
    own: dict[str, ClaimResult] = {}  # claim id -> its own row, measured once (others may read it first)

    def measured(claim: Claim) -> ClaimResult:
        if claim.id not in own:
            own[claim.id] = claim.result(context, *map(measured, claim.reads))
        return own[claim.id]

    steps: dict[str, ClaimResult] = {}  # claim id -> its row on the equal-steps runs (a sensitivity)

    def on_equal_steps(claim: Claim) -> ClaimResult:
        if claim.id not in steps:
            steps[claim.id] = claim.result(context.under("steps"), *map(on_equal_steps, claim.reads))
        return steps[claim.id]

    def at_equal_steps(claim: Claim) -> str:
        """The rule's verdict on the equal-steps runs (no rerun rate nor family: a sensitivity, not a verdict)."""
        return on_equal_steps(claim).rule_verdict

    table = []
    for claim in CLAIMS:
        read = [measured(other) for other in claim.reads]
        variants = [(Row(claim, v), claim.result(context, *read, variant=v)) for v in claim.variants]
        variants = [(row, result) for row, result in variants if result.verdict != "not measured"]
        if claim.every_budget:
            for budget in budgets[1:]:
                v = Variant(suffix=budget, budget=budget)
                variants.append((Row(claim, v, budget), claim.result(context.under(budget), *read, variant=v)))
        elif context.budget != "steps" and "steps" in budgets:
            measured(claim).at_equal_steps = at_equal_steps(claim)
        if any(result.budget for _, result in variants):  # another rule's row beside it: this one is the report's
            measured(claim).budget = context.budget
        table += [measured(claim), *(result for _, result in variants)]
        rows += [Row(claim), *(row for row, _ in variants)]
    for result in table:
        result.one_run = not result.exact and not any(e.has_interval and e.n >= 2 for e in result.estimates.values())
        if result.scale == "measured" and result.runs:
            result.scale_text = scale_text(result.runs)
    if rates:
        settle(table, rows, runs)
    return table


def settle(table: list[ClaimResult], rows: list[Row], runs: list[Run]) -> None:
    """Rerun rates, projections, p-values and Holm for the statistical rows of `table`, and their verdicts."""
    by_id = {result.claim_id: result for result in table}
    statistical = [
        row
        for row in rows
        if by_id[row.id].verdict != "not measured" and not (by_id[row.id].exact or by_id[row.id].one_run)
    ]
    reruns = [
        Rerun(row.id, frozenset(replicates_read(by_id[row.id], by_id)), light(row), row.claim.resamples)
        for row in statistical
    ]
    for row_id, rate in disagreements(reruns, by_id, runs).items():
        by_id[row_id].disagreement = rate
    family = [by_id[row.id] for row in statistical]
    for result, adjusted in zip(family, holm([_finite(r.p) for r in family]) if family else []):
        result.p_holm = adjusted
    for row, result in zip(statistical, family):
        if result.disagreement > settling.SETTLED_AT:
            result.verdict = "unsettled"
            result.seeds_to_settle = projected_seeds(row, result, runs)
            result.reason = (
                f"{100 * result.disagreement:.1f}% of resampled reruns give another verdict than the rule's "
                f"{result.rule_verdict} (settled at <= {100 * settling.SETTLED_AT:g}%)"
            )
        elif result.rule_verdict in POSITIVE and not result.p_holm < ALPHA:
            result.verdict = "inconclusive"
            result.reason = (
                f"the rule gives {result.rule_verdict} (p = {result.p:.3g}), but not over the family of "
                f"{len(family)} rows: p_holm = {result.p_holm:.3g} >= {ALPHA:g}"
            )


def _finite(p: float) -> float:
    """A row's p for the family; a rule without one (no interval to invert) is counted as p = 1."""
    return p if math.isfinite(p) else 1.0


def light(row: Row) -> Callable[[Context, dict], str]:
    """The verdict of `row` on a resampled context, with the light results of the rows it reads on the same one
    (kept in `results` for every row that reads them)."""

    def verdict(ctx: Context, results: dict) -> str:
        return _light(row, ctx, results).verdict

    return verdict


def _light(row: Row, ctx: Context, results: dict) -> ClaimResult:
    if row.id not in results:
        read = [_light(Row(other), ctx, results) for other in row.claim.reads]
        results[row.id] = row.claim.verdict_on(ctx.under(row.under) if row.under else ctx, *read, variant=row.variant)
    return results[row.id]


def runs_read(result: ClaimResult, by_id: dict[str, ClaimResult]) -> list[Run]:
    """The runs a row reads, with those of the rows it reads ("<row>:<key>" estimates)."""
    found = list(result.runs)
    for key in result.estimates:
        row = key.split(":")[0] if ":" in key else None
        if row in by_id:
            found += runs_read(by_id[row], by_id)
    return found


def replicates_read(result: ClaimResult, by_id: dict[str, ClaimResult]) -> set[tuple]:
    """The replicates (data seed, architecture, seed) of the runs a row reads (runs_read)."""
    return {replicate_key(run, stratum) for run in runs_read(result, by_id)}


def projected_seeds(row: Row, result: ClaimResult, runs: list[Run]) -> int | None:
    """settling.py's projection for an unsettled row: the smallest seeds per cell (up to settling.CAP) whose
    simulated studies give one verdict 90% of the time; None beyond the cap."""

    def decide_from_runs(study: list[Run]) -> str:
        return light(row)(Context.of(study), {})

    seeds = settling.seeds_per_cell(runs, stratum)
    for n_seeds in range(seeds + 1, settling.CAP + 1):
        _, rate = settling.projected(decide_from_runs, runs, n_seeds, PROJECTION_DRAWS, independent_by=stratum)
        if rate <= settling.SETTLED_AT:
            return n_seeds
    return None


def scale_text(runs: list[Run]) -> str:
    """The scale the runs measured: training images, parameters per architecture, ViT tokens per image."""
    sizes = sorted({int(run.summary["train_size"]) for run in runs if run.summary.get("train_size")})
    params = {
        family: sorted({int(r.summary["params"]) for r in runs if r.family == family and r.summary.get("params")})
        for family in CONTENDERS
    }
    tokens = sorted({int(r.summary["tokens"]) for r in runs if r.family == "vit" and r.summary.get("tokens")})
    parts = [f"{_span(sizes, '{:,}')} training images"] if sizes else []
    parts += [
        f"{family.upper() if family == 'cnn' else 'ViT'} {_span(p, '{:.2g}', 1e6)}M params"
        for family, p in params.items()
        if p
    ]
    parts += [f"{_span(tokens, '{}')} tokens per image"] if tokens else []
    return ", ".join(parts)


def _span(values: list, spec: str, unit: float = 1) -> str:
    low, high = (spec.format(v / unit if unit != 1 else v) for v in (values[0], values[-1]))
    return low if low == high else f"{low}–{high}"
