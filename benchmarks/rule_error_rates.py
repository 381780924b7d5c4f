"""How often the rewritten rules of rows 3 and 5 give a wrong verdict on synthetic tables whose truth is known.

    python benchmarks/rule_error_rates.py        # ~1 min on a 2-core CPU

Row 3: 3 runs per depth (1-4) per architecture, each a success with a given probability; the rule's decide on
the counts. Row 5: 3 seeds x 5 sizes (x1, x2.5, x5, x12.5, x50, as the default study's fractions) of log-normal
error around a pure or a floored power law (5% seed-to-seed noise, the default study's); how often AICc prefers
a floor that is not there, misses one that is, and how often the pure-law exponents are called different when
equal. The thresholds (ALPHA 0.05, FLOOR_EVIDENCE 2) were fixed before these ran; this measures them.

Last run (before the new rules saw results/default): row 3, a wrong verdict where nothing depends on depth or
architecture (0.3 everywhere): contradicted 0.9%, supported 0%; only the CNN needing depth: inconclusive 100%;
the claim true (ViT 0.9, CNN 0/0/1/1): supported 90%; weaker (ViT 0.7, CNN 0.1/0.1/0.9/0.9): supported 22% (3
runs a depth cannot see it more often); ViT 0 everywhere, CNN 0/0/1/1: contradicted 100%. Row 5: a floor
preferred on a pure law 1.6-2.6% of draws, on floored laws (c = 2%, 5%) 100%; equal exponents called different
15.5% with the percentile bootstrap over seeds, 3.8% with Welch on the fitted slopes (which row 5 now uses).
2026-12-03, with the floor's F test (the row's p where a floor decides it): every draw where AICc preferred a
floor also had F p < 0.05 (pure laws 1.6% and 2.6%, floored laws 100%), so the F test adds the family-wise
check without changing these rates; equal exponents called different 5.6% (Welch).
"""

import numpy as np

from cnn_vs_vit.report.claims import row_03_global_context as row3
from cnn_vs_vit.report.claims import row_05_scalability as row5
from cnn_vs_vit.report.claims.rule_statistics import success_share
from cnn_vs_vit.report.statistics import Estimate

DRAWS = 2000
RUNS = 3


def row3_rates(vit: list[float], cnn: list[float], rng) -> dict[str, float]:
    """Verdict shares for success probabilities per depth 1..4 of each architecture."""
    verdicts = {}
    for _ in range(DRAWS):
        k_vit = rng.binomial(RUNS, vit)
        k_cnn = rng.binomial(RUNS, cnn)
        share = lambda k, depths: success_share(int(sum(k[d - 1] for d in depths)), RUNS * len(depths))  # noqa: E731
        estimates = {
            "vit shallow": share(k_vit, (1, 2)),
            "cnn shallow": share(k_cnn, (1, 2)),
            "cnn deep": share(k_cnn, (3, 4)),
            "vit all": share(k_vit, (1, 2, 3, 4)),
            "cnn all": share(k_cnn, (1, 2, 3, 4)),
            "control": Estimate(0.5, 0.48, 0.52, 3),
        }
        v = row3.decide(estimates)
        verdicts[v] = verdicts.get(v, 0) + 1
    return {k: v / DRAWS for k, v in sorted(verdicts.items())}


def row5_rates(law, rng, noise=0.05) -> dict[str, float]:
    """Shares of draws where AICc prefers a floor, and where it does and the floor's F test (the row's p when a
    floor decides it) is also below 0.05, for one architecture's true error law of the relative size."""
    sizes = np.array([1, 2.5, 5, 12.5, 50])
    preferred = tested = 0
    for _ in range(DRAWS // 4):
        x = np.repeat(np.log(sizes), RUNS)
        y = np.log(law(np.exp(x))) + noise * rng.standard_normal(len(x))
        prefers = row5.floor_evidence(x, y) >= row5.FLOOR_EVIDENCE
        preferred += prefers
        tested += prefers and row5.floor_p(x, y) < 0.05
    return {"floor preferred": preferred / (DRAWS // 4), "and its F test p < 0.05": tested / (DRAWS // 4)}


def row5_exponents(rng, noise=0.05) -> dict[str, float]:
    """Share of draws with equal pure exponents where the bootstrap interval of b_ViT − b_CNN excludes 0."""
    sizes = [100, 250, 500, 1250, 5000]
    wrong = 0
    trials = 2000
    for _ in range(trials):
        errors = {
            f: {s: list(0.3 * (s / 100) ** -0.5 * np.exp(noise * rng.standard_normal(RUNS))) for s in sizes}
            for f in ("cnn", "vit")
        }
        slopes = {f: row5.slope(*row5.points(errors[f], sizes)) for f in errors}
        wrong += row5.exponent_gap(slopes["vit"], slopes["cnn"]).excludes_zero != 0
    return {"exponents called different": wrong / trials}


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    print("row 3 (success probability per depth 1-4; verdict shares):")
    cases = {
        "null: both 0.3 everywhere (plateau escape by luck)": ([0.3] * 4, [0.3] * 4),
        "null: ViT 0.3 everywhere, CNN 0, 0, 0, 1 (only the CNN needs depth)": ([0.3] * 4, [0, 0, 0, 1]),
        "claim true: ViT 0.9 everywhere, CNN 0, 0, 1, 1": ([0.9] * 4, [0, 0, 1, 1]),
        "claim true, weaker: ViT 0.7 everywhere, CNN 0.1, 0.1, 0.9, 0.9": ([0.7] * 4, [0.1, 0.1, 0.9, 0.9]),
        "claim false: ViT 0 everywhere, CNN 0, 0, 1, 1": ([0.0] * 4, [0, 0, 1, 1]),
        "claim false: ViT 0 everywhere, CNN 1 everywhere": ([0.0] * 4, [1.0] * 4),
    }
    for name, (vit, cnn) in cases.items():
        print(f"  {name}: {row3_rates(vit, cnn, rng)}")
    print("row 5 (AICc, 3 seeds x 5 sizes, 5% noise):")
    print("  pure law 0.3 n^-0.5:", row5_rates(lambda n: 0.3 * n**-0.5, rng))
    print("  pure law 0.3 n^-0.2:", row5_rates(lambda n: 0.3 * n**-0.2, rng))
    print("  floored 0.3 n^-0.8 + 0.02:", row5_rates(lambda n: 0.3 * n**-0.8 + 0.02, rng))
    print("  floored 0.3 n^-0.8 + 0.05:", row5_rates(lambda n: 0.3 * n**-0.8 + 0.05, rng))
    print("  equal exponents:", row5_exponents(rng))
