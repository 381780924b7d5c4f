"""Seeds until settled: after an experiment's own waves, waves of seeds for the cells of unsettled rows.

Training and the report stand in as fakes (runner.train_cells writes finished run directories, the report's
rows are unsettled until their cells hold the seeds a test says), so each loop takes seconds; what they stand
for is tested in test_matrix.py and test_report*.py.
"""

import contextlib
import json

import pytest
import yaml

from cnn_vs_vit import rundir
from cnn_vs_vit.errors import CnnvitError
from cnn_vs_vit.matrix import runner
from cnn_vs_vit.matrix.experiment import expand, load_experiment
from cnn_vs_vit.matrix.run import CellsFailed, run_matrix
from cnn_vs_vit.matrix.seed_waves import families
from cnn_vs_vit.report import build
from cnn_vs_vit.report.claim_types import ClaimResult
from cnn_vs_vit.report.runs import load_runs

EXPERIMENT = """\
name: settle
budget: 2 steps for every cell
base:
  data: {name: shapes, image_size: 16}
  train: {steps: 2}
groups:
  fractions:
    axes: {model.name: [resnet-xs, vit-xs], seed: [0, 1, 2], data.fraction: [0.5, 1.0]}
    data_seed_follows_seed: true
settle: {cap: 5}
"""
# The fake report's rows: row "small" reads the cells at fraction 0.5, row "full" those at 1.0.
ROWS = {"small": 0.5, "full": 1.0}


def write(tmp_path, text: str = EXPERIMENT):
    path = tmp_path / "experiment.yaml"
    path.write_text(text)
    return load_experiment(path)


class FakeTraining:
    """runner.train_cells without training: a finished run directory per cell (exit code 0, or `codes[seed]`);
    `stop_at` raises KeyboardInterrupt instead of training the wave that holds that seed, as a Ctrl-C would."""

    def __init__(self, codes: dict[int, int] | None = None, stop_at: int | None = None):
        self.codes, self.stop_at, self.trained = codes or {}, stop_at, []

    def __call__(self, cells, jobs, on_done, probes=None, compiled=None):
        if self.stop_at in {p.cell.config.seed for p in cells}:
            raise KeyboardInterrupt
        for planned in cells:
            self.trained.append(planned.cell.name)
            run, config = rundir.RunDir(planned.run_dir), planned.cell.config
            run.path.mkdir(parents=True, exist_ok=True)
            (run.path / rundir.CONFIG).write_text(yaml.safe_dump(config.model_dump(mode="json")))
            code = self.codes.get(config.seed, 0)
            if code:
                (run.path / rundir.FAILED).write_text(json.dumps({"error": "fake"}))
            else:
                summary = {"seed": config.seed, "data_seed": config.data.data_seed, "fraction": config.data.fraction}
                (run.path / rundir.SUMMARY).write_text(json.dumps(summary))
                (run.path / rundir.WEIGHTS).write_bytes(b"weights")
                run.mark_done()
            on_done(planned, code)


class FakeReport:
    """The report's two steps: each row is unsettled until every cell it reads holds `needs[row]` finished seeds;
    every report written is recorded with whether it was provisional."""

    def __init__(self, needs: dict[str, int]):
        self.needs, self.written = needs, []

    def measure_study(self, out):
        runs = load_runs(out)
        claims = []
        for row, fraction in ROWS.items():
            read = [run for run in runs if run.status == "done" and run.summary["fraction"] == fraction]
            per_cell = min(sum(r.config["model"]["name"] == m for r in read) for m in ("resnet-xs", "vit-xs"))
            verdict = "unsettled" if per_cell < self.needs.get(row, 0) else "supported"
            claims.append(ClaimResult(claim_id=row, verdict=verdict, runs=read))
        return build.Study([out], {}, runs, claims, {})

    def write_report(self, study, out_dir=None, *, provisional=False):
        out = study.dirs[0]
        for name in ("report.md", "claims.csv", "runs.csv"):  # what freshness looks for
            (out / name).write_text(f"provisional: {provisional}\n")
        self.written.append((provisional, {c.claim_id: c.verdict for c in study.claims}))
        return build.Report(study.claims, study.runs, [], {})


class Progress:
    def __init__(self):
        self.wave, self.said = 1, []

    def say(self, text):
        self.said.append(text)

    def cell_done(self, planned, code):
        pass

    def probe_step(self, step):
        pass

    def wave_added(self, cells):
        pass

    @contextlib.contextmanager
    def paused(self):
        yield


def run(experiment, out, monkeypatch, training: FakeTraining, report: FakeReport) -> Progress:
    monkeypatch.setattr(runner, "train_cells", training)
    monkeypatch.setattr(build, "measure_study", report.measure_study)
    monkeypatch.setattr(build, "write_report", report.write_report)
    progress = Progress()
    run_matrix(experiment, out, runner.plan(experiment, out), 1, report=True, progress=progress)
    return progress


def seeds_of(names, out) -> list[tuple[str, float, int, int]]:
    """(model, fraction, seed, data seed) of each trained cell, from its run directory's config."""
    found = []
    for name in names:
        config = yaml.safe_load((out / rundir.RUNS / name / rundir.CONFIG).read_text())
        found.append((config["model"]["name"], config["data"]["fraction"], config["seed"], config["data"]["data_seed"]))
    return sorted(found)


def test_seeds_go_only_to_the_cells_an_unsettled_row_reads_and_stop_once_it_settles(tmp_path, monkeypatch):
    experiment, out = write(tmp_path), tmp_path / "out"
    training, report = FakeTraining(), FakeReport({"small": 4})
    progress = run(experiment, out, monkeypatch, training, report)
    added = seeds_of(training.trained[12:], out)  # after the experiment's own 12 cells
    # one wave: seed 3 for both models at fraction 0.5, each subset drawn with its seed; fraction 1.0 untouched
    assert added == [("resnet-xs", 0.5, 3, 3), ("vit-xs", 0.5, 3, 3)]
    # a report per wave: after seeds 0 and 1, after seed 2 (provisional: seeds follow), after seed 3 (final)
    assert [provisional for provisional, _ in report.written] == [True, True, True, False]
    assert report.written[-1][1] == {"small": "supported", "full": "supported"}
    assert any(
        line.startswith("seeds until settled, wave 1: 2 cells for the unsettled rows small") for line in progress.said
    )
    assert any("wave 1 trained in" in line for line in progress.said)


def test_seeds_stop_at_the_cap_with_the_rows_left_unsettled_named(tmp_path, monkeypatch):
    experiment, out = write(tmp_path), tmp_path / "out"
    training, report = FakeTraining(), FakeReport({"small": 99})
    progress = run(experiment, out, monkeypatch, training, report)
    added = seeds_of(training.trained[12:], out)
    assert sorted(seed for *_, seed, _ in added) == [3, 3, 4, 4]  # cap 5 seeds per cell: two waves
    assert [provisional for provisional, _ in report.written] == [True, True, True, True, False]
    assert report.written[-1][1]["small"] == "unsettled"
    assert any("small still unsettled, their cells at the cap of 5 seeds" in line for line in progress.said)


def test_a_stop_between_waves_keeps_its_report_and_the_same_command_resumes_without_retraining(tmp_path, monkeypatch):
    experiment, out = write(tmp_path), tmp_path / "out"
    report = FakeReport({"small": 99})
    with pytest.raises(KeyboardInterrupt):  # Ctrl-C as the second wave of seeds (seed 4) starts
        run(experiment, out, monkeypatch, FakeTraining(stop_at=4), report)
    assert report.written[-1][0] is True and (out / "report.md").read_text() == "provisional: True\n"
    states = {p.cell.name: p.state for p in runner.plan(experiment, out)}
    assert len(states) == 14 and set(states.values()) == {"done"}  # the seeds added so far are found again
    again = FakeTraining()
    run(experiment, out, monkeypatch, again, FakeReport({"small": 99}))
    assert seeds_of(again.trained, out) == [("resnet-xs", 0.5, 4, 4), ("vit-xs", 0.5, 4, 4)]
    # once the loop has ended, a rerun trains nothing and leaves the report as it is
    last, final = FakeTraining(), FakeReport({"small": 99})
    progress = run(experiment, out, monkeypatch, last, final)
    assert last.trained == [] and final.written == [] and any("is up to date" in line for line in progress.said)


def test_a_failed_seed_is_not_tried_again_nor_replaced(tmp_path, monkeypatch):
    experiment, out = write(tmp_path), tmp_path / "out"
    training = FakeTraining(codes={3: 3})  # every seed-3 cell fails (exit code 3)
    with pytest.raises(CellsFailed, match="2 of 16 cells failed"):
        run(experiment, out, monkeypatch, training, FakeReport({"small": 99}))
    # seed 3 failed in both cells: seed 4 still runs (each cell then has 4 of its 5), and nothing is retried
    assert sorted(seed for *_, seed, _ in seeds_of(training.trained[12:], out)) == [3, 3, 4, 4]


def test_without_a_settle_section_there_is_no_wave_of_seeds(tmp_path, monkeypatch):
    experiment = write(tmp_path, EXPERIMENT.replace("settle: {cap: 5}\n", ""))
    training, report = FakeTraining(), FakeReport({"small": 99})
    run(experiment, tmp_path / "out", monkeypatch, training, report)
    assert len(training.trained) == 12 and [p for p, _ in report.written] == [True, True, False]


def test_a_data_seed_that_follows_the_seed_gives_every_seed_its_own_subset_and_families_group_them(tmp_path):
    experiment = write(tmp_path)
    cells = expand(experiment)
    assert {(c.config.seed, c.config.data.data_seed) for c in cells} == {(0, 0), (1, 1), (2, 2)}
    grouped = families(cells)
    assert len(grouped) == 4 and all(len(family.own) == 3 for family in grouped)
    added = grouped[0].added(1)
    assert (added.config.seed, added.config.data.data_seed, added.groups) == (3, 3, ["fractions"])
    assert added.name == grouped[0].added(1).name  # the same cell every time: a rerun finds it again
    probed = EXPERIMENT.replace("    data_seed_follows_seed", "    probes: [shift]\n    data_seed_follows_seed")
    assert families(expand(write(tmp_path, probed)))[0].added(1).probes == {"shift"}  # measured as its siblings
    plain = expand(write(tmp_path, EXPERIMENT.replace("    data_seed_follows_seed: true\n", "")))
    assert {c.config.data.data_seed for c in plain} == {0}
    assert families(plain)[0].added(1).config.data.data_seed == 0


def test_an_experiment_without_the_new_keys_writes_the_experiment_yaml_it_wrote_before(tmp_path):
    plain = write(
        tmp_path, EXPERIMENT.replace("settle: {cap: 5}\n", "").replace("    data_seed_follows_seed: true\n", "")
    )
    dumped = plain.model_dump(mode="json")
    assert "settle" not in dumped and "data_seed_follows_seed" not in dumped["groups"]["fractions"]
    assert write(tmp_path).model_dump(mode="json")["settle"] == {"cap": 5}


@pytest.mark.parametrize(
    "change, message",
    [
        ({"settle: {cap: 5}": "settle: {cap: 20}"}, "settle.cap: the cap is 2 to 10 seeds per cell"),
        ({"settle: {cap: 5}": "settle: {}"}, "settle.cap: Field required"),
        ({"settle: {cap: 5}": "settle: {cap: 5, alpha: 0.02}"}, 'unknown key "settle.alpha"'),
        ({"settle: {cap: 5}": "settle: 10"}, "settle: Input should be a valid dictionary"),
        ({"data.fraction: [0.5, 1.0]}": "data.fraction: [0.5, 1.0], data.data_seed: [0, 1]}"}, "keep one"),
        ({"image_size: 16}": "image_size: 16, data_seed: 1}"}, "remove data.data_seed from base"),
        (
            {
                "axes: {model.name: [resnet-xs, vit-xs], seed: [0, 1, 2], data.fraction: [0.5, 1.0]}": (
                    "axes: {model.name: [resnet-xs]}\n    zip: [{seed: [0, 1], data.data_seed: [0, 1]}]"
                ),
                "    data_seed_follows_seed: true\n": "",
            },
            "write data_seed_follows_seed: true instead",
        ),
    ],
)
def test_a_bad_settle_section_or_data_seed_relation_is_a_one_line_error_with_its_fix(tmp_path, change, message):
    text = EXPERIMENT
    for old, new in change.items():
        assert old in text
        text = text.replace(old, new)
    with pytest.raises(CnnvitError, match=message.replace("(", r"\(").replace(".", r"\.")) as info:
        write(tmp_path, text)
    assert "\n" not in str(info.value)


def test_groups_that_share_a_cell_must_agree_on_whether_its_data_seed_follows(tmp_path):
    shared = "  baseline:\n    axes: {model.name: [resnet-xs], seed: [0], data.fraction: [1.0]}\n"
    text = EXPERIMENT.replace("settle: {cap: 5}\n", shared)
    with pytest.raises(CnnvitError, match="only fractions sets data_seed_follows_seed; set it in both or in neither"):
        expand(write(tmp_path, text))
