"""Specification of the architecture introspection: the counts follow from the built modules, so a ViT's
blocks are one configuration whatever its depth, and a ResNet's stages of different widths are not.
"""

import pytest
import torch

from cnn_vs_vit.errors import CnnvitError
from cnn_vs_vit.models import Backbone, FeatureLayer, build_model
from cnn_vs_vit.probes.introspection import COLUMNS, introspect
from cnn_vs_vit.probes.plugin import run_probe

SHAPE = (1, 28, 28)


pytestmark = pytest.mark.usefixtures("one_thread")


def count(name: str, shape=SHAPE, **options):
    return introspect(build_model(name, image_shape=shape, num_classes=10, options=options), shape, name)


def test_a_vit_is_one_stage_of_identical_blocks_whatever_its_depth():
    for depth in (4, 7):
        vit = count("vit-s", depth=depth)
        assert (vit.blocks, vit.block_configurations, vit.stages) == (depth, 1, 1)
        assert vit.hyperparameters == 5  # patch, dim, depth, heads, MLP width
    assert count("vit-s").details["stages"] == [{"blocks": 4, "width": 96, "heads": 4, "mlp_hidden": 192}]
    assert count("vit-s").details["stem"] == {"width": 96, "kernel": 7}  # a patchifying stem: one patch size


def test_a_resnet_with_four_stages_of_different_widths_has_a_configuration_per_stage():
    resnet = count("resnet-s")
    assert (resnet.blocks, resnet.stages) == (4, 4) and resnet.block_configurations >= 4
    # stem width, kernel, stride; 4 block counts; widths 32, 64, 128 (16 is the stem's); the stride 2 once
    assert resnet.hyperparameters == 3 + 4 + 3 + 1
    deeper = count("resnet-s", blocks=(2, 2, 2, 2))
    assert deeper.blocks == 8 and deeper.block_configurations == 7  # a stage's later blocks repeat one another
    assert deeper.hyperparameters == resnet.hyperparameters  # block counts changed, not their number


def test_a_resnet_of_identical_blocks_is_as_simple_as_a_vit_by_these_counts():
    uniform = count("resnet-s", widths=(16, 16, 16, 16), downsample=False)
    assert (uniform.block_configurations, uniform.stages) == (1, 1)
    assert uniform.hyperparameters == 3 + 1  # the stem, and one stage of 4 blocks


def test_leaf_types_and_parameters_are_read_from_the_modules():
    vit, resnet = count("vit-s"), count("resnet-s")
    assert vit.details["leaf_module_types"] == ["Conv2d", "GELU", "LayerNorm", "Linear"]
    assert resnet.details["leaf_module_types"] == [
        "AdaptiveAvgPool2d", "BatchNorm2d", "Conv2d", "Flatten", "Linear", "ReLU",
    ]  # fmt: skip
    model = build_model("vit-s", image_shape=SHAPE, num_classes=10)
    assert introspect(model, SHAPE).parameters == sum(p.numel() for p in model.parameters())
    assert list(vit.row()) == COLUMNS


def test_the_claim_7_direction_holds_for_the_matched_presets():
    vit, resnet = count("vit-s"), count("resnet-s")
    assert vit.block_configurations < resnet.block_configurations
    assert vit.hyperparameters < resnet.hyperparameters


def test_torchvision_models_are_counted_the_same_way():
    shape = (3, 16, 16)
    resnet18 = count("torchvision:resnet18", shape)
    assert (resnet18.blocks, resnet18.stages, resnet18.block_configurations) == (8, 4, 7)
    assert resnet18.hyperparameters == 3 + 4 + 3 + 1
    vit_b_16 = count("torchvision:vit_b_16", shape)
    assert (vit_b_16.blocks, vit_b_16.block_configurations, vit_b_16.hyperparameters) == (12, 1, 5)
    assert vit_b_16.details["stages"][0] == {"blocks": 12, "width": 768, "heads": 12, "mlp_hidden": 3072}


class NoConvolution(Backbone):
    arch = "mlp"

    def __init__(self):
        super().__init__()
        self.head = torch.nn.Linear(4, 2)

    def forward(self, x):
        return self.head(x.flatten(1))

    def feature_layers(self):
        return [FeatureLayer("logits", self.head, "vector")]


def test_a_model_without_a_stem_is_a_one_line_error():
    with pytest.raises(CnnvitError, match="no convolution or patch embedding"):
        introspect(NoConvolution(), (1, 2, 2))


def test_run_dir_probe_writes_and_reuses_its_files(tmp_path, tiny):
    from cnn_vs_vit.training import train_run

    run = tmp_path / "run"
    train_run(tiny("train.steps=1"), run)  # resnet-xs on 16x16 shapes
    first = run_probe("introspection", run)
    assert not first.reused and len(first.rows) == 1 and first.rows.iloc[0]["blocks"] == 4
    assert first.summary["leaf_module_types"] and (run / "probes" / "introspection.csv").exists()
    again = run_probe("introspection", run)
    assert again.reused and again.rows.equals(first.rows)
