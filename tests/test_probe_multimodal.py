"""Specification of the multimodal probe (claim 10, structural): a ViT's encoder runs a token sequence as it
is, the very modules with their trained weights, and learns a task that needs token-to-token interaction;
a CNN's body holds 2-D modules, counted from the built model, and runs a sequence only as a height-1 image
with most of its kernels on padding.
"""

import math

import pandas as pd
import pytest
import torch
from torch import nn

from cnn_vs_vit.cli import main
from cnn_vs_vit.config import RunConfig
from cnn_vs_vit.errors import CnnvitError
from cnn_vs_vit.models import Backbone, Capabilities, FeatureLayer, build_model
from cnn_vs_vit.models.resnet import BlurPool
from cnn_vs_vit.probes.multimodal import (
    COLUMNS,
    accuracy_columns,
    grid_modules,
    padding_only_share,
    probe_multimodal,
    sequence_config,
    sequence_model,
    sequence_variant,
    train_and_test,
    vit_sequence_model,
)  # fmt: skip
from cnn_vs_vit.probes.plugin import run_probe
from cnn_vs_vit.probes.sequence_task import CHANCE, MarkerOrder
from cnn_vs_vit.report.claims import row_10_multimodal
from cnn_vs_vit.report.evaluate import Context, evaluate_claims
from cnn_vs_vit.report.runs import Run

multimodal = row_10_multimodal.CLAIM.result  # row 10 measured on a Context

pytestmark = pytest.mark.usefixtures("one_thread")

MNIST = (1, 28, 28)
SMALL = (3, 16, 16)  # torchvision's ViT takes 16 px images with 4 px patches
TASK = MarkerOrder(length=6, vocabulary=6)


def build(name: str, shape=MNIST, **options) -> Backbone:
    torch.manual_seed(0)
    return build_model(name, image_shape=shape, num_classes=10, options=options)


def sequences(n: int = 4, seed: int = 0) -> torch.Tensor:
    return TASK.sample(n, torch.Generator().manual_seed(seed))[0]


# ------------------------------------------------------------------------------------------- the task


def test_only_the_markers_order_decides_the_label_so_an_order_blind_model_is_at_chance():
    ids, labels = TASK.sample(500, torch.Generator().manual_seed(0))
    first, second = TASK.vocabulary - 2, TASK.vocabulary - 1
    assert ((ids == first).sum(1) == 1).all() and ((ids == second).sum(1) == 1).all()

    def first_marker_first(ids: torch.Tensor) -> torch.Tensor:
        return ((ids == first).long().argmax(1) < (ids == second).long().argmax(1)).long()

    swapped = torch.where(ids == first, second, torch.where(ids == second, first, ids))
    assert torch.equal(first_marker_first(ids), labels)
    # The twin has the same token counts and the other label: a function of counts is right on exactly one of them.
    assert torch.equal(torch.sort(ids, 1).values, torch.sort(swapped, 1).values)
    assert torch.equal(first_marker_first(swapped), 1 - labels)
    assert CHANCE == 0.5 and 0.4 < labels.float().mean() < 0.6
    assert not torch.equal(ids, TASK.sample(500, torch.Generator().manual_seed(1))[0])  # held-out sequences differ


# ------------------------------------------------------------------------------------- the ViT encoder


@pytest.mark.parametrize("pool", ["cls", "mean"])
def test_the_sequence_model_runs_the_vit_s_very_encoder_modules(pool):
    vit = build("vit-xxs", pool=pool)
    net = vit_sequence_model(vit, TASK)
    assert net.blocks is vit.blocks and net.norm is vit.norm and net.cls_token is vit.cls_token
    assert (net.cls_token is None) == (pool == "mean")
    assert net(sequences()).shape == (4, 2)
    assert grid_modules(vit) == []  # nothing in the ViT outside its patch embedding assumes a grid


def test_each_variant_starts_from_the_trained_weights_in_modules_of_the_same_classes_and_leaves_the_model_alone():
    vit = build("vit-xxs")
    with torch.no_grad():  # stand-in for training: weights no initialisation gives
        for parameter in vit.parameters():
            parameter.add_(torch.randn_like(parameter))
    trained = {k: v.clone() for k, v in vit.state_dict().items()}
    for weights in ("fine-tuned", "frozen"):
        variant = sequence_variant(vit, TASK, weights)
        assert [type(b) for b in variant.net.blocks] == [type(b) for b in vit.blocks]
        assert variant.net.blocks is not vit.blocks  # a copy: training the variant never touches the run's model
        started = variant.net.state_dict()
        assert all(torch.equal(started[k], trained[k]) for k in trained if k.startswith(("blocks.", "norm.")))
        assert torch.equal(started["cls_token"], trained["cls_token"])
        encoder = [p for name, p in variant.net.named_parameters() if name.startswith(("blocks.", "norm.", "cls"))]
        assert all(p.requires_grad == (weights == "fine-tuned") for p in encoder)
        assert variant.new_parameters == sum(p.numel() for m in (variant.net.embed, variant.net.head) for p in m.parameters()) \
            + variant.net.pos_embed.numel()  # fmt: skip
    probe_multimodal(vit, RunConfig(), "vit-xxs", TASK, steps=2, batch_size=4, test_sequences=4)
    assert all(torch.equal(v, trained[k]) for k, v in vit.state_dict().items())


def test_the_encoder_without_positions_is_permutation_equivariant_a_sequence_model():
    net = vit_sequence_model(build("vit-xxs"), TASK).eval()
    tokens = torch.randn(3, 9, 24)  # (B, T, D): any sequence length, no image anywhere
    order = torch.randperm(9, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(net.encode(tokens[:, order]), net.encode(tokens)[:, order], atol=1e-5, rtol=1e-5)


def test_a_vit_learns_the_marker_order_well_above_chance_in_a_hundred_steps():
    vit = build("vit-xxs")
    net = sequence_model(vit, TASK)
    correct = train_and_test(net, TASK, sequence_config(RunConfig(), "vit", steps=100, batch_size=32), 400)
    result = accuracy_columns(correct, 400)
    assert result["above_chance"] and result["accuracy_low"] > 0.7, result


def test_torchvision_vit_b_16_runs_its_encoder_layers_on_tokens():
    vit = build("torchvision:vit_b_16", SMALL)
    net = vit_sequence_model(vit, TASK).eval()
    assert net.blocks is vit.net.encoder.layers and net.norm is vit.net.encoder.ln
    assert net.cls_token is vit.net.class_token and grid_modules(vit) == []
    with torch.no_grad():
        assert net(sequences(2)).shape == (2, 2)
        tokens, order = torch.randn(1, 5, 768), torch.tensor([3, 0, 4, 1, 2])
        torch.testing.assert_close(net.encode(tokens[:, order]), net.encode(tokens)[:, order], atol=1e-4, rtol=1e-4)


# ------------------------------------------------------------------------------------------- the CNN


def counted_in_the_test(model: nn.Module) -> int:
    """2-D layers by class, minus the first convolution, which the token embedding replaces in every model."""
    kinds = (nn.Conv2d, nn.BatchNorm2d, nn.AdaptiveAvgPool2d, nn.MaxPool2d, BlurPool)
    return sum(isinstance(m, kinds) for m in model.modules()) - 1


@pytest.mark.parametrize("name, shape, options, expected", [
    ("resnet-xxs", MNIST, {}, 1 + 4 * 4 + 3 * 2 + 1),  # stem BN; 4 blocks x (conv, BN) x 2; 3 shortcuts; pool
    ("resnet-xxs", MNIST, {"blur_pool": True}, 24 + 3 * 2),  # and a BlurPool on each strided path
    ("torchvision:resnet18", SMALL, {}, 1 + 8 * 4 + 3 * 2 + 1),
])  # fmt: skip
def test_the_cnn_count_is_every_2d_module_outside_the_embedding_and_head(name, shape, options, expected):
    model = build(name, shape, **options)
    assert len(grid_modules(model)) == counted_in_the_test(model) == expected


def test_a_cnn_runs_a_height_1_image_with_two_of_three_kernel_rows_on_padding():
    net = sequence_model(build("resnet-xxs"), TASK).eval()
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]  # the stem's is gone: an embedding took its place
    three = sum(c.weight.numel() for c in convs if c.kernel_size == (3, 3))
    assert padding_only_share(net, sequences()) == pytest.approx(2 / 3 * three / sum(c.weight.numel() for c in convs))
    circular = sequence_model(build("resnet-xxs", padding_mode="circular"), TASK).eval()
    assert padding_only_share(circular, sequences()) == 0  # circular padding repeats the one row: no idle weights
    assert math.isnan(padding_only_share(vit_sequence_model(build("vit-xxs"), TASK), sequences()))


def test_the_probe_rows_say_the_cnn_needs_replacements_and_a_blur_pool_cnn_does_not_run_at_all():
    rows, details = probe_multimodal(build("resnet-xxs"), RunConfig(), "resnet-xxs", TASK, steps=2, batch_size=4,
                                     test_sequences=8)  # fmt: skip
    assert list(rows.columns) == COLUMNS and list(rows["encoder_weights"]) == ["fine-tuned", "frozen"]
    assert (rows["modules_replaced"] == 24).all() and rows["runs"].all() and not rows["runs_unchanged"].any()
    assert (rows["check"] == "structural").all() and rows["embedding_replaced"].iloc[
        0
    ] == "stem.0 (Conv2d) -> Embedding"
    assert details["grid_modules"] == {"AdaptiveAvgPool2d": 1, "BatchNorm2d": 12, "Conv2d": 11}
    blurred, _ = probe_multimodal(build("resnet-xxs", blur_pool=True), RunConfig(), "blur", TASK, steps=2,
                                  batch_size=4, test_sequences=8)  # fmt: skip
    assert not blurred["runs"].any() and blurred["error"].str.contains("Padding size").all()
    assert blurred["accuracy"].isna().all() and not blurred["above_chance"].any()


# ----------------------------------------------------------------------------------- run directories


def test_run_dir_probe_writes_and_reuses_its_files(tmp_path, tiny):
    from cnn_vs_vit.training import train_run

    run = tmp_path / "run"
    train_run(tiny("train.steps=1"), run)  # resnet-xs on 16x16 shapes
    first = run_probe("multimodal", run, {"steps": 2, "batch_size": 4, "test_sequences": 10})
    assert not first.reused and len(first.rows) == 2 and (run / "probes" / "multimodal.csv").exists()
    assert first.summary["arch"] == "resnet" and first.summary["grid_modules"]["Conv2d"] >= 1
    again = run_probe("multimodal", run, {"steps": 2, "batch_size": 4, "test_sequences": 10})
    assert again.reused and again.rows.equals(first.rows)
    assert not run_probe(
        "multimodal", run, {"steps": 3, "batch_size": 4, "test_sequences": 10}
    ).reused  # other arguments


class NoConvolution(Backbone):
    arch = "resnet"
    capabilities = Capabilities(family="cnn", recipe="resnet", layouts=frozenset({"vector"}), input_embedding="image")

    def __init__(self):
        super().__init__()
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        return self.head(x.flatten(1))

    def feature_layers(self):
        return [FeatureLayer("logits", self.head, "vector")]


class UnknownTransformer(NoConvolution):
    arch = "vit"
    capabilities = Capabilities(family="vit", recipe="vit", layouts=frozenset({"vector"}), input_embedding="tokens")

    def __init__(self):
        super().__init__()
        self.patch_embed = nn.Conv2d(1, 4, 2, stride=2)


def test_models_it_cannot_take_apart_are_one_line_errors():
    for model, message in ((NoConvolution(), "no convolution or patch embedding"),
                           (UnknownTransformer(), "cannot find the Transformer encoder of UnknownTransformer")):  # fmt: skip
        with pytest.raises(CnnvitError, match=message) as error:
            probe_multimodal(model, RunConfig(), steps=1, batch_size=2, test_sequences=2)
        assert "\n" not in str(error.value)


def test_an_unfinished_run_directory_is_one_line_and_exit_code_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["probe", "multimodal", str(tmp_path)])
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(lines) == 1 and "is not a run directory" in lines[0]


# -------------------------------------------------------------------------------------------- claim 10


def multimodal_run(arch: str, seed: int, replaced: int, accuracy: float, *, runs: bool = True) -> Run:
    """A finished run holding multimodal rows (fine-tuned and frozen) with this count and accuracy on 1000 tests."""
    model = "resnet-s" if arch == "resnet" else "vit-s"
    low, high = accuracy - 0.03, min(accuracy + 0.03, 1.0)
    rows = pd.DataFrame([{"model": model, "arch": arch, "check": "structural", "encoder_weights": weights,
                          "layout": "", "embedding_replaced": "", "encoder_modules_reused": 29,
                          "encoder_module_types": "", "modules_replaced": replaced, "modules_replaced_types":
                          f"Conv2d×{replaced}" if replaced else "none", "runs": runs, "runs_unchanged": runs and not replaced,
                          "kernel_weights_on_padding": 0.6 if arch == "resnet" else math.nan,
                          "task": "marker order (length 12, vocabulary 16)", "chance": 0.5, "steps": 200,
                          "batch_size": 32, "test_sequences": 1000, "accuracy": accuracy, "accuracy_low": low,
                          "accuracy_high": high, "above_chance": low > 0.5, "error": "none" if runs else "boom"}
                         for weights in ("fine-tuned", "frozen")])  # fmt: skip
    summary = {"model": model, "arch": arch, "dataset": "mnist5k", "fraction": 1.0, "seed": seed, "data_seed": 0,
               "subset_hash": "h", "test_accuracy": 0.9}  # fmt: skip
    return Run(f"{model}_s{seed}", "done", {"seed": seed, "model": {"name": model}}, summary,
               probe_rows={"multimodal": rows})  # fmt: skip


@pytest.mark.parametrize("cnn_replaced, vit_replaced, vit_accuracy, expected", [
    (24, 0, 0.99, "supported"),
    (0, 0, 0.99, "contradicted"),  # the CNN needs nothing replaced
    (24, 1, 0.99, "contradicted"),  # the ViT does
    (24, 0, 0.51, "inconclusive"),  # runs unchanged, learns nothing above chance
])  # fmt: skip
def test_claim_10_rests_on_the_count_and_the_vit_learning_above_chance(cnn_replaced, vit_replaced, vit_accuracy,
                                                                       expected):  # fmt: skip
    runs = [multimodal_run("resnet", s, cnn_replaced, 1.0) for s in range(2)]
    runs += [multimodal_run("vit", s, vit_replaced, vit_accuracy) for s in range(2)]
    claim = multimodal(Context.of(runs))
    assert claim.verdict == expected, claim.details
    assert claim.effect.mean == cnn_replaced - vit_replaced and claim.effect.method == "exact count"
    assert claim.cnn_evidence.startswith("structural: ") and claim.vit_evidence.startswith("structural: ")
    assert claim.effect_meaning.startswith("structural") and claim.rule.startswith("structural")
    assert f"learns {100 * vit_accuracy:.1f}%" in claim.vit_evidence and "chance 50%" in claim.vit_evidence
    assert {c.claim_id: c for c in evaluate_claims(runs)}["10"].verdict == expected


def test_claim_10_reports_a_cnn_that_does_not_run_and_is_not_measured_without_results():
    runs = [multimodal_run("resnet", 0, 30, math.nan, runs=False), multimodal_run("vit", 0, 0, 0.99)]
    claim = multimodal(Context.of(runs))
    assert claim.verdict == "supported" and "does not run (boom)" in claim.cnn_evidence
    for run in runs:
        run.probe_rows.clear()
    claim = multimodal(Context.of(runs))
    assert claim.verdict == "not measured" and "cnnvit probe multimodal" in claim.rule
