"""Class subsets and class-incremental splits on a synthetic data set."""

import pytest
import torch

from evohebb.data import ImageDataset, class_subset, task_splits


def dataset(n_classes=10, per_class=3):
    labels = torch.arange(n_classes).repeat_interleave(per_class)
    images = labels.view(-1, 1, 1, 1).expand(-1, 1, 2, 2).to(torch.uint8).clone()
    return ImageDataset(images, labels, [f"c{i}" for i in range(n_classes)], "toy")


def test_class_subset_keeps_or_relabels():
    data = dataset()
    kept = class_subset(data, [7, 2])
    assert sorted(set(kept.labels.tolist())) == [2, 7] and len(kept) == 6 and kept.classes == data.classes
    relabelled = class_subset(data, [7, 2], relabel=True)
    assert relabelled.classes == ["c7", "c2"]
    assert torch.equal(relabelled.labels, torch.tensor([1, 1, 1, 0, 0, 0]))  # samples keep dataset order
    assert relabelled.images[relabelled.labels == 0].unique().tolist() == [7]
    with pytest.raises(ValueError, match="not labels"):
        class_subset(data, [10])


def test_task_splits_default_seeded_and_ordered():
    data = dataset()
    splits = task_splits(data, 5)
    assert [s.classes for s in splits] == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]
    assert all(len(s.dataset) == 6 and set(s.dataset.labels.tolist()) == set(s.classes) for s in splits)
    seeded = [s.classes for s in task_splits(data, 3, classes_per_task=3, seed=4)]
    assert seeded == [s.classes for s in task_splits(data, 3, classes_per_task=3, seed=4)]
    flat = [c for classes in seeded for c in classes]
    assert len(set(flat)) == 9
    ordered = task_splits(data, 2, class_order=[9, 8, 7, 6, 5, 4, 3, 2, 1, 0], relabel=True)
    assert ordered[1].classes == [4, 3, 2, 1, 0] and ordered[1].dataset.classes == [
        "c4",
        "c3",
        "c2",
        "c1",
        "c0",
    ]
    assert set(ordered[1].dataset.labels.tolist()) == {0, 1, 2, 3, 4}
    with pytest.raises(ValueError, match="classes_per_task"):
        task_splits(data, 4, classes_per_task=3)
    with pytest.raises(ValueError, match="not both"):
        task_splits(data, 2, class_order=list(range(10)), seed=1)


def test_to_float_and_subset():
    data = dataset()
    normalised = data.to_float(mean=[0.5], std=0.25)
    assert normalised.dtype == torch.float32
    assert torch.allclose(normalised[0], torch.full((1, 2, 2), (0 - 0.5) / 0.25))
    assert len(data.subset([0, 5, 6])) == 3
    with pytest.raises(ValueError, match="one per channel"):
        data.to_float(mean=[0.1, 0.2])
