"""Layer similarity: linear CKA between every pair of a model's layers (Kornblith et al. 2019), and across
models on the same test images (Raghu et al. 2021, Figs. 1-2: a ViT's layers are more alike across depth
than a ResNet's, whose representations change in stages).

For two layers with flattened features X (m x p) and Y (m x q) on the same m images, K = X Xᵀ, L = Y Yᵀ:

  CKA = HSIC(K, L) / √(HSIC(K, K) · HSIC(L, L))

1 for the same representation, invariant to an orthogonal transform and to isotropic scaling of either
side (K and L only change by a positive factor), and not to an arbitrary invertible linear map. HSIC is the
unbiased estimator (Song et al. 2012) averaged over minibatches of m images: minibatch CKA (Nguyen et al.
2021), as Raghu et al. compute it. The biased estimator (Kornblith's centred Gram matrices) gives two
independent random representations with more dimensions than images a CKA near 1, both Gram matrices being
close to a multiple of the identity; the unbiased one gives them about 0.

Each run saves its layers' minibatch Gram matrices (GRAMS_FILE, one (k, m, m) float32 tensor per layer, the
probe's sample in k batches of m, in index order) so that CKA across two runs is computed from files alone
(`cka_between`); the rows hold the CKA between every pair of the run's own layers. Every feature layer the
model names (models.interface.FeatureLayer: stem or patch embedding, every block, pooled features, logits)
is flattened per image. Images beyond the last whole batch are left out (the summary records how many).
"""

from dataclasses import dataclass

import pandas as pd
import torch
from pydantic import PositiveInt

from ..data import probe_sample
from ..data.model_input import to_model_input
from ..errors import CnnvitError
from ..models import Backbone, capture_outputs
from ..trained_run import TrainedRun
from .plugin import Options, Planned, Probe

NAME = "cka"
GRAMS_FILE = f"{NAME}_grams.safetensors"
FORMAT_VERSION = 1
COST_STEPS = 3.4  # its time in training steps of the run it probes (plugin.Probe.cost; vit-s: 2.0)
DEFAULT_IMAGES = 256
MINIBATCH = 64  # images per HSIC estimate: the unbiased estimator needs at least 4
COLUMNS = ["model", "layer_a", "layer_b", "index_a", "index_b", "kind_a", "kind_b", "cka", "n_images", "minibatch"]


@dataclass(frozen=True)
class LayerGrams:
    """One feature layer's Gram matrices: name, kind ("map", "tokens", "vector": FeatureLayer.kind) and
    (k, m, m) Gram matrices over k batches of m images."""

    name: str
    kind: str
    grams: torch.Tensor


def hsic(K: torch.Tensor, L: torch.Tensor) -> torch.Tensor:
    """Unbiased HSIC of Gram matrices (..., m, m) (Song et al. 2012, eq. 5), batched over leading dims."""
    m = K.shape[-1]
    if m < 4:
        raise CnnvitError(f"CKA needs minibatches of at least 4 images, got {m}; give a larger --option minibatch")
    K = K.double() * (1 - torch.eye(m, dtype=torch.float64, device=K.device))  # zero diagonals
    L = L.double() * (1 - torch.eye(m, dtype=torch.float64, device=L.device))
    trace = (K * L.transpose(-1, -2)).sum((-1, -2))
    sums = K.sum((-1, -2)) * L.sum((-1, -2)) / ((m - 1) * (m - 2))
    cross = (K.sum(-1) * L.sum(-1)).sum(-1) * 2 / (m - 2)  # 1ᵀ K L 1, K symmetric
    return (trace + sums - cross) / (m * (m - 3))


def cka(grams_a: torch.Tensor, grams_b: torch.Tensor) -> float:
    """Minibatch CKA of two layers from their Gram matrices (k, m, m) on the same k batches of images."""
    if grams_a.shape != grams_b.shape:
        raise CnnvitError(
            f"CKA compares Gram matrices of the same batches, got {tuple(grams_a.shape)} and "
            f"{tuple(grams_b.shape)}; probe both runs with the same images and minibatch"
        )
    between = hsic(grams_a, grams_b).mean()
    scale = (hsic(grams_a, grams_a).mean() * hsic(grams_b, grams_b).mean()).sqrt()
    return float(between / scale)


def gram(features: torch.Tensor) -> torch.Tensor:
    """The Gram matrix (m, m) of a batch of features (m, ...), each image's features flattened, in float64."""
    flat = features.flatten(1).double()
    return flat @ flat.T


@torch.inference_mode()
def layer_grams(
    model: Backbone, images: torch.Tensor, *, minibatch: int = MINIBATCH, device: torch.device | str = "cpu"
) -> list[LayerGrams]:
    """Float64 Gram matrices of every feature layer, in the model's order, over k = N // m batches of `images`
    (uint8 (N, C, H, W)), in eval mode."""
    batches = len(images) // minibatch
    if batches == 0:
        raise CnnvitError(
            f"CKA needs at least one minibatch of {minibatch} images, got {len(images)}; give "
            f"--option images={minibatch} or more"
        )
    layers = model.feature_layers()
    grams: dict[str, list[torch.Tensor]] = {layer.name: [] for layer in layers}

    def on_output(layer, output: torch.Tensor) -> None:
        grams[layer.name].append(gram(output).cpu())

    was_training = model.training
    model.eval()
    try:
        with capture_outputs(layers, on_output):
            for start in range(0, batches * minibatch, minibatch):
                model(to_model_input(images[start : start + minibatch].to(device)))
    finally:
        model.train(was_training)
    return [LayerGrams(layer.name, layer.kind, torch.stack(grams[layer.name])) for layer in layers]


def cka_rows(layers: list[LayerGrams], model_name: str, other: list[LayerGrams] | None = None) -> pd.DataFrame:
    """CKA between every layer of `layers` and every layer of `other` (themselves when None), one row per pair."""
    rows = []
    for index_a, a in enumerate(layers):
        for index_b, b in enumerate(layers if other is None else other):
            rows.append(
                {
                    "model": model_name,
                    "layer_a": a.name,
                    "layer_b": b.name,
                    "index_a": index_a,
                    "index_b": index_b,
                    "kind_a": a.kind,
                    "kind_b": b.kind,
                    "cka": cka(a.grams, b.grams),
                    "n_images": a.grams.shape[0] * a.grams.shape[1],
                    "minibatch": a.grams.shape[1],
                }
            )
    return pd.DataFrame(rows, columns=COLUMNS)


def grams_file(layers: list[LayerGrams]) -> bytes:
    """The safetensors file of a run's Gram matrices, float32, with the layers' order and kinds."""
    from safetensors.torch import save

    return save(
        {layer.name: layer.grams.float().contiguous() for layer in layers},
        metadata={
            "layers": ",".join(layer.name for layer in layers),
            "kinds": ",".join(layer.kind for layer in layers),
        },
    )


def saved_grams(path) -> list[LayerGrams]:
    """A run's saved Gram matrices (grams_file), in the model's layer order."""
    from safetensors import safe_open

    with safe_open(path, "pt") as file:
        metadata = file.metadata()
        names, kinds = metadata["layers"].split(","), metadata["kinds"].split(",")
        return [LayerGrams(name, kind, file.get_tensor(name)) for name, kind in zip(names, kinds)]


class CkaOptions(Options):
    images: int = DEFAULT_IMAGES
    minibatch: PositiveInt = MINIBATCH


def plan(run: TrainedRun, options: CkaOptions, *, device: torch.device | str = "cpu", progress=None) -> Planned:
    """CKA between every pair of a run's layers on `options.images` test images (data.probe_sample)."""
    sample = probe_sample(run.dataset, options.images)

    def compute():
        # float32 on disk; the rows come from what is saved, so CKA across runs (from the files) and within
        # a run use the same numbers.
        layers = layer_grams(run.model, sample.images, minibatch=options.minibatch, device=device)
        layers = [LayerGrams(layer.name, layer.kind, layer.grams.float()) for layer in layers]
        files = {GRAMS_FILE: grams_file(layers)}
        rows = cka_rows(layers, run.label)
        used = int(rows["n_images"].iloc[0])
        summary = {
            "model": run.label,
            "dataset": run.dataset.name,
            "grams_file": GRAMS_FILE,
            "images_used": used,
            "estimator": "minibatch CKA with unbiased HSIC (Nguyen et al. 2021; Song et al. 2012)",
            "features": "every feature layer, flattened per image",
        }
        return rows, summary, files

    return Planned(known(options, run.source), compute, sample)


def known(options: CkaOptions, source: dict) -> dict:
    return {"version": FORMAT_VERSION, "minibatch": options.minibatch, "source": source}


PROBE = Probe(
    NAME,
    (
        "layer similarity: linear CKA between every pair of the model's layers (Kornblith et al. 2019, minibatch CKA "
        "with unbiased HSIC), with the Gram matrices saved so the report compares a ResNet's layers with a ViT's"
    ),
    cost=COST_STEPS,
    options=CkaOptions,
    plan=plan,
    known=known,
)
