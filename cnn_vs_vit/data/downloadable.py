"""The five standard datasets read from files under a data root, laid out as torchvision downloads them.

    cifar10        ROOT/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}
    cifar100       ROOT/cifar-100-python/{train, test, meta}
    mnist          ROOT/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]
    fashion-mnist  ROOT/FashionMNIST/raw/ (same names as mnist)
    svhn           ROOT/{train,test}_32x32.mat

Nothing is fetched unless download=True; then torchvision fetches the files and our readers read them.
"""

from collections.abc import Callable
from pathlib import Path

import torch

from cnn_vs_vit.data.dataset import DIGIT_CLASSES, ImageDataset
from cnn_vs_vit.data.readers import (
    cifar_class_names,
    cifar_images_and_labels,
    read_cifar_batch,
    read_idx,
    read_svhn_mat,
)
from cnn_vs_vit.errors import CnnvitError

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


def load_cifar10(root: Path, download: bool) -> ImageDataset:
    folder = root / "cifar-10-batches-py"
    train_files = [folder / f"data_batch_{index}" for index in range(1, 6)]
    test_file, meta_file = folder / "test_batch", folder / "batches.meta"
    _ensure_present("cifar10", root, [*train_files, test_file, meta_file], download, "CIFAR10", [{"train": True}])
    train = [cifar_images_and_labels(read_cifar_batch(path), "labels", path) for path in train_files]
    test_images, test_labels = cifar_images_and_labels(read_cifar_batch(test_file), "labels", test_file)
    return ImageDataset(
        name="cifar10",
        train_images=torch.cat([images for images, _ in train]),
        train_labels=torch.cat([labels for _, labels in train]),
        test_images=test_images,
        test_labels=test_labels,
        classes=cifar_class_names(read_cifar_batch(meta_file), "label_names", meta_file),
        flip_augment=True,
    )


def load_cifar100(root: Path, download: bool) -> ImageDataset:
    """CIFAR-100 with its 100 fine classes (the 20 coarse superclasses are not used)."""
    folder = root / "cifar-100-python"
    train_file, test_file, meta_file = folder / "train", folder / "test", folder / "meta"
    _ensure_present("cifar100", root, [train_file, test_file, meta_file], download, "CIFAR100", [{"train": True}])
    train_images, train_labels = cifar_images_and_labels(read_cifar_batch(train_file), "fine_labels", train_file)
    test_images, test_labels = cifar_images_and_labels(read_cifar_batch(test_file), "fine_labels", test_file)
    return ImageDataset(
        name="cifar100",
        train_images=train_images,
        train_labels=train_labels,
        test_images=test_images,
        test_labels=test_labels,
        classes=cifar_class_names(read_cifar_batch(meta_file), "fine_label_names", meta_file),
        flip_augment=True,
    )


def load_mnist(root: Path, download: bool) -> ImageDataset:
    return _load_idx_dataset("mnist", root / "MNIST" / "raw", "MNIST", DIGIT_CLASSES, False, root, download)


def load_fashion_mnist(root: Path, download: bool) -> ImageDataset:
    # Clothes stay the same kind of clothes when mirrored, unlike digits.
    return _load_idx_dataset(
        "fashion-mnist", root / "FashionMNIST" / "raw", "FashionMNIST", FASHION_MNIST_CLASSES, True, root, download
    )


def load_svhn(root: Path, download: bool) -> ImageDataset:
    train_file, test_file = root / "train_32x32.mat", root / "test_32x32.mat"
    splits = [{"split": "train"}, {"split": "test"}]
    _ensure_present("svhn", root, [train_file, test_file], download, "SVHN", splits)
    train_images, train_labels = read_svhn_mat(train_file)
    test_images, test_labels = read_svhn_mat(test_file)
    return ImageDataset(
        name="svhn",
        train_images=train_images,
        train_labels=train_labels,
        test_images=test_images,
        test_labels=test_labels,
        classes=DIGIT_CLASSES,
        flip_augment=False,  # a mirrored digit is not the same digit
    )


FILE_DATASETS: dict[str, Callable[[Path, bool], ImageDataset]] = {
    "cifar10": load_cifar10,
    "cifar100": load_cifar100,
    "mnist": load_mnist,
    "fashion-mnist": load_fashion_mnist,
    "svhn": load_svhn,
}


def _load_idx_dataset(
    name: str,
    raw_folder: Path,
    torchvision_class: str,
    classes: tuple[str, ...],
    flip_augment: bool,
    root: Path,
    download: bool,
) -> ImageDataset:
    """An MNIST-style dataset: four idx files, images (N, 28, 28) and labels (N,)."""
    stems = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    paths = [raw_folder / stem for stem in stems]
    _ensure_present(name, root, paths, download, torchvision_class, [{"train": True}], gz_ok=True)
    train_images, train_labels, test_images, test_labels = (read_idx(_plain_or_gz(path)) for path in paths)
    for images, labels, path in ((train_images, train_labels, paths[0]), (test_images, test_labels, paths[2])):
        if images.dim() != 3 or labels.shape != images.shape[:1]:
            shapes = f"images {tuple(images.shape)}, labels {tuple(labels.shape)}"
            raise CnnvitError(f"{path} does not match its labels file: {shapes}; delete both and pass --download")
    return ImageDataset(
        name=name,
        train_images=train_images.unsqueeze(1),  # (N, 28, 28) -> (N, 1, 28, 28)
        train_labels=train_labels.long(),
        test_images=test_images.unsqueeze(1),
        test_labels=test_labels.long(),
        classes=classes,
        flip_augment=flip_augment,
    )


def _ensure_present(
    name: str,
    root: Path,
    paths: list[Path],
    download: bool,
    torchvision_class: str,
    fetch_calls: list[dict],
    gz_ok: bool = False,
) -> None:
    """Raise CnnvitError naming the first missing path, after fetching the files if download is on.

    fetch_calls: keyword arguments of each torchvision constructor call that fetches a part of the dataset.
    gz_ok: a file also counts as present as FILE.gz.
    """

    def first_missing() -> Path | None:
        present = (lambda path: _plain_or_gz(path) is not None) if gz_ok else Path.exists
        return next((path for path in paths if not present(path)), None)

    if first_missing() is not None and download:
        _download(name, root, torchvision_class, fetch_calls)
    missing = first_missing()
    if missing is not None:
        alternative = " (or .gz)" if gz_ok else ""
        raise CnnvitError(
            f"{name} not found: expected {missing}{alternative}; "
            "pass --download to fetch it, or --data-root DIR where it is"
        )


def _plain_or_gz(path: Path) -> Path | None:
    """`path` if it exists, else `path`.gz if that exists, else None."""
    gzipped = path.with_name(path.name + ".gz")
    return path if path.exists() else gzipped if gzipped.exists() else None


def _download(name: str, root: Path, torchvision_class: str, fetch_calls: list[dict]) -> None:
    import torchvision.datasets  # deferred: only fetching needs torchvision, which is slow to import

    root.mkdir(parents=True, exist_ok=True)
    try:
        for arguments in fetch_calls:
            getattr(torchvision.datasets, torchvision_class)(root=str(root), download=True, **arguments)
    except Exception as error:  # network, disk and checksum failures all leave the user with the same fix
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CnnvitError(
            f"could not download {name} into {root} ({reason}); check the network, or put the files there by hand"
        ) from error
