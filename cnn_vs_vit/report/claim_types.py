"""What a claim's verdict carries, and the words every rule shares: the bottom of the report's claim modules.

The rule modules (accuracy_claims.py, shift_claims.py, probe_claims.py, context_claims.py) build ClaimResults;
claims.py lists them. This module imports none of them, so the imports flow one way.
"""

from dataclasses import dataclass, field

from .runs import Run
from .stability import Decide
from .statistics import MISSING, Estimate

VERDICTS = ("supported", "contradicted", "inconclusive", "not reached at this scale", "not measured")

# (id, the claim as the notes state it); 15 is split into its three named causes.
CLAIMS = [
    ("1", "Inductive bias: CNN strong (locality, translation equivariance); ViT weak, learns everything from data"),
    ("2", "Translation equivariance: CNN yes (built-in); ViT no (broken by patching + positional embeddings)"),
    ("3", "Global context: CNN hard, large depth needed; ViT immediate global self-attention"),
    ("4", "Receptive field: CNN grows slowly; ViT global from the first layer"),
    ("5", "Scalability: CNN saturates when scaled; ViT scales extremely well with data/compute"),
    ("6", "Dynamic interactions: CNN fixed convolution kernels; ViT dynamic token-to-token attention"),
    ("7", "Architecture complexity: CNN requires manual design (kernels, pooling); ViT simple repeated blocks"),
    ("8", "Transfer learning: CNN moderate, mostly vision-only; ViT excellent, cross-modal + large-scale"),
    ("9", "Data efficiency: CNN strong for small data; ViT weak for small data, needs large pretraining"),
    ("10", "Multimodal compatibility: CNN not natural; ViT natural (same Transformer backbone as NLP)"),
    ("11", "Learned positional embeddings beat sinusoidal ones"),
    ("12", "The [CLS] token is better than average pooling"),
    ("13", "Resolution changes need positional-embedding interpolation"),
    ("14", "Even 1–2 px shifts change the patch composition"),
    ("15a", "Equivariance is broken by patchify"),
    ("15b", "Equivariance is broken by positional embeddings"),
    ("15c", "Equivariance is broken by global attention"),
    ("16", "ViT must learn translation invariance from data"),
    ("17", "ViT representations are more uniform across depth than a ResNet's (Raghu et al. 2021)"),
]
CLAIM_TEXT = dict(CLAIMS)

# The budget rules a study may train under (report/budget.py has their curves). Every claim is measured
# under equal steps; rows 5 and 9, whose subject is data and compute, also under each other rule the
# runs hold, as rows "5-flops", "9-plateau"...
BUDGETS = {
    "steps": "equal steps",
    "flops": "equal training FLOPs",
    "plateau": "each to its validation plateau",
}
# Rows whose experiment is the default study's own by nature: the reach and relational tasks, the architecture
# count (the same models whatever the data) and the multimodal check. In a report over several settings, a
# setting without them shows "one setting by design" rather than "not measured".
ONE_SETTING_BY_DESIGN = ("3", "3-plateau", "3-relational", "7", "10")
# Rows measured a second time on a task of their own, as "3-relational" (report/context_claims.py).
TASK_VARIANTS = {"relational": "task: a same/different relation, global-context"}


@dataclass(kw_only=True)
class ClaimResult:
    """One row of the claims table and the section that explains it."""

    claim_id: str
    verdict: str
    effect: Estimate = MISSING
    cnn_evidence: str = "—"
    vit_evidence: str = "—"
    rule: str = ""  # the verdict rule in words
    effect_meaning: str = ""  # what the effect is, with its unit
    anchor: str = ""  # a literature figure to compare with
    details: list[str] = field(default_factory=list)  # markdown lines for the claim's section
    runs: list[Run] = field(default_factory=list)  # the runs the numbers come from
    plots: list[str] = field(default_factory=list)  # file names of its plots (set by the builder)
    # The rule as a pure function of the estimates it reads, so that stability.flip_rate can rerun it on
    # simulated estimates: decide(estimates) is the verdict above.
    estimates: dict[str, Estimate] = field(default_factory=dict)
    decide: Decide | None = None
    flip_rate: float | None = None  # set by evaluate_claims
    settings: dict[str, str] = field(default_factory=dict)  # setting name -> its verdict (set by build_report)
    setting_effects: dict[str, Estimate] = field(default_factory=dict)  # setting name -> its effect (likewise)
    provisional: bool = False  # built between an experiment's waves (set by build_report)
    budget: str = ""  # the budget rule (a BUDGETS key) when the study holds more than one; "" otherwise

    @property
    def provisional_mark(self) -> str:
        """' (provisional, n=1)' while the experiment still trains; '' otherwise and for unmeasured claims."""
        return f" (provisional, n={self.effect.n})" if self.provisional and self.verdict != "not measured" else ""

    @property
    def holds(self) -> str:
        """'agreeing/measured': the settings whose verdict is the headline's, among those that measured it."""
        measured = [verdict for verdict in self.settings.values() if verdict != "not measured"]
        if self.verdict == "not measured" or not measured:
            return "—"
        return f"{sum(verdict == self.verdict for verdict in measured)}/{len(measured)}"

    def in_setting(self, name: str) -> str:
        """The verdict of setting `name` as a report shows it."""
        verdict = self.settings.get(name, "not measured")
        return (
            "one setting by design" if verdict == "not measured" and self.claim_id in ONE_SETTING_BY_DESIGN else verdict
        )

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
        base, _, variant = self.claim_id.partition("-")
        text = CLAIM_TEXT[base] + (f" [{TASK_VARIANTS[variant]}]" if variant in TASK_VARIANTS else "")
        return f"{text} [budget: {BUDGETS[self.budget]}]" if self.budget else text


def not_measured(claim_id: str, reason: str, **extra) -> ClaimResult:
    return ClaimResult(
        claim_id=claim_id, verdict="not measured", details=[f"Not measured: {reason}."], rule=reason, **extra
    )
