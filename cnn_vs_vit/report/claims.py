"""The 16 claims of CLAIMS.md and what a verdict carries.

Each measured claim's verdict rule lives next to its metric: rows 5, 9, 11, 12 in
accuracy_claims.py, rows 2, 14, 15, 16 in shift_claims.py, rows 1, 4, 6, 7, 8, 10, 13 in
probe_claims.py (7 and 10 are structural: counted from the built models), rows 3 and 3-relational in
context_claims.py.
`evaluate_claims` runs them all.
"""

import dataclasses
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .runs import Run, reference_model
from .stability import flip_rate
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


@dataclass
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
    decide: Callable[[Mapping[str, Estimate]], str] | None = None
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
        return "one setting by design" if verdict == "not measured" and self.claim_id in ONE_SETTING_BY_DESIGN else verdict

    @property
    def by_setting(self) -> str:
        """'' when every setting that measured the claim agrees; else which verdict holds where, e.g.
        'supported on mnist5k, digits; inconclusive on shapes'."""
        named: dict[str, list[str]] = {}
        for name, verdict in self.settings.items():
            if verdict != "not measured":
                named.setdefault(verdict, []).append(name)
        return "" if len(named) < 2 else "; ".join(f"{verdict} on {', '.join(names)}" for verdict, names in named.items())

    def __post_init__(self):
        assert self.verdict in VERDICTS, self.verdict

    @property
    def claim(self) -> str:
        base, _, variant = self.claim_id.partition("-")
        text = CLAIM_TEXT[base] + (f" [{TASK_VARIANTS[variant]}]" if variant in TASK_VARIANTS else "")
        return f"{text} [budget: {BUDGETS[self.budget]}]" if self.budget else text


@dataclass
class Context:
    """The finished runs and the CNN/ViT models the CNN-vs-ViT rows compare."""

    runs: list[Run]
    cnn_model: str | None
    vit_model: str | None
    dataset: str | None
    all_runs: list[Run] = field(default_factory=list)  # finished runs of every dataset (row 3 has its own task)
    budget: str = "steps"  # the budget rule whose runs select() returns (a BUDGETS key)

    @classmethod
    def of(cls, runs: list[Run]) -> "Context":
        """Finished runs of the most common dataset (claims never mix datasets), and the reference models."""
        finished = [run for run in runs if run.status == "done"]
        datasets = Counter(str(run.summary.get("dataset")) for run in finished if run.arch in ("resnet", "vit"))
        dataset = sorted(datasets.items(), key=lambda item: (-item[1], item[0]))[0][0] if datasets else None
        done = [run for run in finished if str(run.summary.get("dataset")) == dataset]
        cnn, vit = reference_model(done, "resnet", "resnet-s"), reference_model(done, "vit", "vit-s")
        return cls(done, cnn, vit, dataset, finished)

    def select(self, arch: str, *, baseline_except: tuple[str, ...] | None = (), model: bool = True) -> list[Run]:
        """Finished runs of `arch` (of the reference model when `model`), baseline apart from `baseline_except`."""
        name = self.cnn_model if arch == "resnet" else self.vit_model
        chosen = [r for r in self.runs if r.arch == arch and (not model or r.model == name) and self.in_budget(r)]
        if baseline_except is not None:
            chosen = [r for r in chosen if r.is_baseline_except(*baseline_except)]
        return chosen


    def in_budget(self, run: Run) -> bool:
        """Whether `run` trained under this context's budget rule. Equal steps: the runs as the study sized
        them. Equal FLOPs: the ViT's runs sized to the CNN's training FLOPs (train.match_flops), the CNN's own
        runs as they are. Plateau: the long runs evaluated along the way (train.eval_every)."""
        if self.budget == "plateau":
            return run.evaluations is not None
        if run.evaluations is not None:
            return False
        if self.budget == "flops" and run.arch != "resnet":
            return run.match_flops is not None and run.match_flops == self.cnn_model
        return run.match_flops is None

    def budgets(self) -> list[str]:
        """The budget rules this context's runs hold a ViT for, equal steps first."""
        return [b for b in BUDGETS if any(self.under(b).in_budget(r) for r in self.runs if r.arch == "vit")]

    def under(self, budget: str) -> "Context":
        return dataclasses.replace(self, budget=budget)


def not_measured(claim_id: str, reason: str, **extra) -> ClaimResult:
    return ClaimResult(claim_id, "not measured", details=[f"Not measured: {reason}."], rule=reason, **extra)


def evaluate_claims(runs: list[Run]) -> list[ClaimResult]:
    """Every claim's result, in the order of CLAIMS ("not measured" where the runs lack what a rule needs)."""
    from .accuracy_claims import data_efficiency, learned_vs_sincos, cls_vs_mean, scalability
    from .context_claims import global_context
    from .probe_claims import (architecture_complexity, dynamic_mixing, inductive_bias, receptive_field,
                               multimodal, resolution_change, transfer_learning)  # fmt: skip
    from .shift_claims import (equivariance, patch_composition, cause_attention, cause_patchify,
                               cause_positional_embedding, invariance_from_data)  # fmt: skip

    measured = {"2": equivariance, "3": global_context, "4": receptive_field, "5": scalability, "6": dynamic_mixing,
                "7": architecture_complexity, "9": data_efficiency, "11": learned_vs_sincos, "12": cls_vs_mean,
                "8": transfer_learning, "10": multimodal, "13": resolution_change, "14": patch_composition,
                "15a": cause_patchify, "15b": cause_positional_embedding, "15c": cause_attention,
                "16": invariance_from_data}  # fmt: skip
    context = Context.of(runs)
    results = {claim_id: rule(context) for claim_id, rule in measured.items()}
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
