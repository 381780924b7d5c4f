"""Error rates of the sign rule, of its bootstrap, of the disagreement rate and of adding seeds until settled.

## Results (2026-12-02; AMD EPYC (lscpu's model name), 2 cores; --studies 1000, 71 s)

Rates are shares of 1000 synthetic studies (Monte Carlo sd about 0.7% at 5%, 1.5% at 50%); a rerun's
seeds are fresh draws from the same truth. Selected lines (the script prints every one):

| kind | effect | n | reject, t | reject, boot | settled (<= 10%) | fresh rerun agrees | agrees if settled |
|---|---|---|---|---|---|---|---|
| gaussian | null | 3 | 0.053 | 0.243 | 0.04 | 0.91 | 0.09 |
| gaussian | null | 5 | 0.073 | 0.167 | 0.52 | 0.88 | 0.89 |
| gaussian | null | 10 | 0.061 | 0.114 | 0.46 | 0.89 | 0.94 |
| acc75 | null | 5 | 0.048 | 0.172 | 0.49 | 0.91 | 0.92 |
| acc100 | null | 5 | 0.023 | 0.200 | 0.72 | 0.97 | 0.99 |
| gaussian | small (0.5 sd) | 5 | 0.154 | 0.371 | 0.39 | 0.75 | 0.70 |
| gaussian | small (0.5 sd) | 10 | 0.303 | 0.453 | 0.27 | 0.63 | 0.61 |
| acc75 | small | 10 | 0.180 | 0.266 | 0.34 | 0.72 | 0.75 |
| gaussian | large (2 sd) | 3 | 0.453 | 0.929 | 0.34 | 0.51 | 0.51 |
| gaussian | large (2 sd) | 5 | 0.920 | 0.992 | 0.74 | 0.84 | 0.91 |
| acc75 | large | 8 | 0.933 | 0.978 | 0.71 | 0.86 | 0.91 |

Sequential design (3 seeds, one more per wave until the t rule's disagreement <= 10%, or the cap), the
interval at level alpha at every look; "positive" = supported or contradicted at the end (* the same line
over 4000 studies, sequential() run alone):

| kind | effect | cap | alpha per look | positive | mean seeds | stopped at cap |
|---|---|---|---|---|---|---|
| gaussian | null | 6 | 0.05 | 0.079 | 4.9 | 0.36 |
| gaussian | null | 10 | 0.05 | 0.101 | 5.5 | 0.14 |
| gaussian | null | 10 | 0.02 | 0.045 (0.043*) | 5.0 | 0.07 |
| acc75 | null | 10 | 0.05 | 0.098 | 5.6 | 0.14 |
| acc75 | null | 10 | 0.02 | 0.043 (0.036*) | 5.0 | 0.08 |
| acc100 | null | 10 | 0.02 | 0.028 | 4.3 | 0.03 |
| gaussian | small | 10 | 0.05 / 0.02 | 0.292 / 0.167 | 6.2 / 5.5 | 0.28 / 0.16 |
| gaussian | large | 10 | 0.05 / 0.02 | 0.992 / 0.968 | 4.5 / 5.2 | 0.01 / 0.04 |
| acc75 | large | 10 | 0.05 / 0.02 | 0.941 / 0.793 | 5.5 / 6.2 | 0.10 / 0.18 |

Projection from 3 seeds (settling.projected, cap 10): a fresh study with the projected seeds gives the
projected verdict 2% (gaussian null), 10% (small), 71% (large), 0-3% (acc100) of the time, against 90% meant.

What this says:
- The t rule holds its 5% under the null at every n from 3 (bounded and bimodal accuracies included: 2-7%).
  The percentile bootstrap does not: at 3 seeds its 95% interval is the seeds' range (a resample of one
  seed three times has probability 1/27 > 2.5%), so it rejects whenever the three share a sign, 25% of null
  studies; 17% at 5 seeds, 11-14% at 10. Three seeds give ten distinct resamples: the bootstrap can redraw
  estimates jointly and keep bounded ones bounded, it cannot decide a sign rule.
- "<= 10% disagreement" predicts a fresh rerun's agreement only where the truth is far from the rule's edge:
  under the null (89-99% agreement once settled, from 4 seeds) and for large effects once power is high
  (91% from 5 seeds, gaussian). In between (a real effect the seeds cannot yet resolve) settled verdicts are
  overturned by 25-40% of fresh reruns: the bootstrap measures how the verdict moves with these seeds, not
  with new ones. At 3 seeds an inconclusive verdict can never settle (the one-seed resamples, 11%, have no
  spread), and what settles under the null are false positives.
- Adding seeds until settled doubles the null's positives at the 95% level (10% at cap 10, 8% at cap 6).
  A 98% interval at every look (alpha 0.02) brings the design back under 5% (4.3% gaussian, 3.6% acc75,
  2.8% acc100) for a mean of 5 seeds, at a cost in power (large gaussian 99% -> 97%, small 29% -> 17%).
- The projection (a Bayesian bootstrap of the observed replicates) is optimistic and often wrong about the
  verdict: from three seeds that share a sign it never draws one of the other sign. Use it to size a wave,
  never to state a verdict.


    .venv/bin/python benchmarks/settling_error_rates.py [--studies 2000]

Synthetic studies, each a row's per-replicate effect (one value per seed, one data seed), from three kinds:
- gaussian: N(δ, 1), δ = 0, 0.5 (small), 2 (large), in units of the seed-to-seed sd;
- acc75: the difference of two accuracies near 75% (each Beta with sd 0.02), δ = 0, 0.01, 0.04;
- acc100: the difference of two bimodal accuracies: a run reaches ~99.7% with probability q, else stops near
  75% (Beta, sd 0.03); the second cell has q = 0.7, the first q = 0.7, 0.8, 0.95.
The rule is "supported when the 95% interval excludes 0 above it" (contradicted below), with (t) the t
interval of report/statistics.py and (boot) the percentile interval of report/resampling.py's bootstrap of the
mean. Measured: rejections (false positives under δ = 0, power otherwise), the t rule's bootstrap disagreement
(resampling.disagreement), how often a fresh study with as many seeds agrees when that disagreement is <= 10%,
the sequential design (3 seeds, then one more per wave until settled or the cap) and the projection of the
seeds needed (settling.projected). The bootstrap draws are the library's own (resampling.counts and
settling.projected_counts with their fixed seed), applied to values with matrix products, and the vectorised
rules are checked against statistics.t_interval and resampling.percentile_interval before anything is counted.
"""

import argparse
import datetime
import os
import time

import numpy as np
from scipy import stats

from cnn_vs_vit.matrix.calibration_cache import cpu_model
from cnn_vs_vit.report import resampling, settling
from cnn_vs_vit.report.statistics import sign_verdict, t_interval

SEEDS = (3, 4, 5, 6, 8, 10)
FIRST_WAVE = 3
CAPS = (6, 10)
LEVELS = (0.05, 0.03, 0.02, 0.01)  # per-look levels of the sequential design's interval
SCENARIOS = {
    "gaussian": {"null": 0.0, "small": 0.5, "large": 2.0},
    "acc75": {"null": 0.0, "small": 0.01, "large": 0.04},
    "acc100": {"null": 0.7, "small": 0.8, "large": 0.95},  # the first cell's q (the second's is 0.7)
}


def beta(mean: float, sd: float, size, rng: np.random.Generator) -> np.ndarray:
    concentration = mean * (1 - mean) / sd**2 - 1
    return rng.beta(mean * concentration, (1 - mean) * concentration, size)


def bimodal(q: float, size, rng: np.random.Generator) -> np.ndarray:
    reached = rng.random(size) < q
    return np.where(reached, 1 - rng.beta(1, 300, size), beta(0.75, 0.03, size, rng))


def sample(kind: str, effect: float, size, rng: np.random.Generator) -> np.ndarray:
    """Per-replicate effects, shape `size` (studies, seeds)."""
    if kind == "gaussian":
        return rng.normal(effect, 1.0, size)
    if kind == "acc75":
        return beta(0.75 + effect, 0.02, size, rng) - beta(0.75, 0.02, size, rng)
    return bimodal(effect, size, rng) - bimodal(0.7, size, rng)


def t_verdicts(mean: np.ndarray, var: np.ndarray, n: int, level: float) -> np.ndarray:
    """+1 / −1 / 0 as statistics.sign_verdict of a (1 − level) t interval: the interval strictly beyond 0."""
    half = stats.t.ppf(1 - level / 2, n - 1) * np.sqrt(np.clip(var, 0, None) / n)
    return np.where(mean - half > 0, 1, np.where(mean + half < 0, -1, 0))


def observed_t(values: np.ndarray, level: float) -> np.ndarray:
    n = values.shape[-1]
    return t_verdicts(values.mean(axis=-1), values.var(axis=-1, ddof=1), n, level)


def resampled_t(values: np.ndarray, multiplicities: np.ndarray, level: float) -> np.ndarray:
    """t verdicts of every resampled study: values (studies, n) with multiplicities (draws, n) whose rows sum to
    n' -> (studies, draws). A replicate drawn k times counts as k seeds, as the relabelled runs do."""
    size = multiplicities[0].sum()
    mean = values @ multiplicities.T / size
    var = ((values**2) @ multiplicities.T - size * mean**2) / (size - 1)
    return t_verdicts(mean, var, size, level)


def boot_verdicts(values: np.ndarray, multiplicities: np.ndarray) -> np.ndarray:
    means = values @ multiplicities.T / values.shape[1]
    low, high = np.quantile(means, [0.025, 0.975], axis=1)
    return np.where(low > 0, 1, np.where(high < 0, -1, 0))


def draws(n: int) -> np.ndarray:
    return resampling.counts(keys(n), resampling.DRAWS, np.random.default_rng(resampling.SEED))


def keys(n: int) -> list[tuple]:
    return [(0, None, seed) for seed in range(n)]


def check_against_the_library(rng: np.random.Generator) -> None:
    values = rng.normal(0.8, 1.0, (50, 4))
    expected = [{"supported": 1, "contradicted": -1, "inconclusive": 0}[sign_verdict(t_interval(v))] for v in values]
    assert (observed_t(values, 0.05) == expected).all()
    drawn = draws(4)
    for v, verdict in zip(values[:10], boot_verdicts(values[:10], drawn)):
        interval = resampling.percentile_interval(v.mean(), drawn @ v / 4, 4)
        assert verdict == interval.excludes_zero


def disagreement(values: np.ndarray, multiplicities: np.ndarray, level: float) -> np.ndarray:
    observed = observed_t(values, level)
    return np.mean(resampled_t(values, multiplicities, level) != observed[:, None], axis=1)


def fixed_seeds(kind: str, effect: float, studies: int, rng: np.random.Generator) -> list[dict]:
    """One row per seed count: rejections by both rules, disagreement and the rerun agreement it predicts."""
    rows = []
    for n in SEEDS:
        values, fresh = sample(kind, effect, (studies, n), rng), sample(kind, effect, (studies, n), rng)
        observed, again = observed_t(values, 0.05), observed_t(fresh, 0.05)
        rate = disagreement(values, draws(n), 0.05)
        projected = settling.projected_counts(keys(n), n, resampling.DRAWS, np.random.default_rng(resampling.SEED))
        bayes_rate = disagreement(values, projected, 0.05)
        agree = again == observed
        rows.append({
            "n": n, "t": np.mean(observed != 0), "boot": np.mean(boot_verdicts(values, draws(n)) != 0),
            "disagree": rate.mean(), "settled": np.mean(rate <= settling.SETTLED_AT),
            "rerun_agrees": agree.mean(),
            "agrees_if_settled": agree[rate <= settling.SETTLED_AT].mean() if (rate <= 0.1).any() else np.nan,
            "agrees_if_bb_settled": agree[bayes_rate <= 0.1].mean() if (bayes_rate <= 0.1).any() else np.nan,
        })  # fmt: skip
    return rows


def sequential(kind: str, effect: float, studies: int, cap: int, level: float, rng) -> dict:
    """Seeds 3, then one more per wave while the t rule's disagreement exceeds 10%, up to `cap`."""
    values = sample(kind, effect, (studies, cap), rng)
    final = np.zeros(studies, dtype=int)
    stopped = np.zeros(studies, dtype=bool)
    seeds_used = np.full(studies, cap)
    for n in range(FIRST_WAVE, cap + 1):
        prefix = values[:, :n]
        verdict = observed_t(prefix, level)
        stop = ~stopped & ((disagreement(prefix, draws(n), level) <= settling.SETTLED_AT) | (n == cap))
        final[stop], seeds_used[stop] = verdict[stop], n
        stopped |= stop
    return {"positive": np.mean(final != 0), "supported": np.mean(final == 1), "seeds": seeds_used.mean(),
            "at_cap": np.mean(seeds_used == cap)}  # fmt: skip


def projection(kind: str, effect: float, studies: int, cap: int, rng) -> dict:
    """From 3 seeds, settling's projected seeds to settle (with the plain bootstrap's verdict when settled at 3),
    then a fresh study with that many seeds: how often it gives the projected verdict."""
    values = sample(kind, effect, (studies, FIRST_WAVE), rng)
    needed = np.where(disagreement(values, draws(FIRST_WAVE), 0.05) <= 0.1, FIRST_WAVE, 0)
    verdict = observed_t(values, 0.05)
    for n_seeds in range(FIRST_WAVE + 1, cap + 1):
        weights = settling.projected_counts(keys(FIRST_WAVE), n_seeds, settling.PROJECTION_DRAWS,
                                            np.random.default_rng(resampling.SEED))  # fmt: skip
        simulated = resampled_t(values, weights, 0.05)
        shares = np.stack([np.mean(simulated == v, axis=1) for v in (-1, 0, 1)], axis=1)
        settles = (needed == 0) & (shares.max(axis=1) >= 1 - settling.SETTLED_AT)
        needed[settles], verdict[settles] = n_seeds, shares.argmax(axis=1)[settles] - 1
    agrees = []
    for n_seeds in np.unique(needed[needed > 0]):
        chosen = needed == n_seeds
        agrees.append(observed_t(sample(kind, effect, (chosen.sum(), n_seeds), rng), 0.05) == verdict[chosen])
    agrees = np.concatenate(agrees) if agrees else np.array([np.nan])
    return {"within_cap": np.mean(needed > 0), "mean_needed": needed[needed > 0].mean(), "fresh_agrees": agrees.mean()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=2000, help="synthetic studies per configuration")
    args = parser.parse_args()
    rng = np.random.default_rng(2026)
    check_against_the_library(rng)
    start = time.perf_counter()
    print(f"{datetime.date.today()}, {cpu_model()}, {os.cpu_count()} cores; {args.studies} studies per line, "
          f"{resampling.DRAWS} bootstrap draws, {settling.PROJECTION_DRAWS} per projection")  # fmt: skip

    print("\n### Fixed seeds: rejection rate of the 95% rule (false positives at null), t vs bootstrap;")
    print("the t rule's bootstrap disagreement; share settled (<= 10%); a fresh rerun's agreement\n")
    print("| kind | effect | n | reject t | reject boot | mean disagree | settled | rerun agrees | "
          "agrees if settled | agrees if BB-settled |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for kind, effects in SCENARIOS.items():
        for name, effect in effects.items():
            for row in fixed_seeds(kind, effect, args.studies, rng):
                print(f"| {kind} | {name} | {row['n']} | {row['t']:.3f} | {row['boot']:.3f} | {row['disagree']:.3f} "
                      f"| {row['settled']:.2f} | {row['rerun_agrees']:.2f} | {row['agrees_if_settled']:.2f} "
                      f"| {row['agrees_if_bb_settled']:.2f} |")  # fmt: skip

    print("\n### Sequential: 3 seeds, +1 per wave until the t rule's disagreement <= 10% or the cap; the interval")
    print("at level alpha every look; 'positive' = supported or contradicted at the end (false positives at null)\n")
    print("| kind | effect | cap | alpha | positive | supported | mean seeds | stopped at cap |")
    print("|---|---|---|---|---|---|---|---|")
    for kind, effects in SCENARIOS.items():
        for name, effect in effects.items():
            for cap in CAPS:
                for level in LEVELS:
                    r = sequential(kind, effect, args.studies, cap, level, rng)
                    print(f"| {kind} | {name} | {cap} | {level} | {r['positive']:.3f} | {r['supported']:.3f} "
                          f"| {r['seeds']:.1f} | {r['at_cap']:.2f} |")  # fmt: skip

    print("\n### Projection from 3 seeds (settling.projected, cap 10): share projected to settle, mean seeds,")
    print("and how often a fresh study with that many seeds gives the projected verdict (target >= 0.90)\n")
    print("| kind | effect | settles within cap | mean seeds needed | fresh study agrees |")
    print("|---|---|---|---|---|")
    for kind, effects in SCENARIOS.items():
        for name, effect in effects.items():
            r = projection(kind, effect, args.studies, 10, rng)
            print(f"| {kind} | {name} | {r['within_cap']:.2f} | {r['mean_needed']:.1f} | {r['fresh_agrees']:.2f} |")
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
