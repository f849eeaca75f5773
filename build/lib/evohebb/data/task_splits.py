"""Class subsets and class-incremental task splits for continual learning."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from evohebb.data.image_dataset import ImageDataset


@dataclass
class TaskSplit:
    """One task of a class-incremental stream: its index, its classes (original labels) and its samples."""

    task: int
    classes: list[int]
    dataset: ImageDataset


def class_subset(dataset: ImageDataset, classes: Sequence[int], relabel: bool = False) -> ImageDataset:
    """The samples of ``dataset`` whose label is in ``classes``.

    With ``relabel=False`` labels and class names stay global; with ``relabel=True`` label ``classes[i]``
    becomes ``i`` and ``classes`` (names) lists only the kept classes, in that order.
    """
    classes = [int(c) for c in classes]
    bad = [c for c in classes if not 0 <= c < dataset.n_classes]
    if bad:
        raise ValueError(
            f"classes {bad} are not labels of {dataset.name} (allowed: 0..{dataset.n_classes - 1})"
        )
    if len(set(classes)) != len(classes):
        raise ValueError(f"classes must not repeat, got {classes}")
    wanted = torch.tensor(classes, dtype=torch.int64)
    mask = torch.isin(dataset.labels, wanted)
    subset = dataset.subset(mask)
    if not relabel:
        return subset
    mapping = torch.full((dataset.n_classes,), -1, dtype=torch.int64)
    mapping[wanted] = torch.arange(len(classes))
    return ImageDataset(
        subset.images, mapping[subset.labels], [dataset.classes[c] for c in classes], subset.name
    )


def task_splits(
    dataset: ImageDataset,
    n_tasks: int,
    classes_per_task: int | None = None,
    class_order: Sequence[int] | None = None,
    seed: int | None = None,
    relabel: bool = False,
) -> list[TaskSplit]:
    """Split ``dataset`` into ``n_tasks`` disjoint tasks of ``classes_per_task`` classes each (class-incremental).

    Classes are taken in ``class_order`` if given, else shuffled with ``seed`` if given, else in label order;
    ``classes_per_task`` defaults to ``n_classes // n_tasks``. ``relabel`` as in :func:`class_subset`.
    """
    n_classes = dataset.n_classes
    if not isinstance(n_tasks, int) or n_tasks < 1:
        raise ValueError(f"n_tasks must be a positive int, got {n_tasks!r}")
    if class_order is not None and seed is not None:
        raise ValueError("give class_order or seed (to shuffle the classes), not both")
    if class_order is not None:
        order = [int(c) for c in class_order]
        if sorted(order) != sorted(set(order)) or not all(0 <= c < n_classes for c in order):
            raise ValueError(f"class_order must hold distinct labels in 0..{n_classes - 1}, got {order}")
    elif seed is not None:
        order = np.random.default_rng(seed).permutation(n_classes).tolist()
    else:
        order = list(range(n_classes))
    if classes_per_task is None:
        classes_per_task = len(order) // n_tasks
    if classes_per_task < 1 or n_tasks * classes_per_task > len(order):
        raise ValueError(
            f"n_tasks={n_tasks} × classes_per_task={classes_per_task} needs {n_tasks * classes_per_task} classes, "
            f"but {len(order)} are available (allowed: 1 <= n_tasks × classes_per_task <= {len(order)})"
        )
    splits = []
    for task in range(n_tasks):
        classes = order[task * classes_per_task : (task + 1) * classes_per_task]
        splits.append(TaskSplit(task, classes, class_subset(dataset, classes, relabel=relabel)))
    return splits
