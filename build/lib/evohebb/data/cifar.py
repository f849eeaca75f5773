"""CIFAR-10 and CIFAR-100 in their python pickle format (the ``*-python.tar.gz`` archives, extracted).

Layout under the data root (as torchvision writes it)::

    <root>/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}
    <root>/cifar-100-python/{train, test, meta}

Each batch is a pickled dict with ``data`` (uint8 ``[N, 3072]``, the red, green, blue planes of a 32×32 image
in row-major order) and ``labels`` (CIFAR-10) or ``fine_labels`` / ``coarse_labels`` (CIFAR-100); the meta files
hold ``label_names`` resp. ``fine_label_names`` / ``coarse_label_names``. Keys are bytes in the original
files (python 2 pickles); str keys are accepted too.

The pickles are read with :func:`evohebb.data.restricted_pickle.load_restricted_pickle`, which admits only
what this format holds (dicts, lists, bytes/str, numbers and uint8 numpy arrays), so a doctored file cannot
run code: one that names anything else is refused with a :class:`DatasetFormatError` naming the file.
"""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from evohebb.data.data_dir import data_dir_origin, resolve_data_dir
from evohebb.data.errors import DatasetFormatError, DatasetNotFoundError, missing_files_error
from evohebb.data.image_dataset import ImageDataset
from evohebb.data.restricted_pickle import RestrictedPickleError, load_restricted_pickle

logger = logging.getLogger(__name__)

CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_TRAIN_FILES = [f"data_batch_{i}" for i in range(1, 6)]
CIFAR10_TEST_FILES = ["test_batch"]
CIFAR10_META_FILE = "batches.meta"
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"

CIFAR100_FOLDER = "cifar-100-python"
CIFAR100_META_FILE = "meta"
CIFAR100_URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"

CIFAR100_LABEL_TYPES = ("fine", "coarse")


def load_cifar10(
    train: bool = True, data_dir: str | os.PathLike | None = None, download: bool = False
) -> ImageDataset:
    """CIFAR-10 train (50 000) or test (10 000) images, ``uint8 [N, 3, 32, 32]``, 10 classes."""
    root = resolve_data_dir(data_dir)
    folder = root / CIFAR10_FOLDER
    batch_files = CIFAR10_TRAIN_FILES if train else CIFAR10_TEST_FILES
    needed = [*batch_files, CIFAR10_META_FILE]
    all_files = [*CIFAR10_TRAIN_FILES, *CIFAR10_TEST_FILES, CIFAR10_META_FILE]
    _ensure_files(
        "CIFAR-10",
        folder,
        needed,
        all_files,
        CIFAR10_URL,
        data_dir,
        download,
        lambda: _download("CIFAR10", root, train),
    )
    names = _decode_names(
        _key(_read_pickle(folder / CIFAR10_META_FILE), "label_names", folder / CIFAR10_META_FILE)
    )
    images, labels = [], []
    for file in batch_files:
        batch = _read_pickle(folder / file)
        images.append(_images_from_rows(_key(batch, "data", folder / file), folder / file))
        labels.append(_labels(_key(batch, "labels", folder / file), len(images[-1]), folder / file))
    split = "train" if train else "test"
    logger.info("loaded CIFAR-10 %s: %d images from %s", split, sum(len(x) for x in labels), folder)
    return ImageDataset(torch.cat(images), torch.cat(labels), names, f"cifar10-{split}")


def load_cifar100(
    train: bool = True,
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
    label_type: str = "fine",
) -> ImageDataset:
    """CIFAR-100 train (50 000) or test (10 000) images with 100 ``fine`` or 20 ``coarse`` classes."""
    if label_type not in CIFAR100_LABEL_TYPES:
        raise ValueError(
            f"label_type={label_type!r} is not allowed for CIFAR-100; use one of {CIFAR100_LABEL_TYPES}"
        )
    root = resolve_data_dir(data_dir)
    folder = root / CIFAR100_FOLDER
    file = "train" if train else "test"
    needed = [file, CIFAR100_META_FILE]
    _ensure_files(
        "CIFAR-100",
        folder,
        needed,
        ["train", "test", CIFAR100_META_FILE],
        CIFAR100_URL,
        data_dir,
        download,
        lambda: _download("CIFAR100", root, train),
    )
    meta_path = folder / CIFAR100_META_FILE
    names = _decode_names(_key(_read_pickle(meta_path), f"{label_type}_label_names", meta_path))
    batch = _read_pickle(folder / file)
    images = _images_from_rows(_key(batch, "data", folder / file), folder / file)
    labels = _labels(_key(batch, f"{label_type}_labels", folder / file), len(images), folder / file)
    logger.info("loaded CIFAR-100 %s (%s labels): %d images from %s", file, label_type, len(labels), folder)
    return ImageDataset(images, labels, names, f"cifar100-{label_type}-{file}")


def _ensure_files(dataset, folder: Path, needed, all_files, url, data_dir, download, fetch) -> None:
    missing = [name for name in needed if not (folder / name).is_file()]
    if not missing:
        return
    if download:
        logger.info("%s: %s missing in %s; downloading", dataset, ", ".join(missing), folder)
        fetch()
        missing = [name for name in needed if not (folder / name).is_file()]
        if not missing:
            return
    archive = url.rsplit("/", 1)[-1]
    get_it = (
        f"Get the python version of {dataset} from {url} and extract it into {folder.parent} "
        f"(tar xzf {archive} -C {folder.parent}), which creates {folder.name}/."
    )
    raise missing_files_error(dataset, folder, missing, all_files, get_it, data_dir_origin(data_dir))


def _download(torchvision_class: str, root: Path, train: bool) -> None:
    """Fetch and extract with torchvision's dataset download (needs a network)."""
    from evohebb.torchvision_import import import_torchvision

    datasets = import_torchvision().datasets
    root.mkdir(parents=True, exist_ok=True)
    try:
        getattr(datasets, torchvision_class)(str(root), train=train, download=True)
    except Exception as error:  # network errors come in many types; report them with the fix
        raise DatasetNotFoundError(
            f"Downloading {torchvision_class} into {root} failed ({type(error).__name__}: {error}). "
            f"Without a network, put the extracted files there by hand (see the error without download=True)."
        ) from error


def _read_pickle(path: Path) -> dict:
    try:
        content = load_restricted_pickle(path, encoding="bytes")
    except RestrictedPickleError as error:
        raise DatasetFormatError(
            f"{path} is refused: {error}. A CIFAR python pickle holds only dicts, lists, bytes, numbers and "
            f"uint8 arrays; replace the file with one extracted from the official archive"
        ) from error
    except (pickle.UnpicklingError, EOFError, ValueError) as error:
        raise DatasetFormatError(
            f"{path} is not a CIFAR python pickle ({error}); re-extract the archive"
        ) from error
    if not isinstance(content, dict):
        raise DatasetFormatError(
            f"{path} holds a {type(content).__name__}, expected the CIFAR dict of arrays"
        )
    return {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in content.items()}


def _key(content: dict, key: str, path: Path) -> Any:
    if key not in content:
        raise DatasetFormatError(
            f"{path} has no key {key!r} (keys: {sorted(content)}); is it the right file?"
        )
    return content[key]


def _decode_names(names) -> list[str]:
    return [n.decode("latin1") if isinstance(n, bytes) else str(n) for n in names]


def _images_from_rows(rows, path: Path) -> torch.Tensor:
    array = np.asarray(rows, dtype=np.uint8)
    if array.ndim != 2 or array.shape[1] != 3 * 32 * 32:
        raise DatasetFormatError(f"{path}: 'data' has shape {array.shape}, expected [N, 3072]")
    return torch.from_numpy(array.reshape(-1, 3, 32, 32).copy())


def _labels(values, count: int, path: Path) -> torch.Tensor:
    labels = torch.as_tensor(np.asarray(values, dtype=np.int64))
    if labels.dim() != 1 or len(labels) != count:
        raise DatasetFormatError(f"{path}: {len(labels)} labels for {count} images")
    return labels
