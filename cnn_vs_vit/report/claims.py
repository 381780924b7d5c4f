"""The registry: every claim of CLAIMS.md and the rule that measures it, run by `evaluate_claims`.

Each measured claim's verdict rule lives next to its metric: rows 5, 9, 11, 12 in
accuracy_claims.py, rows 2, 14, 15, 16 in shift_claims.py, rows 1, 4, 6, 7, 8, 10, 13 in
probe_claims.py (7 and 10 are structural: counted from the built models), rows 3 and 3-relational in
context_claims.py, row 17 (layer similarity) in similarity_claims.py. What a result carries is in
claim_types.py, which no rule module's import leads back here from; the run selection the rules share is in
selection.py.
"""

from .accuracy_claims import cls_vs_mean, data_efficiency, learned_vs_sincos, scalability
from .claim_types import CLAIMS, ClaimResult
from .context_claims import global_context
from .probe_claims import (
    architecture_complexity,
    dynamic_mixing,
    inductive_bias,
    multimodal,
    receptive_field,
    resolution_change,
    transfer_learning,
)
from .runs import Run
from .selection import Context
from .shift_claims import (
    cause_attention,
    cause_patchify,
    cause_positional_embedding,
    equivariance,
    invariance_from_data,
    patch_composition,
)
from .similarity_claims import layer_similarity
from .stability import flip_rate

# Context is re-exported: callers that evaluate claims build the Context the rules read.
__all__ = ["Context", "evaluate_claims"]

# The rules that read one Context, by row; row 1 rests on rows 2 and 9 and is run after them.
MEASURED = {
    "2": equivariance,
    "3": global_context,
    "4": receptive_field,
    "5": scalability,
    "6": dynamic_mixing,
    "7": architecture_complexity,
    "9": data_efficiency,
    "11": learned_vs_sincos,
    "12": cls_vs_mean,
    "8": transfer_learning,
    "10": multimodal,
    "13": resolution_change,
    "14": patch_composition,
    "15a": cause_patchify,
    "15b": cause_positional_embedding,
    "15c": cause_attention,
    "16": invariance_from_data,
    "17": layer_similarity,
}


def evaluate_claims(runs: list[Run]) -> list[ClaimResult]:
    """Every claim's result, in the order of CLAIMS ("not measured" where the runs lack what a rule needs)."""
    context = Context.of(runs)
    results = {claim_id: rule(context) for claim_id, rule in MEASURED.items()}
    results["1"] = inductive_bias(context, results["2"], results["9"])  # row 1 rests on rows 2 and 9
    budgets = context.budgets()
    order = [claim_id for claim_id, _ in CLAIMS]
    for extra in ("3-plateau", "3-relational"):  # a study without their runs has no such rows
        result = global_context(context, extra)
        if result.verdict != "not measured":
            results[extra], result.budget = result, "plateau" if extra.endswith("plateau") else ""
            order.insert(order.index("3") + 1 + ("3-plateau" in order), extra)
    if "3-plateau" in results:
        results["3"].budget = "steps"
    if len(budgets) > 1:  # rows 5 and 9 under every rule the study trained for
        for claim_id, rule in (("5", scalability), ("9", data_efficiency)):
            results[claim_id].budget = "steps"
            for budget in budgets[1:]:
                labelled = f"{claim_id}-{budget}"
                results[labelled] = rule(context.under(budget))
                results[labelled].claim_id, results[labelled].budget = labelled, budget
                order.insert(order.index(claim_id) + budgets.index(budget), labelled)
    for claim in results.values():
        if claim.decide is not None:
            assert claim.decide(claim.estimates) == claim.verdict, claim.claim_id  # the rule and its decide agree
            claim.flip_rate = flip_rate(claim.decide, claim.estimates)
    return [results[claim_id] for claim_id in order]
