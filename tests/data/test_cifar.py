"""CIFAR loaders on tiny files written in the exact python-pickle format of the real archives."""

import pathlib
import pickle
import struct

import numpy as np
import pytest
import torch

from evohebb.data import DatasetFormatError, DatasetNotFoundError, load_dataset

CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _rows(n, seed):
    return np.random.default_rng(seed).integers(0, 256, size=(n, 3072), dtype=np.uint8)


def _dump(path, obj, protocol=2):
    with open(path, "wb") as handle:
        pickle.dump(obj, handle, protocol=protocol)


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


def _py2(obj) -> bytes:
    """``obj`` pickled as python 2's cPickle wrote the original CIFAR files (protocol 2, str as SHORT_BINSTRING /
    BINSTRING, arrays through ``numpy.core.multiarray._reconstruct``), opcode by opcode."""
    if isinstance(obj, bytes):
        return (b"U" + bytes([len(obj)]) if len(obj) < 256 else b"T" + struct.pack("<I", len(obj))) + obj
    if isinstance(obj, int):
        return b"K" + bytes([obj]) if 0 <= obj < 256 else b"J" + struct.pack("<i", obj)
    if isinstance(obj, list):
        return b"](" + b"".join(_py2(x) for x in obj) + b"e"
    if isinstance(obj, dict):
        return b"}(" + b"".join(_py2(k) + _py2(v) for k, v in obj.items()) + b"u"
    assert isinstance(obj, np.ndarray) and obj.dtype == np.uint8 and obj.ndim == 2
    dtype = (b"cnumpy\ndtype\n" + _py2(b"u1") + b"K\x00K\x01\x87R(K\x03" + _py2(b"|")
             + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb")
    return (b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85" + _py2(b"b") + b"\x87R(K\x01"
            + b"J" + struct.pack("<i", obj.shape[0]) + b"J" + struct.pack("<i", obj.shape[1]) + b"\x86"
            + dtype + b"\x89" + _py2(obj.tobytes()) + b"tb")


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_any_pickle_protocol_of_the_format_is_read(tmp_path, protocol):
    write_cifar10(tmp_path)
    rows = np.asfortranarray(_rows(4, 3))   # a Fortran-ordered array too
    _dump(tmp_path / "cifar-10-batches-py" / "test_batch", {"data": rows, "labels": [3, 2, 1, 0]}, protocol)
    test = load_dataset("cifar10", train=False, data_dir=tmp_path)
    assert torch.equal(test.images.reshape(4, -1), torch.from_numpy(np.ascontiguousarray(rows)))
    assert test.labels.tolist() == [3, 2, 1, 0]


def test_python2_original_format_is_read(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    meta = {b"fine_label_names": [f"fine{i}".encode() for i in range(100)],
            b"coarse_label_names": [f"coarse{i}".encode() for i in range(20)]}
    (folder / "meta").write_bytes(b"\x80\x02" + _py2(meta) + b".")
    for seed, name in enumerate(["train", "test"]):
        rows = _rows(3, seed)
        batch = {b"filenames": [b"a.png"] * 3, b"batch_label": name.encode(), b"fine_labels": [99, 0, 7],
                 b"coarse_labels": [19, 0, 1], b"data": rows}
        (folder / name).write_bytes(b"\x80\x02" + _py2(batch) + b".")
    train = load_dataset("cifar100", data_dir=tmp_path)
    assert torch.equal(train.images.reshape(3, -1), torch.from_numpy(_rows(3, 0)))
    assert train.labels.tolist() == [99, 0, 7] and train.classes[99] == "fine99"


class _Payload:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.target),))


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_cifar_pickle_that_could_run_code_is_refused(tmp_path, protocol):
    write_cifar10(tmp_path)
    batch = tmp_path / "cifar-10-batches-py" / "test_batch"
    target = tmp_path / "payload-ran"
    with open(batch, "wb") as handle:
        pickle.dump({b"data": _rows(4, 0), b"labels": [0, 1, 2, 3], b"trap": _Payload(target)}, handle,
                    protocol=protocol)
    with pytest.raises(DatasetFormatError) as caught:
        load_dataset("cifar10", train=False, data_dir=tmp_path)
    message = str(caught.value)
    assert str(batch) in message and "the pickle names" in message and "could run code" in message
    assert not target.exists()


@pytest.mark.parametrize("data, what", [
    (np.zeros((4, 3072), dtype=np.float32), "dtype"),
    (np.array([[b"x"] * 3072] * 4, dtype=object), "dtype"),
])
def test_arrays_other_than_uint8_are_refused(tmp_path, data, what):
    write_cifar10(tmp_path)
    _dump(tmp_path / "cifar-10-batches-py" / "test_batch", {b"data": data, b"labels": [0, 1, 2, 3]})
    with pytest.raises(DatasetFormatError, match=what):
        load_dataset("cifar10", train=False, data_dir=tmp_path)
