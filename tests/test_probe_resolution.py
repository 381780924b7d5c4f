"""Specification of the resolution probe: at the training size both ViT variants are the model itself;
at another size the interpolated one is what cnnvit's ViT does by itself and the other keeps every
trained embedding at its own grid position.
"""

import pytest
import torch

from cnn_vs_vit.data.model_input import to_model_input
from cnn_vs_vit.errors import CnnvitError
from cnn_vs_vit.models import Backbone, build_model
from cnn_vs_vit.models.torchvision_models import TorchvisionViTB16
from cnn_vs_vit.probes.plugin import run_probe
from cnn_vs_vit.probes.resolution import (
    COLUMNS,
    default_sizes,
    placed_embedding,
    probe_resolution,
    resolution_variant,
)  # fmt: skip

SIDE = 28  # vit-xs: patch 7, a 4x4 grid


pytestmark = pytest.mark.usefixtures("one_thread")


def model(name: str, **options) -> Backbone:
    torch.manual_seed(0)
    return build_model(name, image_shape=(1, SIDE, SIDE), num_classes=10, options=options).eval()


def data(n: int = 8, side: int = SIDE, channels: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, channels, side, side), dtype=torch.uint8, generator=generator)
    return images, torch.randint(0, 10, (n,), generator=generator)


@torch.no_grad()
def logits(net: Backbone, images: torch.Tensor, size: int, variant: str) -> torch.Tensor:
    with resolution_variant(net, size, variant):
        return net(to_model_input(images))


@pytest.mark.parametrize("pos_embed", ["learned", "sincos2d", "none"])
def test_at_the_training_size_both_vit_variants_are_the_model_itself(pos_embed):
    vit, (x, _) = model("vit-xs", pos_embed=pos_embed), data()
    with torch.no_grad():
        own = vit(to_model_input(x))
    for variant in ("interpolated", "not_interpolated"):
        assert torch.equal(logits(vit, x, SIDE, variant), own)


def test_at_a_new_size_interpolation_is_what_the_vit_does_by_itself_and_the_variants_differ():
    vit, (x, _) = model("vit-xs"), data(side=42)
    with torch.no_grad():
        own = vit(to_model_input(x))  # vit.py interpolates learned embeddings to the 6x6 grid
    assert torch.equal(logits(vit, x, 42, "interpolated"), own)
    assert not torch.allclose(logits(vit, x, 42, "not_interpolated"), own)
    assert "position_embedding" not in vars(vit)  # the instance is restored after the block


def test_without_interpolation_trained_embeddings_keep_their_grid_position():
    old = torch.arange(2 * 3 * 1, dtype=torch.float32).view(1, 6, 1)  # a 2x3 grid, one channel
    larger = placed_embedding(old, (2, 3), (3, 4)).view(3, 4)
    assert torch.equal(larger[:2, :3], old.view(2, 3)) and (larger[2] == 0).all() and (larger[:, 3] == 0).all()
    smaller = placed_embedding(old, (2, 3), (1, 2)).view(1, 2)
    assert torch.equal(smaller, old.view(2, 3)[:1, :2])


@pytest.mark.parametrize("name, variants", [("resnet-xs", ["as_is"]), ("vit-xs", ["interpolated", "not_interpolated"])])
def test_the_probe_runs_at_new_sizes_and_gives_accuracies(name, variants):
    net, (x, y) = model(name), data()
    rows = probe_resolution(net, x, y, sizes=[42, 56])
    assert list(rows.columns) == COLUMNS
    assert sorted(set(rows["image_size"])) == [SIDE, 42, 56] and sorted(set(rows["variant"])) == sorted(variants)
    assert rows["accuracy"].between(0, 1).all() and (rows["n_images"] == 8).all()
    at_training_size = rows[rows["image_size"] == SIDE]
    assert (at_training_size["accuracy_drop"] == 0).all()


def test_default_sizes_are_patch_multiples_shared_by_both_architectures():
    assert default_sizes(model("vit-xs"), SIDE) == [14, 28, 42, 56]
    assert default_sizes(model("resnet-xs"), SIDE) == [14, 28, 42, 56]


def test_bad_sizes_are_one_line_errors():
    vit, (x, y) = model("vit-xs"), data(2)
    with pytest.raises(CnnvitError, match="not divisible by the patch size 7"):
        probe_resolution(vit, x, y, sizes=[30])
    with pytest.raises(CnnvitError, match="not a positive whole number"):
        probe_resolution(vit, x, y, sizes=[0])
    with pytest.raises(CnnvitError, match='variant "as_is" does not apply'):
        logits(vit, x, SIDE, "as_is")


class TinyTorchvisionViT(TorchvisionViTB16):
    def __init__(self):
        Backbone.__init__(self)
        from torchvision.models import VisionTransformer

        torch.manual_seed(0)
        self.patch_size = 4
        self.net = VisionTransformer(image_size=16, patch_size=4, num_layers=1, num_heads=2, hidden_dim=8,
                                     mlp_dim=16, num_classes=10).eval()  # fmt: skip


def test_torchvision_vit_runs_at_other_sizes_and_is_restored():
    vit, (x, y) = TinyTorchvisionViT(), data(4, side=16, channels=3)
    table = vit.net.encoder.pos_embedding
    with torch.no_grad():
        own = vit(to_model_input(x))
    for variant in ("interpolated", "not_interpolated"):
        assert torch.equal(logits(vit, x, 16, variant), own)
    rows = probe_resolution(vit, x, y, sizes=[24])
    assert rows["accuracy"].between(0, 1).all() and len(rows) == 4
    assert vit.net.image_size == 16 and vit.net.encoder.pos_embedding is table


def test_run_dir_probe_writes_and_reuses_its_files(tmp_path, tiny):
    from cnn_vs_vit.training import train_run

    run = tmp_path / "run"
    train_run(tiny("model.name=vit-xs", "model.patch_size=4", "train.steps=2"), run)  # 16x16 shapes
    first = run_probe("resolution", run, {"sizes": [24], "images": 20})
    assert not first.reused and first.summary["arguments"]["sizes"] == [16, 24]
    assert set(first.rows["variant"]) == {"interpolated", "not_interpolated"} and len(first.rows) == 4
    again = run_probe("resolution", run, {"sizes": [24], "images": 20})
    assert again.reused and again.rows.equals(first.rows)
