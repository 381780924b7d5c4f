"""Bad input to every command: one line naming the problem and the fix, exit code 2, no traceback,
and the results already on disk untouched (checked byte for byte after every case)."""

import hashlib

import pytest
from typer.testing import CliRunner

from cnn_vs_vit import rundir
from cnn_vs_vit.cli import app, main
from cnn_vs_vit.locks import LOCK

EXPERIMENT = """\
name: tiny
budget: 2 steps
base:
  data: {name: shapes, image_size: 16}
  train: {steps: 2, batch_size: 8}
groups:
  g:
    axes: {model.name: [resnet-xs]}
    probes: [shift]
probe_shift: {images: 8, mode: circular, shifts: [0, 1]}
"""
TINY = ["--dataset", "shapes", "--steps", "2", "data.image_size=16", "train.batch_size=8", "threads=1"]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """A finished experiment (trained, probed, reported): what every bad command must leave alone."""
    root = tmp_path_factory.mktemp("bad_input")
    (root / "tiny.yaml").write_text(EXPERIMENT)
    done = CliRunner().invoke(app, ["run", str(root / "tiny.yaml"), "--out", str(root / "results")])
    assert done.exit_code == 0, done.output
    return root


def snapshot(directory) -> dict:
    return {p.relative_to(directory): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file() and p.name != LOCK}  # fmt: skip


def write(path, text):
    path.write_text(text)
    return path


def experiment_with(root, name: str, groups: str):
    return write(root / f"{name}.yaml", EXPERIMENT.split("groups:")[0] + groups)


# (arguments, a fragment of the expected message); in arguments {run}, {results} and {tmp} are
# replaced by the finished run directory, the finished results directory and a fresh directory.
CASES = {
    # cnnvit train
    "unknown model": (["train", "--model", "vit-x"], 'unknown model "vit-x" (did you mean "vit-xs"?)'),
    "unknown dataset": (["train", "--dataset", "cifar11"], 'unknown dataset "cifar11"'),
    "fraction zero": (["train", "--fraction", "0", *TINY], "must be in (0, 1]"),
    "fraction above one": (["train", "--fraction", "1.5", *TINY], "must be in (0, 1]"),
    "fraction not a number": (["train", "--fraction", "abc"], "Invalid value for '--fraction'"),
    "patch does not divide the image": (
        ["train", "--model", "vit-s", "--dataset", "shapes", "model.patch_size=7"],
        "not divisible by the patch size 7",
    ),
    "missing dataset files": (["train", "--dataset", "cifar10", "--data-root", "{tmp}/nowhere"], "pass --download"),
    "missing config file": (["train", "--config", "{tmp}/absent.yaml"], "config file not found"),
    "malformed config": (["train", "--config", "{tmp}/bad.yaml"], "not valid YAML"),
    "config not a mapping": (["train", "--config", "{tmp}/list.yaml"], "must hold a mapping"),
    "misspelt key": (["train", "train.setps=4"], 'did you mean "train.steps"'),
    "wrong type": (["train", "train.lr=fast"], "train.lr"),
    "both budgets": (["train", "--steps", "4", "--epochs", "2"], "not both"),
    "negative steps": (["train", "--steps", "-4"], "train.steps"),
    "zero batch size": (["train", "train.batch_size=0"], "train.batch_size"),
    "step bounds without epochs": (["train", "train.min_steps=20"], "set train.epochs too"),
    "override without =": (["train", "train.lr"], "not key=value"),
    "bad model option": (["train", "--model", "vit-s", "model.pos_embed=sinusoidal"], "pos_embed"),
    "option of the other architecture": (["train", "--model", "resnet-s", "model.patch_size=4"], "patch_size"),
    "too small an image": (["train", "data.image_size=2"], "data.image_size"),
    "image folder without a path": (["train", "--dataset", "imagefolder:"], "names no folder"),
    "image folder that does not exist": (["train", "--dataset", "imagefolder:{tmp}/photos"], "photos"),
    "another run's directory": (["train", "--model", "resnet-s", "--out", "{run}", *TINY], "holds a different run"),
    "unknown option": (["train", "--bogus"], "No such option: --bogus"),
    # cnnvit run
    "missing experiment": (["run", "{tmp}/absent.yaml"], "config file not found"),
    "malformed experiment": (["run", "{tmp}/bad.yaml", "--out", "{results}"], "not valid YAML"),
    "unknown axis key": (["run", "{tmp}/axis.yaml", "--out", "{results}"], 'unknown key "trian"'),
    "empty axis": (["run", "{tmp}/empty.yaml", "--out", "{results}"], 'axis "seed" has no values'),
    "zipped axes of two lengths": (["run", "{tmp}/zip.yaml", "--out", "{results}"], "one non-zero length"),
    "unknown probe": (["run", "{tmp}/probe.yaml", "--out", "{results}"], "probes"),
    "settle cap beyond the measured": (
        ["run", "{tmp}/settle.yaml", "--out", "{results}"],
        "settle.cap: the cap is 2 to 10 seeds per cell",
    ),
    "zero jobs": (["run", "{tmp}/axis.yaml", "--jobs", "0"], "Invalid value for '--jobs'"),
    "experiment without data": (
        ["run", "{tmp}/cifar.yaml", "--out", "{results}", "--data-root", "{tmp}/nowhere"],
        "pass --download",
    ),
    "shard zero": (
        ["run", "{tmp}/axis.yaml", "--out", "{results}", "--shard", "0/4"],
        "shards of 4 are numbered 1 to 4",
    ),
    "shard beyond the count": (["run", "{tmp}/axis.yaml", "--out", "{results}", "--shard", "5/4"], "numbered 1 to 4"),
    "shard not I/N": (["run", "{tmp}/axis.yaml", "--out", "{results}", "--shard", "half"], '--shard "half" is not I/N'),
    # cnnvit probe-shift
    "not a run directory": (["probe-shift", "{tmp}"], "is not a run directory"),
    "shift larger than the image": (
        ["probe-shift", "{run}", "--shifts", "40"],
        "shift 40 is not smaller than the 16 px image",
    ),
    "fractional shift": (["probe-shift", "{run}", "--shifts", "1.5"], "not a whole number"),
    "unknown shift mode": (["probe-shift", "{run}", "--mode", "sideways"], 'unknown mode "sideways"'),
    "no images": (["probe-shift", "{run}", "--images", "0"], "--images 0 is not positive"),
    "nothing to probe": (["probe-shift"], "nothing to probe"),
    "named model without data": (
        ["probe-shift", "--model", "torchvision:resnet18"],
        "needs --dataset NAME and --out DIR",
    ),
    "unknown named model": (
        ["probe-shift", "--model", "torchvision:vgg", "--dataset", "shapes", "--out", "{tmp}/p"],
        "torchvision:vgg",
    ),
    "missing weights file": (
        [
            "probe-shift",
            "--model",
            "resnet-xs",
            "--dataset",
            "shapes",
            "--out",
            "{tmp}/p",
            "--weights",
            "{tmp}/absent.safetensors",
        ],
        "absent.safetensors",
    ),  # fmt: skip
    # cnnvit probe
    "unknown probe name": (["probe", "erf", "{run}"], 'unknown probe "erf"'),
    "probe of an unfinished directory": (["probe", "mixing", "{tmp}"], "is not a run directory"),
    # cnnvit report, models, the command itself
    "report on an empty directory": (["report", "{tmp}"], "no finished runs under"),
    "report on a missing directory": (["report", "{tmp}/absent"], "absent"),
    "models for an unknown dataset": (["models", "--dataset", "cifar11"], 'unknown dataset "cifar11"'),
    "models at a size of 0": (["models", "--image-size", "0"], "image size 0 is not a positive whole number"),
    "unknown command": (["trian"], "No such command 'trian'"),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_bad_input_is_one_line_exit_2_and_leaves_results_untouched(case, results, tmp_path, capsys):
    args, message = CASES[case]
    (run,) = (results / "results" / "runs").iterdir()
    write(tmp_path / "bad.yaml", "name: x\ngroups: [\n")
    write(tmp_path / "list.yaml", "- 1\n- 2\n")
    experiment_with(tmp_path, "axis", "groups:\n  g: {axes: {trian.steps: [1]}}\n")
    experiment_with(tmp_path, "empty", "groups:\n  g: {axes: {seed: []}}\n")
    experiment_with(tmp_path, "zip", "groups:\n  g: {zip: [{seed: [0, 1], train.steps: [3]}]}\n")
    experiment_with(tmp_path, "probe", "groups:\n  g: {axes: {seed: [0]}, probes: [erf]}\n")
    write(tmp_path / "settle.yaml", EXPERIMENT + "settle: {cap: 20}\n")
    write(tmp_path / "cifar.yaml", EXPERIMENT.replace("name: shapes, image_size: 16", "name: cifar10"))
    args = [a.replace("{tmp}", str(tmp_path)).replace("{run}", str(run)).replace("{results}", str(results / "results"))
            for a in args]  # fmt: skip
    before = snapshot(results)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    captured = capsys.readouterr()
    assert exit_info.value.code == 2, captured
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert message in lines[0]
    assert "Traceback" not in captured.out + captured.err
    assert snapshot(results) == before


def test_there_are_at_least_30_cases_across_every_command():
    commands = {args[0] for args, _ in CASES.values()}
    assert len(CASES) >= 30 and {"train", "run", "probe-shift", "probe", "report", "models"} <= commands
    assert rundir.WEIGHTS  # the fixture's run has weights: the probe cases reach the real checks
