"""The one data-set table: name -> loader, image shape and number of classes (``cifar10``, ``cifar100``, ``mnist``,
``fashion_mnist``), read by every pipeline (their config choices, input shapes and class counts)."""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable
from dataclasses import dataclass

from evohebb.data.cifar import CIFAR100_LABEL_TYPES, load_cifar10, load_cifar100
from evohebb.data.image_dataset import ImageDataset
from evohebb.data.mnist import load_idx_dataset
from evohebb.registry import Registry

__all__ = ["DATASETS", "DatasetEntry", "load_dataset"]


@dataclass(frozen=True)
class DatasetEntry:
    loader: Callable[..., ImageDataset]   # (train, data_dir, download[, label_type]) -> ImageDataset
    image_shape: tuple[int, int, int]     # C, H, W
    n_classes: int                        # fine labels (CIFAR-100's coarse: 20)
    label_types: tuple[str, ...] = ("fine",)

    @property
    def pixels(self) -> int:
        return math.prod(self.image_shape)


DATASETS: Registry[DatasetEntry] = Registry("data set")
DATASETS.register("cifar10")(DatasetEntry(load_cifar10, (3, 32, 32), 10))
DATASETS.register("cifar100")(DatasetEntry(load_cifar100, (3, 32, 32), 100, CIFAR100_LABEL_TYPES))
DATASETS.register("mnist")(DatasetEntry(functools.partial(load_idx_dataset, "mnist"), (1, 28, 28), 10))
DATASETS.register("fashion_mnist")(DatasetEntry(functools.partial(load_idx_dataset, "fashion_mnist"), (1, 28, 28), 10))


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
    if key not in DATASETS:
        raise ValueError(f"data set name {name!r} is unknown; allowed: {', '.join(DATASETS)}")
    entry = DATASETS[key]
    if label_type not in entry.label_types:
        raise ValueError(f"label_type={label_type!r} is not a label type of {name}; allowed: "
                         f"{', '.join(entry.label_types)}")
    if len(entry.label_types) > 1:
        return entry.loader(train, data_dir, download, label_type)
    return entry.loader(train=train, data_dir=data_dir, download=download)
