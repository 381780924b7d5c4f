"""Readers of the standard on-disk formats: CIFAR python pickles, MNIST idx files, SVHN .mat files.

Our own readers rather than torchvision's dataset classes, which check every file's md5 and so
refuse anything but the official bytes. A malformed file raises CnnvitError naming it.
"""

import gzip
import math
import pickle
import struct
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cnn_vs_vit.errors import CnnvitError

_IDX_UBYTE = 0x08  # idx type code of unsigned bytes, the only one MNIST-style files use


def read_cifar_batch(path: Path) -> dict[str, Any]:
    """One CIFAR pickle (a batch or a meta file) as a dict with str keys (the files use bytes keys)."""
    try:
        with open(path, "rb") as file:
            # encoding="bytes": the official files were pickled by Python 2, their keys and names are bytes.
            content = _NumpyOnlyUnpickler(file, encoding="bytes").load()
    except Exception as error:  # damaged pickles fail with almost any exception type (KeyError, IndexError...)
        raise CnnvitError(f"{path} is not a readable CIFAR pickle ({error}); delete it and pass --download") from error
    if not isinstance(content, dict):
        raise CnnvitError(f"{path} is not a CIFAR pickle (holds a {type(content).__name__}, not a dict)")
    return {key.decode() if isinstance(key, bytes) else key: value for key, value in content.items()}


def cifar_images_and_labels(batch: dict[str, Any], label_key: str, path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 (N, 3, 32, 32) images and int64 (N,) labels of a CIFAR batch read from `path`.

    Each row of "data" is 3072 bytes: the red 32x32 plane, then green, then blue, each row-major.
    """
    if "data" not in batch or label_key not in batch:
        raise CnnvitError(f"{path} is not a CIFAR batch: it lacks the data or {label_key} entry")
    data = np.asarray(batch["data"], dtype=np.uint8)
    labels = np.asarray(batch[label_key], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise CnnvitError(f"{path} is not a CIFAR batch: data has shape {data.shape} for {len(labels)} labels")
    return torch.from_numpy(data.reshape(-1, 3, 32, 32).copy()), torch.from_numpy(labels)


def cifar_class_names(meta: dict[str, Any], key: str, path: Path) -> tuple[str, ...]:
    """The class names stored under `key` in a CIFAR meta pickle, in label order."""
    if key not in meta:
        raise CnnvitError(f"{path} is not a CIFAR meta file: it lacks {key}")
    return tuple(name.decode() if isinstance(name, bytes) else str(name) for name in meta[key])


def read_idx(path: Path) -> torch.Tensor:
    """An idx file of unsigned bytes (plain or .gz) as a uint8 tensor of the shape its header gives.

    Layout: two zero bytes, the type code 0x08, the number of dimensions, each dimension as a
    big-endian uint32, then the values row-major.
    """
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as file:
            raw = file.read()
    except (OSError, EOFError) as error:
        raise CnnvitError(f"cannot read {path} ({error}); delete it and pass --download") from error
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] != _IDX_UBYTE:
        raise CnnvitError(f"{path} is not an idx file of unsigned bytes (bad header); delete it and pass --download")
    ndim = raw[3]
    header_size = 4 + 4 * ndim
    shape = struct.unpack(f">{ndim}I", raw[4:header_size]) if len(raw) >= header_size else ()
    if len(raw) < header_size or len(raw) - header_size != math.prod(shape):
        raise CnnvitError(f"{path} is truncated or padded: its size does not match its idx header")
    return torch.from_numpy(np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(shape).copy())


def read_svhn_mat(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 (N, 3, 32, 32) images and int64 (N,) digit labels of an SVHN .mat file.

    The file holds X as (32, 32, 3, N) and y as (N, 1) with digit 0 stored as label 10
    (mapped back to 0 here, as torchvision does).
    """
    import scipy.io  # deferred: only SVHN needs scipy, which costs half a second to import

    try:
        content = scipy.io.loadmat(path)
    except (OSError, ValueError, TypeError, scipy.io.matlab.MatReadError) as error:
        raise CnnvitError(f"{path} is not a readable .mat file ({error}); delete it and pass --download") from error
    if "X" not in content or "y" not in content:
        raise CnnvitError(f"{path} is not an SVHN file: it lacks the X or y array")
    images, labels = np.asarray(content["X"]), np.asarray(content["y"]).reshape(-1).astype(np.int64)
    if images.ndim != 4 or images.shape[2] != 3 or images.shape[3] != len(labels):
        raise CnnvitError(f"{path} is not an SVHN file: X has shape {images.shape} for {len(labels)} labels")
    labels[labels == 10] = 0
    images = images.astype(np.uint8).transpose(3, 2, 0, 1)  # (H, W, C, N) -> (N, C, H, W)
    return torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(labels)


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays and refuses every other global.

    Unpickling may call any function a file names; a CIFAR file only ever needs these.
    """

    _ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("_codecs", "encode"),  # how Python 3 pickles the raw bytes of an array at protocol 2
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}, which a CIFAR file never contains")
        return super().find_class(module, name)
