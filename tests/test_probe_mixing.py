"""Specification of the dynamic-mixing probe: a linear convolution's mixing matrix is the same for every
image (variation 0), attention's is not, and neither is a convolution gated by a ReLU.
"""

import pytest
import torch
from torch import nn

from cnn_vs_vit.errors import CnnvitError
from cnn_vs_vit.models import Backbone, FeatureLayer, build_model
from cnn_vs_vit.models.vit import Attention
from cnn_vs_vit.probes.mixing import (
    COLUMNS,
    mixing_matrices,
    module_function,
    probe_mixing,
    sampled_rows,
    variation,
)  # fmt: skip
from cnn_vs_vit.probes.plugin import run_probe

ROUND_OFF = 1e-12  # float64 round-off of a variation that is 0 in exact arithmetic


pytestmark = pytest.mark.usefixtures("one_thread")


def maps(n: int = 6, channels: int = 3, side: int = 8) -> torch.Tensor:
    return torch.randn(n, channels, side, side, generator=torch.Generator().manual_seed(0))


def conv() -> nn.Conv2d:
    torch.manual_seed(0)
    return nn.Conv2d(3, 4, 3, padding=1)


def test_a_bare_linear_conv_has_variation_zero():
    matrices = mixing_matrices(conv(), maps(), sampled_rows(64))
    assert matrices.shape == (6, 4, 64)
    assert (variation(matrices) < ROUND_OFF).all()


def test_a_conv_mixes_only_the_positions_under_its_kernel():
    centre = 3 * 8 + 3  # output position (3, 3) of an 8x8 map
    matrix = mixing_matrices(conv(), maps(1), torch.tensor([centre]))[0, 0].view(8, 8)
    assert (matrix[2:5, 2:5] > 0).all() and (matrix > 0).sum() == 9


def test_self_attention_with_random_weights_varies_from_image_to_image_and_mixes_every_token():
    torch.manual_seed(0)
    attention = Attention(16, heads=2).eval()
    tokens = torch.randn(6, 9, 16, generator=torch.Generator().manual_seed(1))  # (B, T, D)
    matrices = mixing_matrices(attention, tokens, sampled_rows(9))
    assert variation(matrices).mean() > 0.05
    assert (matrices > 0).all()  # global: every output token depends on every input token


def test_a_conv_followed_by_relu_varies_too():
    gated = nn.Sequential(conv(), nn.ReLU())
    assert variation(mixing_matrices(gated, maps(), sampled_rows(64))).mean() > 0.01


def test_self_attention_called_with_one_tensor_three_times_follows_it_in_all_three():
    torch.manual_seed(0)
    attention = nn.MultiheadAttention(16, 2, batch_first=True).eval()
    tokens = torch.randn(4, 5, 16)
    function = module_function(attention, (tokens, tokens, tokens), {"need_weights": False})
    reference = lambda z: attention(z, z, z, need_weights=False)[0]
    rows = sampled_rows(5)
    torch.testing.assert_close(mixing_matrices(function, tokens, rows), mixing_matrices(reference, tokens, rows))


def noise(n: int = 4, side: int = 16) -> torch.Tensor:
    return torch.randint(0, 256, (n, 1, side, side), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


def test_resnet_conv_mixers_are_input_independent_and_its_blocks_are_not():
    torch.manual_seed(0)
    rows = probe_mixing(build_model("resnet-xs", image_shape=(1, 16, 16), num_classes=10), noise(), rows=2)
    assert list(rows.columns) == COLUMNS
    mixers, layers = rows[rows["scope"] == "mixer"], rows[rows["scope"] == "layer"]
    assert list(mixers["layer"]) == ["stem", "stage1.block1", "stage2.block1", "stage3.block1", "stage4.block1"]
    assert (mixers["operator"] == "conv").all() and (mixers["variation"] < ROUND_OFF).all()
    assert (layers["variation"] > 1e-3).all()  # ReLU gating: a CNN block is input-dependent as well
    assert (rows["n_images"] == 4).all() and (rows["rows_sampled"] == 2).all()


def test_vit_attention_varies_and_its_patch_embedding_does_not():
    torch.manual_seed(0)
    vit = build_model("vit-xs", image_shape=(1, 16, 16), num_classes=10, options={"patch_size": 4})
    rows = probe_mixing(vit, noise(), rows=2).set_index(["layer", "scope"])
    assert rows.loc[("patch_embed", "mixer"), "variation"] < ROUND_OFF
    attention = rows[rows["operator"] == "attention"]
    assert len(attention) == 4 and (attention["variation"] > 1e-4).all()
    assert (attention["in_positions"] == 17).all()  # [CLS] and 16 patches
    assert "embed" not in rows.index.get_level_values("layer")  # a parameter-free hook point mixes nothing


class VectorOnly(Backbone):
    arch = "mlp"

    def __init__(self):
        super().__init__()
        self.head = nn.Linear(16 * 16, 2)

    def forward(self, x):
        return self.head(x.flatten(1))

    def feature_layers(self):
        return [FeatureLayer("logits", self.head, "vector")]


def test_bad_input_is_a_one_line_error():
    with pytest.raises(CnnvitError, match="no convolution or attention layer"):
        probe_mixing(VectorOnly(), noise())
    with pytest.raises(CnnvitError, match="N >= 2"):
        probe_mixing(build_model("resnet-xs", image_shape=(1, 16, 16), num_classes=10), noise(1))


def test_run_dir_probe_writes_and_reuses_its_files(tmp_path, tiny):
    from cnn_vs_vit.training import train_run

    run = tmp_path / "run"
    train_run(tiny("train.steps=2"), run)  # resnet-xs on 16x16 shapes
    first = run_probe("mixing", run, {"images": 3, "rows": 1})
    assert not first.reused and (run / "probes" / "mixing.csv").exists()
    assert first.summary["arguments"]["rows"] == 1 and first.summary["arguments"]["images"] == 3
    again = run_probe("mixing", run, {"images": 3, "rows": 1})
    assert again.reused and again.rows.equals(first.rows)
