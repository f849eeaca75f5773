"""idx loaders on tiny files in the exact idx format (gzipped and not), and on the real MNIST when present."""

import gzip
import os
import struct

import numpy as np
import pytest
import torch

from evohebb.data import DatasetFormatError, DatasetNotFoundError, load_dataset, read_idx


def idx_bytes(array: np.ndarray) -> bytes:
    magic = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    return magic + struct.pack(f">{array.ndim}i", *array.shape) + array.astype(np.uint8).tobytes()


def write_idx_split(folder, prefix, n, gz, seed):
    rng = np.random.default_rng(seed)
    images, labels = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n, dtype=np.uint8)
    for kind, array in (("images-idx3-ubyte", images), ("labels-idx1-ubyte", labels)):
        path = folder / f"{prefix}-{kind}"
        if gz:
            with gzip.open(f"{path}.gz", "wb") as handle:
                handle.write(idx_bytes(array))
        else:
            path.write_bytes(idx_bytes(array))
    return images, labels


@pytest.mark.parametrize("name,folder", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_idx_gzipped_and_plain(tmp_path, name, folder):
    raw = tmp_path / folder / "raw"
    raw.mkdir(parents=True)
    train_images, train_labels = write_idx_split(raw, "train", 7, gz=True, seed=0)
    test_images, test_labels = write_idx_split(raw, "t10k", 5, gz=False, seed=1)
    train = load_dataset(name, data_dir=tmp_path)
    assert train.images.shape == (7, 1, 28, 28) and train.images.dtype == torch.uint8
    assert train.labels.dtype == torch.int64 and len(train.classes) == 10
    assert torch.equal(train.images[:, 0], torch.from_numpy(train_images))
    assert train.labels.tolist() == train_labels.tolist()
    test = load_dataset(name, train=False, data_dir=tmp_path)
    assert torch.equal(test.images[:, 0], torch.from_numpy(test_images))
    assert test.labels.tolist() == test_labels.tolist()


def test_bad_magic_and_missing_files(tmp_path):
    bad = tmp_path / "bad-idx"
    bad.write_bytes(b"\x01\x02\x08\x01" + b"\x00" * 8)
    with pytest.raises(DatasetFormatError, match="not an idx file"):
        read_idx(bad)
    truncated = tmp_path / "short-idx"
    truncated.write_bytes(idx_bytes(np.zeros((3, 2, 2), np.uint8))[:-1])
    with pytest.raises(DatasetFormatError, match="bytes follow"):
        read_idx(truncated)
    with pytest.raises(DatasetNotFoundError) as caught:
        load_dataset("mnist", data_dir=tmp_path)
    message = str(caught.value)
    assert str(tmp_path / "MNIST" / "raw") in message and "train-images-idx3-ubyte" in message
    assert "https://" in message and "download=True" in message
    with pytest.raises(ValueError, match="label_type"):
        load_dataset("mnist", data_dir=tmp_path, label_type="coarse")


def test_real_mnist():
    root = os.environ.get("EVOHEBB_DATA")
    if not root or not os.path.isdir(os.path.join(root, "MNIST", "raw")):
        pytest.skip(
            "real MNIST not available: set EVOHEBB_DATA to a folder holding MNIST/raw/*-idx*-ubyte[.gz]"
        )
    train, test = load_dataset("mnist", train=True), load_dataset("mnist", train=False)
    assert train.images.shape == (60000, 1, 28, 28) and test.images.shape == (10000, 1, 28, 28)
    for split in (train, test):
        counts = torch.bincount(split.labels, minlength=10)
        assert counts.numel() == 10
        assert (counts > 0.08 * len(split)).all() and (counts < 0.12 * len(split)).all()
    assert int(train.images.max()) == 255 and int(train.images.min()) == 0
    assert 0.1 < float(train.images.float().mean()) / 255 < 0.15  # MNIST mean ≈ 0.1307
