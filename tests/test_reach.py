"""The reach task (claim 3) on facts: the marker names the square that holds the label; the top square alone
gives the label in exactly the marker's up share of scenes; a bag of local features cannot tell a scene from
its twin with the right squares exchanged; the control task is first-order."""

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
)
from cnn_vs_vit.models import build_model
from cnn_vs_vit.training.inputs import to_model_input

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
            cells = {(start + d) // patch for d in range(-shift, shift + 1)} | {(start + PATTERN - 1 + d) // patch for d in range(-shift, shift + 1)}
            assert len(cells) == 1, (y, x)
    assert REACH_PX == 24


def test_the_tasks_load_by_name_with_new_scenes_in_the_test_split():
    for name in ("reach", "reach-local"):
        dataset = load_dataset(name)
        assert dataset.image_shape == SHAPE and dataset.classes == ("low", "high")
        train = {bytes(image.numpy()) for image in dataset.train_images[:2000]}
        assert not any(bytes(image.numpy()) in train for image in dataset.test_images)
