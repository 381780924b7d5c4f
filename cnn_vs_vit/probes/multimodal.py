"""Multimodal compatibility (claim 10), a structural check: can a trained image model's body run a
token sequence, not an image, with only a new embedding (and a new head for the new classes)?

What is built from a finished run's model:
  ViT  the run's encoder modules, the very objects, unchanged in class and code: cnnvit's `blocks`
       and final `norm`, torchvision's `encoder.layers` and `encoder.ln` (its `encoder.dropout`,
       p = 0, is left out), with the model's own trained [CLS] token when it pools by it (else mean
       pooling). Replaced: the patch embedding by a token embedding (nn.Embedding) and the grid's
       positional embeddings (if any: the task needs order) by learned 1-D positions; new: a linear
       head. (TokenTransformer)
  CNN  the model itself with its first convolution replaced by a token embedding that lays the
       sequence out as what a CNN accepts, a (B, D, 1, T) image of height 1, and a new linear head;
       every other module runs as it is. (TokensAsImage)
Both are trained on the same task (sequence_task.MarkerOrder, which needs token-to-token interaction)
and tested on held-out sequences from another seed, twice: "fine-tuned" (every parameter trains) and
"frozen" (only the new embedding, positions and head train; the reused modules keep the run's
weights, though BatchNorm's running statistics follow the new inputs as in any training).
Accuracy has a Clopper-Pearson (exact binomial) 95% interval over the test sequences.

The structural count (modules_replaced), the figure the verdict rests on: the modules that assume
a 2-D image grid and would have to be replaced for a model that takes (B, T, D) token sequences.
A module is 2-D specific when it is one of torch's 2-D layers (torch names its grid layers by the
grid's dimension: Conv2d, BatchNorm2d, MaxPool2d, AdaptiveAvgPool2d, Dropout2d, ...) or holds a 2-D
kernel of its own (a 4-D parameter or buffer, e.g. BlurPool's blur filter). Counted by walking
model.modules() outside what a sequence model replaces in either architecture anyway: the input
embedding (the model's first Conv2d: a ViT's patch embedding, a ResNet's stem convolution) and the
classifier. runs_unchanged: the body ran the sequence with none of them, i.e. as (B, T, D) tokens.

What the CNN attempt shows (evidence beside the count, not the verdict): a height-1 image runs
through zero-padded convolutions, BatchNorm and global pooling, so the body does run, as a 1-D
convolutional network in disguise. kernel_weights_on_padding is the share of its 2-D kernel weights
that only ever multiply the zero padding above and below the single row (2/3 of a 3x3 kernel), found
from each convolution's input height during the forward pass. A body with BlurPool does not run at
all: its reflection padding needs a height of at least 2.

Choices, and why:
- Marker order rather than majority or parity: counts cannot solve it (chance is exactly 1/2, see
  sequence_task), and a 4-block encoder of width 24-96 learns it well above chance in a couple of
  hundred steps on a CPU, while a parity task would take far longer for every architecture.
- Token embeddings start at the scale of the positions (std 0.02, as the ViT initialises its
  projections): with nn.Embedding's default N(0, 1) the positions are drowned and, tried on a
  trained vit-s, the model stayed at chance for 300 steps of 64.
- Training is the training loop's step (training.step, through training.finetune.fit) with the run's
  own recipe (lr, weight decay, warm-up, label smoothing, gradient clipping from its resolved config:
  recipes.py's unless the run set its own) and the probe's budget: STEPS steps of BATCH_SIZE fresh sequences
  (each seen once), with one fixed seed for the sequences, their order and the new modules, so that
  runs differ only by their trained weights.

Cost (default budget, four trainings in all): about 18 s of CPU time for vit-s and 12 s for resnet-s on
one thread, plus cnnvit's start-up; torch's two threads on a 2-core CPU shared with other jobs take far longer.
"""

import copy
import math
from collections import Counter
from dataclasses import asdict, dataclass

import pandas as pd
import torch
from pydantic import PositiveInt
from torch import nn

from ..config import RunConfig
from ..errors import CnnvitError
from ..models import Backbone
from ..trained_run import TrainedRun
from ..training.finetune import fit
from ..training.recipes import with_recipe
from .plugin import Options, Planned, Probe
from .sequence_task import CHANCE, CLASSES, MarkerOrder

NAME = "multimodal"
FORMAT_VERSION = 1
COST_STEPS = 150  # its time in training steps of the run it probes (plugin.Probe.cost)
STEPS = 200
BATCH_SIZE = 32
TEST_SEQUENCES = 1000
SEED = 0  # the new modules, the training sequences and their order
TEST_SEED = 1  # held-out sequences
EVAL_BATCH = 500
ENCODER_WEIGHTS = ("fine-tuned", "frozen")
NONE = "none"  # no error, no modules: a word, since an empty CSV cell reads back as NaN
CHECK = "structural"  # the verdict rests on a module count, not on a measured difference in accuracy
# How the sequence enters the reused body, by the model's Capabilities.input_embedding (the rows' "layout").
LAYOUTS = {"tokens": "tokens (B, T, D)", "image": "height-1 image (B, D, 1, T)"}
COLUMNS = [
    "model",
    "arch",
    "check",
    "encoder_weights",
    "layout",
    "embedding_replaced",
    "encoder_modules_reused",
    "encoder_module_types",
    "modules_replaced",
    "modules_replaced_types",
    "runs",
    "runs_unchanged",
    "kernel_weights_on_padding",
    "task",
    "chance",
    "steps",
    "batch_size",
    "test_sequences",
    "accuracy",
    "accuracy_low",
    "accuracy_high",
    "above_chance",
    "error",
]


def is_grid_specific(module: nn.Module) -> bool:
    """True when `module` computes on a 2-D grid: a torch 2-D layer, or a holder of its own 2-D kernel."""
    own = [*module.parameters(recurse=False), *module.buffers(recurse=False)]
    return type(module).__name__.endswith("2d") or any(t.ndim == 4 for t in own)


def input_embedding(model: Backbone) -> tuple[str, nn.Conv2d]:
    """(name, module) of the model's first convolution: what turns pixels into features (patch embedding, stem)."""
    found = next(((n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)), None)
    if found is None:
        raise CnnvitError(
            f"{type(model).__name__} has no convolution or patch embedding taking the image; "
            "the multimodal probe needs a model built by cnnvit (see cnnvit models)"
        )
    return found


def grid_modules(model: Backbone) -> list[str]:
    """Class names, one per module, of the 2-D-specific modules outside the input embedding and classifier."""
    kept_out = {id(m) for part in (input_embedding(model)[1], model.classifier()) for m in part.modules()}
    return sorted(
        type(m).__name__ for m in model.modules() if m is not model and id(m) not in kept_out and is_grid_specific(m)
    )


def tally(names: list[str]) -> str:
    """'BatchNorm2d×12, Conv2d×11' (sorted by name); 'none' for none (an empty cell would read back as NaN)."""
    return ", ".join(f"{name}×{count}" for name, count in sorted(Counter(names).items())) or NONE


def token_embedding(vocabulary: int, dim: int) -> nn.Embedding:
    embedding = nn.Embedding(vocabulary, dim)
    nn.init.trunc_normal_(embedding.weight, std=0.02)  # the positions' scale (see the module docstring)
    return embedding


class TokenTransformer(nn.Module):
    """A ViT's encoder on token ids: new embedding + 1-D positions -> the encoder as it is -> pool -> new head."""

    def __init__(
        self, blocks: nn.Module, norm: nn.Module, cls_token: nn.Parameter | None, *, dim: int, task: MarkerOrder
    ):
        super().__init__()
        self.embed = token_embedding(task.vocabulary, dim)
        self.cls_token = cls_token  # the model's own [CLS] token (shared, not copied), or None: mean pooling
        prefix = 0 if cls_token is None else 1
        self.pos_embed = nn.Parameter(torch.randn(1, prefix + task.length, dim) * 0.02)  # as cnnvit's ViT's own
        self.blocks, self.norm = blocks, norm  # the very modules of the image model
        self.head = nn.Linear(dim, CLASSES)

    def encode(self, tokens: torch.Tensor) -> torch.Tensor:
        """The reused encoder on a (B, T, D) token sequence: its blocks, then its final norm."""
        for block in self.blocks:
            tokens = block(tokens)
        return self.norm(tokens)

    def no_weight_decay(self) -> set[str]:
        return {"pos_embed", "cls_token"} if self.cls_token is not None else {"pos_embed"}

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        tokens = self.embed(ids)  # (B, T, D)
        if self.cls_token is not None:
            tokens = torch.cat([self.cls_token.expand(len(tokens), -1, -1), tokens], dim=1)  # (B, 1 + T, D)
        tokens = self.encode(tokens + self.pos_embed)
        pooled = tokens[:, 0] if self.cls_token is not None else tokens.mean(dim=1)  # (B, D)
        return self.head(pooled)  # (B, classes)


def vit_sequence_model(model: Backbone, task: MarkerOrder) -> TokenTransformer:
    """A TokenTransformer around `model`'s own encoder modules (not copies: training it trains them)."""
    encoder = model.token_encoder()
    return TokenTransformer(encoder.blocks, encoder.norm, encoder.cls_token, dim=encoder.dim, task=task)


class TokensAsImage(nn.Module):
    """Token ids (B, T) -> a (B, D, 1, T) image of height 1: a sequence laid out as what a CNN takes."""

    def __init__(self, task: MarkerOrder, dim: int):
        super().__init__()
        self.embed = token_embedding(task.vocabulary, dim)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.embed(ids).transpose(1, 2).unsqueeze(2)  # (B, D, 1, T)


def cnn_sequence_model(model: Backbone, task: MarkerOrder) -> Backbone:
    """`model` itself with its first convolution replaced by TokensAsImage and its classifier by a new linear head."""
    name, first = input_embedding(model)
    model.set_submodule(name, TokensAsImage(task, first.out_channels))
    head = model.classifier()
    linear = next(m for m in head.modules() if isinstance(m, nn.Linear))
    model.set_submodule(next(n for n, m in model.named_modules() if m is head), nn.Linear(linear.in_features, CLASSES))
    return model


def sequence_model(model: Backbone, task: MarkerOrder) -> nn.Module:
    """The sequence classifier built from `model`'s modules (in place: pass a copy to keep `model`), as its
    input embedding's capability says: tokens into its encoder, or a height-1 image into its body."""
    entry = model.capabilities.input_embedding
    if entry == "tokens":
        return vit_sequence_model(model, task)
    if entry == "image":
        return cnn_sequence_model(model, task)
    raise CnnvitError(f"{type(model).__name__} declares no input embedding a sequence could replace")


def padding_only_share(module: nn.Module, ids: torch.Tensor) -> float:
    """Share of `module`'s Conv2d kernel weights that multiply only zero padding when it runs `ids` (NaN: no Conv2d).

    A kernel row is idle when, at every output row, it falls above or below the input's rows.
    """
    idle, total = [0], [0]

    def count(conv: nn.Conv2d, args, out: torch.Tensor) -> None:
        height, out_height = args[0].shape[-2], out.shape[-2]
        per_row = conv.weight.numel() // conv.kernel_size[0]
        offsets = [r * conv.dilation[0] - conv.padding[0] for r in range(conv.kernel_size[0])]
        # Circular padding fills the margin with data rows, so only zero padding leaves a row idle.
        if conv.padding_mode == "zeros":
            outside = [all(not 0 <= i * conv.stride[0] + r < height for i in range(out_height)) for r in offsets]
            idle[0] += per_row * sum(outside)
        total[0] += conv.weight.numel()

    handles = [m.register_forward_hook(count) for m in module.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            module(ids)
    finally:
        for handle in handles:
            handle.remove()
    return idle[0] / total[0] if total[0] else math.nan


@dataclass
class SequenceVariant:
    """A sequence model made from a copy of an image model, and what it took from it."""

    net: nn.Module
    reused: list[nn.Module]  # the image model's leaf modules it runs as they are (nn.Identity hook points left out)
    reused_parameters: int
    new_parameters: int


def sequence_variant(model: Backbone, task: MarkerOrder, weights: str) -> SequenceVariant:
    """A sequence model from a copy of `model` (which stays as it is); "frozen" trains only the new parameters."""
    image_model = copy.deepcopy(model)  # every variant starts from the run's weights
    image_parameters = {id(p) for p in image_model.parameters()}
    image_modules = {id(m) for m in image_model.modules()}
    torch.manual_seed(SEED)  # the new embedding, positions and head
    net = sequence_model(image_model, task)
    reused = [
        m
        for m in net.modules()
        if id(m) in image_modules and not any(True for _ in m.children()) and not isinstance(m, nn.Identity)
    ]
    counts = {True: 0, False: 0}
    for parameter in net.parameters():
        is_reused = id(parameter) in image_parameters
        parameter.requires_grad_(weights == "fine-tuned" or not is_reused)
        counts[is_reused] += parameter.numel()
    return SequenceVariant(net, reused, counts[True], counts[False])


def sequence_config(config: RunConfig, recipe_key: str, *, steps: int, batch_size: int) -> RunConfig:
    """`config`'s recipe (the architecture's where it left one unset), the probe's budget and seed."""
    train = with_recipe(config.train, recipe_key).with_fixed_steps(steps).model_copy(update={"batch_size": batch_size})
    return config.model_copy(update={"train": train, "seed": SEED})


def train_and_test(model: nn.Module, task: MarkerOrder, config: RunConfig, test_sequences: int) -> int:
    """Train `model` on config.train.steps batches of fresh sequences; the number it gets right of held-out ones."""
    train = config.train
    ids, labels = task.sample(train.steps * train.batch_size, torch.Generator().manual_seed(SEED))
    fit(model, lambda _step, index: ids[index], labels, config, device=torch.device("cpu"), label=NAME)
    ids, labels = task.sample(test_sequences, torch.Generator().manual_seed(TEST_SEED))
    model.eval()
    with torch.no_grad():
        batches = zip(ids.split(EVAL_BATCH), labels.split(EVAL_BATCH))
        return sum(int((model(batch).argmax(dim=1) == truth).sum()) for batch, truth in batches)


def accuracy_columns(correct: int, total: int) -> dict:
    """accuracy, its Clopper-Pearson (exact binomial) 95% interval and whether that lies above CHANCE; NaN for none."""
    if not total:
        return {"accuracy": math.nan, "accuracy_low": math.nan, "accuracy_high": math.nan, "above_chance": False}
    from scipy import stats  # deferred: 1.7 s of import that checking a saved result never needs

    interval = stats.binomtest(correct, total).proportion_ci(0.95, method="exact")
    return {
        "accuracy": correct / total,
        "accuracy_low": interval.low,
        "accuracy_high": interval.high,
        "above_chance": bool(interval.low > CHANCE),
    }


def probe_multimodal(
    model: Backbone,
    config: RunConfig,
    label: str = "model",
    task: MarkerOrder = MarkerOrder(),
    *,
    steps: int = STEPS,
    batch_size: int = BATCH_SIZE,
    test_sequences: int = TEST_SEQUENCES,
) -> tuple[pd.DataFrame, dict]:
    """One row per ENCODER_WEIGHTS (COLUMNS), and the module lists for the summary. `model` is left as it is."""
    if test_sequences < 1:
        raise CnnvitError(f"test_sequences {test_sequences} is not positive; give e.g. {TEST_SEQUENCES}")
    embedding_name, embedding = input_embedding(model)
    replaced = grid_modules(model)
    config = sequence_config(config, model.capabilities.recipe, steps=steps, batch_size=batch_size)
    first_ids, _ = task.sample(2, torch.Generator().manual_seed(TEST_SEED))
    rows = []
    for weights in ENCODER_WEIGHTS:
        variant = sequence_variant(model, task, weights)
        error, on_padding = NONE, math.nan
        try:  # the first forward pass: does the reused body run a sequence at all?
            variant.net.eval()
            on_padding = padding_only_share(variant.net, first_ids)
        except RuntimeError as failure:  # e.g. BlurPool's reflection padding of a height-1 image
            error = str(failure).splitlines()[0]
        runs = error == NONE
        total = test_sequences if runs else 0
        correct = train_and_test(variant.net, task, config, total) if total else 0
        rows.append(
            {
                "model": label,
                "arch": model.arch,
                "check": CHECK,
                "encoder_weights": weights,
                "layout": LAYOUTS[model.capabilities.input_embedding],
                "embedding_replaced": f"{embedding_name} ({type(embedding).__name__}) -> Embedding",
                "encoder_modules_reused": len(variant.reused),
                "encoder_module_types": tally([type(m).__name__ for m in variant.reused]),
                "modules_replaced": len(replaced),
                "modules_replaced_types": tally(replaced),
                "runs": runs,
                "runs_unchanged": runs and not replaced,
                "kernel_weights_on_padding": on_padding,
                "task": task.describe(),
                "chance": CHANCE,
                "steps": steps,
                "batch_size": batch_size,
                "test_sequences": total,
                **accuracy_columns(correct, total),
                "error": error,
            }
        )
    details = {
        "reused_modules": sorted({type(m).__name__ for m in variant.reused}),
        "grid_modules": dict(Counter(replaced)),
        "reused_parameters": variant.reused_parameters,
        "new_parameters": variant.new_parameters,
    }
    return pd.DataFrame(rows, columns=COLUMNS), details


class MultimodalOptions(Options):
    steps: PositiveInt = STEPS
    batch_size: PositiveInt = BATCH_SIZE
    test_sequences: PositiveInt = TEST_SEQUENCES


def plan(run: TrainedRun, options: MultimodalOptions, *, device=None, progress=None) -> Planned:
    """The multimodal check of a run's model (module lists in the summary)."""
    task = MarkerOrder()

    def compute():
        rows, details = probe_multimodal(
            run.model,
            run.config,
            run.label,
            task,
            steps=options.steps,
            batch_size=options.batch_size,
            test_sequences=options.test_sequences,
        )
        return rows, {"model": run.label, "arch": run.model.arch, "task": task.describe(), **details}, {}

    return Planned(known(options, run.source), compute)


def known(options: MultimodalOptions, source: dict) -> dict:
    return {
        "version": FORMAT_VERSION,
        "source": source,
        "task": asdict(MarkerOrder()),
        "steps": options.steps,
        "batch_size": options.batch_size,
        "test_sequences": options.test_sequences,
        "seeds": [SEED, TEST_SEED],
    }


PROBE = Probe(
    NAME,
    (
        "structural: the 2-D modules a CNN would have to replace for a token sequence; the body, unchanged, trained "
        "briefly on a token task with a new embedding"
    ),
    cost=COST_STEPS,
    options=MultimodalOptions,
    plan=plan,
    known=known,
    requires=("input_embedding",),
)
