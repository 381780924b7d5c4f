"""Specification of the transfer probe (claim 8): the linear probe trains the head and nothing else,
fine-tuning starts from the pretrained backbone, training from scratch never sees it, every variant is
reproducible; the claim compares the architectures' fine-tune gains unpaired (Welch: a seed pairs nothing across architectures).
"""

import copy

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file, safe_open, save_file

from cnn_vs_vit import rundir
from cnn_vs_vit.config import build_config
from cnn_vs_vit.data.model_input import to_model_input
from cnn_vs_vit.errors import CnnvitError
from cnn_vs_vit.models import Backbone, build_model
from cnn_vs_vit.models.torchvision_models import TorchvisionViTB16
from cnn_vs_vit.probes import transfer
from cnn_vs_vit.probes.plugin import run_probe
from cnn_vs_vit.probes.transfer import (
    COLUMNS,
    head_inputs,
    load_target,
    train_variant,
    variant_model,
)  # fmt: skip
from cnn_vs_vit.report.claims import row_08_transfer_learning
from cnn_vs_vit.report.evaluate import Context, evaluate_claims
from cnn_vs_vit.report.runs import Run

transfer_learning = row_08_transfer_learning.CLAIM.result  # row 8 measured on a Context
from cnn_vs_vit.trained_run import load_run
from cnn_vs_vit.training import train_run

pytestmark = pytest.mark.usefixtures("one_thread")


def pretrain(directory, model: str, *overrides: str):
    """A finished run of `model` on mnist5k with a tiny budget (20 steps of 32): dataset A of the probe."""
    config = build_config({}, [f"model.name={model}", "data.name=mnist5k", "train.steps=20", "train.batch_size=32",
                               "threads=1", *overrides])  # fmt: skip
    train_run(config, directory)
    return directory


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("transfer")
    models = {"resnet": "resnet-xxs", "vit": "vit-xxs"}
    return {arch: load_run(pretrain(root / arch, model)) for arch, model in models.items()}


def backbone_equal(a: Backbone, b: Backbone) -> bool:
    """Every backbone parameter and buffer (BatchNorm statistics and counters included) identical bit for bit."""
    left, right = a.backbone_state(), b.backbone_state()
    return left.keys() == right.keys() and all(torch.equal(left[k], right[k]) for k in left)


def head_equal(a: Backbone, b: Backbone) -> bool:
    left, right = a.classifier().state_dict(), b.classifier().state_dict()
    return left.keys() == right.keys() and all(torch.equal(left[k], right[k]) for k in left)


# ----------------------------------------------------------------------------- the model interface


class TinyTorchvisionViT(TorchvisionViTB16):
    """torchvision's VisionTransformer behind cnnvit's wrapper, small enough for a test."""

    def __init__(self, *, in_channels: int = 1, num_classes: int = 10, image_size: int = 16):
        Backbone.__init__(self)
        from torch import nn
        from torchvision.models import VisionTransformer

        self.patch_size = 4
        self.net = VisionTransformer(image_size=image_size, patch_size=4, num_layers=1, num_heads=2, hidden_dim=8,
                                     mlp_dim=16, num_classes=num_classes)  # fmt: skip
        self.net.conv_proj = nn.Conv2d(in_channels, 8, 4, stride=4)


@pytest.mark.parametrize("name", ["resnet-xxs", "vit-xxs", "torchvision:resnet18", "tiny torchvision vit"])
def test_the_classifier_maps_the_pooled_features_to_the_logits_and_is_all_the_backbone_leaves_out(name):
    torch.manual_seed(0)
    if name == "tiny torchvision vit":
        model = TinyTorchvisionViT(num_classes=7, image_size=28).eval()
    else:
        model = build_model(name, image_shape=(1, 28, 28), num_classes=7).eval()
    images = torch.randint(0, 256, (5, 1, 28, 28), dtype=torch.uint8)
    features = head_inputs(model, images, device=torch.device("cpu"), batch_size=2)
    with torch.no_grad():
        assert torch.allclose(model.classifier()(features), model(to_model_input(images)), atol=1e-6)
    head = {f"{prefix}.{key}" for prefix, module in model.named_modules() if module is model.classifier()
            for key in module.state_dict()}  # fmt: skip
    assert set(model.backbone_state()) == set(model.state_dict()) - head and head
    assert sum(p.numel() for p in model.classifier().parameters()) == features.shape[1] * 7 + 7  # one linear layer


# ---------------------------------------------------------------------------------------- variants


@pytest.mark.parametrize("arch", ["resnet", "vit"])
def test_linear_trains_the_head_and_leaves_every_backbone_weight_and_statistic_bit_identical(runs, arch):
    run = runs[arch]
    target = load_target(run)
    start = variant_model("linear", run.model, run.config, target)
    trained = train_variant("linear", run.model, run.config, target)
    assert backbone_equal(trained, run.model)
    assert not head_equal(trained, start)


@pytest.mark.parametrize("arch", ["resnet", "vit"])
def test_finetune_starts_from_the_pretrained_backbone_and_the_scratch_head_and_trains_all(runs, arch, monkeypatch):
    run = runs[arch]
    target = load_target(run)
    started = []  # what the training loop receives at its first step
    monkeypatch.setattr(transfer, "fit", lambda module, *_args, **_kwargs: started.append(copy.deepcopy(module)))
    for variant in ("scratch", "finetune"):
        transfer.train_variant(variant, run.model, run.config, target)
    scratch, finetune = started
    assert backbone_equal(finetune, run.model) and not backbone_equal(scratch, run.model)
    assert head_equal(finetune, scratch)  # the same new head: the variants differ only in the backbone
    assert finetune.classifier().weight.shape[0] == target.num_classes
    monkeypatch.undo()
    trained = train_variant("finetune", run.model, run.config, target)
    assert not backbone_equal(trained, run.model)


@pytest.mark.parametrize("arch", ["resnet", "vit"])
def test_scratch_starts_where_the_run_itself_started(runs, arch):
    run = runs[arch]
    torch.manual_seed(run.config.seed)
    initial = build_model(run.config.model.name, image_shape=run.dataset.image_shape, num_classes=10)  # A's classes
    assert backbone_equal(variant_model("scratch", run.model, run.config, load_target(run)), initial)


def test_a_variant_trained_twice_is_identical_bit_for_bit(runs):
    run = runs["resnet"]
    target = load_target(run)
    first, second = (train_variant("finetune", run.model, run.config, target).state_dict() for _ in range(2))
    assert all(torch.equal(first[k], second[k]) for k in first)


# ------------------------------------------------------------------------------ the run directory


def replace_weights(run_dir, scale: float) -> None:
    """Rewrite model.safetensors with every floating tensor scaled (a different pretrained model), as a
    retrained run would leave it: with its config in the metadata and DONE vouching for the new file."""
    path = run_dir / rundir.WEIGHTS
    with safe_open(path, "pt") as file:
        metadata = file.metadata()
    tensors = {k: v * scale if v.is_floating_point() else v for k, v in load_file(path).items()}
    save_file(tensors, path, metadata=metadata)
    rundir.RunDir(run_dir).mark_done()


def test_the_probe_saves_reuses_and_recomputes_when_the_weights_change_and_scratch_ignores_them(tmp_path):
    run = pretrain(tmp_path / "run", "vit-xxs")
    first = run_probe("transfer", run)
    rows = first.rows
    assert not first.reused and list(rows.columns) == COLUMNS
    assert list(rows["variant"]) == ["scratch", "finetune", "linear"]
    assert set(rows["source_dataset"]) == {"mnist5k"} and set(rows["target_dataset"]) == {"digits"}
    assert (rows["steps"] == 20).all() and (rows["batch_size"] == 32).all() and (rows["n_test"] == 359).all()
    assert rows["accuracy"].between(0, 1).all() and rows.iloc[0]["gain"] == 0
    assert rows["gain"].tolist() == pytest.approx((100 * (rows["accuracy"] - rows.iloc[0]["accuracy"])).tolist())
    assert first.summary["arguments"]["recipe"]["lr"] == 1e-3 and first.summary["image_size"] == 28

    again = run_probe("transfer", run)
    assert again.reused and again.rows.equals(rows) and again.summary == first.summary

    replace_weights(run, 1.5)
    changed = run_probe("transfer", run)
    assert not changed.reused
    scratch = lambda table: table[table["variant"] == "scratch"][["accuracy", "loss"]].to_numpy()  # noqa: E731
    assert (scratch(changed.rows) == scratch(rows)).all()  # other pretrained weights, same config and seed
    finetuned = lambda table: table[table["variant"] != "scratch"]["loss"].to_numpy()  # noqa: E731
    assert (finetuned(changed.rows) != finetuned(rows)).all()


def test_digits_transfers_to_mnist5k_at_the_runs_image_size(tmp_path):
    config = build_config({}, ["model.name=resnet-xxs", "data.name=digits", "data.image_size=16", "train.steps=2",
                               "train.batch_size=8", "threads=1"])  # fmt: skip
    train_run(config, tmp_path / "run")
    target = load_target(load_run(tmp_path / "run"))
    assert target.name == "mnist5k" and target.image_shape == (1, 16, 16)


def test_torchvision_resnet18_run_directory(tmp_path):
    # 4 px images: the plumbing is under test here, not the accuracy
    run = pretrain(tmp_path / "run", "torchvision:resnet18", "data.image_size=4", "train.steps=2", "train.batch_size=8")
    rows = run_probe("transfer", run).rows
    assert list(rows["variant"]) == ["scratch", "finetune", "linear"] and rows["accuracy"].between(0, 1).all()


def test_torchvision_vit_run_directory(tmp_path, monkeypatch):
    """The wrapper of torchvision's ViT, with a one-layer ViT inside so that the test stays small."""
    import dataclasses

    import cnn_vs_vit.models as models

    def tiny(_spec, image_shape, num_classes):
        return TinyTorchvisionViT(in_channels=image_shape[0], num_classes=num_classes, image_size=image_shape[1])

    name = "torchvision:vit_b_16"
    monkeypatch.setitem(models.FAMILY_OF, name, dataclasses.replace(models.FAMILY_OF[name], build=tiny))
    run = pretrain(tmp_path / "run", "torchvision:vit_b_16", "data.image_size=16", "train.steps=2",
                   "train.batch_size=8")  # fmt: skip
    rows = run_probe("transfer", run).rows
    assert list(rows["variant"]) == ["scratch", "finetune", "linear"] and rows["accuracy"].between(0, 1).all()


# ------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("target, message", [("digitz", 'unknown dataset "digitz" (did you mean "digits"?)'),
                                             ("mnist5k", "transfer needs another")])  # fmt: skip
def test_an_unknown_target_or_the_runs_own_dataset_is_a_one_line_error(runs, target, message):
    with pytest.raises(CnnvitError) as error:
        load_target(runs["resnet"], target)
    assert message in str(error.value) and "\n" not in str(error.value)


# ---------------------------------------------------------------------------------------- claim 8


def transfer_run(arch: str, seed: int, scratch: float, finetune: float, linear: float, *, fraction: float = 1.0,
                 target: str = "digits") -> Run:  # fmt: skip
    """A finished run holding transfer rows with these accuracies (fractions)."""
    model = "resnet-s" if arch == "resnet" else "vit-s"
    accuracies = {"scratch": scratch, "finetune": finetune, "linear": linear}
    rows = pd.DataFrame([{"model": model, "arch": arch, "source_dataset": "mnist5k", "target_dataset": target,
                          "variant": variant, "steps": 600, "batch_size": 64, "n_train": 1438, "accuracy": accuracy,
                          "loss": 0.5, "n_test": 359, "gain": 100 * (accuracy - scratch)}
                         for variant, accuracy in accuracies.items()])  # fmt: skip
    summary = {"model": model, "arch": arch, "dataset": "mnist5k", "fraction": fraction, "seed": seed, "data_seed": 0,
               "subset_hash": f"h{fraction}", "test_accuracy": 0.9}  # fmt: skip
    return Run(f"{model}_s{seed}_f{fraction}", "done", {"seed": seed, "model": {"name": model}}, summary,
               probe_rows={"transfer": rows})  # fmt: skip


@pytest.mark.parametrize("cnn_gains, vit_gains, expected", [
    ([0.02, 0.03, 0.025], [0.08, 0.10, 0.09], "supported"),
    ([0.08, 0.10, 0.09], [0.02, 0.03, 0.025], "contradicted"),
    ([0.02, 0.08, 0.05], [0.06, 0.03, 0.04], "inconclusive"),
])  # fmt: skip
def test_claim_8_compares_the_fine_tune_gains_unpaired(cnn_gains, vit_gains, expected):
    runs = [transfer_run("resnet", s, 0.90, 0.90 + g, 0.70) for s, g in enumerate(cnn_gains)]
    runs += [transfer_run("vit", s, 0.80, 0.80 + g, 0.60) for s, g in enumerate(vit_gains)]
    runs += [transfer_run("resnet", s, 0.5, 0.1, 0.1, fraction=0.1) for s in range(3)]  # a smaller fraction: not used
    claim = transfer_learning(Context.of(runs))
    assert claim.rule_verdict == expected, claim.details
    differences = [100 * (v - c) for c, v in zip(cnn_gains, vit_gains)]
    assert claim.effect.method == "welch" and claim.effect.mean == pytest.approx(sum(differences) / 3)
    assert claim.cnn_evidence.startswith("mnist5k -> digits: scratch 90.0%")
    assert "linear 60.0% (-20.0 pts)" in claim.vit_evidence
    assert any("600 steps of 64 images" in line for line in claim.details)
    by_id = {c.claim_id: c for c in evaluate_claims(runs)}
    assert by_id["8"].rule_verdict == expected and by_id["8"].effect == claim.effect


def test_claim_8_is_not_measured_without_transfer_results_or_with_two_targets():
    bare = [transfer_run("resnet", 0, 0.9, 0.9, 0.9), transfer_run("vit", 0, 0.9, 0.9, 0.9)]
    for run in bare:
        run.probe_rows.clear()
    claim = transfer_learning(Context.of(bare))
    assert claim.rule_verdict == "not measured" and "cnnvit probe transfer" in claim.rule
    mixed = [transfer_run("resnet", 0, 0.9, 0.9, 0.9), transfer_run("vit", 0, 0.9, 0.9, 0.9, target="shapes")]
    claim = transfer_learning(Context.of(mixed))
    assert claim.rule_verdict == "not measured" and "mnist5k -> shapes" in claim.rule
