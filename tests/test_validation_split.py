"""The validation split (data.validation): held out of the training split, stratified, fixed, disjoint from every subset."""

import torch

from cnn_vs_vit.data import load_dataset, stratified_subset, training_split
from cnn_vs_vit.training import train_run

FRACTIONS = (0.02, 0.05, 0.1, 0.25, 1.0)


def labels_with_unequal_classes() -> torch.Tensor:
    counts = [30, 60, 90, 120, 350]
    return torch.cat([torch.full((n,), c) for c, n in enumerate(counts)])[torch.randperm(650, generator=torch.Generator().manual_seed(3))]  # fmt: skip


def test_validation_is_disjoint_from_every_subset_and_subsets_stay_nested():
    labels = labels_with_unequal_classes()
    previous = set()
    for fraction in FRACTIONS:
        subset, held = training_split(labels, fraction, data_seed=0, validation=0.1)
        assert not set(subset.tolist()) & set(held.tolist())
        assert previous <= set(subset.tolist())  # the 5% subset lies inside the 10% one...
        previous = set(subset.tolist())
    assert len(previous) + len(held) == len(labels)  # at fraction 1 the subset is everything not held out


def test_validation_is_stratified():
    labels = labels_with_unequal_classes()
    _, held = training_split(labels, 1.0, data_seed=0, validation=0.1)
    for c in range(5):
        n_class = int((labels == c).sum())
        assert abs(int((labels[held] == c).sum()) - 0.1 * n_class) <= 1


def test_validation_is_the_same_for_every_data_seed_and_every_call():
    labels = labels_with_unequal_classes()
    held = [training_split(labels, 0.25, data_seed=seed, validation=0.1)[1] for seed in (0, 1, 2, 0)]
    assert all(torch.equal(held[0], other) for other in held[1:])


def test_no_validation_leaves_every_subset_as_it_was():
    labels = labels_with_unequal_classes()
    for fraction in FRACTIONS:
        subset, held = training_split(labels, fraction, data_seed=1)
        assert torch.equal(subset, stratified_subset(labels, fraction, 1)) and len(held) == 0


def test_both_architectures_are_validated_on_the_same_images_none_of_them_trained_on(tmp_path, tiny):
    summaries = [train_run(tiny(f"model.name={name}", "data.validation=0.25", "data.fraction=0.5"), tmp_path / name)
                 for name in ("resnet-xxs", "vit-xxs")]  # fmt: skip
    assert summaries[0]["validation_hash"] == summaries[1]["validation_hash"]
    assert summaries[0]["subset_hash"] == summaries[1]["subset_hash"]
    assert all(0 <= s["validation_accuracy"] <= 1 and s["validation_size"] > 0 for s in summaries)
    dataset = load_dataset("shapes", image_size=16)
    subset, held = training_split(dataset.train_labels, 0.5, 0, 0.25)
    assert summaries[0]["validation_size"] == len(held) and summaries[0]["train_size"] == len(subset)
