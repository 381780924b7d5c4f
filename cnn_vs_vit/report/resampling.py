"""Resampled studies: a hierarchical bootstrap over runs, so that every estimate is redrawn from the same runs.

A replicate is everything one (data seed, seed) produced: its runs in every cell of the study (ResNet and ViT,
every depth, every option). A resampled study draws data seeds with replacement, then, within each drawn data
seed, as many seeds as it has, with replacement; a drawn replicate brings all its runs, as often as it was drawn.
The caller recomputes every estimate of a row (and of every row that reads the same runs) from one resampled
study, so estimates that share runs move together: "depth 2" and "ViT at depth 2", being the same three runs,
are the same number in every draw. Drawing them independently (report/stability.py) inflated the flip rate of
a rule that needs both (44.9% when drawn together, 66.9% apart). With one data seed the top level has a single
choice and this is the bootstrap over seeds.

Drawing a replicate's ResNet and ViT runs together is not pairing them. A seed index shares no variance
between two architectures (different weights, different initialisation streams), so a difference between them
is still a difference of two means; the joint draw only keeps each cell's runs consistent with every other
estimate that reads them. Pairing by seed happens in the caller's statistic, and only where runs share a real
source of variance (same architecture, same subset, one option changed). A row that compares architectures
can make that explicit with `independent_by=lambda run: run.arch`: the architectures' seeds are then drawn
independently (their data seed still together, since both saw the same images).

What it cannot do: the resamples are made of the observed runs only. Three seeds give ten distinct resampled
studies, three of them (one in nine of the draws) a single seed three times, whose spread is zero; values
outside the observed range never appear. Percentile intervals from so few seeds are too narrow: at three
seeds the 95% interval of a mean is the seeds' range, and a rule "the interval excludes 0" on it rejects 25%
of null studies (17% at five seeds, 11-14% at ten; benchmarks/settling_error_rates.py). So the bootstrap here
redraws estimates jointly, measures how stable a verdict is and keeps bounded statistics bounded (the plots'
bands of accuracies: seed_mean_interval); a sign rule's decision stays with the t interval (5% under the null
from three seeds on).

Draws are made from a fixed seed, in a fixed order of replicates, so a report rebuilds byte-identically.
"""

import dataclasses
import math
from collections.abc import Callable, Hashable, Iterator, Sequence

import numpy as np

from .runs import Run
from .statistics import MISSING, Estimate

DRAWS = 2000  # resampled studies per statistic: a rate of 10% is then known to ±0.7% (one sd)
SEED = 0  # fixed: the same runs give the same draws on every rebuild

Stratum = Callable[[Run], Hashable]
Statistic = Callable[[list[Run]], float]
DecideFromRuns = Callable[[list[Run]], str]


def replicate_key(run: Run, independent_by: Stratum | None = None) -> tuple:
    """(data seed, stratum, seed): the runs that enter or leave a resampled study together.

    The stratum is None unless `independent_by` names one (e.g. the architecture); a run without a recorded
    data seed belongs to data seed None, one level shared by every such run."""
    stratum = independent_by(run) if independent_by else None
    return (run.summary.get("data_seed"), stratum, run.summary.get("seed"))


def replicates(runs: Sequence[Run], independent_by: Stratum | None = None) -> dict[tuple, list[Run]]:
    """{replicate key: its runs}, keys in a fixed order (sorted by repr, since seeds may be None)."""
    grouped: dict[tuple, list[Run]] = {}
    for run in runs:
        grouped.setdefault(replicate_key(run, independent_by), []).append(run)
    return {key: grouped[key] for key in sorted(grouped, key=repr)}


def counts(keys: Sequence[tuple], n_draws: int, rng: np.random.Generator) -> np.ndarray:
    """How often each replicate appears in each of `n_draws` resampled studies: ints, shape (n_draws, len(keys)).

    `keys` are replicate keys (data seed, stratum, seed). Data seeds are drawn with replacement (D of D); each
    drawn data seed then draws, for each stratum, as many seeds as that stratum has there, with replacement.
    Drawing a data seed c times draws c·S seeds from its S: the sum of c independent bootstraps of S."""
    keys = list(keys)
    data_seeds = sorted({key[0] for key in keys}, key=repr)
    top = rng.multinomial(len(data_seeds), np.full(len(data_seeds), 1 / len(data_seeds)), size=n_draws)
    drawn = np.zeros((n_draws, len(keys)), dtype=np.int64)
    for d, data_seed in enumerate(data_seeds):
        for columns in strata_columns(keys, data_seed).values():
            seeds = len(columns)
            drawn[:, columns] = rng.multinomial(top[:, d] * seeds, np.full(seeds, 1 / seeds))
    return drawn


def studies(grouped: dict[tuple, list[Run]], multiplicities: np.ndarray) -> Iterator[list[Run]]:
    """The resampled studies that rows of `multiplicities` describe (one column per replicate of `grouped`).

    A drawn copy of a replicate is relabelled so that the study has the shape of a real one: in each data seed
    and stratum, seeds 0, 1, 2, ... (all runs of one copy sharing its number). A replicate drawn twice then
    counts twice wherever runs are keyed by (seed, data seed, subset), and runs that pair in the real study
    (same replicate, same subset) still pair. The original (data seed, seed) is kept as summary["resampled_from"].
    """
    keys = list(grouped)
    copies: dict[tuple, Run] = {}  # (run index, new seed) -> relabelled run, reused across draws
    index = {id(run): i for i, run in enumerate(run for group in grouped.values() for run in group)}
    for row in multiplicities:
        study, next_seed = [], {}
        for key, times in zip(keys, row):
            group = key[:2]
            for _ in range(int(times)):
                seed = next_seed.get(group, 0)
                next_seed[group] = seed + 1
                for run in grouped[key]:
                    cache_key = (index[id(run)], seed)
                    if cache_key not in copies:
                        copies[cache_key] = _relabel(run, seed)
                    study.append(copies[cache_key])
        yield study


def draws(
    runs: Sequence[Run], n_draws: int = DRAWS, seed: int = SEED, independent_by: Stratum | None = None
) -> Iterator[list[Run]]:
    """`n_draws` resampled studies of `runs` (hierarchical bootstrap, see the module docstring), each a list of
    runs with multiplicity; the same `seed` gives the same studies."""
    grouped = replicates(runs, independent_by)
    yield from studies(grouped, counts(list(grouped), n_draws, np.random.default_rng(seed)))


def bootstrap(
    statistic: Statistic,
    runs: Sequence[Run],
    n_draws: int = DRAWS,
    seed: int = SEED,
    independent_by: Stratum | None = None,
) -> np.ndarray:
    """statistic(study) for each of `n_draws` resampled studies, shape (n_draws,); NaN where it is undefined."""
    return np.array([statistic(study) for study in draws(runs, n_draws, seed, independent_by)], dtype=float)


def percentile_interval(observed: float, resampled: np.ndarray, n: int, level: float = 0.95) -> Estimate:
    """`observed` with the percentile interval of its resampled values (NaNs left out), as an Estimate.

    The ends are quantiles of values the statistic took, so a statistic confined to [0, 1] (an accuracy, a
    share) has an interval inside [0, 1] by construction, whatever the shape of its distribution."""
    finite = resampled[np.isfinite(resampled)]
    if n < 2 or finite.size == 0:
        return Estimate(observed, n=n, method="bootstrap")
    low, high = np.quantile(finite, [(1 - level) / 2, (1 + level) / 2])
    return Estimate(observed, float(low), float(high), n, float(np.std(finite, ddof=1)), "bootstrap")


def seed_mean_interval(values: Sequence[float], n_draws: int = DRAWS, seed: int = SEED) -> Estimate:
    """The mean of `values` (one per seed, NaNs left out) with the percentile interval of its bootstrap over the
    seeds (counts with a single data seed), as an Estimate: its ends are means of resampled seeds, so they stay
    within the values' range, inside [0, 1] for accuracies (at three seeds, that range). No interval below two."""
    finite = np.array([float(v) for v in values if v is not None and math.isfinite(float(v))])
    n = len(finite)
    if n == 0:
        return MISSING
    drawn = counts([(None, None, index) for index in range(n)], n_draws, np.random.default_rng(seed))  # (draws, n)
    return percentile_interval(math.fsum(finite) / n, drawn @ finite / n, n)


def disagreement(
    decide_from_runs: DecideFromRuns,
    runs: Sequence[Run],
    n_draws: int = DRAWS,
    seed: int = SEED,
    independent_by: Stratum | None = None,
) -> float:
    """Share of resampled studies whose verdict differs from decide_from_runs(runs), the observed verdict."""
    observed = decide_from_runs(list(runs))
    differ = sum(decide_from_runs(study) != observed for study in draws(runs, n_draws, seed, independent_by))
    return differ / n_draws


def strata_columns(keys: Sequence[tuple], data_seed: Hashable) -> dict[Hashable, list[int]]:
    """{stratum: the columns of its replicates} within one data seed."""
    found: dict[Hashable, list[int]] = {}
    for column, key in enumerate(keys):
        if key[0] == data_seed:
            found.setdefault(key[1], []).append(column)
    return found


def _relabel(run: Run, seed: int) -> Run:
    original = (run.summary.get("data_seed"), run.summary.get("seed"))
    return dataclasses.replace(run, summary={**run.summary, "seed": seed, "resampled_from": original})
