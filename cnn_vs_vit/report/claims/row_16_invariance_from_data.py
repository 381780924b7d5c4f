"""Row 16, invariance learned from data: random-translation augmentation makes the ViT's predictions more
consistent under shifts, and more so than the CNN's, whose invariance is (partly) built in. Reads the shift probe
of both architectures' runs with and without augment.translate, at one data fraction both have."""

from collections.abc import Mapping

from ..claim import Claim
from ..claim_types import Evidence, Measured, Missing
from ..formatting import fmt
from ..selection import Context, at, by_key, fractions, probed
from ..shift_results import PROBE_HINT, SHIFT_ANCHOR, consistency
from ..statistics import Estimate, difference, t_interval, welch_interval
from .rule_statistics import both_or_either, both_or_either_p, interval_p, welch_p

RULE = (
    "each architecture's gain in prediction consistency under shifts from augment.translate > 0 over "
    "augment.translate = 0 (paired over seeds: the same architecture with and without it), at the largest data "
    "fraction all four groups share; supported if the ViT's gain exceeds the CNN's (Welch 95% interval of ViT − "
    "CNN gain above 0) and the ViT's own gain is above 0 (its interval); contradicted if the ViT's gain is below "
    "the CNN's (interval below 0: the CNN learns more of its invariance from the same data) or below 0; "
    "inconclusive otherwise"
)


def decide(estimates: Mapping[str, Estimate]) -> str:
    """RULE: "effect" is ViT gain − CNN gain (Welch over the per-seed gains), "vit gain" the ViT's own."""
    return both_or_either(estimates["effect"], estimates["vit gain"])


def p_value(estimates: Mapping[str, Estimate]) -> float:
    """Two-sided p of the verdict's tests, as both_or_either_p combines them: Welch's of equal gains (from "vit
    gain" and "cnn gain", each a t interval of per-seed gains) and the t test of the ViT's own gain."""
    vit, cnn = estimates["vit gain"], estimates["cnn gain"]
    gap_test = (welch_p(vit, cnn), vit.mean - cnn.mean)
    gain_test = (interval_p(vit, vit.n - 1) if vit.n >= 2 else 1.0, vit.mean)
    return both_or_either_p(decide(estimates), gap_test, gain_test)


def measure(ctx: Context) -> Measured | Missing:
    """effect = the ViT's gain in shift consistency from random-translation augmentation − the CNN's."""
    runs = {family: probed(ctx.select(family, baseline_except=("translate",)), "shift") for family in ("cnn", "vit")}
    groups = [[r for r in runs[f] if (r.translate > 0) == augmented] for f in runs for augmented in (False, True)]
    shared = set.intersection(*(fractions(g) for g in groups)) if all(groups) else set()
    if not shared:
        return Missing(
            f"needs shift-probed ResNet and ViT runs with augment.translate=0 and > 0 at one data fraction; {PROBE_HINT}"
        )
    fraction = max(shared)
    pairs, gains, per_seed = {}, {}, {}
    for family in runs:
        plain = at([r for r in runs[family] if r.translate == 0], fraction)
        augmented = at([r for r in runs[family] if r.translate > 0], fraction)
        pairs[family] = (plain, augmented)
        with_, without = by_key(augmented, consistency), by_key(plain, consistency)
        gains[family] = difference(with_, without)
        per_seed[family] = [with_[k] - without[k] for k in sorted(set(with_) & set(without), key=repr)]
    # Unpaired across architectures (different models), paired within one (the same seeds with and without it).
    effect = welch_interval(per_seed["vit"], per_seed["cnn"])
    return Measured(
        estimates={
            "effect": effect,
            "vit gain": t_interval(per_seed["vit"]),
            "cnn gain": t_interval(per_seed["cnn"]),
        },
        effect=effect,
        runs=[run for plain, augmented in pairs.values() for run in (*plain, *augmented)],
        found=(pairs, gains, fraction),
    )


def describe(measured: Measured) -> Evidence:
    pairs, gains, fraction = measured.found

    def text(family: str) -> str:
        plain, augmented = pairs[family]
        before, after = (t_interval([consistency(r) for r in runs]).mean for runs in (plain, augmented))
        return f"consistency {before:.1%} → {after:.1%} (gain {fmt(gains[family], 3)})"

    return Evidence(
        cnn=text("cnn"),
        vit=text("vit"),
        effect_meaning="ViT − CNN gain in prediction consistency from translation augmentation (fraction of images)",
        details=[
            f"Effect: the ViT's gain in consistency under shifts from translation augmentation minus the CNN's, "
            f"at fraction {fraction:g} (each gain paired over seeds; ViT − CNN by Welch over the per-seed gains).",
            "How this differs from CLAIMS.md's sketch (the ViT's gain alone, the CNN's shown beside it): a gain of "
            "the ViT's alone cannot say that the ViT *must* learn from data what the CNN has built in; the CNN "
            "gains from the same augmentation too. The rule compares both gains: the claim holds when the ViT "
            "depends more on the data for its invariance. The consistency without augmentation (each "
            "architecture's built-in share) is shown beside the gains.",
        ],
    )


CLAIM = Claim(
    id="16",
    scale="measured",
    text="ViT must learn translation invariance from data",
    measure=measure,
    decide=decide,
    rule=RULE,
    describe=describe,
    p_value=p_value,
    anchor=SHIFT_ANCHOR,
    probes=("shift",),
    groups=("augmentation", "shift_probed"),
)
