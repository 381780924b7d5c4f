"""What a claim's measurement and its verdict carry: the bottom of the report's claim modules.

A claim (claim.py) measures a Context into a Measured (or a Missing: why it cannot), describes it in an
Evidence, and the framework builds the ClaimResult from them. This module imports no claim, so the imports
flow one way.
"""

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .runs import Run
from .statistics import MISSING, Estimate

# "unsettled": the rule gives a verdict that more than 10% of resampled reruns do not (stability.py)
VERDICTS = ("supported", "contradicted", "inconclusive", "not reached at this scale", "unsettled", "not measured")
POSITIVE = ("supported", "contradicted", "not reached at this scale")  # what the family-wise test must back
SCALES = ("any", "measured")  # Claim.scale

Decide = Callable[[Mapping[str, Estimate]], str]  # a rule as a pure function of its estimates

# The budget rules a study may train under (report/budget.py has their curves). Every claim is measured
# under the report's own rule (each to its plateau where the study labels a plateau budget, else equal steps:
# selection.Context.of); a claim that declares every_budget (its subject is data and compute) also under each
# other rule the runs hold, as a row "<id>-flops", "<id>-steps"..., and any other claim read at the plateau
# shows its equal-steps verdict beside it (ClaimResult.at_equal_steps).
BUDGETS = {
    "steps": "equal steps",
    "flops": "equal training FLOPs",
    "plateau": "each to its validation plateau",
}


@dataclass(frozen=True)
class Plot:
    """A figure of the report: its file name and what draws it, (Context, path) -> False when it has nothing
    to draw. The claims that show it in their section declare it; one shown by several is declared by each."""

    file: str
    draw: Callable[..., bool]


@dataclass(frozen=True)
class Missing:
    """Why a claim cannot be measured from these runs, and the evidence that is there all the same."""

    reason: str
    cnn_evidence: str = "—"
    vit_evidence: str = "—"


@dataclass(kw_only=True)
class Measured:
    """What a claim's measurement found: the estimates its rule decides on, and what its prose reads."""

    estimates: dict[str, Estimate]  # what decide reads; the flip-rate simulation redraws them
    effect: Estimate  # the effect the table shows
    runs: list[Run]  # the runs the numbers come from
    # decide's other keyword arguments, which a simulated rerun keeps (how many fractions were measured...)
    facts: dict = field(default_factory=dict)
    found: object = None  # what the claim's describe reads beside the estimates (its runs grouped, its fits)


@dataclass(kw_only=True)
class Evidence:
    """A measured claim in words: its table cells and the lines of its section."""

    cnn: str
    vit: str
    effect_meaning: str  # what the effect is, with its unit
    details: list[str]  # markdown lines for the claim's section


@dataclass(kw_only=True)
class ClaimResult:
    """One row of the claims table and the section that explains it."""

    claim_id: str
    verdict: str
    text: str = ""  # the claim as the notes state it (with the task of a variant measured on its own)
    effect: Estimate = MISSING
    cnn_evidence: str = "—"
    vit_evidence: str = "—"
    rule: str = ""  # the verdict rule in words
    effect_meaning: str = ""  # what the effect is, with its unit
    anchor: str = ""  # a literature figure to compare with
    details: list[str] = field(default_factory=list)  # markdown lines for the claim's section
    runs: list[Run] = field(default_factory=list)  # the runs the numbers come from
    figures: tuple[Plot, ...] = ()  # the plots its claim declares for its section
    plots: list[str] = field(default_factory=list)  # file names of those drawn (set by the builder)
    # The rule as a pure function of the estimates it reads: decide(estimates) is rule_verdict below.
    estimates: dict[str, Estimate] = field(default_factory=dict)
    decide: Decide | None = None
    # Set by evaluate_claims: what the rule gives on these numbers (verdict above may then say "unsettled" or,
    # failing the family-wise test, "inconclusive"), and the statistics that decide between them.
    rule_verdict: str = ""
    exact: bool = False  # Claim.exact: an architectural fact, no rate, not in the family
    # A row that varies with the seed measured without an interval over two or more runs (one seed, e.g. the
    # report between waves): no rate and not in the family either, but not exact.
    one_run: bool = False
    scale: str = "any"  # Claim.scale
    scale_text: str = ""  # for a claim about data and compute: the scale its runs measured
    disagreement: float | None = None  # share of resampled reruns with another verdict (None: exact)
    seeds_to_settle: int | None = None  # the projection's seeds per cell that settle it (unsettled rows)
    p: float = math.nan  # its rule's two-sided p-value (Claim.p_value)
    p_holm: float = math.nan  # Holm-adjusted over the family of statistical rows
    reason: str = ""  # why verdict differs from rule_verdict, in words
    settings: dict[str, str] = field(default_factory=dict)  # setting name -> its verdict (set by build_report)
    setting_effects: dict[str, Estimate] = field(default_factory=dict)  # setting name -> its effect (likewise)
    provisional: bool = False  # built between an experiment's waves (set by build_report)
    budget: str = ""  # the budget rule (a BUDGETS key) when the study holds more than one; "" otherwise
    # Under a report read at each architecture's plateau, the rule's verdict on the equal-steps runs (a
    # sensitivity of a claim whose subject is not compute; rows 5 and 9 show each rule as a row of its own).
    at_equal_steps: str = ""
    # The claim's experiment is the default study's own by nature (its own tasks, the architecture count): a
    # setting without it shows "one setting by design" rather than "not measured" (Claim.one_setting_by_design).
    one_setting_by_design: bool = False

    @property
    def provisional_mark(self) -> str:
        """' (provisional, n=1)' while the experiment still trains; '' otherwise and for unmeasured claims."""
        return f" (provisional, n={self.effect.n})" if self.provisional and self.verdict != "not measured" else ""

    @property
    def holds(self) -> str:
        """'agreeing/measured': the settings whose verdict is the headline's, among those that measured it;
        'one setting' where only one did (1/1 would read as a replication)."""
        measured = [verdict for verdict in self.settings.values() if verdict != "not measured"]
        if self.verdict == "not measured" or not measured:
            return "—"
        if len(measured) == 1:
            return "one setting"
        # a setting shows its rule's verdict (no rerun rate of its own), so it is compared with the headline's rule
        headline = self.rule_verdict or self.verdict
        return f"{sum(verdict == headline for verdict in measured)}/{len(measured)}"

    def in_setting(self, name: str) -> str:
        """The verdict of setting `name` as a report shows it."""
        verdict = self.settings.get(name, "not measured")
        return "one setting by design" if verdict == "not measured" and self.one_setting_by_design else verdict

    @property
    def by_setting(self) -> str:
        """'' when every setting that measured the claim agrees; else which verdict holds where, e.g.
        'supported on mnist5k, digits; inconclusive on shapes'."""
        named: dict[str, list[str]] = {}
        for name, verdict in self.settings.items():
            if verdict != "not measured":
                named.setdefault(verdict, []).append(name)
        return (
            "" if len(named) < 2 else "; ".join(f"{verdict} on {', '.join(names)}" for verdict, names in named.items())
        )

    def __post_init__(self):
        assert self.verdict in VERDICTS, self.verdict

    @property
    def claim(self) -> str:
        """The claim's text as the table prints it, with its budget rule where the study holds several."""
        return f"{self.text} [budget: {BUDGETS[self.budget]}]" if self.budget else self.text
