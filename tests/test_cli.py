"""The command line as a user meets it: output, exit codes, one-line errors for bad input."""

import pytest
from typer.testing import CliRunner

from cnn_vs_vit.cli import app

runner = CliRunner()
TINY = ["--dataset", "shapes", "--steps", "3", "data.image_size=16", "train.batch_size=8", "threads=1"]


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_train_prints_the_run_directory_and_reruns_instantly(tmp_path):
    first = run("train", "--model", "resnet-xs", "--out", tmp_path / "run", *TINY)
    assert first.exit_code == 0, first.output
    assert first.stdout.strip().splitlines()[-1] == str(tmp_path / "run")
    assert (tmp_path / "run" / "DONE").exists()
    again = run("train", "--model", "resnet-xs", "--out", tmp_path / "run", *TINY)
    assert again.exit_code == 0 and again.stdout == first.stdout


def test_config_file_options_and_overrides_combine(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("model: {name: vit-xs, patch_size: 4}\ntrain: {lr: 0.0005}\n")
    result = run("train", "--config", config, "--out", tmp_path / "run", *TINY, "train.lr=0.002")
    assert result.exit_code == 0, result.output
    resolved = (tmp_path / "run" / "config.yaml").read_text()
    assert "name: vit-xs" in resolved and "lr: 0.002" in resolved and "steps: 3" in resolved


def test_models_lists_every_preset_with_parameters():
    result = run("models")
    assert result.exit_code == 0
    for name in ("resnet-s", "vit-s", "torchvision:resnet18", "torchvision:vit_b_16"):
        assert name in result.stdout


def test_help_explains_the_commands():
    result = run("--help")
    assert result.exit_code == 0 and "train" in result.stdout and "models" in result.stdout


def malformed_yaml(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("train: {steps: 3\n  lr: [")
    return path


def yaml_list(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    return path


BAD_INPUTS = {
    "unknown model": (["--model", "vit-x"], 'unknown model "vit-x"'),
    "unknown dataset": (["--dataset", "cifar11"], 'unknown dataset "cifar11"'),
    "fraction zero": (["--fraction", "0"], "must be in (0, 1]"),
    "fraction above one": (["--fraction", "1.5"], "must be in (0, 1]"),
    "patch does not divide image": (["--model", "vit-s", "--dataset", "shapes"], "not divisible by the patch size 7"),
    "missing dataset files": (["--dataset", "cifar10", "--data-root", "{tmp}/nowhere"], "nowhere"),
    "missing config file": (["--config", "{tmp}/absent.yaml"], "config file not found"),
    "malformed config": (["--config", malformed_yaml], "not valid YAML"),
    "config not a mapping": (["--config", yaml_list], "must hold a mapping"),
    "unknown key": (["train.setps=4"], 'did you mean "train.steps"'),
    "wrong type": (["train.lr=fast"], "train.lr"),
    "both budgets": (["--steps", "4", "--epochs", "2"], "not both"),
    "negative steps": (["--steps", "-4"], "train.steps"),
    "override without =": (["train.lr"], "not key=value"),
    "bad model option": (["--model", "vit-s", "model.pos_embed=sinusoidal"], "pos_embed"),
}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, case):
    args, message = BAD_INPUTS[case]
    args = [a(tmp_path) if callable(a) else a.replace("{tmp}", str(tmp_path)) for a in args]
    result = run("train", "--out", tmp_path / "run", *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
