"""Seeds until settled (an experiment's `settle` section): the cells each wave after the experiment's own adds.

A family is the cells of one configuration that differ only in their seed (and in their data seed, where it
follows the seed: Group.data_seed_follows_seed): the replicates a row's interval is taken over. A family's
k-th added seed is the k-th number after its largest own seed, and always makes the same cell, so the run
directories say what earlier waves added: a stopped `cnnvit run` finds them again (added_cells) and the
same command resumes. A family holds at most `cap` cells, its own included.

Which families get seeds is report/settling.py's next_wave, from each row's verdict and the runs it read: only
those an unsettled row reads, one seed more per wave (a row's lagging cells catching up first), never past
the cap. A family's next cells are its first ones not finished and not failed, so a failed seed is not tried
again and is not replaced: a family with one can stop short of the cap.
"""

from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import PurePosixPath

from ..rundir import run_name
from .experiment import Cell, Experiment, expand, reseeded


def family_key(cell: Cell) -> str:
    """A cell's configuration less its seed (and its data seed where it follows): its run name at seed 0, marked
    when the data seed follows, so that the two relations never share a family."""
    follows = cell.data_seed_follows_seed
    return run_name(reseeded(cell.config, 0, follows)) + (" (data seed follows)" if follows else "")


@dataclass
class Family:
    """Cells that are replicates of one configuration: the experiment's own, in the order they expand."""

    own: list[Cell]

    @property
    def key(self) -> str:
        return family_key(self.own[0])

    def added(self, k: int) -> Cell:
        """Its k-th added seed (k = 1, 2, ...): the seed after its largest own one by k, with the probes and groups
        of every own cell (a new seed is measured as its siblings are)."""
        template = self.own[0]
        seed = max(cell.config.seed for cell in self.own) + k
        config = reseeded(template.config, seed, template.data_seed_follows_seed)
        groups = list(dict.fromkeys(group for cell in self.own for group in cell.groups))
        probes = set().union(*(cell.probes for cell in self.own))
        return Cell(run_name(config), config, groups, probes, template.data_seed_follows_seed)

    def members(self, cap: int) -> list[Cell]:
        """Its own cells, then the seeds it may add up to `cap` cells in all."""
        return self.own + [self.added(k) for k in range(1, cap - len(self.own) + 1)]


def families(cells: list[Cell]) -> list[Family]:
    """The experiment's cells grouped into families, in the order of their first cell."""
    grouped: dict[str, Family] = {}
    for cell in cells:
        grouped.setdefault(family_key(cell), Family([])).own.append(cell)
    return list(grouped.values())


def added_cells(cells: list[Cell], cap: int, exists: Callable[[Cell], bool]) -> list[Cell]:
    """The seeds earlier waves added to the experiment's `cells`: every member up to the cap whose run directory
    `exists`."""
    return [cell for family in families(cells) for cell in family.members(cap)[len(family.own) :] if exists(cell)]


@dataclass
class SeedWave:
    """The next wave of seeds: its cells, and the unsettled rows that asked for them or get none."""

    cells: list[Cell]
    rows: list[str]  # unsettled rows whose cells get seeds
    left: list[str]  # unsettled rows that get none: their cells at the cap, failed, or not the experiment's


def next_seed_wave(experiment: Experiment, claims: list, runs: list, skip: Collection[str] = ()) -> SeedWave:
    """The wave that `experiment.settle` adds after a report of `claims` (report ClaimResults, in a results
    directory holding `runs`); its cells are none when every row is settled or at the cap. Cells named in `skip`
    (failed in this run) are not tried again."""
    from ..report import settling  # deferred: the report's statistics (scipy), which planning a run never needs
    from ..report.evaluate import runs_read

    cap = experiment.settle.cap
    every = families(expand(experiment))
    family_of = {cell.name: family.key for family in every for cell in family.members(cap)}
    done = {_name(run) for run in runs if run.status == "done"}
    ended = done | {_name(run) for run in runs if run.status == "failed"} | set(skip)
    by_id = {claim.claim_id: claim for claim in claims}
    status = {claim.claim_id: "unsettled" if claim.verdict == "unsettled" else "settled" for claim in claims}
    read = {
        claim.claim_id: sorted({family_of[_name(run)] for run in runs_read(claim, by_id) if _name(run) in family_of})
        for claim in claims
    }
    seeds_done = {family.key: sum(cell.name in done for cell in family.members(cap)) for family in every}
    wanted = settling.next_wave(status, read, seeds_done, cap)
    cells = []
    for family in every:
        fresh = [cell for cell in family.members(cap) if cell.name not in ended]
        cells += fresh[: wanted.get(family.key, 0)]
    keys = {family_of[cell.name] for cell in cells}
    unsettled = [row for row, state in status.items() if state == "unsettled"]
    return SeedWave(
        cells,
        rows=[row for row in unsettled if keys & set(read[row])],
        left=[row for row in unsettled if not keys & set(read[row])],
    )


def _name(run) -> str:
    """A run's directory name (its cell's name) from its path in the results directory."""
    return PurePosixPath(run.path).name
