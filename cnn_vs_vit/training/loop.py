"""`train_run`: one run (model, dataset, fraction, seed, budget) into a run directory, resumable."""

import io
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save

from .. import rundir as layout
from ..config import NON_SEMANTIC_KEYS, RunConfig, build_config, config_to_yaml, flatten, read_yaml
from ..data import ImageDataset, load_dataset, stratified_subset, subset_hash
from ..errors import CnnvitError, TrainingFailed
from ..locks import directory_lock
from ..models import Backbone, build_model, model_spec
from .device import autocast, configure_threads, select_device, use_channels_last
from .evaluate import evaluate
from .inputs import BatchOrder, augment, normalize, step_generator, to_unit
from .progress import TrainingProgress
from .recipes import DEFAULT_STEPS, RECIPES
from .signals import GracefulStop


def resolve_config(config: RunConfig, dataset: ImageDataset, arch: str) -> RunConfig:
    """Fill in what the config left to defaults: the step budget, the recipe, flips. Saved as config.yaml."""
    train, augment_config = config.train, config.augment
    if train.epochs is not None:
        n_train = len(stratified_subset(dataset.train_labels, config.data.fraction, config.data.data_seed))
        steps = max(1, math.ceil(train.epochs * n_train / train.batch_size), train.min_steps or 1)
        steps = min(steps, train.max_steps or steps)
    else:
        steps = train.steps or DEFAULT_STEPS
    recipe = RECIPES[arch]
    train = train.model_copy(update={
        "steps": steps, "epochs": None, "min_steps": None, "max_steps": None,
        "lr": train.lr if train.lr is not None else recipe.lr,
        "weight_decay": train.weight_decay if train.weight_decay is not None else recipe.weight_decay,
    })  # fmt: skip
    flip = augment_config.flip if augment_config.flip is not None else dataset.flip_augment
    return config.model_copy(update={"train": train, "augment": augment_config.model_copy(update={"flip": flip})})


def train_run(config: RunConfig, run_dir: Path | str, *, progress: bool = False, restart: bool = False) -> dict:
    """Train `config` into `run_dir` and return its summary.

    A finished run is returned as is; an interrupted one resumes from its checkpoint and ends
    with the same weights an uninterrupted run would have (CPU, same thread count).
    """
    model_spec(config.model.name, config.model.options)  # fail on a bad model before touching any file
    with directory_lock(Path(run_dir)):  # a second cnnvit on the same directory stops with its holder's name
        return _train_run(config, layout.RunDir(run_dir), progress=progress, restart=restart)


def _train_run(config: RunConfig, run: layout.RunDir, *, progress: bool, restart: bool) -> dict:
    if restart:
        _clear(run)
    device = select_device(config.device)
    threads = configure_threads(config.threads)
    dataset = load_dataset(config.data.name, root=config.data.root, download=config.data.download,
                           image_size=config.data.image_size, skip_corrupt=config.data.skip_corrupt)  # fmt: skip
    torch.manual_seed(config.seed)  # model initialisation
    model = build_model(config.model.name, image_shape=dataset.image_shape, num_classes=dataset.num_classes,
                        options=config.model.options)  # fmt: skip
    config = resolve_config(config, dataset, model.arch)
    _check_same_run(run, config)
    if run.is_trained:
        try:
            return run.summary()
        except (OSError, ValueError):  # damaged after the fact: the final checkpoint rebuilds it below
            pass
    (run / layout.DONE).unlink(missing_ok=True)  # not done until this call finishes (e.g. shared without weights)
    run.remove_stale_temporaries()
    layout.atomic_write_text(run / layout.CONFIG, config_to_yaml(config))

    subset = stratified_subset(dataset.train_labels, config.data.fraction, config.data.data_seed)
    flops = model.train_flops_per_image(dataset.image_shape)
    channels_last = use_channels_last(model, device)
    model = model.to(device, memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    optimizer = _optimizer(model, config)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _warmup_cosine(config.train.steps, config.train.warmup_fraction))

    start_step, images_seen, train_time = 0, 0, 0.0
    if run.has_checkpoint:
        state = _load_checkpoint(run / layout.CHECKPOINT)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_step, images_seen, train_time = state["step"], state["images_seen"], state["train_time_s"]
        run.truncate_metrics(after_step=start_step)
    else:
        run.truncate_metrics(after_step=0)
    layout.atomic_write_json(run / layout.ENV, layout.environment(str(device), threads))

    forward = torch.compile(model) if config.compile else model
    images = dataset.train_images[subset].to(device)  # uint8, resident for the whole run
    labels = dataset.train_labels[subset].to(device)
    order = BatchOrder(len(subset), config.train.batch_size, config.seed)

    def save_checkpoint(step: int) -> None:
        state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                 "step": step, "images_seen": images_seen, "train_time_s": train_time}  # fmt: skip
        buffer = io.BytesIO()  # serialised first: torch's zip writer hides the OSError of a full disk
        torch.save(state, buffer)
        layout.atomic_write_bytes(run / layout.CHECKPOINT, buffer.getbuffer())

    model.train()
    bar = TrainingProgress(config.train.steps, start_step, enabled=progress, label=run.path.name)
    with GracefulStop() as stop, bar:
        tic = time.perf_counter()
        for step in range(start_step, config.train.steps):
            if stop.requested:
                train_time += time.perf_counter() - tic
                save_checkpoint(step)
                stop.exit()
            index = order.batch(step).to(device)
            generator = step_generator(config.seed, step)
            x = augment(to_unit(images[index]), translate=config.augment.translate, flip=config.augment.flip,
                        generator=generator)  # fmt: skip
            x = normalize(x)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with autocast(device):
                logits = forward(x)
                loss = F.cross_entropy(logits.float(), labels[index], label_smoothing=config.train.label_smoothing)
            loss_value = loss.item()
            if not math.isfinite(loss_value):
                _fail(run, step, loss_value, config)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.train.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.train.grad_clip)
            optimizer.step()
            scheduler.step()
            images_seen += len(index)
            done = step + 1
            bar.update(done, loss_value)
            if done % config.train.log_every == 0 or done == config.train.steps:
                accuracy = (logits.argmax(1) == labels[index]).float().mean().item()
                run.append_metrics({"step": done, "split": "train", "loss": loss_value, "accuracy": accuracy,
                                    "lr": scheduler.get_last_lr()[0], "images_seen": images_seen,
                                    "time_s": round(train_time + time.perf_counter() - tic, 3)})  # fmt: skip
            if done % config.train.checkpoint_every == 0 and done < config.train.steps:
                train_time += time.perf_counter() - tic
                save_checkpoint(done)
                tic = time.perf_counter()
        if start_step < config.train.steps:  # a finished checkpoint (summary being rebuilt) keeps its time exactly
            train_time += time.perf_counter() - tic
            save_checkpoint(config.train.steps)

    test = evaluate(model, dataset.test_images, dataset.test_labels, device=device,
                    batch_size=config.train.eval_batch_size, channels_last=channels_last)  # fmt: skip
    run.append_metrics({"step": config.train.steps, "split": "test", **test})
    _save_weights(model, config, run / layout.WEIGHTS)
    summary = {
        "model": config.model.name, "arch": model.arch, "dataset": config.data.name,
        "fraction": config.data.fraction, "seed": config.seed, "data_seed": config.data.data_seed,
        "test_accuracy": test["accuracy"], "test_loss": test["loss"],
        "params": model.num_params, "train_flops_per_image": flops,
        "steps": config.train.steps, "batch_size": config.train.batch_size, "images_seen": images_seen,
        "epochs": images_seen / len(subset), "train_size": len(subset), "subset_hash": subset_hash(subset),
        "skipped_files": dataset.skipped_files, "wall_time_s": round(train_time, 3),
        "train_images_per_s": round(images_seen / train_time, 1) if train_time else None,
        "device": str(device), "threads": threads,
    }  # fmt: skip
    layout.atomic_write_json(run / layout.SUMMARY, summary)
    run.mark_done()
    return summary


def load_trained(run_dir: Path | str, device: torch.device | str = "cpu") -> tuple[Backbone, RunConfig, ImageDataset]:
    """The trained model of a finished run (eval mode), its config and its dataset."""
    run = layout.RunDir(run_dir)
    weights = run / layout.WEIGHTS
    if not (run / layout.CONFIG).exists():
        raise CnnvitError(f"{run.path} is not a run directory (no {layout.CONFIG}); pass a directory made by cnnvit train")
    if not weights.exists():
        raise CnnvitError(f"{run.path} has no trained weights ({layout.WEIGHTS}); finish it with cnnvit train first")
    config = build_config(read_yaml(run / layout.CONFIG), where=str(run / layout.CONFIG))
    dataset = load_dataset(config.data.name, root=config.data.root, image_size=config.data.image_size,
                           skip_corrupt=config.data.skip_corrupt)  # fmt: skip
    model = build_model(config.model.name, image_shape=dataset.image_shape, num_classes=dataset.num_classes,
                        options=config.model.options)  # fmt: skip
    problem = run.weights_problem()
    if problem:
        raise CnnvitError(f"weights file {weights} is corrupted ({problem}); retrain it with cnnvit train --restart "
                          "(cnnvit run does so by itself)")  # fmt: skip
    model.load_state_dict(load_file(weights))
    return model.to(device).eval(), config, dataset


def _check_same_run(run: layout.RunDir, config: RunConfig) -> None:
    """Refuse a directory whose config.yaml describes another run (how it runs may differ)."""
    path = run / layout.CONFIG
    if path.exists():
        existing = flatten(read_yaml(path))
        wanted = flatten(config.model_dump(mode="json"))
        differing = sorted(k for k in existing.keys() | wanted.keys()
                           if k not in NON_SEMANTIC_KEYS and existing.get(k) != wanted.get(k))  # fmt: skip
        if differing:
            key = differing[0]
            raise CnnvitError(
                f"{run.path} holds a different run ({key}: {existing.get(key)!r} there, {wanted.get(key)!r} now); "
                "use another --out, or --restart to replace it"
            )


def _clear(run: layout.RunDir) -> None:
    for name in (layout.DONE, layout.SUMMARY, layout.WEIGHTS, layout.CHECKPOINT, layout.METRICS, layout.CONFIG,
                 layout.FAILED):  # fmt: skip
        (run / name).unlink(missing_ok=True)


def _optimizer(model: torch.nn.Module, config: RunConfig) -> torch.optim.Optimizer:
    """AdamW; weight decay only on weight matrices and kernels (not biases, norms, tokens, positions)."""
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        is_weight = parameter.ndim >= 2 and "pos_embed" not in name and "cls_token" not in name
        (decay if is_weight else no_decay).append(parameter)
    groups = [{"params": decay, "weight_decay": config.train.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.train.lr, betas=(0.9, 0.999))


def _warmup_cosine(total_steps: int, warmup_fraction: float):
    warmup = max(1, round(total_steps * warmup_fraction))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor


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


def _fail(run: layout.RunDir, step: int, loss: float, config: RunConfig) -> None:
    layout.atomic_write_json(run / layout.FAILED, {"step": step, "loss": str(loss), "reason": "non-finite loss"})
    raise TrainingFailed(
        f"loss became {loss} at step {step} of {run.path}; likely a learning rate too high for this model "
        f"(train.lr={config.train.lr}) or unstable data; lower train.lr and rerun with --restart"
    )
