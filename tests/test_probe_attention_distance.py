"""Specification of the mean-attention-distance probe: attention forced uniform over the patches measures
the mean pairwise patch-centre distance, attention to oneself measures 0, and torchvision's weights
recomputed from its modules are the ones it would return.
"""

import itertools
import math

import pytest
import torch
from torch import nn

from cnn_vs_vit.errors import CnnvitError
from cnn_vs_vit.models import Backbone, build_model
from cnn_vs_vit.models.torchvision_models import TorchvisionViTB16
from cnn_vs_vit.probes.attention_distance import (
    CLS_HANDLING,
    COLUMNS,
    mean_attention_distance,
    multihead_attention_probabilities,
)  # fmt: skip
from cnn_vs_vit.probes.plugin import run_probe

SIDE, PATCH = 16, 4  # a 4x4 grid of patches


pytestmark = pytest.mark.usefixtures("one_thread")


def noise(n: int = 3, channels: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (n, channels, SIDE, SIDE), dtype=torch.uint8, generator=generator)


def vit(**options) -> Backbone:
    torch.manual_seed(0)
    options = {"patch_size": PATCH, **options}
    return build_model("vit-xs", image_shape=(1, SIDE, SIDE), num_classes=10, options=options).eval()


def mean_pairwise_patch_distance() -> float:
    """Mean over all ordered pairs of patches (self-pairs included) of the distance between their centres."""
    centres = [((r + 0.5) * PATCH, (c + 0.5) * PATCH) for r in range(SIDE // PATCH) for c in range(SIDE // PATCH)]
    return sum(math.dist(p, q) for p, q in itertools.product(centres, centres)) / len(centres) ** 2


def test_uniform_attention_over_patches_gives_the_mean_pairwise_patch_distance():
    model = vit()
    with torch.no_grad():
        for block in model.blocks:  # zero queries: every score is 0, the softmax is uniform over all tokens
            dim = block.attn.qkv.in_features
            block.attn.qkv.weight[:dim] = 0
            block.attn.qkv.bias[:dim] = 0
    rows = mean_attention_distance(model, noise())
    assert list(rows.columns) == COLUMNS
    assert len(rows) == 4 * 4  # blocks x heads
    expected = mean_pairwise_patch_distance()
    assert rows["mean_distance_px"].to_numpy() == pytest.approx(expected, abs=1e-9)
    assert rows["prefix_attention"].to_numpy() == pytest.approx(1 / 17)  # [CLS] is one of 17 tokens
    assert rows["mean_distance_pct"].to_numpy() == pytest.approx(100 * expected / SIDE)
    assert (rows["cls_handling"] == CLS_HANDLING).all() and (rows["n_images"] == 3).all()


class AttendToSelf(nn.Module):
    """Replaces the softmax probabilities by the identity: every token attends to itself only."""

    def forward(self, probabilities):
        return torch.eye(probabilities.shape[-1]).expand_as(probabilities)


def test_attention_to_oneself_has_distance_zero():
    model = vit()
    for block in model.blocks:
        block.attn.attend = AttendToSelf()
    rows = mean_attention_distance(model, noise())
    assert (rows["mean_distance_px"] == 0).all() and (rows["prefix_attention"] == 0).all()


def test_trained_like_attention_lies_between_zero_and_the_farthest_patch_pair():
    rows = mean_attention_distance(vit(), noise())
    farthest = math.dist((0.5 * PATCH,) * 2, ((SIDE // PATCH - 0.5) * PATCH,) * 2)
    assert ((rows["mean_distance_px"] > 0) & (rows["mean_distance_px"] < farthest)).all()
    assert (rows["ci_low"] <= rows["mean_distance_px"]).all() and (rows["mean_distance_px"] <= rows["ci_high"]).all()


def test_mean_pooled_vit_has_no_prefix_tokens_to_exclude():
    rows = mean_attention_distance(vit(pool="mean"), noise())
    assert (rows["prefix_attention"] == 0).all() and (rows["cls_handling"] == "no prefix tokens").all()


class TinyTorchvisionViT(TorchvisionViTB16):
    """torchvision's VisionTransformer behind cnnvit's wrapper, small enough for a test."""

    def __init__(self):
        Backbone.__init__(self)
        from torchvision.models import VisionTransformer

        torch.manual_seed(0)
        self.patch_size = PATCH
        self.net = VisionTransformer(image_size=SIDE, patch_size=PATCH, num_layers=2, num_heads=2, hidden_dim=16,
                                     mlp_dim=32, num_classes=10).eval()  # fmt: skip


def test_torchvision_weights_recomputed_from_the_module_equal_need_weights():
    layer = TinyTorchvisionViT().net.encoder.layers[0]
    tokens = torch.randn(3, 17, 16)
    y = layer.ln_1(tokens)
    expected = layer.self_attention(y, y, y, need_weights=True, average_attn_weights=False)[1]  # (B, h, T, T)
    torch.testing.assert_close(multihead_attention_probabilities(layer.self_attention, y), expected)


def test_torchvision_vit_with_uniform_attention_gives_the_mean_pairwise_distance():
    model = TinyTorchvisionViT()
    with torch.no_grad():
        for layer in model.net.encoder.layers:
            layer.self_attention.in_proj_weight[:16] = 0
            layer.self_attention.in_proj_bias[:16] = 0
    rows = mean_attention_distance(model, noise(channels=3))
    assert len(rows) == 2 * 2 and list(rows["layer"]) == ["block1", "block1", "block2", "block2"]
    assert rows["mean_distance_px"].to_numpy() == pytest.approx(mean_pairwise_patch_distance(), abs=1e-9)


def test_a_resnet_is_a_one_line_error_that_asks_for_a_vit():
    resnet = build_model("resnet-xs", image_shape=(1, SIDE, SIDE), num_classes=10)
    message = "resnet-xs has no attention layers: the attention-distance probe needs a ViT"
    with pytest.raises(CnnvitError, match=message):
        mean_attention_distance(resnet, noise(), model_name="resnet-xs")


def test_run_dir_probe_measures_init_and_trained_and_reuses_its_files(tmp_path, tiny):
    from cnn_vs_vit.training import train_run

    run = tmp_path / "run"
    train_run(tiny("model.name=vit-xs", "model.patch_size=4", "train.steps=2"), run)
    first = run_probe("attention_distance", run, {"images": 4})
    rows = first.rows
    assert not first.reused and set(rows["weights"]) == {"init", "trained"}
    init, trained = (rows[rows["weights"] == w]["mean_distance_px"].to_numpy() for w in ("init", "trained"))
    assert len(init) == len(trained) == 4 * 4 and (init != trained).any()
    # "init" is the model training started from: built right after seeding with the run's seed (0 here).
    from cnn_vs_vit.data import load_dataset, probe_sample

    shapes = load_dataset("shapes", image_size=16)
    torch.manual_seed(0)
    initial = build_model("vit-xs", image_shape=shapes.image_shape, num_classes=shapes.num_classes,
                          options={"patch_size": 4})  # fmt: skip
    images = probe_sample(shapes, 4).images  # the images every probe reads
    assert init == pytest.approx(mean_attention_distance(initial, images)["mean_distance_px"].to_numpy(), abs=1e-12)
    assert (run / "probes" / "attention_distance.csv").exists()
    assert first.summary["cls_handling"] == CLS_HANDLING

    again = run_probe("attention_distance", run, {"images": 4})
    assert again.reused and again.rows.equals(first.rows)
    assert not run_probe("attention_distance", run, {"images": 4, "include_init": False}).reused
