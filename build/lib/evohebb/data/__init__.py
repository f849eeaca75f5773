"""Image data sets read from disk (CIFAR-10/100 pickles, MNIST/Fashion-MNIST idx) and continual-learning splits."""

from evohebb.data.cifar import load_cifar10, load_cifar100
from evohebb.data.data_dir import DATA_DIR_ENV_VAR, DEFAULT_DATA_DIR, resolve_data_dir
from evohebb.data.dataset_registry import DATASETS, DatasetEntry, load_dataset
from evohebb.data.errors import DatasetFormatError, DatasetNotFoundError
from evohebb.data.image_dataset import ImageDataset
from evohebb.data.mnist import load_idx_dataset, read_idx
from evohebb.data.task_splits import TaskSplit, class_subset, task_splits

__all__ = [
    "DATASETS",
    "DatasetEntry",
    "DATA_DIR_ENV_VAR",
    "DEFAULT_DATA_DIR",
    "DatasetFormatError",
    "DatasetNotFoundError",
    "ImageDataset",
    "TaskSplit",
    "class_subset",
    "load_cifar10",
    "load_cifar100",
    "load_dataset",
    "load_idx_dataset",
    "read_idx",
    "resolve_data_dir",
    "task_splits",
]
