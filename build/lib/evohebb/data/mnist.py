"""MNIST and Fashion-MNIST in the idx format, gzipped or not, in torchvision's layout::

    <root>/MNIST/raw/{train-images-idx3-ubyte, train-labels-idx1-ubyte,
                      t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte}[.gz]
    <root>/FashionMNIST/raw/...same names...

An idx file starts with the magic number ``0x00 0x00 <type> <ndim>`` (type 0x08 = unsigned byte), then ``ndim``
big-endian int32 sizes, then the data in row-major order.
"""

from __future__ import annotations

import gzip
import logging
import os
from pathlib import Path

import numpy as np
import torch

from evohebb.data.data_dir import data_dir_origin, resolve_data_dir
from evohebb.data.errors import DatasetFormatError, DatasetNotFoundError, missing_files_error
from evohebb.data.image_dataset import ImageDataset

logger = logging.getLogger(__name__)

_DIGIT_NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
MNIST_CLASSES = [f"{i} - {w}" for i, w in enumerate(_DIGIT_NAMES)]
FASHION_MNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip

# name -> (folder under the root, class names, where to get the files, torchvision class for download)
IDX_DATASETS = {
    "mnist": ("MNIST", MNIST_CLASSES, "https://ossci-datasets.s3.amazonaws.com/mnist/", "MNIST"),
    "fashion_mnist": (
        "FashionMNIST",
        FASHION_MNIST_CLASSES,
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "FashionMNIST",
    ),
}

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
               0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}  # fmt: skip


def idx_file_names(train: bool) -> tuple[str, str]:
    """The images and labels file names (without ``.gz``) of the train or test split."""
    prefix = "train" if train else "t10k"
    return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one idx file (``.gz`` is decompressed) into an array of its stored shape and dtype."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            content = handle.read()
    except (OSError, EOFError) as error:  # gzip.BadGzipFile is an OSError
        raise DatasetFormatError(f"{path} cannot be read ({error}); replace the file") from error
    if len(content) < 4 or content[0] != 0 or content[1] != 0 or content[2] not in _IDX_DTYPES:
        raise DatasetFormatError(f"{path} is not an idx file (magic number {content[:4].hex()})")
    dtype, ndim = np.dtype(_IDX_DTYPES[content[2]]), content[3]
    header = 4 + 4 * ndim
    shape = tuple(int(s) for s in np.frombuffer(content, dtype=">i4", count=ndim, offset=4))
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(content) - header != expected:
        raise DatasetFormatError(
            f"{path}: header says shape {shape} ({expected} bytes) but {len(content) - header} bytes follow"
        )
    return np.frombuffer(content, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def load_idx_dataset(
    name: str, train: bool = True, data_dir: str | os.PathLike | None = None, download: bool = False
) -> ImageDataset:
    """MNIST-style data set ``name`` (``mnist`` or ``fashion_mnist``): ``uint8 [N, 1, 28, 28]``, 10 classes."""
    if name not in IDX_DATASETS:
        raise ValueError(f"idx data set {name!r} is unknown; allowed: {sorted(IDX_DATASETS)}")
    folder_name, classes, url, torchvision_class = IDX_DATASETS[name]
    root = resolve_data_dir(data_dir)
    folder = root / folder_name / "raw"
    names = idx_file_names(train)
    paths = [_find_idx(folder, n) for n in names]
    if any(p is None for p in paths) and download:
        logger.info("%s: files missing in %s; downloading", name, folder)
        _download(torchvision_class, root, train)
        paths = [_find_idx(folder, n) for n in names]
    if any(p is None for p in paths):
        missing = [f"{n}[.gz]" for n, p in zip(names, paths) if p is None]
        get_it = f"Get {', '.join(n + '.gz' for n in names)} from {url} (gzipped or not, both are read)."
        raise missing_files_error(
            name,
            folder,
            missing,
            [f"{n}[.gz]" for n in (*idx_file_names(True), *idx_file_names(False))],
            get_it,
            data_dir_origin(data_dir),
        )
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DatasetFormatError(
            f"{folder}: images shape {images.shape} and labels shape {labels.shape} do not match "
            "([N, H, W] images with [N] labels expected)"
        )
    split = "train" if train else "test"
    logger.info("loaded %s %s: %d images from %s", name, split, len(labels), folder)
    return ImageDataset(
        torch.from_numpy(images.astype(np.uint8)).unsqueeze(1),
        torch.from_numpy(labels.astype(np.int64)),
        list(classes),
        f"{name}-{split}",
    )


def _find_idx(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _download(torchvision_class: str, root: Path, train: bool) -> None:
    from evohebb.torchvision_import import import_torchvision

    root.mkdir(parents=True, exist_ok=True)
    try:
        getattr(import_torchvision().datasets, torchvision_class)(str(root), train=train, download=True)
    except Exception as error:  # network errors come in many types; report them with the fix
        raise DatasetNotFoundError(
            f"Downloading {torchvision_class} into {root} failed ({type(error).__name__}: {error}). "
            f"Without a network, put the idx files there by hand (see the error without download=True)."
        ) from error
