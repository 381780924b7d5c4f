"""Your own images, one folder per class, loaded whole into memory.

Two layouts, as torchvision's references use them:
    DIR/train/<class>/*.png and DIR/val/<class>/*.png   the split is yours
    DIR/<class>/*.png                                   split here: stratified 80/20, constant seed
Classes are the folder names, sorted. Every image is converted to RGB and fitted to a square of
the requested size (centre crop to a square, then bilinear resize), so the aspect ratio is kept.
"""

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from cnn_vs_vit.data.dataset import ImageDataset
from cnn_vs_vit.data.subsets import fixed_split
from cnn_vs_vit.errors import CnnvitError

IMAGE_EXTENSIONS = (".bmp", ".jpeg", ".jpg", ".pgm", ".png", ".ppm", ".tif", ".tiff", ".webp")  # torchvision's
_LISTED_BAD_FILES = 5  # unreadable files named in the error; the rest are counted
_LAYOUT_HINT = "expected DIR/<class>/*.png, or DIR/train/<class>/ and DIR/val/<class>/"


def load_image_folder(name: str, folder: Path, image_size: int, skip_corrupt: bool) -> ImageDataset:
    """Every image under `folder` as uint8 (N, 3, image_size, image_size), split into train and test.

    Every file is opened and decoded before anything is returned; unreadable files raise a
    CnnvitError listing them, or with skip_corrupt are left out and counted in `skipped_files`.
    """
    if not folder.is_dir():
        raise CnnvitError(f"image folder {folder} not found; {_LAYOUT_HINT}")
    train_folder, val_folder = folder / "train", folder / "val"
    if train_folder.is_dir() != val_folder.is_dir():
        present, absent = (train_folder, val_folder) if train_folder.is_dir() else (val_folder, train_folder)
        raise CnnvitError(f"found {present} but no {absent}; give both, or put class folders directly in {folder}")

    if train_folder.is_dir():
        classes = _class_names(train_folder)
        unknown = sorted(set(_class_names(val_folder)) - set(classes))
        if unknown:
            raise CnnvitError(f"{val_folder} has classes with no training folder: {', '.join(unknown)}")
        train_files, train_labels = _image_files(train_folder, classes)
        test_files, test_labels = _image_files(val_folder, classes)
    else:
        classes = _class_names(folder)
        files, labels = _image_files(folder, classes)
        train_index, test_index = fixed_split(torch.tensor(labels))
        train_files, train_labels = [files[i] for i in train_index], [labels[i] for i in train_index]
        test_files, test_labels = [files[i] for i in test_index], [labels[i] for i in test_index]

    train_images, train_kept, train_bad = _read_images(train_files, image_size)
    test_images, test_kept, test_bad = _read_images(test_files, image_size)
    bad = train_bad + test_bad
    if bad and not skip_corrupt:
        listed = ", ".join(str(path) for path in bad[:_LISTED_BAD_FILES])
        more = f" and {len(bad) - _LISTED_BAD_FILES} more" if len(bad) > _LISTED_BAD_FILES else ""
        raise CnnvitError(
            f"{len(bad)} unreadable image(s) in {folder}: {listed}{more}; "
            "fix or remove them, or pass --skip-corrupt to go on without them"
        )
    if not len(train_images) or not len(test_images):
        split = "training" if not len(train_images) else "test"
        raise CnnvitError(f"no readable {split} images in {folder}; add images (a class split here needs at least 3)")
    return ImageDataset(
        name=name,
        train_images=train_images,
        train_labels=torch.tensor(train_labels, dtype=torch.int64)[train_kept],
        test_images=test_images,
        test_labels=torch.tensor(test_labels, dtype=torch.int64)[test_kept],
        classes=classes,
        flip_augment=True,
        skipped_files=len(bad),
    )


def image_folder_classes(folder: Path) -> tuple[str, ...]:
    """The class names of an image folder in either layout, without reading an image."""
    if not folder.is_dir():
        raise CnnvitError(f"image folder {folder} not found; {_LAYOUT_HINT}")
    return _class_names(folder / "train" if (folder / "train").is_dir() else folder)


def _class_names(folder: Path) -> tuple[str, ...]:
    """The sorted names of the class folders in `folder` (hidden folders are not classes)."""
    names = tuple(sorted(entry.name for entry in folder.iterdir() if entry.is_dir() and not entry.name.startswith(".")))
    if not names:
        raise CnnvitError(f"no class folders in {folder}; {_LAYOUT_HINT}")
    return names


def _image_files(folder: Path, classes: tuple[str, ...]) -> tuple[list[Path], list[int]]:
    """(paths, labels) of the image files in folder/<class>/ for every class present there, sorted by path."""
    files, labels = [], []
    for label, class_name in enumerate(classes):
        class_folder = folder / class_name
        if not class_folder.is_dir():
            continue  # a validation split may lack a class
        found = sorted(
            path
            for path in class_folder.iterdir()
            if path.suffix.lower() in IMAGE_EXTENSIONS and path.is_file() and not path.name.startswith(".")
        )
        if not found:
            raise CnnvitError(f"class folder {class_folder} holds no images ({', '.join(IMAGE_EXTENSIONS)})")
        files += found
        labels += [label] * len(found)
    return files, labels


def _read_images(files: list[Path], image_size: int) -> tuple[torch.Tensor, torch.Tensor, list[Path]]:
    """Decode every file: uint8 (n_readable, 3, S, S) images, the bool (len(files),) mask of the
    readable ones, and the paths of the unreadable ones."""
    pixels, readable, bad = [], [], []
    for path in files:
        try:
            with Image.open(path) as image:
                fitted = ImageOps.fit(image.convert("RGB"), (image_size, image_size), Image.Resampling.BILINEAR)
        except Exception:  # PIL reports a bad file as OSError, SyntaxError, ValueError, struct.error...
            bad.append(path)
            readable.append(False)
            continue
        pixels.append(np.asarray(fitted))  # (S, S, 3)
        readable.append(True)
    images = np.stack(pixels) if pixels else np.empty((0, image_size, image_size, 3), dtype=np.uint8)
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), torch.tensor(readable, dtype=torch.bool), bad
