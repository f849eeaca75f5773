"""CIFAR loaders on tiny files written in the exact python-pickle format of the real archives."""

import pickle

import numpy as np
import pytest
import torch

from evohebb.data import DatasetNotFoundError, load_dataset

CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _rows(n, seed):
    return np.random.default_rng(seed).integers(0, 256, size=(n, 3072), dtype=np.uint8)


def _dump(path, obj):
    with open(path, "wb") as handle:
        pickle.dump(obj, handle, protocol=2)


def write_cifar10(root, per_batch=4, skip=()):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    _dump(folder / "batches.meta", {b"label_names": [n.encode() for n in CIFAR10_NAMES], b"num_vis": 3072})
    written = {}
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        rows, labels = _rows(per_batch, i), [(i + j) % 10 for j in range(per_batch)]
        written[name] = (rows, labels)
        if name not in skip:
            _dump(folder / name, {b"batch_label": name.encode(), b"data": rows, b"labels": labels,
                                  b"filenames": [b"x.png"] * per_batch})  # fmt: skip
    return written


def write_cifar100(root, n=6):
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    _dump(folder / "meta", {b"fine_label_names": [f"fine{i}".encode() for i in range(100)],
                            b"coarse_label_names": [f"coarse{i}".encode() for i in range(20)]})  # fmt: skip
    written = {}
    for seed, name in enumerate(["train", "test"]):
        rows, fine = _rows(n, 10 + seed), [(7 * j + seed) % 100 for j in range(n)]
        coarse = [f // 5 for f in fine]
        written[name] = (rows, fine, coarse)
        _dump(folder / name, {b"filenames": [b"x.png"] * n, b"batch_label": name.encode(), b"fine_labels": fine,
                              b"coarse_labels": coarse, b"data": rows})  # fmt: skip
    return written


def test_cifar10_train_and_test(tmp_path):
    written = write_cifar10(tmp_path)
    train = load_dataset("cifar10", train=True, data_dir=tmp_path)
    assert train.images.shape == (20, 3, 32, 32) and train.images.dtype == torch.uint8
    assert train.labels.dtype == torch.int64 and train.classes == CIFAR10_NAMES
    # row layout: 1024 red, 1024 green, 1024 blue values, each a row-major 32×32 plane
    rows, _ = written["data_batch_1"]
    assert torch.equal(train.images[0, 1], torch.from_numpy(rows[0, 1024:2048].reshape(32, 32)))
    assert int(train.images[0, 2, 0, 5]) == rows[0, 2048 + 5]
    expected = [label for k in range(1, 6) for label in written[f"data_batch_{k}"][1]]
    assert train.labels.tolist() == expected
    test = load_dataset("cifar10", train=False, data_dir=tmp_path)
    assert len(test) == 4 and test.labels.tolist() == written["test_batch"][1]
    assert test.to_float().max() <= 1.0 and test.to_float().dtype == torch.float32


def test_cifar100_fine_and_coarse(tmp_path):
    written = write_cifar100(tmp_path)
    fine = load_dataset("cifar100", data_dir=tmp_path)
    assert fine.images.shape == (6, 3, 32, 32) and len(fine.classes) == 100
    assert fine.labels.tolist() == written["train"][1]
    coarse = load_dataset("cifar100", train=False, data_dir=tmp_path, label_type="coarse")
    assert coarse.labels.tolist() == written["test"][2] and coarse.classes[3] == "coarse3"
    assert torch.equal(coarse.images.reshape(6, -1), torch.from_numpy(written["test"][0]))
    with pytest.raises(ValueError, match="label_type"):
        load_dataset("cifar100", data_dir=tmp_path, label_type="medium")


def test_data_dir_from_environment(tmp_path, monkeypatch):
    write_cifar100(tmp_path)
    monkeypatch.setenv("EVOHEBB_DATA", str(tmp_path))
    assert len(load_dataset("cifar100")) == 6


def test_missing_cifar_folder_says_what_to_do(tmp_path):
    with pytest.raises(DatasetNotFoundError) as caught:
        load_dataset("cifar10", data_dir=tmp_path)
    message = str(caught.value)
    assert "not found" in message
    assert str(tmp_path / "cifar-10-batches-py") in message
    for name in ["data_batch_1", "data_batch_5", "test_batch", "batches.meta"]:
        assert name in message
    assert "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz" in message
    assert "download=True" in message and "--download" in message and "--data-dir" in message
    assert isinstance(caught.value, FileNotFoundError)
    with pytest.raises(DatasetNotFoundError, match="cifar-100-python.tar.gz"):
        load_dataset("cifar100", data_dir=tmp_path)


def test_incomplete_cifar_folder_names_the_missing_batch(tmp_path):
    write_cifar10(tmp_path, skip=("data_batch_3",))
    with pytest.raises(DatasetNotFoundError) as caught:
        load_dataset("cifar10", data_dir=tmp_path)
    message = str(caught.value)
    assert "incomplete: missing data_batch_3 in" in message
    assert len(load_dataset("cifar10", train=False, data_dir=tmp_path)) == 4  # the test split is complete


def test_unknown_name_lists_allowed(tmp_path):
    with pytest.raises(ValueError, match="cifar10, cifar100, mnist, fashion_mnist"):
        load_dataset("imagenet", data_dir=tmp_path)
