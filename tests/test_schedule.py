"""Learning-rate schedule facts: wsd warms up, holds the peak on a trunk every budget shares, and cools down to
exactly zero at its budget; its config is opt-in and leaves cosine configs as they were."""

import math

import pytest
import torch

from cnn_vs_vit import rundir
from cnn_vs_vit.config import build_config
from cnn_vs_vit.errors import CnnvitError
from cnn_vs_vit.training.recipes import DEFAULT_STEPS, RECIPES, optimizer_and_schedule, with_recipe
from cnn_vs_vit.training.schedule import cooldown_start, warmup_cosine, warmup_stable_decay


@pytest.mark.parametrize("cooldown", ["linear", "1-sqrt"])
def test_wsd_warms_up_holds_the_peak_and_cools_down_to_zero_at_the_budget(cooldown):
    factor = warmup_stable_decay(100, 10, 0.2, cooldown)  # fork at 80
    assert [factor(t) for t in range(10)] == [(t + 1) / 10 for t in range(10)]
    assert all(factor(t) == 1.0 for t in range(9, 81))  # the peak from the warm-up's end to the fork itself
    cooling = [factor(t) for t in range(80, 101)]
    assert all(a > b for a, b in zip(cooling, cooling[1:]))  # strictly down, all the way
    assert 0 < factor(99) < 0.06 and factor(100) == 0.0  # the last step trains, the budget's end is zero


def test_the_cool_down_shapes_are_linear_and_one_minus_sqrt():
    linear, one_minus_sqrt = (warmup_stable_decay(100, 10, 0.2, shape) for shape in ("linear", "1-sqrt"))
    for t in range(80, 101):
        progress = (t - 80) / 20
        assert linear(t) == pytest.approx(1 - progress) and one_minus_sqrt(t) == pytest.approx(1 - math.sqrt(progress))
        assert one_minus_sqrt(t) <= linear(t)  # 1-sqrt drops faster first, then lingers near zero


def test_every_budget_shares_the_trunk_up_to_its_own_fork():
    budgets = [warmup_stable_decay(steps, 30, 0.2, "linear") for steps in (600, 1473, 2400)]
    for steps, shorter in zip((600, 1473), budgets):
        fork = cooldown_start(steps, 0.2)
        for longer in budgets[budgets.index(shorter) + 1 :]:
            assert [shorter(t) for t in range(fork + 1)] == [longer(t) for t in range(fork + 1)]


def test_the_fork_leaves_at_least_one_step_of_cool_down():
    assert [cooldown_start(steps, 0.2) for steps in (1, 2, 3, 10, 600, 1473)] == [0, 1, 2, 8, 480, 1178]


def test_a_warm_up_that_ends_after_the_fork_is_refused():
    with pytest.raises(CnnvitError, match="warmup_steps=90 does not end before the cool-down"):
        warmup_stable_decay(100, 90, 0.2, "linear")
    assert warmup_stable_decay(100, 80, 0.2, "linear")(79) == 1.0  # ending exactly at the fork is fine


def test_the_optimizer_takes_the_schedule_and_ends_at_lr_zero():
    config = build_config({}, ["train.schedule=wsd", "train.steps=10", "train.warmup_steps=2", "train.lr=0.01",
                               "train.weight_decay=0"])  # fmt: skip
    module = torch.nn.Linear(2, 2)
    optimizer, scheduler = optimizer_and_schedule(module, config)
    taken = []
    for _ in range(10):
        taken.append(optimizer.param_groups[0]["lr"])
        module(torch.ones(1, 2)).sum().backward()
        optimizer.step()
        scheduler.step()
    factor = warmup_stable_decay(10, 2, 0.2, "linear")
    assert taken == [0.01 * factor(t) for t in range(10)]
    assert taken[8] == 0.01 and 0 < taken[9] < 0.01 and optimizer.param_groups[0]["lr"] == 0.0


def test_a_wsd_warm_up_is_the_recipes_at_the_default_budget():
    """So the default budget's branch (600 steps) warms up exactly as its cosine run does."""
    train = build_config({}, ["train.schedule=wsd", "train.steps=2400"]).train
    resolved = with_recipe(train, "vit")
    assert resolved.warmup_steps == round(RECIPES["vit"].warmup_fraction * DEFAULT_STEPS) == 120
    assert resolved.warmup_fraction is None
    wsd = warmup_stable_decay(DEFAULT_STEPS, resolved.warmup_steps, 0.2, "linear")
    cosine = warmup_cosine(DEFAULT_STEPS, RECIPES["vit"].warmup_fraction)
    assert [wsd(t) for t in range(121)] == [cosine(t) for t in range(121)]


def test_wsd_keys_are_a_wsd_schedules_only():
    with pytest.raises(CnnvitError, match="train.cooldown is a wsd schedule's"):
        build_config({}, ["train.cooldown=1-sqrt"])
    with pytest.raises(CnnvitError, match="train.warmup_steps .absolute"):
        build_config({}, ["train.schedule=wsd", "train.warmup_fraction=0.1"])
    with pytest.raises(CnnvitError, match="train.cooldown"):
        build_config({}, ["train.schedule=wsd", "train.cooldown=cosine"])


def test_a_cosine_config_reads_and_names_as_it_did_before_wsd():
    """Its dump (config.yaml, the weights' metadata, the directory name's hash) holds no schedule key."""
    cosine = build_config({}, ["train.steps=600"])
    assert not {"schedule", "warmup_steps", "cooldown_fraction", "cooldown"} & cosine.model_dump()["train"].keys()
    assert build_config(cosine.model_dump()) == cosine
    wsd = build_config({}, ["train.steps=600", "train.schedule=wsd"])
    assert build_config(wsd.model_dump()) == wsd
    assert rundir.run_name(wsd) != rundir.run_name(cosine)
    assert rundir.run_name(build_config({}, ["train.steps=600", "train.schedule=cosine"])) == rundir.run_name(cosine)
