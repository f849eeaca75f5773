"""Load an image data set by name: ``cifar10``, ``cifar100``, ``mnist``, ``fashion_mnist``."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable

from evohebb.data.cifar import CIFAR100_LABEL_TYPES, load_cifar10, load_cifar100
from evohebb.data.image_dataset import ImageDataset
from evohebb.data.mnist import load_idx_dataset

DATASET_LOADERS: dict[str, Callable[..., ImageDataset]] = {
    "cifar10": load_cifar10,
    "cifar100": load_cifar100,
    "mnist": functools.partial(load_idx_dataset, "mnist"),
    "fashion_mnist": functools.partial(load_idx_dataset, "fashion_mnist"),
}


def load_dataset(
    name: str,
    train: bool = True,
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
    label_type: str = "fine",
) -> ImageDataset:
    """Load data set ``name`` from the resolved data folder; ``label_type`` (fine|coarse) applies to CIFAR-100.

    Raises :class:`~evohebb.data.errors.DatasetNotFoundError` saying which files to put where when it is missing.
    """
    key = name.lower().replace("-", "_")
    if key not in DATASET_LOADERS:
        raise ValueError(f"data set name {name!r} is unknown; allowed: {', '.join(DATASET_LOADERS)}")
    if key == "cifar100":
        return load_cifar100(train, data_dir, download, label_type)
    if label_type != "fine":
        raise ValueError(
            f"label_type={label_type!r} applies only to cifar100 ({CIFAR100_LABEL_TYPES}); {name} has one label type"
        )
    return DATASET_LOADERS[key](train=train, data_dir=data_dir, download=download)
