"""Which training images a run sees: stratified, nested subsets chosen by a data seed alone.

A subset depends only on (labels, fraction, data_seed), never on the training seed or the model,
so a CNN and a ViT trained "on 10% of CIFAR-10 with data seed 0" saw exactly the same images.
"""

import hashlib
import numbers

import torch

from cnn_vs_vit.errors import CnnvitError

# Seed of the fixed train/test split of datasets that ship without one (mnist5k, digits, flat image folders).
# A constant: the test set must not move when the data seed does.
FIXED_SPLIT_SEED = 20_240_601
FIXED_TRAIN_FRACTION = 0.8
# Seed of the validation images held out of a training split (data.validation): a constant, so that tuning
# on them compares every run on the same images, whatever its data seed.
VALIDATION_SEED = 20_261_201


def stratified_subset(labels: torch.Tensor, fraction: float, data_seed: int) -> torch.Tensor:
    """Sorted int64 indices into `labels` (N,) keeping `fraction` of every class.

    Each class keeps round(fraction * n_class) images, at least 1. Subsets are nested: for one
    data_seed, the subset at a smaller fraction lies inside the subset at a larger one, because each
    class has one fixed random order (seeded by data_seed and the class) and a subset is its prefix.
    """
    if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real) or not 0 < fraction <= 1:
        raise CnnvitError(f"data fraction {fraction!r} is out of range; give a number in (0, 1], e.g. 0.1 for 10%")
    chosen = []
    for label in torch.unique(labels).tolist():
        members = (labels == label).nonzero().squeeze(1)  # (n_class,) ascending indices into labels
        order = torch.randperm(len(members), generator=_class_generator(data_seed, label))
        keep = max(1, round(fraction * len(members)))
        chosen.append(members[order[:keep].to(members.device)])
    if not chosen:
        return torch.empty(0, dtype=torch.int64)
    return torch.cat(chosen).sort().values


def training_split(
    labels: torch.Tensor, fraction: float, data_seed: int, validation: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """(the run's training subset, its validation images): sorted int64 indices into the training split.

    With `validation` > 0 that share of every class is held out first, by a constant seed (VALIDATION_SEED),
    so the validation images are the same for every run, architecture and data seed; the nested subsets
    are then drawn from the images left, so no subset, at any fraction, holds a validation image. With
    `validation` 0 nothing is held out and the subset is exactly stratified_subset's (runs made before
    validation existed keep their images).
    """
    if not validation:
        return stratified_subset(labels, fraction, data_seed), torch.empty(0, dtype=torch.int64)
    held = stratified_subset(labels, validation, VALIDATION_SEED)
    rest = _others(held, len(labels))
    return rest[stratified_subset(labels[rest], fraction, data_seed)], held


def fixed_split(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(train indices, test indices) of a constant stratified 80/20 split, both sorted int64."""
    train = stratified_subset(labels, FIXED_TRAIN_FRACTION, FIXED_SPLIT_SEED)
    return train, _others(train, len(labels))


def _others(indices: torch.Tensor, n: int) -> torch.Tensor:
    """Sorted int64 indices of 0..n-1 not in `indices`."""
    left = torch.ones(n, dtype=torch.bool)
    left[indices] = False
    return left.nonzero().squeeze(1)


def subset_hash(indices: torch.Tensor) -> str:
    """First 16 hex characters of the sha256 of the indices as little-endian int64 bytes.

    Recorded with each run, so two runs can be checked to have trained on the same images.
    """
    raw = indices.detach().cpu().numpy().astype("<i8").tobytes()
    return hashlib.sha256(raw).hexdigest()[:16]


def _class_generator(data_seed: int, label: int) -> torch.Generator:
    """A generator owned by one (data_seed, class) pair; hashing keeps different pairs' seeds apart."""
    digest = hashlib.sha256(f"stratified_subset/{data_seed}/{label}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little"))
