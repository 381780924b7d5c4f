"""How often a rerun of the study would give another verdict: each row's rerun-disagreement rate, from its runs.

The runs are resampled, not the estimates: a resampled study (resampling.py) draws replicates (a seed's runs in
every cell) with replacement, each architecture's seeds independently (a seed index shares no variance between
a ResNet and a ViT; their data seed is drawn together), and every row is measured again on it by its own
`measure` and `decide`. Every estimate of a row, and every row that reads the same runs, moves together: row
3's "depth 2" and "ViT at depth 2" are one number in each resample, and row 1 sees rows 2 and 9 measured on
the same resample as itself. The rate is the share of resamples whose verdict differs from the observed one.

How a resample is scored, with three seeds per cell (benchmarks/settling_error_rates.py):
- A cell's seeds may be drawn as one seed repeated (1 resample in 9 at three seeds): a study of one run
  copied three times has zero spread, so its interval is a point and its verdict a certainty no rule would
  draw from one run. Those resamples are left out: each architecture's seeds are drawn conditioned on at
  least two distinct seeds. Kept in, they alone put every inconclusive row at >= 11% at three seeds (never
  settled, whatever its numbers); scored on their distinct seeds instead, a resample of two seeds has
  t(0.975, 1) = 12.7 and every supported row would be unsettled. Conditioning keeps the rate a statement about
  these seeds without a verdict fixed in advance by n = 3.
- A copy drawn twice counts as two seeds (the relabelled runs of resampling.studies), as in the benchmark.
- An estimate whose runs all gave the same value (zero spread: 3 of 3 ViTs at 100%) is an outcome every run
  shared, which no resample of those runs can break. A rerun repeats it with the chance its Jeffreys
  posterior gives (proportions.chance_all_recur: 72% at 3 of 3); otherwise its interval is no longer a point,
  and the row is decided with no interval on it. The rate is (1 − q)·(resample rate) + q·[that verdict
  differs], q the chance the shared outcome breaks.
With one data seed and three seeds, an architecture's conditioned draws are seven (all three seeds, or one of
six doubled), and a row reading two architectures has 49 resamples: they are enumerated with their exact
probabilities (no Monte Carlo error), each distinct resample of a row's architectures measured once. Larger
studies (several data seeds, more seeds) draw DRAWS resamples at random: a 10% rate known to ±2.1%.

What the rate is and is not (the benchmark): it says how the verdict moves with these seeds, not with fresh
ones; under the null and for large effects "<= 10%" predicts a fresh rerun's agreement, in between it does not.
"""

import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from . import resampling
from .claim_types import ClaimResult
from .proportions import chance_all_recur
from .runs import Run
from .selection import Context
from .statistics import Estimate

DRAWS = 200  # random resamples where they are too many to enumerate (ENUMERATE): a 10% rate ±2.1% (one sd)
ENUMERATE = 400  # enumerate every resample of a row's architectures when there are at most this many
SEED = resampling.SEED  # fixed: the same runs give the same rates on every rebuild
RATE_NOTE = (
    "the share of resampled studies whose verdict differs from this one: the runs "
    "resampled (each architecture's seeds with replacement, at least two distinct seeds per architecture), "
    "every row measured again by its own rule on the same resample, an outcome all runs shared kept with its "
    "Jeffreys chance of recurring; exact where the resamples are few enough to enumerate, else "
    f"{DRAWS} draws (report/stability.py). A verdict is settled at 10% or less; exact: an architectural fact, "
    "computed without seed-to-seed variation"
)


def stratum(run: Run) -> str:
    """The architecture: its seeds are drawn independently of the other architectures' (module docstring)."""
    return run.arch


Verdicts = Callable[[Context, dict], str]  # (resampled context, that resample's results by claim id) -> verdict


@dataclass(frozen=True)
class Rerun:
    """What resampling needs of one row: its id, the replicates its runs belong to (resampling.replicate_key by
    architecture), and how it is decided again."""

    row: str
    replicates: frozenset[tuple]
    verdict: Verdicts
    limit: int = 0  # Claim.resamples: at most this many resamples, drawn by their probability (0: all)


def patterns(grouped: dict[tuple, list[Run]], replicates: Iterable[tuple]) -> list[tuple[float, np.ndarray]]:
    """(probability, replicate multiplicities) of every resample of a row's `replicates` (each architecture's
    drawn from its own; the study's other replicates kept once, so that a row is never judged on seeds it did
    not read), or DRAWS random ones (equal weights) where they are more than ENUMERATE or there are several
    data seeds."""
    keys = list(grouped)
    read = set(replicates)
    archs = sorted({key[1] for key in read})
    columns = {arch: [i for i, key in enumerate(keys) if key in read and key[1] == arch] for arch in archs}
    count = math.prod(_resamples(len(cols)) for cols in columns.values())
    if len({key[0] for key in keys}) == 1 and count <= ENUMERATE:
        found = []
        options = [_conditioned(len(cols)) for cols in columns.values()]
        for combination in itertools.product(*options):
            row = np.ones(len(keys), dtype=np.int64)
            for cols, (_, multiplicities) in zip(columns.values(), combination):
                row[cols] = multiplicities
            found.append((math.prod(p for p, _ in combination), row))
        return found
    rng = np.random.default_rng(SEED)
    chosen = [keys[i] for cols in columns.values() for i in cols]
    kept: list[np.ndarray] = []
    while len(kept) < DRAWS:
        drawn = resampling.counts(chosen, DRAWS, rng)
        kept += [
            row for row in drawn if not any(_degenerate(row[_within(chosen, cols, keys)]) for cols in columns.values())
        ]
    full = []
    for row in kept[:DRAWS]:
        multiplicities = np.ones(len(keys), dtype=np.int64)
        multiplicities[[keys.index(key) for key in chosen]] = row
        full.append((1 / DRAWS, multiplicities))
    return full


def _within(chosen: list[tuple], cols: list[int], keys: list[tuple]) -> list[int]:
    """The positions in `chosen` of the replicates at columns `cols` of `keys`."""
    return [chosen.index(keys[i]) for i in cols]


def limited(found: list[tuple[float, np.ndarray]], limit: int) -> list[tuple[float, np.ndarray]]:
    """`found`, or `limit` of its resamples drawn by probability (with replacement, equal weights) where it
    holds more: a rate from `limit` draws, of Monte Carlo sd sqrt(r(1 − r)/limit)."""
    if not limit or len(found) <= limit:
        return found
    rng = np.random.default_rng(SEED)
    chosen = rng.choice(len(found), size=limit, p=[weight for weight, _ in found])
    return [(1 / limit, found[i][1]) for i in chosen]


def _resamples(seeds: int) -> int:
    """How many multiplicity vectors _conditioned gives for `seeds` seeds."""
    return 1 if seeds < 3 else math.comb(2 * seeds - 1, seeds) - seeds


def _degenerate(multiplicities: np.ndarray) -> bool:
    """One replicate drawn every time, where there were several to draw from."""
    return len(multiplicities) > 1 and np.count_nonzero(multiplicities) < 2


def _conditioned(seeds: int) -> list[tuple[float, np.ndarray]]:
    """Every multiplicity vector of a bootstrap of `seeds` from `seeds` with >= 2 distinct seeds, with its
    probability given that; the observed vector alone where fewer than three seeds leave nothing else."""
    if seeds < 3:
        return [(1.0, np.ones(seeds, dtype=np.int64))]
    vectors = [np.array(v) for v in itertools.product(range(seeds + 1), repeat=seeds) if sum(v) == seeds and _spread(v)]
    mass = [stats.multinomial.pmf(v, seeds, [1 / seeds] * seeds) for v in vectors]
    total = sum(mass)
    return [(float(m / total), v) for m, v in zip(mass, vectors)]


def _spread(v: Sequence[int]) -> bool:
    return sum(1 for x in v if x) >= 2


def certainty_breaks(estimates: dict[str, Estimate]) -> tuple[float, dict[str, Estimate]]:
    """(the chance a rerun breaks an outcome every run shared, the estimates with those outcomes broken: no
    interval); (0, estimates) when no estimate of >= 2 runs has zero spread."""
    shared = {k: e for k, e in estimates.items() if e.has_interval and e.n >= 2 and e.ci_low == e.ci_high}
    if not shared:
        return 0.0, estimates
    n = min(e.n for e in shared.values())
    broken = {k: Estimate(e.mean, n=e.n, method=f"{e.method}, broken in a rerun") for k, e in shared.items()}
    return 1 - chance_all_recur(n), {**estimates, **broken}


def disagreements(reruns: Sequence[Rerun], observed: dict[str, ClaimResult], runs: list[Run]) -> dict[str, float]:
    """{row: its rerun-disagreement rate} for every row of `reruns` (in the order rows read each other: a row
    after the rows it reads), each scored against observed[row].rule_verdict (module docstring)."""
    grouped = resampling.replicates(runs, stratum)
    keys = list(grouped)
    rates: dict[str, float] = {}
    studies: dict[bytes, tuple[Context, dict]] = {}  # a resample's context and its light results, by multiplicities

    def context(row: np.ndarray) -> tuple[Context, dict]:
        digest = row.tobytes()
        if digest not in studies:
            studies[digest] = (Context.of(next(resampling.studies(grouped, row[None]))), {})
        return studies[digest]

    for rerun in reruns:
        result = observed[rerun.row]
        columns = [i for i, key in enumerate(keys) if key in rerun.replicates]
        seen: dict[bytes, str] = {}
        differ = 0.0
        for weight, row in limited(patterns(grouped, rerun.replicates), rerun.limit):
            digest = row[columns].tobytes()
            if digest not in seen:
                ctx, results = context(row)
                seen[digest] = rerun.verdict(ctx, results)
            differ += weight * (seen[digest] != result.rule_verdict)
        q, broken = certainty_breaks(result.estimates)
        rates[rerun.row] = (1 - q) * differ + q * (result.decide(broken) != result.rule_verdict)
    return rates


def rate_text(c: ClaimResult) -> str:
    """'12.3%', '< 0.1%', 'exact', or 'one run' (no interval over runs to resample yet)."""
    if c.disagreement is None:
        return "one run" if c.one_run else "exact"
    rate = c.disagreement
    return f"{100 * rate:.1f}%" if rate >= 0.001 or rate == 0 else "< 0.1%"
