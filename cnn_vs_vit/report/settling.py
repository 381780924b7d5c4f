"""Whether a verdict is settled, how many seeds would settle it, and which cells the next wave of seeds goes to.

A verdict is settled when at most 10% of resampled studies (report/resampling.py) give another verdict.
An unsettled one is projected: studies with n' = n + 1, n + 2, ... seeds per cell (up to a cap) are simulated
from what the observed replicates say, and the smallest n' whose simulated studies agree on one verdict at
least 90% of the time is the number of seeds that would settle it, together with that verdict (which need not
be today's: more seeds turn a real but unresolved effect from "inconclusive" into "supported").

The projection is a Bayesian bootstrap (Rubin 1981), hierarchical as the resampling is: each simulated study
draws weights over the observed data seeds from a flat Dirichlet, data seeds from those weights, then weights
over each data seed's observed seeds and n' seeds from them. A plain bootstrap of n' from n would take the
observed mean as the truth, so a large n' would always look settled; the random weights carry what n seeds do
not know about the mean into the projection (its spread is about s²/(n+1) + s²/n' instead of s²/n'). It draws
only observed replicates, so it cannot see a behaviour the seeds never showed: from three seeds that share a
sign it never draws one of the other sign. Measured (benchmarks/settling_error_rates.py), a fresh study with
the projected seeds gives the projected verdict 2% (null), 10% (small effect) to 71% (large effect) of the
time, not the 90% meant: the projection sizes a wave, it never states a verdict.

What "settled" promises, measured there: under the null a settled verdict is confirmed by 89-99% of fresh
reruns (from four seeds), and a large effect's by 91% once power is high; a real effect the seeds cannot yet
resolve is overturned by 25-40% of fresh reruns even when settled, since the bootstrap sees how the verdict
moves with these seeds, not with new ones. At three seeds an inconclusive verdict never settles (one resample
in nine repeats a single seed and has no spread).

A count of successes is projected the same way from its Jeffreys posterior (report/proportions.py), since
resampling three successes gives three successes every time.

Adding seeds until verdicts settle is a sequential design: each wave is another look at the data. With the
95% t interval at every look and a cap of 10, the null comes out supported or contradicted 10% of the time,
twice the 5% of a fixed design; a 98% interval at every look (alpha 0.02) holds the whole design to 4.3%
(bounded accuracies 2.8-3.6%) for a mean of 5 seeds. The threshold, the cap and that level are fixed before
any seed runs, from the benchmark, and a row's verdict in such a design is read at the level it was
simulated at.
"""

from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from . import resampling
from .proportions import rerun_successes
from .runs import Run

SETTLED_AT = 0.10  # the largest disagreement rate of a settled verdict
CAP = 10  # seeds per cell, at most: the projection looks no further and the waves stop there
PROJECTION_DRAWS = 500  # simulated studies per projected n': a 10% rate known to ±1.3% (one sd)

DecideFromCount = Callable[[int, int], str]  # (successes, runs) -> verdict


@dataclass(frozen=True)
class Settling:
    """How settled a verdict is: its disagreement rate now and the seeds per cell that would settle it."""

    disagreement: float  # share of resampled studies with another verdict, at the seeds it has
    seeds: int  # seeds per cell it has
    seeds_to_settle: int | None  # `seeds` when settled; the smallest settling n' <= cap; None: beyond the cap
    projected_verdict: str | None  # the verdict the studies with seeds_to_settle seeds agree on
    cap: int = CAP

    @property
    def settled(self) -> bool:
        return self.disagreement <= SETTLED_AT

    @property
    def status(self) -> str:
        return "settled" if self.settled else "unsettled"

    @property
    def text(self) -> str:
        """E.g. 'unsettled (23.5% disagree; projected to settle at 7 seeds per cell, an optimistic guess)'.

        The projected verdict is not shown: from few seeds it is the least reliable part (module docstring)."""
        head = f"{self.status} ({100 * self.disagreement:.1f}% disagree"
        if self.settled:
            return head + ")"
        if self.seeds_to_settle is None:
            return f"{head}; not projected to settle by {self.cap} seeds per cell)"
        return f"{head}; projected to settle at {self.seeds_to_settle} seeds per cell, an optimistic guess)"


def projected_counts(keys: Sequence[tuple], n_seeds: int, n_draws: int, rng: np.random.Generator) -> np.ndarray:
    """How often each observed replicate appears in each of `n_draws` simulated studies with `n_seeds` seeds per
    cell: ints, shape (n_draws, len(keys)); `keys` as resampling.counts takes them. Where each seed has drawn its
    own subset (follows_seed), a cell's seeds are its data seeds, so a study of `n_seeds` draws that many data
    seeds, one seed each; otherwise it keeps the observed data seeds and draws `n_seeds` seeds within each.

    Hierarchical Bayesian bootstrap (module docstring): flat-Dirichlet weights, then multinomial draws."""
    keys = list(keys)
    data_seeds = sorted({key[0] for key in keys}, key=repr)
    own_subsets = follows_seed(keys)
    studies, per_data_seed = (n_seeds, 1) if own_subsets else (len(data_seeds), n_seeds)
    top = rng.multinomial(studies, rng.dirichlet(np.ones(len(data_seeds)), size=n_draws))
    drawn = np.zeros((n_draws, len(keys)), dtype=np.int64)
    for d, data_seed in enumerate(data_seeds):
        for columns in resampling.strata_columns(keys, data_seed).values():
            weights = rng.dirichlet(np.ones(len(columns)), size=n_draws)
            drawn[:, columns] = rng.multinomial(top[:, d] * per_data_seed, weights)
    return drawn


def follows_seed(keys: Sequence[tuple]) -> bool:
    """Whether the replicates' design gives each seed its own subset: several data seeds, each holding one seed
    per stratum (experiments' data_seed_follows_seed), so that adding a seed adds a data seed."""
    per_cell = Counter(key[:2] for key in keys)
    return len({key[0] for key in keys}) > 1 and max(per_cell.values(), default=0) == 1


def modal_disagreement(verdicts: Iterable[str]) -> tuple[str, float]:
    """The most common verdict (ties: the first in alphabetical order) and the share of the others."""
    tally = Counter(verdicts)
    verdict = min(tally, key=lambda v: (-tally[v], v))
    return verdict, 1 - tally[verdict] / sum(tally.values())


def projected(
    decide_from_runs: resampling.DecideFromRuns,
    runs: Sequence[Run],
    n_seeds: int,
    n_draws: int = PROJECTION_DRAWS,
    seed: int = resampling.SEED,
    independent_by: resampling.Stratum | None = None,
) -> tuple[str, float]:
    """(verdict, disagreement) of simulated studies with `n_seeds` seeds per cell: the verdict they most often
    give and the share that give another."""
    grouped = resampling.replicates(runs, independent_by)
    multiplicities = projected_counts(list(grouped), n_seeds, n_draws, np.random.default_rng(seed))
    return modal_disagreement(decide_from_runs(study) for study in resampling.studies(grouped, multiplicities))


def settle(
    decide_from_runs: resampling.DecideFromRuns,
    runs: Sequence[Run],
    cap: int = CAP,
    n_draws: int = resampling.DRAWS,
    projection_draws: int = PROJECTION_DRAWS,
    seed: int = resampling.SEED,
    independent_by: resampling.Stratum | None = None,
) -> Settling:
    """The Settling of decide_from_runs(runs): its bootstrap disagreement and, when over SETTLED_AT, the
    smallest seeds per cell (up to `cap`) whose projected studies settle."""
    seeds = seeds_per_cell(runs, independent_by)
    rate = resampling.disagreement(decide_from_runs, runs, n_draws, seed, independent_by)
    if rate <= SETTLED_AT:
        return Settling(rate, seeds, seeds, decide_from_runs(list(runs)), cap)
    for n_seeds in range(seeds + 1, cap + 1):
        verdict, projected_rate = projected(decide_from_runs, runs, n_seeds, projection_draws, seed, independent_by)
        if projected_rate <= SETTLED_AT:
            return Settling(rate, seeds, n_seeds, verdict, cap)
    return Settling(rate, seeds, None, None, cap)


def settle_count(
    decide_from_count: DecideFromCount,
    successes: int,
    runs: int,
    cap: int = CAP,
    n_draws: int = resampling.DRAWS,
    seed: int = resampling.SEED,
) -> Settling:
    """The Settling of decide_from_count(successes, runs), reruns drawn from the Jeffreys posterior of the rate:
    at `runs` runs against today's verdict, at more against the verdict they most often give."""
    rng = np.random.default_rng(seed)
    observed = decide_from_count(successes, runs)
    reruns = rerun_successes(successes, runs, runs, n_draws, rng)
    rate = float(np.mean([decide_from_count(int(k), runs) != observed for k in reruns]))
    if rate <= SETTLED_AT:
        return Settling(rate, runs, runs, observed, cap)
    for n_runs in range(runs + 1, cap + 1):
        reruns = rerun_successes(successes, runs, n_runs, n_draws, rng)
        verdict, projected_rate = modal_disagreement(decide_from_count(int(k), n_runs) for k in reruns)
        if projected_rate <= SETTLED_AT:
            return Settling(rate, runs, n_runs, verdict, cap)
    return Settling(rate, runs, None, None, cap)


def seeds_per_cell(runs: Sequence[Run], independent_by: resampling.Stratum | None = None) -> int:
    """A study's seeds per cell: the most seeds any data seed (and stratum) of `runs` holds, or where each seed
    drew its own subset (follows_seed) the most data seeds any stratum holds."""
    keys = list(resampling.replicates(runs, independent_by))
    if follows_seed(keys):
        return max(Counter(key[1] for key in keys).values())
    return max(Counter(key[:2] for key in keys).values(), default=0)


def next_wave(
    rows_status: Mapping[str, str],
    cells_read_by_row: Mapping[str, Iterable[Hashable]],
    seeds_done_per_cell: Mapping[Hashable, int],
    cap: int = CAP,
    step: int = 1,
) -> dict[Hashable, int]:
    """{cell: seeds to add} for the next wave; {} when every row is settled or its cells are at the cap.

    Only the cells an unsettled row reads get seeds. Within such a row, cells behind its best-seeded cell catch
    up first (a row compares its cells over the seeds they share), otherwise all its cells get `step` more;
    never past `cap`. A cell read by several unsettled rows gets the most any of them asks for."""
    unknown = {status for status in rows_status.values()} - {"settled", "unsettled"}
    if unknown:
        raise ValueError(f"a row's status is 'settled' or 'unsettled', not {sorted(unknown)}")
    wanted: dict[Hashable, int] = {}
    for row, status in sorted(rows_status.items()):
        cells = list(cells_read_by_row.get(row, ()))
        if status == "settled" or not cells:
            continue
        done = [seeds_done_per_cell.get(cell, 0) for cell in cells]
        target = min(cap, max(max(done), min(done) + step))
        for cell, seeds in zip(cells, done):
            if target > seeds:
                wanted[cell] = max(wanted.get(cell, 0), target - seeds)
    return wanted


def sequential_note(cap: int) -> str:
    """What a report says of a study whose seeds were added until its rows settled, up to `cap` per cell
    (an experiment's settle section): the design and the error rate it was simulated at (module docstring)."""
    return (
        "after its own seeds the experiment adds seeds, wave by wave, to the cells that unsettled rows read (one "
        f"more per wave, a row's lagging cells first) until every row is settled or its cells hold {cap} seeds "
        "(the cap, fixed in the experiment file before any seed ran); the runs below show what each cell got. "
        "Every wave's report reads the rules "
        "at their own 95% level, as a fixed design would, so each wave is another look: simulated "
        "(benchmarks/settling_error_rates.py, one row, before the family-wise test), the design calls a null "
        "effect supported or contradicted in 8% of studies at cap 6 and 10% at cap 10, against 5% for a fixed "
        "number of seeds; a 98% interval at every look would hold it at 4.3%, and these rules do not use one"
    )
