"""Specification of the effective-receptive-field probe: the gradient of a centre unit reaches exactly the
pixels the architecture connects it to, and the 95%-mass summaries measure what they say.

Untrained tiny models on noise images: the oracles are facts about architectures, not weights.
"""

import math

import pytest
import torch
from torch import nn

from cnn_vs_vit.errors import CnnvitError
from cnn_vs_vit.models import Backbone, FeatureLayer, build_model
from cnn_vs_vit.probes.plugin import run_probe
from cnn_vs_vit.probes.receptive_field import (
    COLUMNS,
    mass_area,
    mass_radius,
    receptive_fields,
    saved_maps,
)  # fmt: skip

pytestmark = pytest.mark.usefixtures("one_thread")


def noise(n: int = 4, channels: int = 3, side: int = 15, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, channels, side, side), dtype=torch.uint8, generator=generator)


class ConvStack(Backbone):
    """Linear stride-1 convolutions, each one a feature layer."""

    arch = "test"

    def __init__(self, kernels: list[int], channels: int = 3):
        super().__init__()
        torch.manual_seed(0)
        self.convs = nn.Sequential(*(nn.Conv2d(channels, channels, k, padding=k // 2) for k in kernels))

    def forward(self, x):
        return self.convs(x)

    def feature_layers(self):
        return [FeatureLayer(f"conv{i + 1}", conv, "map", 1) for i, conv in enumerate(self.convs)]


def support(erf: torch.Tensor) -> tuple[slice, slice] | None:
    """The bounding rows/columns of the nonzero pixels, after checking the nonzero set is that whole box."""
    rows, cols = erf.nonzero(as_tuple=True)
    box = (slice(int(rows.min()), int(rows.max()) + 1), slice(int(cols.min()), int(cols.max()) + 1))
    assert (erf[box] > 0).all(), "the support has holes"
    return box


def test_one_3x3_conv_sees_exactly_the_3x3_window_around_the_centre_and_two_see_5x5():
    result = receptive_fields(ConvStack([3, 3]), noise())
    assert list(result.rows.columns) == COLUMNS
    centre = 15 // 2
    assert support(result.maps["conv1"]) == (slice(centre - 1, centre + 2),) * 2
    assert support(result.maps["conv2"]) == (slice(centre - 2, centre + 3),) * 2
    assert (result.maps["conv1"] > 0).sum() == 9 and (result.maps["conv2"] > 0).sum() == 25
    rows = result.rows.set_index("layer")
    assert rows.loc["conv1", "area_px"] <= 9 and rows.loc["conv2", "area_px"] <= 25
    for layer, half in (("conv1", 1), ("conv2", 2)):  # the 95% disc reaches no farther than the window's far corner
        y, x = rows.loc[layer, "centre_y_px"], rows.loc[layer, "centre_x_px"]
        assert abs(y - centre) < half and abs(x - centre) < half  # the centre of mass lies inside the window
        far_corner = math.hypot(half + abs(y - centre), half + abs(x - centre))
        assert 0 < rows.loc[layer, "radius_px"] <= far_corner
    assert (rows["centre_row"] == centre).all() and rows["token_index"].isna().all()
    assert (rows["n_images"] == 4).all()


def test_a_linear_conv_has_the_same_receptive_field_for_every_image():
    model = ConvStack([3])
    one, other = receptive_fields(model, noise(seed=1)), receptive_fields(model, noise(seed=2))
    torch.testing.assert_close(one.maps["conv1"], other.maps["conv1"])


def test_a_1x1_conv_sees_one_pixel():
    rows = receptive_fields(ConvStack([1]), noise()).rows.iloc[0]
    assert rows["area_px"] == 1 and rows["radius_px"] == 0
    assert rows["area_pct"] == pytest.approx(100 / 15**2) and (rows["centre_y_px"], rows["centre_x_px"]) == (7, 7)


def test_mass_summaries_on_known_maps():
    flat = torch.zeros(10, 10)
    flat[2:6, 3:8] = 1.0  # 20 equal pixels: 95% of them is 19
    assert mass_area(flat) == 19
    delta = torch.zeros(9, 9)
    delta[4, 4] = 5.0
    assert mass_area(delta) == 1 and mass_radius(delta, (4.0, 4.0)) == 0
    ring = torch.zeros(9, 9)
    ring[4, 1] = ring[4, 7] = ring[1, 4] = ring[7, 4] = 1.0  # all mass at distance 3 from the centre
    assert mass_radius(ring, (4.0, 4.0)) == 3 and mass_area(ring) == 4


def test_vit_patch_embedding_sees_its_patch_and_the_first_block_sees_the_whole_image():
    torch.manual_seed(0)
    vit = build_model("vit-xs", image_shape=(1, 16, 16), num_classes=10, options={"patch_size": 4})
    result = receptive_fields(vit, noise(channels=1, side=16))
    patch = (slice(8, 12), slice(8, 12))  # centre cell (2, 2) of the 4x4 grid
    assert support(result.maps["patch_embed"]) == patch
    assert support(result.maps["embed"]) == patch  # positional embeddings do not depend on the input
    assert (result.maps["block1"] > 0).all()  # one attention layer mixes every patch in
    rows = result.rows.set_index("layer")
    assert rows.loc["block1", "token_index"] == 1 + 2 * 4 + 2  # [CLS], then row-major patches
    assert rows.loc["block1", "area_pct"] > 2 * rows.loc["patch_embed", "area_pct"]
    assert "logits" not in rows.index and "pool" not in rows.index


def test_resnet_receptive_field_grows_with_depth():
    torch.manual_seed(0)
    resnet = build_model("resnet-xs", image_shape=(1, 16, 16), num_classes=10)
    result = receptive_fields(resnet, noise(channels=1, side=16))
    stem = result.maps["stem"]
    assert (stem[7:10, 7:10] >= 0).all() and stem.sum() == stem[7:10, 7:10].sum()  # at most the 3x3 window
    areas = result.rows.set_index("layer")["area_px"]
    assert areas["stage4.block1"] > areas["stage1.block1"] > areas["stem"]


class VectorOnly(Backbone):
    arch = "mlp"

    def __init__(self):
        super().__init__()
        self.head = nn.Linear(16, 2)

    def forward(self, x):
        return self.head(x.flatten(1))

    def feature_layers(self):
        return [FeatureLayer("logits", self.head, "vector")]


def test_a_model_without_a_grid_is_a_one_line_error():
    with pytest.raises(CnnvitError, match="no feature map or token layer"):
        receptive_fields(VectorOnly(), noise(channels=1, side=4))


def test_run_dir_probe_writes_and_reuses_its_files(tmp_path, tiny):
    from cnn_vs_vit.training import train_run

    run = tmp_path / "run"
    train_run(tiny("model.name=vit-xs", "model.patch_size=4", "train.steps=2"), run)
    first = run_probe("receptive_field", run, {"images": 4})
    maps = saved_maps(first)
    probes = run / "probes"
    assert not first.reused and (probes / "receptive_field.csv").exists()
    assert (probes / "receptive_field_maps.safetensors").exists()
    summary = first.summary
    assert summary["arguments"]["images"] == 4 and summary["arguments"]["source"]["weights"]["sha256"]
    assert set(maps) == set(first.rows["layer"]) and maps["block1"].shape == (16, 16)

    again = run_probe("receptive_field", run, {"images": 4})
    maps_again = saved_maps(again)
    assert again.reused
    assert again.rows.equals(first.rows)
    assert all(torch.equal(maps[k], maps_again[k]) for k in maps)
    assert not run_probe("receptive_field", run, {"images": 3}).reused
