"""The test images every probe reads: a fixed class-stratified sample, never a prefix of a sorted split."""

import pytest
import torch

from cnn_vs_vit.data import ImageDataset, probe_sample
from cnn_vs_vit.data.probe_sample import class_quotas
from cnn_vs_vit.errors import CnnvitError

pytestmark = pytest.mark.usefixtures("one_thread")

CLASS_SIZES = [30, 70, 100, 100, 150, 200, 350]  # unequal on purpose: proportional is not "equal per class"


def sorted_dataset(class_sizes=CLASS_SIZES, seed=0) -> ImageDataset:
    """A test split sorted by class, as mnist5k's is: every image distinct random noise."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.cat([torch.full((n,), c, dtype=torch.int64) for c, n in enumerate(class_sizes)])
    images = torch.randint(0, 256, (len(labels), 1, 6, 6), dtype=torch.uint8, generator=generator)
    return ImageDataset(name="sorted", train_images=images[:4], train_labels=labels[:4], test_images=images,
                        test_labels=labels, classes=tuple(f"c{c}" for c in range(len(class_sizes))),
                        flip_augment=False)  # fmt: skip


@pytest.mark.parametrize("size", [32, 128, 512])
def test_every_class_is_represented_in_proportion(size):
    data = sorted_dataset()
    sample = probe_sample(data, size)
    total = sum(CLASS_SIZES)
    counts = torch.bincount(sample.labels, minlength=len(CLASS_SIZES)).tolist()
    assert sum(counts) == len(sample.indices) == size
    for count, n in zip(counts, CLASS_SIZES):
        assert abs(count - size * n / total) < 1  # within one image of the exact share
    assert list(sample.class_counts.values()) == counts and list(sample.class_counts) == list(data.classes)
    assert torch.equal(sample.labels, data.test_labels[sample.indices])
    assert torch.equal(sample.images, data.test_images[sample.indices])
    assert torch.equal(sample.indices, sample.indices.unique())  # distinct and ascending


def test_a_prefix_would_not_be_stratified_but_the_sample_is():
    data = sorted_dataset()
    assert data.test_labels[:32].unique().tolist() == [0, 1]  # what "the first 32" used to mean: 2 of 7 classes
    assert len(probe_sample(data, 32).labels.unique()) == len(CLASS_SIZES)


def test_quotas_are_largest_remainder_shares():
    assert class_quotas([100] * 10, 32) == [4, 4, 3, 3, 3, 3, 3, 3, 3, 3]  # ties go to the lower class index
    assert class_quotas([1, 1, 98], 10) == [0, 0, 10]
    assert class_quotas([3, 3, 4], 5) == [2, 1, 2]  # shares 1.5, 1.5, 2: the tied remainder to class 0
    for sizes in ([5, 7, 11], [1, 2, 3, 4], CLASS_SIZES):
        for size in range(1, sum(sizes)):
            quotas = class_quotas(sizes, size)
            assert sum(quotas) == size and all(0 <= q <= n for q, n in zip(quotas, sizes))


def test_the_whole_split_when_the_sample_is_at_least_its_size():
    data = sorted_dataset()
    for size in (len(data.test_labels), 10_000):
        sample = probe_sample(data, size)
        assert torch.equal(sample.indices, torch.arange(len(data.test_labels)))
        assert sample.record()["size"] == sample.record()["of"] == len(data.test_labels)


def test_the_sample_follows_the_images_not_their_order():
    data = sorted_dataset()
    order = torch.randperm(len(data.test_labels), generator=torch.Generator().manual_seed(1))
    shuffled = ImageDataset(name="shuffled", train_images=data.train_images, train_labels=data.train_labels,
                            test_images=data.test_images[order], test_labels=data.test_labels[order],
                            classes=data.classes, flip_augment=False)  # fmt: skip
    a, b = probe_sample(data, 128), probe_sample(shuffled, 128)
    as_set = lambda s: sorted(bytes(image.flatten().tolist()) for image in s.images)  # noqa: E731
    assert as_set(a) == as_set(b) and a.class_counts == b.class_counts


def test_the_sample_is_the_same_on_every_call_and_its_record_says_what_it_holds():
    data = sorted_dataset()
    a, b = probe_sample(data, 100), probe_sample(data, 100)
    assert torch.equal(a.indices, b.indices) and a.record() == b.record()
    record = a.record()
    assert record["size"] == 100 and record["of"] == sum(CLASS_SIZES)
    assert sum(record["class_counts"].values()) == 100 and len(record["hash"]) == 16
    assert probe_sample(data, 101).record()["hash"] != record["hash"]


@pytest.mark.parametrize("size", [0, -3, 2.5, True])
def test_a_size_that_is_not_a_positive_whole_number_is_a_one_line_error(size):
    with pytest.raises(CnnvitError, match="--images"):
        probe_sample(sorted_dataset(), size)


def test_probes_of_two_architectures_read_the_same_balanced_images_and_record_them(tmp_path, tiny):
    """Every probe's summary holds the sample record; a CNN's and a ViT's agree image for image."""
    from cnn_vs_vit.probes.plugin import run_probe
    from cnn_vs_vit.training import train_run

    cnn, vit = tmp_path / "cnn", tmp_path / "vit"
    train_run(tiny("train.steps=1"), cnn)
    train_run(tiny("model.name=vit-xs", "model.patch_size=4", "train.steps=1"), vit)
    records = []
    for run in (cnn, vit):
        records.append(
            run_probe("shift", run, {"images": 16, "shifts": [0, 1], "modes": ["circular"]}).summary["sample"]
        )
        records.append(run_probe("receptive_field", run, {"images": 16}).summary["sample"])
        records.append(run_probe("resolution", run, {"images": 16, "sizes": [12]}).summary["sample"])
    assert all(record == records[0] for record in records)
    assert records[0]["size"] == 16 and sum(records[0]["class_counts"].values()) == 16
    assert sum(count > 0 for count in records[0]["class_counts"].values()) == len(records[0]["class_counts"])


def test_the_report_states_each_probes_sample_once(tmp_path, tiny):
    from cnn_vs_vit.probes.plugin import run_probe
    from cnn_vs_vit.report import build_report
    from cnn_vs_vit.training import train_run

    for seed in (0, 1):
        run = tmp_path / f"run{seed}"
        train_run(tiny("train.steps=1", f"seed={seed}"), run)
        sample = run_probe("shift", run, {"images": 16, "shifts": [0, 1], "modes": ["circular"]}).summary["sample"]
    build_report(tmp_path)
    report = (tmp_path / "report.md").read_text()
    section = report.split("## Probe samples", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| shift |")]
    assert len(rows) == 1 and f"| {sample['hash']} | 2 |" in rows[0]
