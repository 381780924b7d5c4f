"""The command line as a user meets it: output, exit codes, one-line errors for bad input."""

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
