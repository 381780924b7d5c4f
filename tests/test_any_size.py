"""Every preset on every dataset: one patch-size rule for the ViT presets, matched pairs at every size,
real on-disk formats trained and probed, every probe and the report on 32x32 RGB runs."""

import json
import math

import numpy as np
import pytest
import scipy.io
import torch
import yaml
from test_data import pattern, write_cifar10, write_idx_dataset, write_png

from cnn_vs_vit.config import build_config
from cnn_vs_vit.data import load_dataset
from cnn_vs_vit.data.registry import NATURAL_SHAPES, dataset_shape
from cnn_vs_vit.errors import CnnvitError
from cnn_vs_vit.models import PRESETS, build_model, patch_size_for
from cnn_vs_vit.models.vit import MIN_TOKENS
from cnn_vs_vit.rundir import run_name

pytestmark = pytest.mark.usefixtures("one_thread")

NATURAL = {"28x28x1": (1, 28, 28), "32x32x1": (1, 32, 32), "32x32x3": (3, 32, 32),
           "folder-20px": (3, 20, 20), "folder-48px": (3, 48, 48)}  # fmt: skip
WIDTHS = ("xxs", "xs", "s", "m")


@pytest.mark.parametrize("shape", NATURAL.values(), ids=NATURAL)
@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_builds_and_gives_finite_logits_at_every_natural_size(name, shape):
    torch.manual_seed(0)
    model = build_model(name, image_shape=shape, num_classes=10).eval()
    logits = model(torch.randn(2, *shape))
    assert logits.shape == (2, 10) and torch.isfinite(logits).all()
    grid = model.token_grid(shape[1:])
    if name.startswith("vit-"):
        patch, rows, columns = grid
        assert shape[1] % patch == 0 and rows * columns >= MIN_TOKENS


@pytest.mark.parametrize("shape", [*NATURAL.values(), (1, 64, 64), (3, 64, 64)],
                         ids=[*NATURAL, "64x64x1", "64x64x3"])  # fmt: skip
@pytest.mark.parametrize("width", WIDTHS)
def test_each_widths_resnet_and_vit_are_matched_within_1_5x_in_parameters(width, shape):
    resnet = build_model(f"resnet-{width}", image_shape=shape, num_classes=10).num_params
    vit = build_model(f"vit-{width}", image_shape=shape, num_classes=10).num_params
    assert 1 / 1.5 <= vit / resnet <= 1.5, (resnet, vit)


def test_the_patch_rule_divides_keeps_16_tokens_and_is_the_nearest_such_patch_in_ratio():
    for side in range(4, 225):
        p = patch_size_for((side, side), 7)
        assert side % p == 0 and (side // p) ** 2 >= MIN_TOKENS
        others = [q for q in range(1, side + 1) if side % q == 0 and (side // q) ** 2 >= MIN_TOKENS]
        assert all(abs(math.log(p / 7)) <= abs(math.log(q / 7)) for q in others), side
    # The design size keeps the preset's own patch: results/default's ViTs are unchanged.
    assert patch_size_for((28, 28), 7) == 7
    assert [patch_size_for((s, s), 7) for s in (16, 20, 32, 48, 64, 224)] == [4, 5, 8, 8, 8, 7]


def test_an_explicit_patch_size_wins_and_one_that_does_not_divide_is_a_one_line_error():
    model = build_model("vit-s", image_shape=(3, 32, 32), num_classes=10, options={"patch_size": 4})
    assert model.token_grid((32, 32)) == (4, 8, 8)
    with pytest.raises(CnnvitError, match="not divisible by the patch size 7") as info:
        build_model("vit-s", image_shape=(3, 32, 32), num_classes=10, options={"patch_size": 7})
    assert "\n" not in str(info.value) and "e.g. 8" in str(info.value)


def test_the_resolved_patch_is_recorded_and_the_run_name_does_not_change(tmp_path, tiny):
    from cnn_vs_vit.training import train_run

    config = tiny("model.name=vit-xs", "train.steps=1")  # shapes at 16 px: the rule gives patch 4
    assert "patch" not in run_name(config)
    summary = train_run(config, tmp_path / "run")
    written = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert written["model"] == {"name": "vit-xs", "patch_size": 4}
    assert (summary["patch_size"], summary["tokens"], summary["model_options"]) == (4, 16, {})
    assert summary["image_shape"] == [3, 16, 16]
    # A directory written before the patch was recorded (no model.patch_size) is still the same run.
    written["model"] = {"name": "vit-xs"}
    (tmp_path / "run" / "config.yaml").write_text(yaml.safe_dump(written))
    assert train_run(config, tmp_path / "run")["test_accuracy"] == summary["test_accuracy"]


def test_dataset_shape_is_known_without_loading_and_matches_the_loaded_data(tmp_path):
    for name in ("mnist5k", "digits", "shapes"):
        for size in (None, 20):
            data = load_dataset(name, image_size=size)
            assert dataset_shape(name, image_size=size) == (data.image_shape, data.num_classes)
    assert set(NATURAL_SHAPES) == {"mnist5k", "digits", "shapes", "global-context", "reach", "reach-local", "cifar10",
                                   "cifar100", "mnist", "fashion-mnist", "svhn"}  # fmt: skip
    write_cifar10(tmp_path)
    data = load_dataset("cifar10", root=tmp_path)
    assert dataset_shape("cifar10") == (data.image_shape, data.num_classes)
    folder = image_folder(tmp_path / "folder")
    assert dataset_shape(f"imagefolder:{folder}", image_size=48) == ((3, 48, 48), 3)


def test_grey_and_rgb_convert_both_ways():
    grey = load_dataset("digits")
    rgb = grey.with_channels(3)
    assert rgb.image_shape == (3, 32, 32) and all(
        torch.equal(rgb.test_images[:, c], grey.test_images[:, 0]) for c in range(3)
    )
    assert torch.equal(rgb.with_channels(1).test_images, grey.test_images)  # luma weights sum to 1
    shapes = load_dataset("shapes")
    weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    expected = (shapes.test_images.float() * weights).sum(1, keepdim=True).round().to(torch.uint8)
    assert torch.equal(shapes.with_channels(1).test_images, expected) and grey.with_channels(1) is grey


def image_folder(root, side=24, classes=3, per_class=4):
    for c in range(classes):
        for i in range(per_class):
            write_png(root / f"class{c}" / f"{i}.png", pattern(1, 3, side, offset=7 * c + i)[0].transpose(1, 2, 0))
    return root


def write_svhn(root):
    images, labels = pattern(6, 3, 32), np.array([[10], [1], [2], [3], [4], [5]], dtype=np.uint8)
    scipy.io.savemat(root / "train_32x32.mat", {"X": images.transpose(2, 3, 1, 0), "y": labels})
    scipy.io.savemat(root / "test_32x32.mat", {"X": images[:4].transpose(2, 3, 1, 0), "y": labels[:4]})


FIXTURES = {  # dataset -> (writer of its real on-disk files under root, overrides)
    "cifar10": (lambda root: write_cifar10(root), ["data.name=cifar10"]),
    "mnist": (lambda root: write_idx_dataset(root / "MNIST" / "raw", gz=True), ["data.name=mnist"]),
    "svhn": (write_svhn, ["data.name=svhn"]),
    "folder-20px": (lambda root: image_folder(root / "f"), ["data.image_size=20"]),
    "folder-48px": (lambda root: image_folder(root / "f"), ["data.image_size=48"]),
}


@pytest.mark.parametrize("fixture", FIXTURES)
def test_real_on_disk_formats_train_the_default_presets_and_take_the_shift_probe(tmp_path, fixture):
    from cnn_vs_vit.probes.plugin import run_probe
    from cnn_vs_vit.training import train_run

    write, overrides = FIXTURES[fixture]
    write(tmp_path)
    if fixture.startswith("folder"):
        overrides = [*overrides, f"data.name=imagefolder:{tmp_path / 'f'}"]
    for model in ("resnet-s", "vit-s"):
        config = build_config({}, [f"model.name={model}", f"data.root={tmp_path}", "train.steps=5",
                                   "train.batch_size=4", "threads=1", *overrides])  # fmt: skip
        run = tmp_path / model
        summary = train_run(config, run)
        assert math.isfinite(summary["test_loss"])
        probe = run_probe("shift", run, {"images": 4, "modes": ["circular"]})
        side = summary["image_shape"][1]
        expected_shifts = patch_size_for((side, side), 7)  # the vit-s patch at this size, for both models
        assert sorted(probe.rows["shift"].unique()) == list(range(min(expected_shifts, side - 1) + 1))


def test_every_probe_and_the_report_run_on_32px_rgb(tmp_path):
    """shapes at its natural 32x32x3: both presets trained briefly, every probe, then the report."""
    from cnn_vs_vit.probes import PROBES
    from cnn_vs_vit.probes.plugin import applies, run_probe
    from cnn_vs_vit.report import build_report
    from cnn_vs_vit.training import train_run

    for model in ("resnet-xs", "vit-xs"):
        run = tmp_path / "runs" / model
        train_run(build_config({}, [f"model.name={model}", "data.name=shapes", "train.steps=2", "train.batch_size=8",
                                    "threads=1"]), run)  # fmt: skip
        options = {"shift": {"images": 8, "modes": ["circular"]}}
        for name in PROBES:
            if applies(name, run):
                run_probe(name, run, options.get(name))
        transfer = json.loads((run / "probes" / "transfer_summary.json").read_text())
        assert transfer["target_dataset"] == "digits" and transfer["image_size"] == 32  # grey digits as RGB
    built = build_report(tmp_path)
    report = (tmp_path / "report.md").read_text()
    assert "vit-xs" in report and "## Probe samples" in report
    similarity = next(claim for claim in built.claims if claim.claim_id == "17")
    assert similarity.verdict != "not measured" and (tmp_path / "cka.png").exists()  # CKA within and across
