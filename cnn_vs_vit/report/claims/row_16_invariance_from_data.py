"""Row 16, invariance learned from data: random-translation augmentation makes the ViT's predictions more
consistent under shifts. Reads the shift probe of runs with and without augment.translate."""

from ..claim import Claim
from ..claim_types import Evidence, Measured, Missing
from ..formatting import fmt
from ..runs import Run
from ..selection import Context, at, by_key, largest_shared_fraction, probed
from ..shift_results import PROBE_HINT, SHIFT_ANCHOR, consistency
from ..statistics import difference, sign_rule, t_interval

RULE = (
    "supported if the ViT's prediction consistency under shifts gains from augment.translate > 0 over "
    "augment.translate = 0 with a 95% interval above 0; contradicted if below 0; the CNN's gain is shown beside it"
)  # decided by statistics.sign_rule


def measure(ctx: Context) -> Measured | Missing:
    """effect = the ViT's gain in shift consistency from random-translation augmentation."""
    gains, texts, used = {}, {}, []
    for family in ("cnn", "vit"):
        pair = translation_pair(ctx, family)
        if pair is None:
            texts[family] = "— (needs runs with augment.translate=0)"
            continue
        plain, augmented = pair
        gains[family] = difference(by_key(augmented, consistency), by_key(plain, consistency))
        texts[family] = (
            f"consistency {t_interval([consistency(r) for r in plain]).mean:.1%} → "
            f"{t_interval([consistency(r) for r in augmented]).mean:.1%} (gain {fmt(gains[family], 3)})"
        )
        used += plain + augmented
    if "vit" not in gains:
        return Missing(
            f"needs probed ViT runs with augment.translate=0 and > 0; {PROBE_HINT}", cnn_evidence=texts["cnn"]
        )
    return Measured(estimates={"effect": gains["vit"]}, effect=gains["vit"], runs=used, found=texts)


def describe(measured: Measured) -> Evidence:
    return Evidence(
        cnn=measured.found["cnn"],
        vit=measured.found["vit"],
        effect_meaning="gain in prediction consistency (fraction of images)",
        details=[
            f"Effect: ViT consistency with translation augmentation minus without ({measured.effect.method} "
            "comparison)."
        ],
    )


def translation_pair(ctx: Context, family: str) -> tuple[list[Run], list[Run]] | None:
    """(runs without, runs with translation augmentation) of `family`, shift-probed, otherwise at baseline, at
    the largest fraction both have; None when one side is missing."""
    runs = probed(ctx.select(family, baseline_except=("translate",)), "shift")
    augmented, plain = [r for r in runs if r.translate > 0], [r for r in runs if r.translate == 0]
    fraction = largest_shared_fraction(augmented, plain) if augmented and plain else None
    if fraction is None:
        return None
    return at(plain, fraction), at(augmented, fraction)


CLAIM = Claim(
    id="16",
    scale="measured",
    text="ViT must learn translation invariance from data",
    measure=measure,
    decide=sign_rule,
    rule=RULE,
    describe=describe,
    anchor=SHIFT_ANCHOR,
    probes=("shift",),
    groups=("augmentation", "shift_probed"),
)
