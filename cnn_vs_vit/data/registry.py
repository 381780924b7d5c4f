"""Dataset names and `load_dataset`, the one entry point from a name to an ImageDataset."""

from pathlib import Path

from cnn_vs_vit.data.bundled import load_digits, load_mnist5k
from cnn_vs_vit.data.dataset import ImageDataset
from cnn_vs_vit.data.downloadable import FILE_DATASETS
from cnn_vs_vit.data.global_context import CLASSES as GLOBAL_CONTEXT_CLASSES
from cnn_vs_vit.data.global_context import IMAGE_SIZE as GLOBAL_CONTEXT_SIZE
from cnn_vs_vit.data.global_context import NAME as GLOBAL_CONTEXT
from cnn_vs_vit.data.global_context import load_global_context
from cnn_vs_vit.data.imagefolder import image_folder_classes, load_image_folder
from cnn_vs_vit.data.reach import CLASSES as REACH_CLASSES
from cnn_vs_vit.data.reach import IMAGE_SIZE as REACH_SIZE
from cnn_vs_vit.data.reach import REACH, REACH_LOCAL, load_reach, load_reach_local
from cnn_vs_vit.data.shapes import SHAPES, load_shapes
from cnn_vs_vit.errors import CnnvitError, unknown_name

_BUNDLED = {"mnist5k": load_mnist5k, "digits": load_digits}
# Fixed-size procedural tasks (shapes takes a size).
_GENERATED = {GLOBAL_CONTEXT: load_global_context, REACH: load_reach, REACH_LOCAL: load_reach_local}
DATASET_NAMES = (*_BUNDLED, "shapes", *_GENERATED, *FILE_DATASETS)
IMAGEFOLDER_PREFIX = "imagefolder:"
DEFAULT_DATA_ROOT = Path("data")
DEFAULT_IMAGEFOLDER_SIZE = 32


# (channels, side, classes) of every named dataset at its natural size, so models can be sized without
# loading the data (tests/test_data.py checks each against the loaded dataset).
NATURAL_SHAPES = {
    "mnist5k": (1, 28, 10),
    "digits": (1, 32, 10),
    "shapes": (3, 32, len(SHAPES)),
    GLOBAL_CONTEXT: (1, GLOBAL_CONTEXT_SIZE, len(GLOBAL_CONTEXT_CLASSES)),
    REACH: (1, REACH_SIZE, len(REACH_CLASSES)),
    REACH_LOCAL: (1, REACH_SIZE, len(REACH_CLASSES)),
    "cifar10": (3, 32, 10),
    "cifar100": (3, 32, 100),
    "mnist": (1, 28, 10),
    "fashion-mnist": (1, 28, 10),
    "svhn": (3, 32, 10),
}


def dataset_shape(name: str, *, image_size: int | None = None) -> tuple[tuple[int, int, int], int]:
    """((C, H, W), number of classes) of dataset `name` as load_dataset(name, image_size=...) returns it,
    read without loading the images (an image folder's classes are its sub-folders)."""
    if image_size is not None and (isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1):
        raise CnnvitError(f"image size {image_size!r} is not a positive whole number of pixels; give e.g. 32")
    if name.startswith(IMAGEFOLDER_PREFIX):
        folder = Path(name.removeprefix(IMAGEFOLDER_PREFIX)).expanduser()
        classes = image_folder_classes(folder)
        side = image_size or DEFAULT_IMAGEFOLDER_SIZE
        return (3, side, side), len(classes)
    if name not in NATURAL_SHAPES:
        raise unknown_name("dataset", name, (*DATASET_NAMES, f"{IMAGEFOLDER_PREFIX}PATH"))
    channels, side, classes = NATURAL_SHAPES[name]
    side = image_size or side
    return (channels, side, side), classes


def load_dataset(
    name: str,
    *,
    root: str | Path | None = None,
    download: bool = False,
    image_size: int | None = None,
    skip_corrupt: bool = False,
) -> ImageDataset:
    """The dataset called `name` (one of DATASET_NAMES, or "imagefolder:PATH"), whole in memory.

    root: folder holding the file-based datasets (default ./data); download: fetch them there if missing.
    image_size: side in pixels of the square images returned; None keeps the natural size (28 for
    the MNISTs, 32 for the rest and for image folders). Other sizes are resized once, here.
    skip_corrupt: image folders only, leave unreadable files out instead of raising.
    """
    if image_size is not None and (isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1):
        raise CnnvitError(f"image size {image_size!r} is not a positive whole number of pixels; give e.g. 32")
    if name.startswith(IMAGEFOLDER_PREFIX):
        folder = name.removeprefix(IMAGEFOLDER_PREFIX)
        if not folder:
            raise CnnvitError('dataset "imagefolder:" names no folder; write imagefolder:PATH')
        size = image_size or DEFAULT_IMAGEFOLDER_SIZE
        dataset = load_image_folder(name, Path(folder).expanduser(), size, skip_corrupt)
    elif name == "shapes":
        dataset = load_shapes(image_size or 32)
    elif name in _BUNDLED:
        dataset = _BUNDLED[name]()
    elif name in _GENERATED:
        dataset = _GENERATED[name]()
    elif name in FILE_DATASETS:
        dataset = FILE_DATASETS[name](Path(root or DEFAULT_DATA_ROOT).expanduser().absolute(), download)
    else:
        raise unknown_name("dataset", name, (*DATASET_NAMES, f"{IMAGEFOLDER_PREFIX}PATH"))
    return dataset if image_size is None else dataset.resized(image_size)
