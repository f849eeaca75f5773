import logging
import pathlib
import pickle
import random

import numpy as np
import pytest
import torch

from evohebb.run_io import (
    CheckpointError,
    CheckpointManager,
    UnsafeCheckpointError,
    capture_rng_state,
    restore_rng_state,
)


def _state(step):
    return {"step": step, "weights": torch.full((64,), float(step))}


def test_truncated_newest_checkpoint_falls_back_with_warning(tmp_path, caplog):
    manager = CheckpointManager(tmp_path)
    for step in (1, 2, 3):
        manager.save(_state(step), step)
    newest = manager.checkpoint_paths()[-1]
    data = newest.read_bytes()
    newest.write_bytes(data[: len(data) // 2])

    with caplog.at_level(logging.WARNING, logger="evohebb.run_io.checkpoints"):
        state = manager.load_latest()
    assert state["step"] == 2 and torch.equal(state["weights"], torch.full((64,), 2.0))
    assert any(
        newest.name in record.getMessage() for record in caplog.records if record.levelno == logging.WARNING
    )

    for path in manager.checkpoint_paths():
        path.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="none of the 3 checkpoints"):
        manager.load_latest()


def test_empty_directory_returns_none(tmp_path):
    manager = CheckpointManager(tmp_path / "ckpts")
    assert manager.load_latest() is None and manager.load_best() is None
    assert manager.checkpoint_paths() == []


def test_keep_last_pruning_and_resume_rewind(tmp_path):
    manager = CheckpointManager(tmp_path, keep_last=2)
    for step in range(5):
        manager.save(_state(step), step)
    assert [p.name for p in manager.checkpoint_paths()] == ["ckpt-00000003.pt", "ckpt-00000004.pt"]
    # a run resumed from step 3 saves step 3 again: the abandoned newer checkpoint (step 4) is dropped
    manager.save(_state(3), 3)
    assert [p.name for p in manager.checkpoint_paths()] == ["ckpt-00000003.pt"]


@pytest.mark.parametrize(
    "mode, metrics, best_step",
    [
        ("max", [0.1, 0.5, 0.3, 0.5, 0.2], 1),
        ("min", [3.0, 2.0, 2.5, 1.0, float("nan")], 3),
    ],
)
def test_best_tracking(tmp_path, mode, metrics, best_step):
    manager = CheckpointManager(tmp_path, keep_last=1, best_mode=mode)
    for step, metric in enumerate(metrics):
        manager.save(_state(step), step, metric=metric)
    assert manager.load_best()["step"] == best_step  # survives pruning of its step checkpoint
    assert len(manager.checkpoint_paths()) == 1
    # the best value is persisted: a new manager (resumed run) does not take a worse metric for a new best
    reopened = CheckpointManager(tmp_path, keep_last=1, best_mode=mode)
    assert reopened.best_metric == metrics[best_step]
    worse = metrics[best_step] - 1 if mode == "max" else metrics[best_step] + 1
    reopened.save(_state(10), 10, metric=worse)
    assert reopened.load_best()["step"] == best_step
    with pytest.raises(ValueError, match="best_mode"):
        CheckpointManager(tmp_path, best_mode="max" if mode == "min" else "min")


def test_invalid_arguments(tmp_path):
    with pytest.raises(ValueError, match="keep_last"):
        CheckpointManager(tmp_path, keep_last=0)
    with pytest.raises(ValueError, match="best_mode"):
        CheckpointManager(tmp_path, best_mode="best")


def _draws():
    return random.random(), np.random.rand(3).tolist(), np.random.randn(), torch.rand(3).tolist()


def test_rng_capture_restore_through_checkpoint(tmp_path):
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    _draws()
    manager = CheckpointManager(tmp_path)
    manager.save({"rng": capture_rng_state()}, 0)
    expected = _draws()
    _draws()  # move every generator on
    restore_rng_state(manager.load_latest()["rng"])
    assert _draws() == expected
    # the captured state loads with torch's safe loader too (plain containers and tensors only)
    torch.load(manager.checkpoint_paths()[0], weights_only=True)


class _Payload:
    """Unpickling it creates ``target``: what a doctored checkpoint from elsewhere could do."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.target),))


@pytest.mark.parametrize("writer", ["torch_zip", "torch_legacy", "plain_pickle"])
def test_checkpoint_that_could_run_code_is_refused_not_skipped(tmp_path, writer):
    manager = CheckpointManager(tmp_path / "ckpts")
    manager.save(_state(1), 1)
    target = tmp_path / "payload-ran"
    evil = manager.directory / "ckpt-00000009.pt"
    state = {"step": 9, "weights": torch.zeros(3), "trap": _Payload(target)}
    if writer == "plain_pickle":
        evil.write_bytes(pickle.dumps(state))
    else:
        torch.save(state, evil, _use_new_zipfile_serialization=writer == "torch_zip")

    with pytest.raises(UnsafeCheckpointError) as caught:
        manager.load_latest()   # not a fallback to ckpt-00000001.pt: a refusal is an error
    message = str(caught.value)
    assert str(evil) in message and "could run code" in message and "start the run again" in message
    assert "pathlib" in message   # names what the file would have called
    assert isinstance(caught.value, CheckpointError)
    assert not target.exists()


def test_refused_best_checkpoint_is_an_error(tmp_path):
    manager = CheckpointManager(tmp_path)
    manager.save(_state(1), 1, metric=1.0)
    torch.save({"trap": _Payload(tmp_path / "ran")}, manager.directory / "best.pt")
    with pytest.raises(UnsafeCheckpointError, match="best.pt"):
        manager.load_best()
    assert not (tmp_path / "ran").exists()


class _OldFormatObject:
    """Stands for what checkpoints held before weights-only (a pickled evotorch search algorithm)."""

    def __init__(self, value):
        self.value = value


def test_an_old_format_checkpoint_is_refused_with_how_to_continue(tmp_path):
    manager = CheckpointManager(tmp_path)
    torch.save({"step": 4, "searcher": _OldFormatObject(torch.arange(3))}, manager.directory / "ckpt-00000004.pt")
    with pytest.raises(UnsafeCheckpointError, match="_OldFormatObject") as caught:
        manager.load_latest()
    message = str(caught.value)
    assert "ckpt-00000004.pt" in message and "--overwrite" in message and "earlier evohebb" in message


def test_checkpoints_are_written_weights_only_loadable(tmp_path):
    manager = CheckpointManager(tmp_path)
    manager.save({"rng": capture_rng_state(), "nested": {"a": [1, 2.5, None, (3, "x")]}, "t": torch.ones(2)}, 0)
    loaded = torch.load(manager.checkpoint_paths()[0], weights_only=True)
    assert loaded["nested"] == {"a": [1, 2.5, None, (3, "x")]} and torch.equal(loaded["t"], torch.ones(2))
