"""Specification of cnn_vs_vit.data: loaders read the real on-disk formats pixel for pixel, subsets
are stratified, nested and owned by the data seed, and augmentation does exactly what it says.

File fixtures are written here in the official layouts (CIFAR pickles, MNIST idx, SVHN .mat, PNG
folders), small, so the real loading code runs on them offline.
"""

import gzip
import hashlib
import pickle
import random
import struct
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image

from cnn_vs_vit.data import (
    DATASET_NAMES,
    ImageDataset,
    load_dataset,
    random_flip,
    random_translate,
    stratified_subset,
    subset_hash,
)
from cnn_vs_vit.data.dataset import resize_images
from cnn_vs_vit.data.shapes import SHAPES
from cnn_vs_vit.errors import CnnvitError

CIFAR10_NAMES = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]


# --- writers of the official on-disk formats ---------------------------------------------------


def pattern(count: int, channels: int, size: int, offset: int = 0) -> np.ndarray:
    """uint8 (count, channels, size, size) whose value depends on image, channel, row and column
    with different weights, so any mix-up of axes or order changes some pixel."""
    i, c, y, x = np.meshgrid(
        np.arange(count) + offset, np.arange(channels), np.arange(size), np.arange(size), indexing="ij"
    )
    return ((31 * i + 67 * c + 5 * y + x) % 256).astype(np.uint8)


def write_pickle(path: Path, content: dict) -> None:
    with open(path, "wb") as file:
        pickle.dump(content, file, protocol=2)  # the official files are Python 2 pickles


def write_cifar10(root: Path, per_batch: int = 3) -> dict[str, np.ndarray]:
    """ROOT/cifar-10-batches-py as the official archive unpacks; returns the arrays written."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    train_images = pattern(5 * per_batch, 3, 32)
    train_labels = np.arange(5 * per_batch) % 10
    for batch in range(5):
        rows = slice(batch * per_batch, (batch + 1) * per_batch)
        write_pickle(folder / f"data_batch_{batch + 1}", {
            b"batch_label": f"training batch {batch + 1} of 5".encode(),
            b"labels": train_labels[rows].tolist(),
            b"data": train_images[rows].reshape(per_batch, 3072),
            b"filenames": [b"x.png"] * per_batch,
        })  # fmt: skip
    test_images, test_labels = pattern(4, 3, 32, offset=100), np.array([9, 0, 3, 3])
    write_pickle(folder / "test_batch", {b"labels": test_labels.tolist(), b"data": test_images.reshape(4, 3072)})
    write_pickle(folder / "batches.meta", {b"label_names": CIFAR10_NAMES, b"num_cases_per_batch": per_batch})
    return dict(train_images=train_images, train_labels=train_labels, test_images=test_images, test_labels=test_labels)


def write_cifar100(root: Path) -> dict[str, np.ndarray]:
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    written = {}
    for split, count, offset in (("train", 6, 0), ("test", 4, 50)):
        images = pattern(count, 3, 32, offset)
        fine = (np.arange(count) * 37 + offset) % 100
        coarse = (fine + 1) % 20  # never equal to fine, so reading the wrong key shows
        write_pickle(folder / split, {
            b"filenames": [b"x.png"] * count,
            b"fine_labels": fine.tolist(),
            b"coarse_labels": coarse.tolist(),
            b"data": images.reshape(count, 3072),
        })  # fmt: skip
        written[f"{split}_images"], written[f"{split}_labels"] = images, fine
    fine_names = [f"fine_{index:02d}".encode() for index in range(100)]
    write_pickle(folder / "meta", {b"fine_label_names": fine_names, b"coarse_label_names": [b"c"] * 20})
    return written


def idx_bytes(array: np.ndarray) -> bytes:
    """An idx file of unsigned bytes: 0, 0, type 0x08, ndim, big-endian uint32 dims, then the data."""
    return bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write_idx_dataset(raw_folder: Path, gz: bool) -> dict[str, np.ndarray]:
    raw_folder.mkdir(parents=True)
    written = {
        "train-images-idx3-ubyte": pattern(7, 1, 28)[:, 0],
        "train-labels-idx1-ubyte": (np.arange(7) * 3 % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": pattern(3, 1, 28, offset=9)[:, 0],
        "t10k-labels-idx1-ubyte": np.array([4, 0, 9], dtype=np.uint8),
    }
    for name, array in written.items():
        content = idx_bytes(array)
        (raw_folder / (name + ".gz" if gz else name)).write_bytes(gzip.compress(content) if gz else content)
    return written


def write_png(path: Path, pixels: np.ndarray) -> None:
    """pixels: uint8 (H, W, 3) or (H, W)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def write_truncated_png(path: Path) -> None:
    write_png(path, pattern(1, 3, 32)[0].transpose(1, 2, 0))
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])  # cuts into the pixel data


def png_pixels(index: int) -> np.ndarray:
    """(3, 32, 32) uint8 pattern of the index-th image of a folder fixture."""
    return pattern(1, 3, 32, offset=index)[0]


def assert_equal(tensor: torch.Tensor, array: np.ndarray) -> None:
    assert torch.equal(tensor, torch.from_numpy(np.ascontiguousarray(array)).to(tensor.dtype))


def assert_well_formed(dataset: ImageDataset, image_shape: tuple[int, int, int]) -> None:
    assert dataset.image_shape == image_shape
    for images, labels in ((dataset.train_images, dataset.train_labels), (dataset.test_images, dataset.test_labels)):
        assert images.dtype == torch.uint8 and images.is_contiguous() and images.shape[1:] == image_shape
        assert labels.dtype == torch.int64 and labels.shape == images.shape[:1]
        assert 0 <= labels.min() and labels.max() < dataset.num_classes


# --- file datasets -----------------------------------------------------------------------------


def test_cifar10_pickles_load_pixel_for_pixel(tmp_path):
    written = write_cifar10(tmp_path)
    dataset = load_dataset("cifar10", root=tmp_path)
    assert_well_formed(dataset, (3, 32, 32))
    # Row layout: 1024 red bytes, 1024 green, 1024 blue, each plane row-major.
    assert_equal(dataset.train_images, written["train_images"])
    assert_equal(dataset.train_labels, written["train_labels"])
    assert_equal(dataset.test_images, written["test_images"])
    assert_equal(dataset.test_labels, written["test_labels"])
    assert dataset.classes == tuple(name.decode() for name in CIFAR10_NAMES)
    assert dataset.flip_augment


def test_cifar100_uses_fine_labels_and_fine_names(tmp_path):
    written = write_cifar100(tmp_path)
    dataset = load_dataset("cifar100", root=tmp_path)
    assert_well_formed(dataset, (3, 32, 32))
    assert_equal(dataset.train_images, written["train_images"])
    assert_equal(dataset.train_labels, written["train_labels"])
    assert_equal(dataset.test_labels, written["test_labels"])
    assert dataset.num_classes == 100 and dataset.classes[37] == "fine_37"


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzipped"])
def test_mnist_idx_files_load_plain_or_gzipped(tmp_path, gz):
    written = write_idx_dataset(tmp_path / "MNIST" / "raw", gz)
    dataset = load_dataset("mnist", root=tmp_path)
    assert_well_formed(dataset, (1, 28, 28))
    assert_equal(dataset.train_images[:, 0], written["train-images-idx3-ubyte"])
    assert_equal(dataset.train_labels, written["train-labels-idx1-ubyte"])
    assert_equal(dataset.test_images[:, 0], written["t10k-images-idx3-ubyte"])
    assert dataset.test_labels.tolist() == [4, 0, 9]
    assert dataset.classes == tuple("0123456789") and not dataset.flip_augment


def test_fashion_mnist_reads_its_own_folder_and_may_flip(tmp_path):
    written = write_idx_dataset(tmp_path / "FashionMNIST" / "raw", gz=False)
    dataset = load_dataset("fashion-mnist", root=tmp_path)
    assert_equal(dataset.train_images[:, 0], written["train-images-idx3-ubyte"])
    assert dataset.classes[0] == "T-shirt/top" and dataset.num_classes == 10
    assert dataset.flip_augment


def test_svhn_mat_loads_channels_first_and_maps_label_10_to_digit_0(tmp_path):
    images = pattern(5, 3, 32)  # (N, C, H, W); the .mat stores (H, W, C, N)
    labels = np.array([[10], [1], [9], [10], [5]], dtype=np.uint8)
    scipy.io.savemat(tmp_path / "train_32x32.mat", {"X": images.transpose(2, 3, 1, 0), "y": labels})
    scipy.io.savemat(tmp_path / "test_32x32.mat", {"X": images[:2].transpose(2, 3, 1, 0), "y": labels[:2]})
    dataset = load_dataset("svhn", root=tmp_path)
    assert_well_formed(dataset, (3, 32, 32))
    assert_equal(dataset.train_images, images)
    assert dataset.train_labels.tolist() == [0, 1, 9, 0, 5]
    assert not dataset.flip_augment


@pytest.mark.parametrize(
    "name, expected",
    [
        ("cifar10", "cifar-10-batches-py/data_batch_1"),
        ("cifar100", "cifar-100-python/train"),
        ("mnist", "MNIST/raw/train-images-idx3-ubyte"),
        ("fashion-mnist", "FashionMNIST/raw/train-images-idx3-ubyte"),
        ("svhn", "train_32x32.mat"),
    ],
)
def test_missing_files_name_the_path_looked_at_and_the_fix(tmp_path, name, expected):
    with pytest.raises(CnnvitError) as error:
        load_dataset(name, root=tmp_path)
    message = str(error.value)
    assert str(tmp_path / expected) in message and "--download" in message and "\n" not in message


def test_one_missing_cifar_batch_is_named(tmp_path):
    write_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_4").unlink()
    with pytest.raises(CnnvitError, match="data_batch_4"):
        load_dataset("cifar10", root=tmp_path)


def test_truncated_idx_file_is_a_user_error_naming_it(tmp_path):
    write_idx_dataset(tmp_path / "MNIST" / "raw", gz=False)
    images = tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-10])
    with pytest.raises(CnnvitError, match="t10k-images-idx3-ubyte"):
        load_dataset("mnist", root=tmp_path)


class _RunsCode:
    def __reduce__(self):
        return (print, ("a pickle ran code",))


def test_a_cifar_pickle_that_would_run_code_is_refused(tmp_path):
    write_cifar10(tmp_path)
    write_pickle(tmp_path / "cifar-10-batches-py" / "test_batch", {b"data": _RunsCode(), b"labels": []})
    with pytest.raises(CnnvitError, match="test_batch"):
        load_dataset("cifar10", root=tmp_path)


def test_download_fetches_missing_files_with_torchvision_then_reads_them(tmp_path, monkeypatch):
    import torchvision.datasets

    calls = []

    class FetchingCIFAR10:  # stands in for the network: writes the files where torchvision would
        def __init__(self, root, train=True, download=False):
            calls.append(download)
            write_cifar10(Path(root))

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", FetchingCIFAR10)
    dataset = load_dataset("cifar10", root=tmp_path / "new", download=True)
    assert calls == [True] and len(dataset.train_images) == 15


def test_failed_download_is_a_one_line_user_error(tmp_path, monkeypatch):
    import torchvision.datasets

    def offline(**_):
        raise RuntimeError("Error downloading train_32x32.mat:\nTried https://...")

    monkeypatch.setattr(torchvision.datasets, "SVHN", offline)
    with pytest.raises(CnnvitError, match="could not download svhn") as error:
        load_dataset("svhn", root=tmp_path, download=True)
    assert "\n" not in str(error.value)


# --- image folders -----------------------------------------------------------------------------


def test_image_folder_with_train_and_val_loads_every_png_exactly(tmp_path):
    for split, count in (("train", 3), ("val", 1)):
        for class_index, class_name in enumerate(["cat", "dog"]):
            for index in range(count):
                pixels = png_pixels(10 * class_index + index + (5 if split == "val" else 0))
                write_png(tmp_path / split / class_name / f"{index}.png", pixels.transpose(1, 2, 0))
    (tmp_path / "train" / "dog" / "notes.txt").write_text("not an image")
    dataset = load_dataset(f"imagefolder:{tmp_path}")
    assert_well_formed(dataset, (3, 32, 32))
    assert dataset.classes == ("cat", "dog") and dataset.skipped_files == 0
    assert dataset.train_labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert_equal(dataset.train_images, np.stack([png_pixels(i) for i in (0, 1, 2, 10, 11, 12)]))
    assert_equal(dataset.test_images, np.stack([png_pixels(5), png_pixels(15)]))


def test_flat_image_folder_is_split_stratified_80_20(tmp_path):
    for class_name, count in (("a", 10), ("b", 5)):
        for index in range(count):
            write_png(tmp_path / class_name / f"{index}.png", png_pixels(index).transpose(1, 2, 0))
    dataset = load_dataset(f"imagefolder:{tmp_path}")
    assert dataset.train_labels.bincount().tolist() == [8, 4]
    assert dataset.test_labels.bincount().tolist() == [2, 1]
    again = load_dataset(f"imagefolder:{tmp_path}")
    assert torch.equal(dataset.test_images, again.test_images)  # the split is fixed, not drawn per call


def test_image_folder_converts_to_rgb_and_fits_to_image_size(tmp_path):
    for class_name in ("a", "b"):
        for index in range(3):
            write_png(tmp_path / class_name / f"{index}.png", np.full((20, 40), 77, dtype=np.uint8))  # grey, 2:1
    dataset = load_dataset(f"imagefolder:{tmp_path}", image_size=16)
    assert_well_formed(dataset, (3, 16, 16))
    assert (dataset.train_images == 77).all()


def test_corrupt_image_is_named_and_can_be_skipped(tmp_path):
    for class_name in ("a", "b"):
        for index in range(5):
            write_png(tmp_path / class_name / f"{index}.png", png_pixels(index).transpose(1, 2, 0))
    broken = tmp_path / "b" / "3.png"
    write_truncated_png(broken)
    with pytest.raises(CnnvitError) as error:
        load_dataset(f"imagefolder:{tmp_path}")
    assert str(broken) in str(error.value) and "--skip-corrupt" in str(error.value)

    dataset = load_dataset(f"imagefolder:{tmp_path}", skip_corrupt=True)
    assert dataset.skipped_files == 1
    assert len(dataset.train_images) + len(dataset.test_images) == 9
    assert len(dataset.train_labels) + len(dataset.test_labels) == 9


def test_many_corrupt_images_are_listed_up_to_five_then_counted(tmp_path):
    for index in range(8):
        write_truncated_png(tmp_path / "only" / f"{index}.png")
    with pytest.raises(CnnvitError, match="8 unreadable.* and 3 more; "):
        load_dataset(f"imagefolder:{tmp_path}")


@pytest.mark.parametrize("layout", ["missing", "no class folders", "empty class", "train without val"])
def test_malformed_image_folder_is_a_user_error(tmp_path, layout):
    if layout == "no class folders":
        write_png(tmp_path / "loose.png", png_pixels(0).transpose(1, 2, 0))
    elif layout == "empty class":
        write_png(tmp_path / "a" / "0.png", png_pixels(0).transpose(1, 2, 0))
        (tmp_path / "b").mkdir()
    elif layout == "train without val":
        write_png(tmp_path / "train" / "a" / "0.png", png_pixels(0).transpose(1, 2, 0))
    folder = tmp_path / "nowhere" if layout == "missing" else tmp_path
    with pytest.raises(CnnvitError, match=str(folder)):
        load_dataset(f"imagefolder:{folder}")


# --- bundled and generated datasets ------------------------------------------------------------


@pytest.fixture(scope="module")
def mnist5k() -> ImageDataset:
    return load_dataset("mnist5k")


def test_mnist5k_splits_4000_1000_with_balanced_classes(mnist5k):
    assert_well_formed(mnist5k, (1, 28, 28))
    assert mnist5k.train_labels.bincount().tolist() == [400] * 10
    assert mnist5k.test_labels.bincount().tolist() == [100] * 10
    assert mnist5k.train_images.min() == 0 and mnist5k.train_images.max() == 255
    assert not mnist5k.flip_augment


def test_mnist5k_split_is_fixed(mnist5k):
    assert torch.equal(load_dataset("mnist5k").test_images, mnist5k.test_images)


def test_digits_repeat_each_of_their_8x8_pixels_as_a_4x4_block():
    dataset = load_dataset("digits")
    assert_well_formed(dataset, (1, 32, 32))
    assert len(dataset.train_images) + len(dataset.test_images) == 1797
    blocks = dataset.train_images.float().unfold(2, 4, 4).unfold(3, 4, 4)  # (N, 1, 8, 8, 4, 4)
    assert (blocks == blocks[..., :1, :1]).all()
    assert dataset.train_images.max() == 255 and not dataset.flip_augment
    assert torch.equal(load_dataset("digits").train_images, dataset.train_images)


def test_shapes_are_balanced_rgb_and_the_same_on_every_call():
    dataset = load_dataset("shapes")
    assert_well_formed(dataset, (3, 32, 32))
    assert (len(dataset.train_images), len(dataset.test_images)) == (4000, 1000)
    assert dataset.train_labels.bincount().tolist() == [4000 // len(SHAPES)] * len(SHAPES)
    assert dataset.classes == tuple(SHAPES) and dataset.flip_augment
    again = load_dataset("shapes")
    assert torch.equal(again.train_images, dataset.train_images) and torch.equal(again.test_labels, dataset.test_labels)
    assert not torch.equal(dataset.train_images[:1000], dataset.test_images)


def test_shapes_are_drawn_directly_at_the_requested_size():
    dataset = load_dataset("shapes", image_size=20)
    assert_well_formed(dataset, (3, 20, 20))


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_shape_is_mirror_symmetric_so_flips_keep_its_label(shape):
    u = torch.linspace(-1.2, 1.2, 49)[None, :]
    v = torch.linspace(-1.2, 1.2, 49)[:, None]
    assert torch.equal(SHAPES[shape](u, v), SHAPES[shape](-u, v))


def test_image_size_resizes_bundled_and_file_datasets_alike(tmp_path):
    assert_well_formed(load_dataset("digits", image_size=16), (1, 16, 16))
    write_cifar10(tmp_path)
    assert_well_formed(load_dataset("cifar10", root=tmp_path, image_size=48), (3, 48, 48))


def test_resizing_keeps_a_uniform_image_uniform():
    uniform = torch.full((2, 3, 32, 32), 200, dtype=torch.uint8)
    for size in (16, 24, 64):
        assert (resize_images(uniform, size) == 200).all()


def test_unknown_dataset_suggests_the_closest_name():
    with pytest.raises(CnnvitError, match='did you mean "cifar10"'):
        load_dataset("cifar-10")


@pytest.mark.parametrize("size", [0, -32, 3.5])
def test_image_size_must_be_a_positive_whole_number(size):
    with pytest.raises(CnnvitError, match="image size"):
        load_dataset("shapes", image_size=size)


def test_dataset_names_are_the_documented_ones():
    assert DATASET_NAMES == ("mnist5k", "digits", "shapes", "global-context", "reach", "reach-local", "cifar10", "cifar100",
                             "mnist", "fashion-mnist", "svhn")  # fmt: skip


# --- subsets -----------------------------------------------------------------------------------


# Classes of 40, 25, 3 and 1 images, shuffled.
UNEVEN_LABELS = torch.tensor([0] * 40 + [1] * 25 + [2] * 3 + [3] * 1)
UNEVEN_LABELS = UNEVEN_LABELS[torch.randperm(69, generator=torch.Generator().manual_seed(0))]


@pytest.mark.parametrize("fraction", [0.05, 0.3, 0.5, 1.0])
def test_subset_keeps_the_rounded_fraction_of_every_class_and_at_least_one(fraction):
    subset = stratified_subset(UNEVEN_LABELS, fraction, data_seed=0)
    kept = UNEVEN_LABELS[subset].bincount(minlength=4).tolist()
    assert kept == [max(1, round(fraction * n)) for n in (40, 25, 3, 1)]


def test_subset_is_sorted_int64_indices_without_repeats():
    subset = stratified_subset(UNEVEN_LABELS, 0.5, data_seed=3)
    assert subset.dtype == torch.int64
    assert torch.equal(subset, subset.unique())  # unique() sorts


def test_full_fraction_keeps_every_image():
    assert torch.equal(stratified_subset(UNEVEN_LABELS, 1.0, data_seed=5), torch.arange(69))


def test_subsets_are_nested_across_fractions():
    fractions = [0.05, 0.1, 0.25, 0.5, 0.8, 1.0]
    subsets = [set(stratified_subset(UNEVEN_LABELS, f, data_seed=7).tolist()) for f in fractions]
    for smaller, larger in zip(subsets, subsets[1:]):
        assert smaller <= larger


def test_subset_depends_on_the_data_seed_alone():
    before = stratified_subset(UNEVEN_LABELS, 0.3, data_seed=11)
    torch.manual_seed(12345)  # what a training seed does to the global generators
    torch.rand(1000)
    np.random.seed(1)
    random.random()
    assert torch.equal(stratified_subset(UNEVEN_LABELS, 0.3, data_seed=11), before)


def test_different_data_seeds_give_different_subsets():
    subsets = {tuple(stratified_subset(UNEVEN_LABELS, 0.3, data_seed=seed).tolist()) for seed in range(5)}
    assert len(subsets) == 5


@pytest.mark.parametrize("fraction", [0, -0.1, 1.5, float("nan")])
def test_fraction_outside_zero_to_one_is_a_user_error_naming_it(fraction):
    with pytest.raises(CnnvitError, match=r"\(0, 1\]") as error:
        stratified_subset(UNEVEN_LABELS, fraction, data_seed=0)
    assert repr(fraction) in str(error.value)


def test_subset_hash_is_the_sha256_of_the_int64_index_bytes():
    indices = torch.tensor([3, 1_000_000, 7])
    expected = hashlib.sha256(np.array([3, 1_000_000, 7], dtype="<i8").tobytes()).hexdigest()[:16]
    assert subset_hash(indices) == expected
    assert subset_hash(indices.to(torch.int32)) == expected  # the bytes are int64 whatever the input dtype
    assert subset_hash(torch.tensor([3, 7])) != expected


# --- augmentation ------------------------------------------------------------------------------


def zero_filled_shift(image: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """Reference: (C, H, W) moved right by dx and down by dy, zeros where nothing moves in."""
    _, H, W = image.shape
    out = torch.zeros_like(image)
    out[:, max(dy, 0) : H + min(dy, 0), max(dx, 0) : W + min(dx, 0)] = image[
        :, max(-dy, 0) : H + min(-dy, 0), max(-dx, 0) : W + min(-dx, 0)
    ]
    return out


def test_translate_moves_an_impulse_by_its_drawn_shift():
    impulse = torch.zeros(400, 2, 9, 9)
    impulse[:, :, 4, 4] = 1.0
    moved = random_translate(impulse, max_shift=2, generator=torch.Generator().manual_seed(0))
    shifts = set()
    for image in moved:
        assert image.sum() == 2  # the impulse survives whole, once per channel, at one place
        ((y, x),) = image[0].nonzero().tolist()
        assert image[1, y, x] == 1
        shifts.add((x - 4, y - 4))
    assert shifts == {(dx, dy) for dx in range(-2, 3) for dy in range(-2, 3)}  # every shift, inclusive bounds


def test_translate_zero_fills_what_moves_in_from_outside():
    images = (torch.arange(3 * 8 * 8, dtype=torch.float32) + 1).reshape(1, 3, 8, 8).repeat(64, 1, 1, 1)
    moved = random_translate(images, max_shift=3, generator=torch.Generator().manual_seed(1))
    centre = images[0, 0, 4, 4]
    for image in moved:
        ((y, x),) = (image[0] == centre).nonzero().tolist()  # values are distinct: the centre shows the shift
        assert torch.equal(image, zero_filled_shift(images[0], dx=x - 4, dy=y - 4))


def test_translate_by_zero_returns_the_input():
    images = torch.rand(4, 3, 8, 8)
    assert random_translate(images, max_shift=0, generator=torch.Generator()) is images


def test_augmentation_replays_from_the_generator_seed():
    images = torch.rand(16, 3, 8, 8)
    for augment in (lambda g: random_translate(images, 2, g), lambda g: random_flip(images, g)):
        assert torch.equal(augment(torch.Generator().manual_seed(4)), augment(torch.Generator().manual_seed(4)))


def test_flip_mirrors_each_image_with_probability_one_half():
    images = torch.rand(400, 3, 5, 5)
    flipped = random_flip(images, generator=torch.Generator().manual_seed(0))
    mirrored = (flipped == images.flip(-1)).flatten(1).all(1)
    unchanged = (flipped == images).flatten(1).all(1)
    assert (mirrored ^ unchanged).all()  # each image is whole: mirrored or left alone
    assert 150 < mirrored.sum() < 250
