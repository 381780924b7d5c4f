"""`train_run`: one run (model, dataset, fraction, seed, budget) into a run directory, resumable; a wsd run
continues its trunk from the store shared with the other budgets (branches.py)."""

import io
import time
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import torch
from safetensors.torch import save

from .. import rundir as layout
from ..config import (
    LATER_KEYS,
    NON_SEMANTIC_KEYS,
    ModelConfig,
    RunConfig,
    config_to_yaml,
    flatten,
    read_yaml,
)
from ..data import ImageDataset, load_dataset, subset_hash, training_split
from ..data.model_input import normalize, to_unit
from ..errors import CnnvitError, TrainingFailed
from ..locks import directory_lock
from ..models import Backbone, build_model, model_spec, resolved_options
from . import distributed
from .budget import budget_steps
from .device import compile_module, configure_threads, select_device, use_channels_last
from .evaluate import evaluate
from .inputs import BatchOrder, augment, step_generator
from .progress import TrainingProgress
from .recipes import with_recipe
from .schedule import lr_factor
from .signals import GracefulStop, Interrupted
from .step import NonFiniteLoss, TrainingStep
from .trunk import Trunk


def resolve_config(config: RunConfig, dataset: ImageDataset, recipe_key: str) -> RunConfig:
    """Fill in what the config left to defaults: the step budget, the recipe, flips, and the model options
    the preset leaves to the image size (a ViT's patch size). Saved as config.yaml."""
    model = ModelConfig(
        **{
            **config.model.model_dump(),
            **resolved_options(config.model.name, config.model.options, dataset.image_shape),
        }
    )
    train, augment_config = config.train, config.augment
    steps = budget_steps(config, dataset.train_labels)
    train = with_recipe(train, recipe_key).with_fixed_steps(steps)
    lr_factor(train)  # an impossible schedule (a wsd warm-up past its fork) fails here, before any file is written
    flip = augment_config.flip if augment_config.flip is not None else dataset.flip_augment
    return config.model_copy(
        update={"model": model, "train": train, "augment": augment_config.model_copy(update={"flip": flip})}
    )


def train_run(
    config: RunConfig,
    run_dir: Path | str,
    *,
    progress: bool = False,
    restart: bool = False,
    trunks: Path | str | None = None,
    fork_steps: Iterable[int] = (),
) -> dict:
    """Train `config` into `run_dir` and return its summary.

    A finished run is returned as is; an interrupted one resumes from its checkpoint and ends
    with the same weights an uninterrupted run would have (CPU, same thread count). In processes
    started by torchrun, every rank calls this with the same arguments and they train the run
    together (`distributed.py`): rank 0 alone touches `run_dir`, and every rank returns the summary.

    A wsd run (train.schedule) is a branch of a trunk kept in `trunks` (default: rundir.trunk_store(run_dir)):
    it continues the trunk from the latest checkpoint at or before its fork, saves the trunk there and at
    each of `fork_steps` it passes (other budgets' forks), then cools down in `run_dir` (branches.py).
    `restart` retrains the run's own directory, not the trunk (delete the trunk's directory for that).
    """
    model_spec(config.model.name, config.model.options)  # fail on a bad model before touching any file
    with distributed.joined(select_device(config.device)) as world, ExitStack() as held:
        world.check_batch(config.train.batch_size)
        with world.together():  # a busy directory stops every rank, not only rank 0
            if world.is_main:  # a second cnnvit on the same directory stops with its holder's name
                held.enter_context(directory_lock(Path(run_dir)))
        store = Path(trunks) if trunks is not None else layout.trunk_store(run_dir)
        return _train_run(
            config,
            layout.RunDir(run_dir),
            world,
            held,
            progress=progress and world.is_main,
            restart=restart,
            trunk_store=store,
            fork_steps=fork_steps,
        )


def _train_run(
    config: RunConfig,
    run: layout.RunDir,
    world: distributed.World,
    held: ExitStack,
    *,
    progress: bool,
    restart: bool,
    trunk_store: Path,
    fork_steps: Iterable[int],
) -> dict:
    device = world.device
    threads = configure_threads(config.threads)

    def load() -> ImageDataset:
        return load_dataset(
            config.data.name,
            root=config.data.root,
            download=config.data.download,
            image_size=config.data.image_size,
            skip_corrupt=config.data.skip_corrupt,
        )

    with world.together():  # rank 0 first when it may download, so that no two ranks fetch the same files
        dataset = load() if world.is_main or not config.data.download else None
    with world.together():  # every rank holds the whole dataset (a machine's data root is its own)
        dataset = dataset if dataset is not None else load()
    torch.manual_seed(config.seed)  # model initialisation, the same on every rank
    model = build_model(
        config.model.name,
        image_shape=dataset.image_shape,
        num_classes=dataset.num_classes,
        options=config.model.options,
    )
    chosen_options = config.model.options  # what the user set: the run's name and the report's variant
    chosen_match_flops = config.train.match_flops  # resolved into steps below; the report's budget rule
    config = resolve_config(config, dataset, model.capabilities.recipe)
    # Rank 0 alone reads and writes the trunk; `held` releases its lock however training ends.
    trunk = held.enter_context(Trunk(config, trunk_store, fork_steps)) if config.train.schedule == "wsd" else None
    with world.together():
        start = _start(run, config, restart, str(device), threads, world.size) if world.is_main else None
        if trunk is not None and world.is_main and start.summary is None:
            own_step = start.checkpoint["step"] if start.checkpoint else 0
            if (path := trunk.checkpoint_after(own_step)) is not None:  # may wait for a run training the trunk
                start.checkpoint = _load_checkpoint(path)
                start.checkpoint["trunk_step"] = start.checkpoint["step"]
    start = world.broadcast(start)  # rank 0's reading of the run and trunk directories, for every rank
    if start.summary is not None:
        return start.summary

    subset, validation = training_split(
        dataset.train_labels, config.data.fraction, config.data.data_seed, config.data.validation
    )
    flops = model.train_flops_per_image(dataset.image_shape)
    channels_last = use_channels_last(model, device)
    model = model.to(device, memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    trained = world.data_parallel(model)  # `model` itself on one process
    forward = compile_module(trained) if config.compile else trained
    update = TrainingStep(model, config, device=device, forward=forward)

    start_step, images_seen, train_time, trunk_step = 0, 0, 0.0, 0
    if start.checkpoint is not None:
        state = start.checkpoint
        model.load_state_dict(state["model"])
        update.optimizer.load_state_dict(state["optimizer"])
        update.scheduler.load_state_dict(state["scheduler"])
        start_step, images_seen, train_time = state["step"], state["images_seen"], state["train_time_s"]
        trunk_step = state.get("trunk_step", 0)  # where it continued another run's trunk (0: it trained it all)

    images = dataset.train_images[subset].to(device)  # uint8, resident for the whole run
    labels = dataset.train_labels[subset].to(device)
    order = BatchOrder(len(subset), config.train.batch_size, config.seed)

    def save_checkpoint(step: int, to_trunk: bool = False) -> None:
        """The training state after `step` steps, into the run's checkpoint or (`to_trunk`) the trunk's store.

        Everything a step depends on: the weights, AdamW's moments and step counts, the schedule's position,
        and the step itself, which seeds its batch and augmentation (inputs.py); no step draws from torch's
        global generator (tests/test_branches.py)."""
        with world.together():  # a full disk on rank 0 stops every rank
            if world.is_main:
                state = {
                    "model": model.state_dict(),
                    "optimizer": update.optimizer.state_dict(),
                    "scheduler": update.scheduler.state_dict(),
                    "step": step,
                    "images_seen": images_seen,
                    "train_time_s": train_time,
                    "trunk_step": trunk_step,
                }
                buffer = io.BytesIO()  # serialised first: torch's zip writer hides the OSError of a full disk
                torch.save(state, buffer)
                if to_trunk:
                    trunk.save(step, buffer.getbuffer())
                else:
                    layout.atomic_write_bytes(run / layout.CHECKPOINT, buffer.getbuffer())

    def evaluate_held_out(step: int) -> tuple[dict, dict | None]:
        """Test and validation (when held out) scores at `step`, recorded in the metrics (rank 0 only)."""
        scores = []
        for split, images, targets in (
            ("test", dataset.test_images, dataset.test_labels),
            ("validation", dataset.train_images[validation], dataset.train_labels[validation]),
        ):
            if len(targets):
                scores.append(
                    evaluate(
                        model,
                        images,
                        targets,
                        device=device,
                        batch_size=config.train.eval_batch_size,
                        channels_last=channels_last,
                    )
                )
                run.append_metrics({"step": step, "split": split, **scores[-1]})
        return scores[0], scores[1] if len(scores) > 1 else None

    model.train()
    bar = TrainingProgress(config.train.steps, start_step, enabled=progress, label=run.path.name)
    with GracefulStop() as stop, bar:
        tic = time.perf_counter()
        for step in range(start_step, config.train.steps):
            signum = world.max(stop.signum or 0)  # a signal to any rank stops every rank at this step
            if signum:
                train_time += time.perf_counter() - tic
                save_checkpoint(step)
                raise Interrupted(signum)
            if config.train.eval_every and step and step % config.train.eval_every == 0:
                # At the top of the step, so that a run resumed from the checkpoint of this step evaluates it
                # (the metrics keep no evaluation at or after a checkpoint). Not counted as training time.
                train_time += time.perf_counter() - tic
                with world.together():
                    if world.is_main:
                        evaluate_held_out(step)
                tic = time.perf_counter()
            # The global batch and its augmentation are drawn whole on every rank, each taking its
            # slice after: N ranks see the very images one process would.
            index = order.batch(step).to(device)
            generator = step_generator(config.seed, step)
            x = augment(
                to_unit(images[index]),
                translate=config.augment.translate,
                flip=config.augment.flip,
                generator=generator,
            )
            x, y = normalize(world.shard(x)), world.shard(labels[index])
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            try:
                loss_value, logits = update(x, y, mean=world.mean)  # the global batch's loss, the same on every rank
            except NonFiniteLoss as error:
                _fail(run, step, error.loss, config, world)
            images_seen += len(index)
            done = step + 1
            bar.update(done, loss_value)
            if done % config.train.log_every == 0 or done == config.train.steps:
                accuracy = world.mean((logits.argmax(1) == y).float().mean()).item()
                if world.is_main:
                    run.append_metrics(
                        {
                            "step": done,
                            "split": "train",
                            "loss": loss_value,
                            "accuracy": accuracy,
                            "lr": update.lr,
                            "images_seen": images_seen,
                            "time_s": round(train_time + time.perf_counter() - tic, 3),
                        }
                    )
            if trunk is not None and done in trunk.save_steps:  # a fork: the trunk, for this and other budgets
                train_time += time.perf_counter() - tic
                save_checkpoint(done, to_trunk=True)
                tic = time.perf_counter()
            if done % config.train.checkpoint_every == 0 and done < config.train.steps:
                train_time += time.perf_counter() - tic
                save_checkpoint(done)
                tic = time.perf_counter()
        if start_step < config.train.steps:  # a finished checkpoint (summary being rebuilt) keeps its time exactly
            train_time += time.perf_counter() - tic
            save_checkpoint(config.train.steps)

    with world.together():  # rank 0 evaluates and writes the results while the others wait
        if world.is_main:
            test, scored = evaluate_held_out(config.train.steps)
            held_out = {}
            if scored:  # what tuning and budget choices read: never the test numbers
                held_out = {
                    "validation_accuracy": scored["accuracy"],
                    "validation_loss": scored["loss"],
                    "validation_size": len(validation),
                    "validation_hash": subset_hash(validation),
                }
            _save_weights(model, config, run / layout.WEIGHTS)
            grid = model.token_grid(dataset.image_shape[1:])
            summary = {
                "model": config.model.name,
                "arch": model.arch,
                "model_options": chosen_options,
                "patch_size": grid[0] if grid else None,
                "tokens": grid[1] * grid[2] if grid else None,
                "dataset": config.data.name,
                "image_shape": list(dataset.image_shape),
                "fraction": config.data.fraction,
                "seed": config.seed,
                "data_seed": config.data.data_seed,
                "test_accuracy": test["accuracy"],
                "test_loss": test["loss"],
                **held_out,
                "params": model.num_params,
                "train_flops_per_image": flops,
                "steps": config.train.steps,
                "batch_size": config.train.batch_size,
                "precision": config.train.precision,
                "match_flops": chosen_match_flops,
                "images_seen": images_seen,
                "epochs": images_seen / len(subset),
                "train_size": len(subset),
                "subset_hash": subset_hash(subset),
                "skipped_files": dataset.skipped_files,
                "wall_time_s": round(train_time, 3),
                "train_images_per_s": round(images_seen / train_time, 1) if train_time else None,
                "device": str(device),
                "threads": threads,
            }
            if trunk is not None:  # a branch: its trunk and where it forked from it
                summary |= {"schedule": "wsd", "trunk": trunk.key, "fork_step": trunk.fork, "trunk_step": trunk_step}
            if config.train.budget is not None:  # the report's budget rule it serves (config.TrainConfig.budget)
                summary["budget"] = config.train.budget
            layout.atomic_write_json(run / layout.SUMMARY, summary)
            run.mark_done()
    return world.broadcast(summary if world.is_main else None)


@dataclass
class _Start:
    """Where a run starts, as rank 0 found its directory: finished (its summary), or a checkpoint or nothing."""

    summary: dict | None = None
    checkpoint: dict | None = None


def _start(run: layout.RunDir, config: RunConfig, restart: bool, device: str, threads: int, processes: int) -> _Start:
    """Prepare the run directory for training `config` (rank 0 only) and say where training starts."""
    if restart:
        _clear(run)
    _check_same_run(run, config)
    if run.is_trained:
        try:
            return _Start(summary=run.summary())
        except (OSError, ValueError):  # damaged after the fact: the final checkpoint rebuilds it
            pass
    (run / layout.DONE).unlink(missing_ok=True)  # not done until this call finishes (e.g. shared without weights)
    run.remove_stale_temporaries()
    layout.atomic_write_text(run / layout.CONFIG, config_to_yaml(config))
    checkpoint = _load_checkpoint(run / layout.CHECKPOINT) if run.has_checkpoint else None
    run.truncate_metrics(after_step=checkpoint["step"] if checkpoint else 0)
    layout.atomic_write_json(run / layout.ENV, layout.environment(device, threads, processes))
    return _Start(checkpoint=checkpoint)


def _check_same_run(run: layout.RunDir, config: RunConfig) -> None:
    """Refuse a directory whose config.yaml describes another run (how it runs may differ)."""
    path = run / layout.CONFIG
    if path.exists():
        existing = {**LATER_KEYS, **flatten(read_yaml(path))}
        wanted = flatten(config.model_dump(mode="json"))
        # A model option absent or null there means "the preset's own", which resolves to what it resolves to
        # now (a directory written before the patch size was recorded holds no model.patch_size).
        differing = sorted(
            k
            for k in existing.keys() | wanted.keys()
            if k not in NON_SEMANTIC_KEYS
            and existing.get(k) != wanted.get(k)
            and not (k.startswith("model.") and existing.get(k) is None)
        )
        if differing:
            key = differing[0]
            raise CnnvitError(
                f"{run.path} holds a different run ({key}: {existing.get(key)!r} there, {wanted.get(key)!r} now); "
                "use another --out, or --restart to replace it"
            )


def _clear(run: layout.RunDir) -> None:
    for name in (
        layout.DONE,
        layout.SUMMARY,
        layout.WEIGHTS,
        layout.CHECKPOINT,
        layout.METRICS,
        layout.CONFIG,
        layout.FAILED,
    ):
        (run / name).unlink(missing_ok=True)


def _load_checkpoint(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # truncated zip, bad pickle...: all mean the same to the user
        raise CnnvitError(
            f"checkpoint {path} is unreadable ({type(error).__name__}); rerun with --restart to train this run from scratch"
        ) from None


def checkpoint_problem(run_dir: Path | str) -> str | None:
    """Why the run's checkpoint cannot be resumed from, or None when it loads."""
    try:
        _load_checkpoint(layout.RunDir(run_dir) / layout.CHECKPOINT)
    except CnnvitError as error:
        return str(error)
    return None


def _save_weights(model: Backbone, config: RunConfig, path: Path) -> None:
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    blob = save(tensors, metadata={"config": config_to_yaml(config)})
    layout.atomic_write_bytes(path, blob)


def _fail(run: layout.RunDir, step: int, loss: float, config: RunConfig, world: distributed.World) -> NoReturn:
    with world.together():  # every rank sees the same global loss: rank 0 records it, then all stop
        if world.is_main:
            layout.atomic_write_json(
                run / layout.FAILED, {"step": step, "loss": str(loss), "reason": "non-finite loss"}
            )
    raise TrainingFailed(
        f"loss became {loss} at step {step} of {run.path}; likely a learning rate too high for this model "
        f"(train.lr={config.train.lr}) or unstable data; lower train.lr and rerun with --restart"
    )
