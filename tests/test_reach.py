"""The reach task (claim 3) on facts: the marker names the square that holds the label; the top square alone
gives the label in exactly the marker's up share of scenes; a bag of local features cannot tell a scene from
its twin with the right squares exchanged; the control task is first-order; the CNN's geometry predicts the
depth it needs (below it the network adds up what it sees of each pattern), and the default study's CNN and
ViT are matched in parameters at every depth."""

from collections import defaultdict
from pathlib import Path

import torch

from cnn_vs_vit.data import load_dataset
from cnn_vs_vit.data.reach import (
    IMAGE_SIZE,
    LEVELS,
    MARKER_AT,
    PATTERN,
    REACH_PX,
    SQUARES_AT,
    TEXTURE,
    UP_SHARE,  # fmt: skip
    draw_scenes,
    predicted_depth,
    reads_marker_and_square,
)
from cnn_vs_vit.matrix.experiment import expand, load_experiment
from cnn_vs_vit.models import ResNetSpec, build_model, model_spec, receptive_fields
from cnn_vs_vit.report.claims.row_03_global_context import depth
from cnn_vs_vit.report.runs import Run
from cnn_vs_vit.data.model_input import to_model_input

SHAPE = (1, IMAGE_SIZE, IMAGE_SIZE)


def square(images: torch.Tensor, row: str) -> torch.Tensor:
    y, x = SQUARES_AT[row]
    return images[:, 0, y : y + PATTERN, x : x + PATTERN]


def is_high(images: torch.Tensor, row: str) -> torch.Tensor:
    """Whether each scene's square in `row` is the high one (the levels' texture bands do not overlap)."""
    return square(images, row).float().mean(dim=(1, 2)) > (LEVELS["low"] + LEVELS["high"]) / 2


def marker_up(images: torch.Tensor) -> torch.Tensor:
    y, x = MARKER_AT
    return images[:, 0, y, x : x + PATTERN].eq(255).all(dim=1)


def exchange_squares(images: torch.Tensor) -> torch.Tensor:
    twins = images.clone()
    (ty, tx), (by, bx) = SQUARES_AT["top"], SQUARES_AT["bottom"]
    twins[:, 0, ty : ty + PATTERN, tx : tx + PATTERN] = images[:, 0, by : by + PATTERN, bx : bx + PATTERN]
    twins[:, 0, by : by + PATTERN, bx : bx + PATTERN] = images[:, 0, ty : ty + PATTERN, tx : tx + PATTERN]
    return twins


def test_the_label_is_the_level_of_the_square_the_marker_points_at():
    images, labels, up = draw_scenes(400, seed=1)
    assert labels.sum() == 200 and up.sum() == round(UP_SHARE * 400)
    assert torch.equal(marker_up(images), up)
    top, bottom = is_high(images, "top"), is_high(images, "bottom")
    assert torch.equal(top, ~bottom)  # one high and one low square in every scene
    assert torch.equal(labels.bool(), torch.where(up, top, bottom))
    levels = torch.tensor(list(LEVELS.values()))
    for row in SQUARES_AT:  # every square pixel within its level's texture band
        distance = (square(images, row)[..., None].int() - levels).abs().min(dim=-1).values
        assert distance.max() <= TEXTURE
    # Nothing else is drawn: three 3x3 patterns (the marker's bar is 3 of its 9 pixels), black elsewhere.
    assert torch.equal((images > 0).sum(dim=(1, 2, 3)), torch.full((400,), 2 * PATTERN * PATTERN + PATTERN))


def test_the_top_square_alone_gives_the_label_in_the_up_share_of_scenes_and_the_marker_alone_in_half():
    images, labels, _ = draw_scenes(2000, seed=2)
    from_top = (is_high(images, "top").long() == labels).float().mean().item()
    from_marker = (marker_up(images).long() == labels).float().mean().item()
    assert from_top == UP_SHARE  # first-order evidence, exactly as designed
    assert abs(from_marker - 0.5) < 0.05  # the marker says where to look, not what to answer
    control, control_labels, control_up = draw_scenes(200, seed=2, up_share=1.0)
    assert control_up.all() and torch.equal(is_high(control, "top").long(), control_labels)


def test_a_bag_of_local_features_answers_a_scene_and_its_twin_alike_though_their_labels_differ():
    torch.manual_seed(0)
    images, labels, up = draw_scenes(64, seed=3)
    twins = exchange_squares(images)
    assert torch.equal(torch.where(up, is_high(twins, "top"), is_high(twins, "bottom")).long(), 1 - labels)
    bag = build_model("bagnet-7", image_shape=SHAPE, num_classes=2).eval()
    with torch.no_grad():
        torch.testing.assert_close(bag(to_model_input(images)), bag(to_model_input(twins)), rtol=0, atol=1e-6)
        vit = build_model("vit-xxs", image_shape=SHAPE, num_classes=2).eval()  # one that sees across does not
        assert (vit(to_model_input(images)) - vit(to_model_input(twins))).abs().max() > 1e-5


def test_every_pattern_keeps_to_one_patch_under_the_recipes_translation_and_the_reach_is_24_px():
    patch, shift = 7, 2
    for y, x in (MARKER_AT, *SQUARES_AT.values()):
        for start in (y, x):
            cells = {(start + d) // patch for d in range(-shift, shift + 1)} | {
                (start + PATTERN - 1 + d) // patch for d in range(-shift, shift + 1)
            }
            assert len(cells) == 1, (y, x)
    assert REACH_PX == 24


def test_the_tasks_load_by_name_with_new_scenes_in_the_test_split():
    for name in ("reach", "reach-local"):
        dataset = load_dataset(name)
        assert dataset.image_shape == SHAPE and dataset.classes == ("low", "high")
        train = {bytes(image.numpy()) for image in dataset.train_images[:2000]}
        assert not any(bytes(image.numpy()) in train for image in dataset.test_images)


# ------------------------------------------------------------------- the CNN's geometry and the study's pairs

REACH_STUDY = Path(__file__).parent.parent / "experiments" / "default-reach.yaml"


def reach_cells() -> dict[str, dict[int, object]]:
    """The default study's reach group: {arch: {depth: the cell's config}} (seed 0; the control apart)."""
    cells = defaultdict(dict)
    for cell in expand(load_experiment(REACH_STUDY)):
        if "reach" in cell.groups and cell.config.seed == 0 and not cell.config.model.name.startswith("bagnet"):
            run = Run(path=cell.name, status="done", config={}, summary={"model": cell.config.model.name,
                      "model_options": cell.config.model.options})  # fmt: skip
            cells[run.arch][depth(run)] = cell.config
    return cells


def cnn_specs() -> dict[int, ResNetSpec]:
    return {d: model_spec(c.model.name, c.model.options) for d, c in reach_cells()["resnet"].items()}


def with_marker(images: torch.Tensor, up: bool) -> torch.Tensor:
    """The scenes with the marker's bar lit on its top (up) or bottom row."""
    images = images.clone()
    y, x = MARKER_AT
    images[:, 0, y : y + PATTERN, x : x + PATTERN] = 0
    images[:, 0, y if up else y + PATTERN - 1, x : x + PATTERN] = 255
    return images


def test_the_default_study_pairs_cnn_and_vit_at_depths_1_to_4_within_1_5x_in_parameters():
    cells = reach_cells()
    assert set(cells["resnet"]) == set(cells["vit"]) == {1, 2, 3, 4}
    for d in (1, 2, 3, 4):
        counts = {}
        for arch, config in ((arch, cells[arch][d]) for arch in ("resnet", "vit")):
            model = build_model(config.model.name, image_shape=SHAPE, num_classes=2, options=config.model.options)
            counts[arch] = sum(p.numel() for p in model.parameters())
        assert 1 / 1.5 <= counts["resnet"] / counts["vit"] <= 1.5, (d, counts)


def test_the_geometry_predicts_three_blocks_for_every_cnn_of_the_study_whatever_its_widths():
    for d, spec in cnn_specs().items():
        fields = receptive_fields(spec)
        assert len(fields) == d
        assert [reads_marker_and_square(f) for f in fields] == [False, False, True, True][:d]
        assert predicted_depth(fields) == (3 if d >= 3 else None)
    assert [f.size for f in receptive_fields(cnn_specs()[4])] == [7, 13, 25, 49]


def test_below_the_predicted_depth_the_cnn_adds_up_what_it_sees_of_each_pattern_and_from_it_on_a_unit_sees_both():
    """Below three blocks the interaction of marker and squares, f(up, s) − f(up, s') − f(down, s) + f(down, s')
    with s' the squares exchanged, is exactly 0: the logit is a sum over units that each see one pattern, so no
    weights can tell the last quarter of the scenes apart. From three blocks on, some unit of the last block
    changes both when the marker flips and when the squares are exchanged."""
    torch.manual_seed(0)
    images, _, _ = draw_scenes(16, seed=4)
    scenes = {(up, swapped): to_model_input(with_marker(exchange_squares(images) if swapped else images, up))
              for up in (True, False) for swapped in (False, True)}  # fmt: skip
    for d, config in reach_cells()["resnet"].items():
        model = build_model(config.model.name, image_shape=SHAPE, num_classes=2, options=config.model.options).eval()
        last = [layer.name for layer in model.feature_layers() if layer.name.startswith("stage")][-1]
        with torch.no_grad():
            outputs = {key: model.features(x) for key, x in scenes.items()}
        logits = {key: out["logits"][:, 1] - out["logits"][:, 0] for key, out in outputs.items()}
        interaction = logits[True, False] - logits[True, True] - logits[False, False] + logits[False, True]
        units = {key: out[last] for key, out in outputs.items()}
        moved_by_marker = (units[True, False] - units[False, False]).abs().amax(dim=1) > 1e-6  # (B, H, W)
        moved_by_squares = (units[True, False] - units[True, True]).abs().amax(dim=1) > 1e-6
        sees_both = (moved_by_marker & moved_by_squares).any().item()
        assert sees_both == (d >= 3), d
        if d < 3:
            assert interaction.abs().max() <= 1e-5 * torch.stack(list(logits.values())).abs().max(), d
