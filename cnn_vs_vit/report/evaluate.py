"""evaluate_claims: every claim of the registry (claims/) measured on one set of runs, in the table's order.

Each claim's row comes first, then its variants that were measured (claim.Variant) and, for a claim whose
subject is data and compute, one row per other budget rule the runs hold. A claim that reads others is
measured after them, on their results.
"""

from .claim import Claim, Variant
from .claim_types import ClaimResult
from .claims import CLAIMS
from .runs import Run
from .selection import Context
from .stability import flip_rate

# Context is re-exported: callers that evaluate claims build the Context the claims read.
__all__ = ["Context", "evaluate_claims"]


def evaluate_claims(runs: list[Run]) -> list[ClaimResult]:
    """Every claim's result, in the order of the registry ("not measured" where the runs lack what it needs)."""
    context = Context.of(runs)
    budgets = context.budgets()
    own: dict[str, ClaimResult] = {}  # claim id -> its own row, measured once (others may read it first)

    def measured(claim: Claim) -> ClaimResult:
        if claim.id not in own:
            own[claim.id] = claim.result(context, *map(measured, claim.reads))
        return own[claim.id]

    table = []
    for claim in CLAIMS:
        read = [measured(other) for other in claim.reads]
        variants = [claim.result(context, *read, variant=variant) for variant in claim.variants]
        variants = [result for result in variants if result.verdict != "not measured"]
        if claim.every_budget:
            variants += [
                claim.result(context.under(budget), *read, variant=Variant(suffix=budget, budget=budget))
                for budget in budgets[1:]
            ]
        if any(result.budget for result in variants):  # another rule's row beside it: this one is equal steps
            measured(claim).budget = "steps"
        table += [measured(claim), *variants]
    for result in table:
        if result.decide is not None:
            result.flip_rate = flip_rate(result.decide, result.estimates)
    return table
