"""Pairing is a decision each comparison states: a ResNet against a ViT is unpaired even when the seeds match;
an ablation within one architecture is paired."""

import pytest

from cnn_vs_vit.report.runs import Run
from cnn_vs_vit.report.selection import by_key
from cnn_vs_vit.report.statistics import difference, welch_interval


def run(seed, value, arch, option="a") -> Run:
    summary = {"seed": seed, "data_seed": 0, "subset_hash": "s", "arch": arch, "test_accuracy": value, "opt": option}
    return Run(f"{arch}/{option}/s{seed}", "done", {}, summary)


VIT = [run(s, v, "vit") for s, v in enumerate([0.90, 0.91, 0.95])]
CNN = [run(s, v, "resnet") for s, v in enumerate([0.86, 0.84, 0.85])]


def test_a_resnet_against_a_vit_is_welch_even_when_seeds_match():
    for paired in (True, False):  # the keys carry the architecture: they never pair, whatever is asked
        e = difference(by_key(VIT, Run.accuracy), by_key(CNN, Run.accuracy), paired=paired)
        assert e.method == "welch"
        assert e.ci_low == pytest.approx(welch_interval([0.90, 0.91, 0.95], [0.86, 0.84, 0.85]).ci_low)


def test_an_ablation_within_one_architecture_is_paired():
    other = [run(s, v - 0.02, "vit", "b") for s, v in enumerate([0.90, 0.91, 0.95])]
    e = difference(by_key(VIT, Run.accuracy), by_key(other, Run.accuracy), paired=True)
    assert e.method == "paired" and e.std == pytest.approx(0, abs=1e-12)  # every pair differs by 0.02
    assert difference(by_key(VIT, Run.accuracy), by_key(other, Run.accuracy), paired=False).method == "welch"
