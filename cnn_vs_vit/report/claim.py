"""A claim row as a plugin: what it reads, how it measures, how it decides, what it says.

Each row of the notes' table is one module, cnn_vs_vit/report/claims/row_<NN>_<subject>.py, exporting
CLAIM = Claim(...); claims/__init__.py lists them in the table's order. A Claim's `measure` selects its runs
from a Context and computes its estimates (or says, as a Missing, what it lacks); `decide` is its rule, a
pure function of those estimates (stability.py reruns measure and decide on resampled runs); `describe` writes
the measurement in words. `result` below builds every ClaimResult from them the same way, so that a row holds
its rule, its numbers and its prose, and nothing else.
"""

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial

from .claim_types import SCALES, ClaimResult, Evidence, Measured, Missing, Plot
from .pvalues import effect_p
from .selection import Context
from .statistics import Estimate

__all__ = ["Claim", "Plot", "Variant"]  # Plot re-exported: a claim module declares its figures with it


@dataclass(frozen=True, kw_only=True)
class Variant:
    """A claim measured a second way, shown as its own row "<id>-<suffix>" beside the claim when measured:
    on a task of its own (`task`, written after the claim's text) or under another budget rule (`budget`)."""

    suffix: str
    options: Mapping[str, object] = field(default_factory=dict)  # the claim's measure's keyword arguments
    task: str = ""
    budget: str = ""  # a BUDGETS key; a variant with one labels the claim's own row "equal steps"
    rule: str = ""  # its rule in words where the task changes it ("": the claim's)
    plots: tuple[Plot, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Claim:
    """One row of the notes' table: its id and text, what it reads, its rule and its words."""

    id: str
    text: str  # the claim as the notes state it
    # (context, *the results of `reads`, **a variant's options) -> the measurement, or what is missing
    measure: Callable[..., Measured | Missing]
    decide: Callable[..., str]  # (estimates, **Measured.facts) -> a verdict: the rule `rule` states
    rule: str
    describe: Callable[[Measured], Evidence]
    anchor: str = ""  # a literature figure to compare with
    probes: tuple[str, ...] = ()  # the probes whose results it reads (probes.PROBES)
    groups: tuple[str, ...] = ()  # the experiment groups whose runs it reads (default*.yaml)
    reads: tuple["Claim", ...] = ()  # other claims whose results its measure takes (evaluated first)
    plots: tuple[Plot, ...] = ()
    variants: tuple[Variant, ...] = ()  # shown only where measured
    # Its subject is data and compute: measured again under every other budget rule the runs hold, as rows
    # "<id>-<budget>" (shown measured or not, so that each rule's row stands beside the others).
    every_budget: bool = False
    one_setting_by_design: bool = False  # see ClaimResult.one_setting_by_design
    # What holds its verdict: "any" (an architectural fact, true at any scale) or "measured" (about data and
    # compute: true at the scale the runs measured, which the report states). Every claim says which.
    scale: str
    # An architectural fact computed exactly (a count from the built models, an error that is 0 by a symmetry or
    # is not): its verdict does not move with the seeds, so it has no rerun rate and is not in the family.
    exact: bool = False
    # Its rule's two-sided p-value, from the estimates decide reads (pvalues.all_of for compound rules; a contradiction any of whose tests suffices, Bonferroni);
    # by default that of "effect", the sign rule's.
    p_value: Callable[[Mapping[str, Estimate]], float] = effect_p
    # At most this many resamples measure its rerun rate (stability.limited; 0: every one), for a claim whose
    # measure is costly: row 5 refits 400 power laws per measure, 2.4 s for its two budget rows.
    resamples: int = 0

    def __post_init__(self):
        assert self.scale in SCALES, f"claim {self.id}: scale {self.scale!r} is one of {SCALES}"

    @property
    def figures(self) -> tuple[Plot, ...]:
        """Every plot it and its variants declare."""
        return (*self.plots, *(plot for variant in self.variants for plot in variant.plots))

    def result(self, ctx: Context, *read: ClaimResult, variant: Variant | None = None) -> ClaimResult:
        """This claim (or its `variant`) measured on `ctx`, with `read` the results of `reads`, in order."""
        suffix = f"-{variant.suffix}" if variant else ""
        task = f" [{variant.task}]" if variant and variant.task else ""
        common = {
            "claim_id": self.id + suffix,
            "text": self.text + task,
            "budget": variant.budget if variant else "",
            "one_setting_by_design": self.one_setting_by_design,
            "figures": variant.plots if variant else self.plots,
        }
        measured = self.measure(ctx, *read, **(variant.options if variant else {}))
        statistical = {"exact": self.exact, "scale": self.scale}
        if isinstance(measured, Missing):
            return ClaimResult(
                verdict="not measured",
                rule_verdict="not measured",
                details=[f"Not measured: {measured.reason}."],
                rule=measured.reason,
                cnn_evidence=measured.cnn_evidence,
                vit_evidence=measured.vit_evidence,
                **statistical,
                **common,
            )
        decide = partial(self.decide, **measured.facts) if measured.facts else self.decide
        verdict = decide(measured.estimates)
        evidence = self.describe(measured)
        return ClaimResult(
            verdict=verdict,
            rule_verdict=verdict,
            effect=measured.effect,
            cnn_evidence=evidence.cnn,
            vit_evidence=evidence.vit,
            rule=(variant.rule if variant else "") or self.rule,
            effect_meaning=evidence.effect_meaning,
            anchor=self.anchor,
            details=evidence.details,
            runs=measured.runs,
            estimates=measured.estimates,
            decide=decide,
            # a rule that finds its inputs unfit to decide on (row 5: a floor under a fixed budget) tests nothing
            p=self.p_value(measured.estimates) if verdict != "not measured" else math.nan,
            **statistical,
            **common,
        )

    def verdict_on(self, ctx: Context, *read: ClaimResult, variant: Variant | None = None) -> ClaimResult:
        """Its rule's verdict on `ctx` (a resampled study) with what a row that reads it needs (estimates,
        decide), and no prose: describe is the costly, unread part of a resample."""
        measured = self.measure(ctx, *read, **(variant.options if variant else {}))
        claim_id = self.id + (f"-{variant.suffix}" if variant else "")
        if isinstance(measured, Missing):
            return ClaimResult(claim_id=claim_id, verdict="not measured")
        decide = partial(self.decide, **measured.facts) if measured.facts else self.decide
        estimates = measured.estimates
        return ClaimResult(claim_id=claim_id, verdict=decide(estimates), estimates=estimates, decide=decide)
