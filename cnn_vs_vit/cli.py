"""The `cnnvit` command line: parse, validate, call the library, print. No logic of its own."""

import hashlib
import json
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from .errors import CnnvitError

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Measure how ResNets and Vision Transformers differ: train both on matched data, probe, report.",
)
out = Console()
err = Console(stderr=True)


@contextmanager
def user_errors():
    """Every CnnvitError becomes one line on stderr and its exit code; nothing else is caught."""
    try:
        yield
    except CnnvitError as error:
        err.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        raise typer.Exit(error.exit_code) from None


@app.command()
def train(
    overrides: Annotated[Optional[list[str]], typer.Argument(help="Dotted overrides, e.g. train.lr=1e-3 model.pos_embed=none.", show_default=False)] = None,
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Model preset (see `cnnvit models`).")] = None,
    dataset: Annotated[Optional[str], typer.Option("--dataset", "-d", help="mnist5k, digits, shapes, cifar10, cifar100, mnist, fashion-mnist, svhn or imagefolder:PATH.")] = None,
    fraction: Annotated[Optional[float], typer.Option(help="Fraction of the training split in (0, 1], stratified and nested.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Training seed: initialisation, data order, augmentation.")] = None,
    data_seed: Annotated[Optional[int], typer.Option(help="Seed of the data subset, independent of --seed.")] = None,
    steps: Annotated[Optional[int], typer.Option(help="Optimiser steps (the budget); default 600.")] = None,
    epochs: Annotated[Optional[float], typer.Option(help="Budget in epochs of the subset instead of --steps.")] = None,
    out_dir: Annotated[Optional[Path], typer.Option("--out", help="Run directory (default results/runs/<model>_<dataset>_...).")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="YAML file with any of the keys; options and overrides win.")] = None,
    data_root: Annotated[Optional[Path], typer.Option(help="Where file-based datasets live (default ./data).")] = None,
    download: Annotated[bool, typer.Option("--download", help="Allow downloading a torchvision dataset into --data-root.")] = False,
    restart: Annotated[bool, typer.Option("--restart", help="Discard this run directory's results and train from scratch.")] = False,
) -> None:
    """Train one run into a run directory and print its path.

    Rerunning the same command on a finished run does nothing; on an interrupted run it resumes.
    """
    from .config import build_config, read_yaml
    from .training import train_run

    with user_errors():
        tree = read_yaml(config) if config else {}
        options = {"model.name": model, "data.name": dataset, "data.fraction": fraction, "seed": seed,
                   "data.data_seed": data_seed, "train.steps": steps, "train.epochs": epochs,
                   "data.root": str(data_root) if data_root else None, "data.download": download or None}  # fmt: skip
        from_options = [f"{key}={json.dumps(value)}" for key, value in options.items() if value is not None]
        run_config = build_config(tree, [*from_options, *(overrides or [])], where=str(config or "options"))
        run_dir = out_dir or default_run_dir(run_config)
        summary = train_run(run_config, run_dir, progress=err.is_terminal, restart=restart)
        err.print(
            f"{summary['model']} on {summary['dataset']} (fraction {summary['fraction']}, seed {summary['seed']}): "
            f"test accuracy {summary['test_accuracy']:.2%}, {summary['wall_time_s']:.0f} s",
            highlight=False,
        )
        print(run_dir)


def default_run_dir(config) -> Path:
    """results/runs/<model>_<dataset>_f<fraction>_s<seed>_<hash of the whole config>: same command, same directory."""
    digest = hashlib.sha256(json.dumps(config.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()[:8]
    dataset = config.data.name.replace("/", "_").replace(":", "-")
    return Path("results") / "runs" / f"{config.model.name}_{dataset}_f{config.data.fraction:g}_s{config.seed}_{digest}"


@app.command()
def models(
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Size the models for this dataset's images and classes.")] = "mnist5k",
    data_root: Annotated[Optional[Path], typer.Option(help="Where file-based datasets live.")] = None,
) -> None:
    """List the model presets with parameter counts and training FLOPs per image."""
    from .data import load_dataset
    from .models import MODEL_NAMES, PRESETS, build_model

    with user_errors():
        data = load_dataset(dataset, root=data_root)
        table = Table(title=f"models for {dataset} ({'x'.join(map(str, data.image_shape))}, {data.num_classes} classes)")
        for column in ("model", "arch", "parameters", "train MFLOPs/image", "specification"):
            table.add_column(column, justify="right" if column in ("parameters", "train MFLOPs/image") else "left")
        for name in MODEL_NAMES:
            model = build_model(name, image_shape=data.image_shape, num_classes=data.num_classes)
            spec = PRESETS.get(name)
            described = ", ".join(f"{k}={v}" for k, v in spec.model_dump().items()) if spec else "adapted to the image size"
            table.add_row(name, model.arch, f"{model.num_params:,}",
                          f"{model.train_flops_per_image(data.image_shape) / 1e6:,.1f}", described)  # fmt: skip
        out.print(table)


def main() -> None:
    app()


if __name__ == "__main__":
    sys.exit(main())
