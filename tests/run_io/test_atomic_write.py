import json

import numpy as np
import pytest
import torch

from evohebb.run_io import atomic_write_bytes, atomic_write_json, atomic_write_text
from evohebb.run_io.atomic_write import atomic_write_stream


def test_writes_replace_content_and_leave_no_temp_files(tmp_path):
    path = tmp_path / "a.bin"
    atomic_write_bytes(path, b"one")
    atomic_write_bytes(path, b"two")
    assert path.read_bytes() == b"two"
    atomic_write_text(tmp_path / "t.txt", "héllo")
    assert (tmp_path / "t.txt").read_text(encoding="utf-8") == "héllo"
    atomic_write_json(tmp_path / "r.json", {"x": torch.tensor(1.5), "y": np.arange(3), "z": np.float32(2)})
    assert json.loads((tmp_path / "r.json").read_text()) == {"x": 1.5, "y": [0, 1, 2], "z": 2.0}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "r.json", "t.txt"]


def test_failed_write_keeps_old_content_and_removes_temp(tmp_path):
    path = tmp_path / "a.bin"
    atomic_write_bytes(path, b"old")

    def failing(file):
        file.write(b"partial")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write_stream(path, failing)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]
