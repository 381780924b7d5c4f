"""The `cnnvit` command line: parse, validate, call the library, print. No logic of its own."""

import json
import sys
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .config import RunConfig
from .errors import CnnvitError
from .probes import PROBES

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Measure how ResNets and Vision Transformers differ: train both on matched data, probe, report.",
)
out = Console()
DEFAULTS = RunConfig()  # what an option left unset falls back to, shown in --help
err = Console(stderr=True)


@contextmanager
def user_errors():
    """Every CnnvitError becomes one line on stderr and its exit code; nothing else is caught."""
    try:
        yield
    except CnnvitError as error:
        from .torchrun import reports

        if reports(error):  # under torchrun, rank 0 speaks for errors every rank meets alike
            err.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
        raise typer.Exit(error.exit_code) from None


@app.command()
def train(
    overrides: Annotated[
        Optional[list[str]],
        typer.Argument(help="Dotted overrides, e.g. train.lr=1e-3 model.pos_embed=none.", show_default=False),
    ] = None,
    model: Annotated[
        Optional[str],
        typer.Option("--model", "-m", help=f"Model preset (see `cnnvit models`). (default {DEFAULTS.model.name})"),
    ] = None,
    dataset: Annotated[
        Optional[str],
        typer.Option(
            "--dataset",
            "-d",
            help=f"mnist5k, digits, shapes, global-context, reach, reach-local, cifar10, cifar100, mnist, fashion-mnist, svhn or imagefolder:PATH. (default {DEFAULTS.data.name})",
        ),
    ] = None,
    fraction: Annotated[
        Optional[float],
        typer.Option(
            help=f"Fraction of the training split in (0, 1], stratified and nested. (default {DEFAULTS.data.fraction:g})"
        ),
    ] = None,
    seed: Annotated[
        Optional[int],
        typer.Option(help=f"Training seed: initialisation, data order, augmentation. (default {DEFAULTS.seed})"),
    ] = None,
    data_seed: Annotated[
        Optional[int],
        typer.Option(help=f"Seed of the data subset, independent of --seed. (default {DEFAULTS.data.data_seed})"),
    ] = None,
    steps: Annotated[
        Optional[int], typer.Option(help="Optimiser steps (the budget). (default 600: training/recipes.py)")
    ] = None,
    epochs: Annotated[
        Optional[float],
        typer.Option(
            help="Budget in epochs of the subset instead of --steps (with train.min_steps / max_steps to bound it)."
        ),
    ] = None,
    out_dir: Annotated[
        Optional[Path], typer.Option("--out", help="Run directory (default results/runs/<model>_<dataset>_...).")
    ] = None,
    config: Annotated[
        Optional[Path], typer.Option("--config", help="YAML file with any of the keys; options and overrides win.")
    ] = None,
    data_root: Annotated[Optional[Path], typer.Option(help="Where file-based datasets live (default ./data).")] = None,
    download: Annotated[
        bool, typer.Option("--download", help="Allow downloading a torchvision dataset into --data-root.", metavar="")
    ] = False,
    skip_corrupt: Annotated[
        bool,
        typer.Option(
            "--skip-corrupt",
            help="Image folders: leave unreadable images out (counted in the summary) instead of stopping.",
            metavar="",
        ),
    ] = False,
    restart: Annotated[
        bool, typer.Option("--restart", help="Discard this run directory's results and train from scratch.", metavar="")
    ] = False,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            help="Print nothing but errors: no progress bar, result line or path (cnnvit run reports its cells itself).",
            metavar="",
        ),
    ] = False,
) -> None:
    """Train one run into a run directory and print its path.

    Rerunning the same command on a finished run does nothing; on an interrupted run it resumes.
    Started by torchrun (torchrun --nproc_per_node N -m cnn_vs_vit train ...), the N processes
    train the run together, each on 1/N of every batch (train.batch_size is the global batch).
    """
    from .config import build_config, read_yaml
    from .rundir import run_name
    from .torchrun import is_main_process
    from .training import train_run

    with user_errors():
        tree = read_yaml(config) if config else {}
        options = {
            "model.name": model,
            "data.name": dataset,
            "data.fraction": fraction,
            "seed": seed,
            "data.data_seed": data_seed,
            "train.steps": steps,
            "train.epochs": epochs,
            "data.root": str(data_root) if data_root else None,
            "data.download": download or None,
            "data.skip_corrupt": skip_corrupt or None,
        }
        from_options = [f"{key}={json.dumps(value)}" for key, value in options.items() if value is not None]
        run_config = build_config(tree, [*from_options, *(overrides or [])], where=str(config or "options"))
        run_dir = out_dir or Path("results") / "runs" / run_name(run_config)
        summary = train_run(run_config, run_dir, progress=err.is_terminal and not quiet, restart=restart)
        if quiet or not is_main_process():  # under torchrun, rank 0 speaks for the run
            return
        err.print(
            f"{summary['model']} on {summary['dataset']} (fraction {summary['fraction']}, seed {summary['seed']}): "
            f"test accuracy {summary['test_accuracy']:.2%}, {summary['wall_time_s']:.0f} s",
            highlight=False,
        )
        print(run_dir)


@app.command()
def models(
    dataset: Annotated[
        str,
        typer.Option(
            "--dataset", "-d", help="Size the models for this dataset's images and classes (read without loading it)."
        ),
    ] = "mnist5k",
    image_size: Annotated[
        Optional[int],
        typer.Option(
            "--image-size",
            help="Images resized to N x N, as data.image_size=N does (default: the dataset's own size).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """List the model presets resolved for a dataset: patch size and tokens (ViTs), parameters, training FLOPs.

    A ViT preset takes the patch size models.patch_size_for gives at this image size (unless
    model.patch_size is set); "vs pair" is a preset's parameter count over the preset it is sized to match
    (e.g. vit-s's over resnet-s's), as its model family declares it.
    """
    import torch

    from .data.registry import dataset_shape
    from .models import MODEL_NAMES, build_model, matched_preset

    with user_errors():
        shape, classes = dataset_shape(dataset, image_size=image_size)
        table = Table(title=f"models for {dataset} ({'x'.join(map(str, shape))}, {classes} classes)")
        for column, justify in (
            ("model", "left"),
            ("arch", "left"),
            ("patch", "right"),
            ("tokens", "right"),
            ("parameters", "right"),
            ("vs pair", "right"),
            ("train MFLOPs/image", "right"),
            ("specification", "left"),
        ):
            table.add_column(column, justify=justify, no_wrap=column == "model")
        built = {}
        for name in MODEL_NAMES:
            try:
                with torch.device("meta"):  # shapes only: no weights are allocated or initialised (ViT-B/16: 4 s)
                    built[name] = build_model(name, image_shape=shape, num_classes=classes)
            except CnnvitError as error:  # e.g. a model that cannot take images this small
                built[name] = error
        for name, model in built.items():
            if isinstance(model, CnnvitError):
                table.add_row(name, "", "", "", "", "", "", f"[dim]{model}[/]")
                continue
            grid = model.token_grid(shape[1:])
            partner = built.get(matched_preset(name))
            paired = partner is not None and not isinstance(partner, CnnvitError)
            ratio = f"{model.num_params / partner.num_params:.2f}x" if paired else ""
            table.add_row(
                name,
                model.arch,
                str(grid[0]) if grid else "",
                f"{grid[1] * grid[2]}" if grid else "",
                f"{model.num_params:,}",
                ratio,
                f"{model.train_flops_per_image(shape) / 1e6:,.1f}",
                model.describe(),
            )
        wide = out if out.is_terminal else Console(width=200)  # a file or pipe gets whole rows, not 80 columns
        wide.print(table)


@app.command("run")
def run_command(
    experiment_file: Annotated[
        Path, typer.Argument(metavar="EXPERIMENT.yaml", help="An experiment file (see experiments/).")
    ],
    out_dir: Annotated[
        Optional[Path], typer.Option("--out", help="Results directory (default results/<experiment name>).")
    ] = None,
    jobs: Annotated[
        int, typer.Option("--jobs", min=1, help="Cells trained at once, each with an equal share of the CPU threads.")
    ] = 1,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Print the plan (cells and their state) and stop; with --download, fetch the data first.",
            metavar="",
        ),
    ] = False,
    full_plan: Annotated[
        bool,
        typer.Option(
            "--full-plan", help="Print the plan cell by cell instead of counted by group and state.", metavar=""
        ),
    ] = False,
    estimate_time: Annotated[
        bool,
        typer.Option(
            "--estimate/--no-estimate",
            help="Estimate the time it will take from this machine's training speed, measured first (a second or two per model shape, then cached for this machine and cnnvit: CNNVIT_CALIBRATION_CACHE=off measures every time); the estimate is corrected as the run goes.",
            metavar="",
        ),
    ] = True,
    compile_mode: Annotated[
        str,
        typer.Option(
            "--compile",
            metavar="auto|always|never",
            help="Compile the training step with torch.compile: auto measures, with the estimate, where it pays on this machine (a compiled step faster than eager, by more than its compile over the cell's steps: matrix/compiling.py) and compiles only there; with --no-estimate auto trains eager. Compiling changes no result's meaning, only the last bits of its floats.",
        ),
    ] = "auto",
    data_root: Annotated[Optional[Path], typer.Option(help="Where file-based datasets live (default ./data).")] = None,
    download: Annotated[
        bool, typer.Option("--download", help="Fetch missing torchvision datasets into --data-root first.", metavar="")
    ] = False,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="If another cnnvit run is writing the same results directory, start when it ends instead of stopping (exit code 4).",
            metavar="",
        ),
    ] = False,
    shard: Annotated[
        Optional[str],
        typer.Option(
            "--shard",
            metavar="I/N",
            help="Only shard I of N (1 <= I <= N): a fixed 1/N of the cells, whatever is done already, so that N machines sharing the results directory (e.g. a Slurm job array) run the matrix together. A shard trains and probes its cells and writes no report: run cnnvit report RESULTS_DIR once every shard has finished.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run a whole experiment matrix: train the missing cells, probe them, write the report.

    Re-running finishes what is missing and does nothing else. With --shard I/N, only a fixed 1/N
    of the cells, and no report.
    """
    from .locks import directory_lock
    from .matrix.compiling import MODES
    from .matrix.experiment import load_experiment
    from .matrix.run import pending_waves, run_matrix
    from .matrix.runner import fetch_datasets, plan
    from .matrix.shards import parse_shard
    from .torchrun import placement

    with user_errors():
        if placement().world_size > 1:
            raise CnnvitError(
                "cnnvit run starts a process per cell and is not started by torchrun: train one run on "
                "several GPUs with torchrun ... -m cnn_vs_vit train, or spread a matrix over machines "
                "with cnnvit run --shard I/N"
            )
        if compile_mode not in MODES:
            raise CnnvitError(f"--compile {compile_mode}: choose one of {', '.join(MODES)}")
        part = parse_shard(shard) if shard is not None else None
        experiment = load_experiment(experiment_file, data_root=data_root)
        out_path = out_dir or Path("results") / experiment.name
        every_cell = plan(experiment, out_path)
        mine = part.select([p.cell.name for p in every_cell]) if part else {p.cell.name for p in every_cell}
        cells = [p for p in every_cell if p.cell.name in mine]
        where = f"shard {part}: {len(cells)} of {len(every_cell)} cells" if part else f"{len(cells)} cells"
        out.print(plan_table(experiment, cells, f"{experiment.name}: {where} in {out_path}", full=full_plan))
        states = Counter(planned.state for planned in cells)
        out.print(", ".join(f"{states[s]} {s}" for s in STATES if states[s]))
        # Once, here, before parallel cells could race to download the same files (shards too: fetch
        # with --dry-run --download before starting them).
        if download or not dry_run:
            fetch_datasets(cells, download)
        planned = _estimate(experiment, cells, jobs, compile_mode) if estimate_time else None
        compiled = planned.compiles if planned else lambda _planned: compile_mode == "always"
        if dry_run:
            return
        say = lambda text: err.print(text, highlight=False, soft_wrap=True)  # noqa: E731
        # Shards share the results directory with each other, an unsharded run holds it alone.
        with directory_lock(
            out_path,
            shared=part is not None,
            wait=wait,
            on_wait=lambda who: say(f"waiting for {who} to finish"),
            on_take_over=lambda who: say(f"note: {who} ended without finishing; going on from where it stopped"),
        ):
            cells = [p for p in plan(experiment, out_path) if p.cell.name in mine]
            with run_progress(planned, sum(map(len, pending_waves(cells))), len(pending_waves(cells))) as progress:
                run_matrix(
                    experiment,
                    out_path,
                    cells,
                    jobs,
                    report=part is None,
                    progress=progress,
                    on_report=print_report,
                    compiled=compiled,
                )
        if part:
            say(
                f"shard {part}: its {len(cells)} cells are finished; once every shard's are, cnnvit report {out_path} "
                "writes the report"
            )


STATES = ("done", "resumable", "to do", "corrupted", "failed")


def plan_table(experiment, cells, title: str, *, full: bool) -> Table:
    """The plan: a row per cell (full), or per group with its cells counted by state and the group's probes."""
    table = Table(title=title)
    if full:
        for column in ("cell", "groups", "probes", "state"):
            table.add_column(column, no_wrap=column == "state", overflow="fold")
        for planned in cells:
            table.add_row(
                planned.cell.name, ", ".join(planned.cell.groups), ", ".join(sorted(planned.cell.probes)), planned.state
            )
        return table
    groups: dict[str, list] = {}
    for planned in cells:
        for group in planned.cell.groups:
            groups.setdefault(group, []).append(planned)
    present = [state for state in STATES if any(planned.state == state for planned in cells)]  # no empty columns
    table.add_column("group", no_wrap=True)
    for state in (*present, "cells"):
        table.add_column(state, justify="right")
    table.add_column("probes")
    for group, members in groups.items():
        states = Counter(planned.state for planned in members)
        probes = ", ".join(sorted(experiment.groups[group].probes))
        table.add_row(group, *(str(states[s]) if states[s] else "" for s in present), str(len(members)), probes)
    return table


def _estimate(experiment, cells, jobs: int, compile_mode: str):
    """The run's time estimate (printed), measuring this machine's speed first; None when nothing is left to do."""
    from rich.progress import Progress

    from .matrix.estimate import estimate

    with Progress(console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task("measuring this machine's training speed", total=None)

        def measuring(index: int, total: int, shape: str) -> None:
            bar.update(
                task, description=f"measuring this machine's training speed: {shape}", completed=index - 1, total=total
            )

        planned = estimate(experiment, cells, jobs, measuring, compile_mode)
    if planned.total_seconds > 0:
        out.print(planned.describe(), markup=False, highlight=False, soft_wrap=True)  # "[depth=1]" is no markup
    return planned


class RunProgress:
    """What `cnnvit run` shows while it works: on a terminal one live line for the experiment (cells done of
    all, the wave, elapsed, the time left from the estimate corrected by what has been measured) and one
    for the probe at work; a line per finished cell and per finished probe, terminal or not."""

    def __init__(self, bar, planned, total: int, waves: int):
        from .matrix.estimate import TimeLeft

        self.bar, self.total, self.waves, self.wave = bar, total, waves, 1
        self.clock = TimeLeft(planned) if planned is not None else None
        self.done = 0
        self.task = bar.add_task("", total=total or None)
        self.probe_task = bar.add_task("", total=None, visible=False)
        self.refresh()

    def refresh(self) -> None:
        from .matrix.estimate import minutes

        left = f", about {minutes(self.clock.remaining)} left" if self.clock else ""
        self.bar.update(
            self.task,
            completed=self.done,
            total=self.total or None,
            description=f"cells {self.done}/{self.total}, wave {self.wave} of {self.waves}{left}",
        )

    def wave_added(self, cells: int) -> None:
        """A wave of seeds until settled: `cells` more cells, one more wave."""
        self.total += cells
        self.waves += 1
        self.refresh()

    def say(self, text: str) -> None:
        self.bar.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def cell_done(self, planned, code: int) -> None:
        self.done += 1
        if self.clock:
            self.clock.cell_finished(planned.cell.name)
        outcome = "failed" if code else _cell_outcome(planned.run_dir)
        self.say(f"cell {self.done}/{self.total} {outcome}: {planned.cell.name}")
        self.refresh()

    def probe_step(self, step) -> None:
        if step.beside:  # in the training pool, beside the wave's chains: a line of its own, terminal or not
            if self.clock:
                self.clock.probe_finished(step.run_dir.name, step.probe, beside=True)
            outcome = (
                f"{step.seconds:.1f} s"
                if step.code == 0
                else f"failed (exit code {step.code}), tried again after the wave"
            )
            self.say(f"probe {step.probe} on {step.run_dir.name} beside training: {outcome}")
            self.refresh()
            return
        where = f"probe {step.probe} on {step.run_dir.name} ({step.index}/{step.total})"
        if step.seconds is None:
            self.bar.update(
                self.probe_task, description=where, completed=step.index - 1, total=step.total, visible=True
            )
            return
        if self.clock:
            self.clock.probe_finished(step.run_dir.name, step.probe)
        if not self.bar.console.is_terminal:
            self.say(f"{where}: {'reused' if step.reused else f'{step.seconds:.1f} s'}")
        if step.index == step.total:
            self.bar.update(self.probe_task, visible=False)
        self.refresh()

    @contextmanager
    def paused(self):
        """Print a large block (the report's table) without the live lines redrawn through it."""
        self.bar.stop()
        try:
            yield
        finally:
            self.bar.start()


def _cell_outcome(run_dir: Path) -> str:
    from .rundir import RunDir

    try:
        summary = RunDir(run_dir).summary()
    except (OSError, ValueError):
        return "done"
    return f"done (test accuracy {summary['test_accuracy']:.1%}, {summary['wall_time_s']:.0f} s)"


@contextmanager
def run_progress(planned, total: int, waves: int):
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as bar:
        yield RunProgress(bar, planned, total, waves)


class ProbeCommand(typer.core.TyperCommand):
    """`cnnvit probe`, whose --help lists every probe of the registry with what it measures (read from the probe
    modules only when the help is shown: importing them takes seconds)."""

    def format_help(self, ctx, formatter) -> None:
        from .probes.plugin import catalogue

        listed = "\n\n".join(
            f"{name}: {summary} (applies to {applies_to}; options {options or 'none'})."
            for name, summary, applies_to, options in catalogue()
        )
        self.help = f"{self.help}\n\n{escape(listed)}"
        super().format_help(ctx, formatter)


# The options `probe` and `probe-shift` share, declared once: what to probe (run directories, or a model not
# trained here with its weights, data and output) and how. Typer copies each declaration per command.
ProbeRunDirs = Annotated[
    Optional[list[Path]],
    typer.Argument(metavar="RUN_DIR", help="Finished run directories (made by cnnvit train).", show_default=False),
]
ProbeModel = Annotated[
    Optional[str],
    typer.Option("--model", help="Probe a model not trained here, e.g. torchvision:resnet18 or torchvision:vit_b_16."),
]
ProbeWeights = Annotated[
    Optional[Path],
    typer.Option(
        "--weights", help="With --model: a .safetensors file or torch state dict (default: random init, seed 0)."
    ),
]
ProbeOut = Annotated[Optional[Path], typer.Option("--out", help="With --model: results go to OUT/probes/.")]
ProbeDataRoot = Annotated[Optional[Path], typer.Option(help="With --model: where file-based datasets live.")]
ProbeDevice = Annotated[str, typer.Option(help="auto, cpu, cuda or mps.")]
ProbeForce = Annotated[
    bool, typer.Option("--force", help="Recompute even when a saved result has the same arguments.", metavar="")
]


@app.command("probe", cls=ProbeCommand)
def probe_command(
    name: Annotated[str, typer.Argument(metavar="PROBE", help=f"One of {', '.join(PROBES)} (listed above).")],
    run_dirs: ProbeRunDirs = None,
    option: Annotated[
        Optional[list[str]],
        typer.Option(
            "--option",
            "-o",
            help="A probe option as KEY=VALUE (the value read as YAML), e.g. images=256 or target=mnist5k; repeatable.",
            show_default=False,
        ),
    ] = None,
    plot: Annotated[
        bool,
        typer.Option(
            "--plot",
            help="Also draw the result as RUN_DIR/probes/<PROBE>.png (probes that draw one: shift).",
            metavar="",
        ),
    ] = False,
    force: ProbeForce = False,
    device: ProbeDevice = "cpu",
    model: ProbeModel = None,
    weights: ProbeWeights = None,
    dataset: Annotated[
        Optional[str], typer.Option("--dataset", "-d", help="With --model: the dataset whose test images it reads.")
    ] = None,
    out_dir: ProbeOut = None,
    data_root: ProbeDataRoot = None,
) -> None:
    """Probe trained runs (or, with --model, a model not trained here) and print what the probe shows.

    Writes RUN_DIR/probes/<PROBE>.csv and <PROBE>_summary.json; the same arguments reuse them.
    """
    from .config import parse_override, set_dotted

    with user_errors():
        given = {}
        for text in option or []:
            set_dotted(given, *parse_override(text))
        probe_targets(
            name,
            given,
            run_dirs=run_dirs,
            model=model,
            weights=weights,
            dataset=dataset,
            out_dir=out_dir,
            data_root=data_root,
            device=device,
            plot=plot,
            force=force,
        )


@app.command("probe-shift")
def probe_shift_command(
    run_dirs: ProbeRunDirs = None,
    shifts: Annotated[
        Optional[list[str]],
        typer.Option(
            "--shifts",
            help="Diagonal shifts (s, s) in px, e.g. 0,1,2,4; 0 is always added. Default 0..K, K = the ViT patch size (for a CNN: vit-s's).",
            show_default=False,
        ),
    ] = None,
    mode: Annotated[
        str, typer.Option("--mode", help="circular (torch.roll), crop (black canvas, moving window) or both.")
    ] = "both",
    images: Annotated[
        int,
        typer.Option(
            "--images",
            help="Probe N test images: a fixed class-stratified sample of the test split, the same for every model (the whole split when N is larger).",
        ),
    ] = 512,
    batch_size: Annotated[
        int, typer.Option("--batch-size", help="Images per forward pass (each pass holds one copy per shift).")
    ] = 64,
    model: ProbeModel = None,
    weights: ProbeWeights = None,
    dataset: Annotated[
        Optional[str], typer.Option("--dataset", "-d", help="With --model: the dataset whose test images are shifted.")
    ] = None,
    out_dir: ProbeOut = None,
    data_root: ProbeDataRoot = None,
    device: ProbeDevice = "auto",
    plot: Annotated[
        bool, typer.Option("--plot", help="Also write probes/shift.png (error vs shift per layer).", metavar="")
    ] = False,
    force: ProbeForce = False,
) -> None:
    """Measure translation equivariance layer by layer, and prediction consistency under shifts: `cnnvit probe
    shift` with the shift probe's options as flags.

    Writes RUN_DIR/probes/shift.csv and shift_summary.json; the same arguments reuse them.
    """
    from .probes.shift import parse_modes, parse_shifts

    with user_errors():
        options = {
            "shifts": parse_shifts(shifts),
            "modes": parse_modes(mode),
            "images": images,
            "batch_size": batch_size,
        }
        probe_targets(
            "shift",
            options,
            run_dirs=run_dirs,
            model=model,
            weights=weights,
            dataset=dataset,
            out_dir=out_dir,
            data_root=data_root,
            device=device,
            plot=plot,
            force=force,
        )


def probe_targets(
    name: str,
    options: dict,
    *,
    run_dirs: list[Path] | None,
    model: str | None,
    weights: Path | None,
    dataset: str | None,
    out_dir: Path | None,
    data_root: Path | None,
    device: str,
    plot: bool,
    force: bool,
) -> None:
    """Probe `name` on each run directory, or on model `model` built for `dataset`, saving into its probes/
    directory; print the probe's tables and the files written (and with `plot`, draw its PNG)."""
    from rich.progress import Progress

    from .errors import unknown_name
    from .probes.named_model import named_model_run
    from .probes.plugin import applies, find, probe_loaded, run_probe
    from .rundir import PROBES as PROBE_DIR
    from .training.device import select_device
    from .trained_run import run_config

    probe = find(name)
    options = probe.validated(options)
    if device not in ("auto", "cpu", "cuda", "mps"):
        raise unknown_name("device", device, ("auto", "cpu", "cuda", "mps"))
    if model is None and not run_dirs:
        raise CnnvitError("nothing to probe; give RUN_DIR ... or --model NAME --dataset NAME --out DIR")
    if model is not None and run_dirs:
        raise CnnvitError("give either RUN_DIR ... or --model, not both")
    if model is None and (weights or dataset or out_dir):
        raise CnnvitError("--weights, --dataset and --out go with --model; a run directory knows its own")
    if model is not None and (dataset is None or out_dir is None):
        raise CnnvitError(f"--model {model} needs --dataset NAME and --out DIR")
    if model is not None and not probe.named_models:
        named = ", ".join(n for n in PROBES if find(n).named_models)
        raise CnnvitError(f"the {name} probe reads a run trained here (its config); --model works with: {named}")
    if plot and probe.plot is None:
        drawn = ", ".join(n for n in PROBES if find(n).plot is not None)
        raise CnnvitError(f"the {name} probe draws no plot; --plot works with: {drawn}")
    for run_dir in run_dirs or []:
        run_config(run_dir)  # a one-line error naming what is missing (config, weights)
        if not (Path(run_dir) / "summary.json").exists():
            raise CnnvitError(
                f"{run_dir} is not a finished run directory (no summary.json); train it with cnnvit train first"
            )
    chosen = select_device(device)
    for target in [None] if model is not None else run_dirs:
        if target is not None and not applies(name, target):
            err.print(f"{target}: skipped, {name} does not apply to this architecture", highlight=False, soft_wrap=True)
            continue
        with Progress(console=err, transient=True, disable=not err.is_terminal) as bar:
            task = bar.add_task(f"probe {name} {target or model}", total=None)

            def progress(done: int, total: int, task=task) -> None:
                bar.update(task, completed=done, total=total)

            if target is None:
                loaded = named_model_run(model, dataset=dataset, weights=weights, data_root=data_root, device=chosen)
                saved = probe_loaded(
                    probe, loaded, out_dir / PROBE_DIR, options, device=chosen, force=force, progress=progress
                )
            else:
                saved = run_probe(name, target, options, device=chosen, force=force, progress=progress)
        where = saved.directory
        if saved.reused:
            err.print(
                f"reused the saved result in {where} (same arguments); pass --force to recompute",
                highlight=False,
                soft_wrap=True,
            )
        if model is not None and weights is None:
            err.print(
                f"{model} has random weights (seed 0): give --weights FILE to probe a trained model",
                highlight=False,
                soft_wrap=True,
            )
        for table in probe.tables(saved.rows, saved.summary) if probe.tables else []:
            out.print(table)
        files = [where / f"{name}.csv", where / f"{name}_summary.json"]
        if plot:
            files.append(where / probe.plot_file)
            probe.plot(saved.rows, saved.summary, files[-1])
        err.print(
            f"{'kept' if saved.reused else 'wrote'} {', '.join(map(str, files))}", highlight=False, soft_wrap=True
        )
        out.print(files[0], highlight=False, soft_wrap=True)  # the result's path, for scripts


@app.command()
def report(
    results_dirs: Annotated[
        list[Path],
        typer.Argument(
            metavar="RESULTS_DIR...",
            help="Directories holding run directories (made by cnnvit train or cnnvit run); several are settings of one study (e.g. other seeds), compared claim by claim. Directories joined by '+' are one setting kept in several files (results/default+results/default-scaling).",
        ),
    ],
    out_dir: Annotated[
        Optional[Path],
        typer.Option(
            "--out",
            help="Where report.md, claims.csv, runs.csv and plots go (default RESULTS_DIR; required with several).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Reproduce the notes' CNN-vs-ViT table from finished runs: a verdict per claim, computed from the numbers.

    With several results directories: a headline verdict over every run, each setting's own verdict
    beside it, and how many settings agree (holds).
    """
    from .report import build_report

    with user_errors():
        print_report(build_report(results_dirs, out_dir))


def print_report(built) -> None:
    """The claims table on stdout, the files written on stderr."""
    from .report.formatting import effect_text

    table = Table(
        title=f"claims ({sum(r.status == 'done' for r in built.runs)} finished runs)", box=None, pad_edge=False
    )
    several = len(built.settings) > 1
    for column in ("#", "claim", "verdict", *(("holds",) if several else ()), "effect [95% CI]", "n"):
        table.add_column(column, overflow="fold")
    for claim in built.claims:
        table.add_row(
            claim.claim_id,
            claim.claim,
            claim.verdict + claim.provisional_mark,
            *((claim.holds,) if several else ()),
            effect_text(claim.effect),
            str(claim.effect.n),
        )
    out.print(table)
    err.print("wrote " + ", ".join(map(str, built.paths)), highlight=False, soft_wrap=True)


# typer vendors click; its ClickException (usage errors: unknown option, bad value) is a base of BadParameter.
ClickException = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def main(argv: list[str] | None = None) -> None:
    """The `cnnvit` entry point: usage errors, like every other bad input, are one line and exit code 2."""
    try:
        code = app(args=argv, prog_name="cnnvit", standalone_mode=False)
    except ClickException as error:
        context = getattr(error, "ctx", None)
        command = context.command_path if context else "cnnvit"
        message = " ".join(error.format_message().split())
        err.print(f"[bold red]error:[/] {message}; see {command} --help", highlight=False, soft_wrap=True)
        code = error.exit_code
    except typer.Abort:
        code = 130
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    sys.exit(main())
