"""Which test images a probe reads: a fixed, class-stratified sample of the test split.

Never "the first N": test splits may be ordered by class (mnist5k's is, because the file it comes
from is sorted by label), and a prefix of 32 images would then hold a single digit. The sample:
- holds every class in proportion to the test split: class c gets floor(N * n_c / n) images, and
  the N - sum(floors) images left go to the classes with the largest remainders (Hamilton's
  method; ties to the lower class index), so each count is within 1 of the exact share;
- within a class, takes the images whose SHA-256 of (PROBE_SAMPLE_SEED, pixels) ranks lowest: the
  chosen images depend on what the split holds, not on the order it is stored in, and are the same
  for every architecture, run and machine;
- is the whole test split when N is at least its size.
"""

import hashlib
from dataclasses import dataclass, field

import torch

from cnn_vs_vit.data.dataset import ImageDataset
from cnn_vs_vit.data.subsets import subset_hash
from cnn_vs_vit.errors import CnnvitError

PROBE_SAMPLE_SEED = 0  # a constant: every probe of every run reads the same images of a given test split
SAMPLE_RULE = "class-stratified (largest remainder), lowest SHA-256 of seed and pixels within a class"


@dataclass(frozen=True, eq=False)  # eq=False: tensor fields have no single truth value under ==
class ProbeSample:
    """The test images a probe reads: uint8 images (n, C, H, W), labels (n,), their indices into the split."""

    images: torch.Tensor = field(repr=False)
    labels: torch.Tensor = field(repr=False)
    indices: torch.Tensor = field(repr=False)  # ascending int64 indices into the test split
    class_counts: dict[str, int]  # class name -> images of that class in the sample, every class listed
    split_size: int  # images in the whole test split

    def record(self) -> dict:
        """What a probe's summary says about its images: size, class counts, the indices' hash and the seed.

        The hash is subset_hash of the indices, as a training run's subset_hash is: two probes averaged
        over the same images exactly when their records agree.
        """
        return {
            "size": len(self.indices),
            "of": self.split_size,
            "class_counts": self.class_counts,
            "hash": subset_hash(self.indices),
            "seed": PROBE_SAMPLE_SEED,
            "rule": SAMPLE_RULE,
        }


def probe_sample(dataset: ImageDataset, size: int) -> ProbeSample:
    """The `size` test images of `dataset` every probe reads; a one-line error for a non-positive size."""
    if isinstance(size, bool) or not isinstance(size, int):
        raise CnnvitError(f"--images {size!r} is not a whole number of images; give e.g. --images 512")
    if size < 1:
        raise CnnvitError(f"--images {size} is not positive; give e.g. --images 512")
    indices = stratified_sample(dataset.test_images, dataset.test_labels, size)
    labels = dataset.test_labels[indices]
    counts = torch.bincount(labels, minlength=dataset.num_classes).tolist()
    return ProbeSample(
        images=dataset.test_images[indices],
        labels=labels,
        indices=indices,
        class_counts=dict(zip(dataset.classes, counts)),
        split_size=len(dataset.test_labels),
    )


def stratified_sample(images: torch.Tensor, labels: torch.Tensor, size: int) -> torch.Tensor:
    """Ascending int64 indices of `size` images (all of them when size >= len(labels)), stratified by label."""
    total = len(labels)
    if size >= total:
        return torch.arange(total, dtype=torch.int64)
    classes, class_sizes = torch.unique(labels, return_counts=True)
    quotas = class_quotas(class_sizes.tolist(), size)
    keys = _content_keys(images)
    chosen = []
    for label, quota in zip(classes.tolist(), quotas):
        members = (labels == label).nonzero().squeeze(1).tolist()
        ranked = sorted(members, key=lambda index: (keys[index], index))  # the index only breaks exact duplicates
        chosen += ranked[:quota]
    return torch.tensor(sorted(chosen), dtype=torch.int64)


def class_quotas(class_sizes: list[int], size: int) -> list[int]:
    """Images per class for a sample of `size` (< sum(class_sizes)): largest-remainder proportional shares."""
    total = sum(class_sizes)
    floors = [size * n // total for n in class_sizes]
    remainders = [size * n % total for n in class_sizes]  # exact: integer arithmetic, no float ties
    by_remainder = sorted(range(len(class_sizes)), key=lambda c: (-remainders[c], c))
    for c in by_remainder[: size - sum(floors)]:
        floors[c] += 1
    return floors


def _content_keys(images: torch.Tensor) -> list[bytes]:
    """One key per image: SHA-256 of the seed and its pixels (order-free, so the sample follows content)."""
    seed = f"probe_sample/{PROBE_SAMPLE_SEED}/".encode()
    flat = images.reshape(len(images), -1).contiguous().numpy()
    return [hashlib.sha256(seed + row.tobytes()).digest() for row in flat]
