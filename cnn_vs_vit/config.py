"""Run configuration: one validated tree from a YAML file, command-line options and `key=value` overrides.

Everything a run depends on lives here, so the resolved `config.yaml` in a run directory is
enough to reproduce it. Unknown keys and wrong types are errors (never silently ignored).
"""

from pathlib import Path
from typing import Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from .errors import CnnvitError, did_you_mean, validation_message


class ModelConfig(BaseModel):
    """A named model; any other key is an architecture option (e.g. pos_embed) checked when it is built."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str = "resnet-s"

    @property
    def options(self) -> dict:
        """Architecture options; a null value means "the preset's own", so one experiment axis can
        set an option for one architecture and leave the other's alone."""
        return {k: v for k, v in (self.model_extra or {}).items() if v is not None}


class DataConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "mnist5k"
    root: str | None = None  # where file-based datasets live (default ./data)
    download: bool = False
    fraction: float = 1.0  # of the training split, stratified and nested; in (0, 1]
    data_seed: int = Field(0, ge=0)  # draws the subset; independent of the training seed
    # Share of the training split held out for validation (stratified, the same images for every run);
    # the subsets are drawn from the rest. 0: none held out.
    validation: float = Field(0.0, ge=0, lt=1)
    image_size: int | None = Field(None, ge=4)
    skip_corrupt: bool = False

    @field_validator("fraction")
    @classmethod
    def _fraction_in_range(cls, value: float) -> float:
        if not 0 < value <= 1:  # also rejects NaN
            raise ValueError("a data fraction must be in (0, 1], e.g. 0.1 for 10% of the training split")
        return value


class AugmentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    translate: int = Field(2, ge=0)  # max random shift in pixels, per image, zero fill
    flip: bool | None = None  # horizontal flips; None = where the dataset allows them


class TrainConfig(BaseModel):
    """The optimisation budget and recipe. `lr`, the warm-up (`warmup_fraction`, or a wsd schedule's
    `warmup_steps`) and `weight_decay` left unset take the architecture's recipe (training/recipes.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: int | None = Field(None, ge=1)
    epochs: float | None = Field(None, gt=0)  # budget in passes over the subset, bounded by:
    min_steps: int | None = Field(None, ge=1)  # a floor, so that small subsets still get enough updates
    max_steps: int | None = Field(None, ge=1)  # a ceiling, so that large subsets do not take forever
    batch_size: int = Field(64, ge=1)
    lr: float | None = Field(None, gt=0)
    weight_decay: float | None = Field(None, ge=0)
    warmup_fraction: float | None = Field(None, ge=0, lt=1)  # of the steps, linear; then cosine to zero
    # The learning-rate schedule (training/schedule.py). cosine: warm-up, then cosine to zero at the last step,
    # a length fixed in advance. wsd (warmup-stable-decay): warm-up, a constant lr (the trunk, the same for
    # every budget), then a cool-down to zero over the budget's last cooldown_fraction: one trunk, every
    # budget a short branch off it (training/branches.py).
    schedule: Literal["cosine", "wsd"] = "cosine"
    # wsd's warm-up, in steps: absolute, so that every budget's branch shares one trunk (a fraction of each
    # budget would make their trunks differ); unset: the recipe's warm-up at the default budget.
    warmup_steps: int | None = Field(None, ge=0)
    cooldown_fraction: float = Field(0.2, gt=0, lt=1)  # wsd: of the steps, the last ones, ending at lr 0
    cooldown: Literal["linear", "1-sqrt"] = "linear"  # wsd: the cool-down's shape (Hägele et al. 2024)
    label_smoothing: float = Field(0.1, ge=0, lt=1)
    grad_clip: float | None = Field(1.0, gt=0)
    precision: Literal["fp32", "bf16"] = "fp32"  # of the training step (bf16: autocast); evaluation is fp32
    # Equal compute: train for the training FLOPs that this preset (e.g. resnet-s) spends in the budget
    # above, i.e. that budget x its FLOPs per image / this model's. None: the budget above as it is.
    match_flops: str | None = None
    # Evaluate validation and test every this many steps (accuracy-vs-compute curves from one run);
    # None: once, at the end. Evaluation changes no weight, but it is recorded, so it names the run.
    eval_every: int | None = Field(None, ge=1)
    # What budget rule of the report this run serves beyond the default (equal steps, or equal FLOPs with
    # match_flops): "plateau", the budget the study takes as its architecture's validation plateau (which the
    # report's budget section checks against the longest branches); "curve", a point of the accuracy-vs-compute
    # curves only. A label: it changes no weight, but the report reads it, so it names the run.
    budget: Literal["plateau", "curve"] | None = None
    eval_batch_size: int = Field(500, ge=1)
    log_every: int = Field(25, ge=1)
    checkpoint_every: int = Field(100, ge=1)

    @model_validator(mode="after")
    def _one_budget(self):
        if self.steps is not None and self.epochs is not None:
            raise ValueError("give train.steps or train.epochs, not both")
        if self.epochs is None and (self.min_steps or self.max_steps):
            raise ValueError("train.min_steps and train.max_steps bound an epoch budget; set train.epochs too")
        if self.min_steps and self.max_steps and self.min_steps > self.max_steps:
            raise ValueError("train.min_steps must not exceed train.max_steps")
        if self.schedule == "wsd" and self.warmup_fraction is not None:
            raise ValueError(
                "a wsd schedule's warm-up is train.warmup_steps (absolute, shared by every budget), "
                "not train.warmup_fraction"
            )
        if self.schedule == "cosine":
            for key in WSD_KEYS:
                if getattr(self, key) != TrainConfig.model_fields[key].default:
                    raise ValueError(f"train.{key} is a wsd schedule's; set train.schedule=wsd to use it")
        return self

    @model_serializer(mode="wrap")
    def _cosine_without_wsd_keys(self, handler) -> dict:
        """A cosine run's dump holds no schedule key (they are at their defaults, which the validator checks), and
        a run without a budget label none: its config.yaml, weights' metadata and directory name are those it
        had before wsd and the labels existed."""
        dumped = handler(self)
        if self.budget is None:  # nor a budget label it does not have
            dumped.pop("budget", None)
        if self.schedule == "cosine":
            for key in ("schedule", *WSD_KEYS):
                dumped.pop(key, None)
        return dumped

    def with_fixed_steps(self, steps: int) -> "TrainConfig":
        """This config trained for exactly `steps` optimiser steps: every other budget key (epochs and their
        bounds, match_flops) cleared, so that nothing resolves it into another number of steps."""
        return self.model_copy(
            update={"steps": steps, "epochs": None, "min_steps": None, "max_steps": None, "match_flops": None}
        )


WSD_KEYS = ("warmup_steps", "cooldown_fraction", "cooldown")  # the train.* keys only a wsd schedule reads


class RunConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = Field(0, ge=0)  # model initialisation, data order and augmentation
    model: ModelConfig = ModelConfig()
    data: DataConfig = DataConfig()
    train: TrainConfig = TrainConfig()
    augment: AugmentConfig = AugmentConfig()
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    threads: int = Field(0, ge=0)  # CPU threads; 0 = torch's default (one per core)
    compile: bool = False  # torch.compile the model; cnnvit run decides per cell where it pays (matrix/compiling.py)


# Keys that say how a run executes, not what it computes: they may differ between a run and its
# resumption, and they are not part of a run's identity (its directory name).
NON_SEMANTIC_KEYS = frozenset(
    {
        "device",
        "threads",
        "compile",
        "data.root",
        "data.download",
        "train.eval_batch_size",
        "train.log_every",
        "train.checkpoint_every",
    }
)


# Keys added after runs were first named, with their defaults: at its default such a key is left out of
# a run's identity, and a config.yaml written before it existed reads as holding the default, so every
# earlier run keeps its name and its results stay valid.
LATER_KEYS = {"train.precision": "fp32", "data.validation": 0.0, "train.match_flops": None, "train.eval_every": None}


def semantic_keys(config: RunConfig) -> dict:
    """The flattened config without NON_SEMANTIC_KEYS (nor model options left null, nor LATER_KEYS at
    their defaults): what a run computes."""
    return {
        k: v
        for k, v in flatten(config.model_dump(mode="json")).items()
        if k not in NON_SEMANTIC_KEYS
        and not (k.startswith("model.") and v is None)
        and not (k in LATER_KEYS and v == LATER_KEYS[k])
    }


def parse_override(text: str) -> tuple[list[str], object]:
    """'train.lr=3e-4' -> (["train", "lr"], 0.0003); the value is parsed as YAML."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise CnnvitError(f'override "{text}" is not key=value (e.g. train.lr=0.001)')
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError:
        parsed = value
    return key.strip().split("."), parsed


def set_dotted(tree: dict, keys: list[str], value: object) -> None:
    for key in keys[:-1]:
        node = tree.setdefault(key, {})
        if not isinstance(node, dict):
            raise CnnvitError(f'cannot set "{".".join(keys)}": "{key}" is a value, not a section')
        tree = node
    tree[keys[-1]] = value


# libyaml's loader where PyYAML was built with it: the same documents, ~10x faster (a rerun reads every run's
# config.yaml).
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path) -> dict:
    """A YAML mapping from `path`, or a one-line error naming the file and what is wrong."""
    try:
        loaded = yaml.load(Path(path).read_text(), Loader=SAFE_LOADER)
    except FileNotFoundError:
        raise CnnvitError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise CnnvitError(f"cannot read config file {path}: {error}") from None
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" at line {where.line + 1}" if where else ""
        raise CnnvitError(f"config file {path} is not valid YAML{line}; fix the syntax") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise CnnvitError(f"config file {path} must hold a mapping of keys (e.g. train: {{steps: 500}})")
    return loaded


def build_config(tree: dict, overrides: list[str] = (), where: str = "config") -> RunConfig:
    """Validate `tree` with `overrides` applied; every problem is reported in one line."""
    tree = _deep_copy(tree)
    for text in overrides:
        set_dotted(tree, *parse_override(text))
    try:
        return RunConfig.model_validate(tree)
    except ValidationError as error:
        message = validation_message(error, where)
        raise CnnvitError(message + _suggestion(error)) from None


def config_to_yaml(config: RunConfig) -> str:
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)


def _suggestion(error: ValidationError) -> str:
    """' (did you mean "train.steps"?)' for the first unknown key close to a real one."""
    for item in error.errors():
        if item["type"] != "extra_forbidden":
            continue
        *parents, key = [str(p) for p in item["loc"]]
        section: type[BaseModel] = RunConfig
        for parent in parents:
            annotation = section.model_fields[parent].annotation
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                return ""
            section = annotation
        hint = did_you_mean(key, section.model_fields)
        if hint:
            return hint.replace('"', '"' + "".join(p + "." for p in parents), 1)
    return ""


def flatten(tree: dict, prefix: str = "") -> dict:
    """{"train": {"lr": 0.1}} -> {"train.lr": 0.1}: the dotted keys overrides use."""
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _deep_copy(tree: dict) -> dict:
    return {k: _deep_copy(v) if isinstance(v, dict) else v for k, v in tree.items()}
