"""A process SIGKILLed while saving large checkpoints always leaves a complete, loadable latest checkpoint."""

import hashlib
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from evohebb.run_io import CheckpointManager

NUMEL = 12_500_000  # 50 MB of float32: one save takes ~0.1-0.3 s

SAVER = textwrap.dedent(f"""
    import hashlib, sys, torch
    from evohebb.run_io import CheckpointManager
    manager = CheckpointManager(sys.argv[1], keep_last=2)
    latest = manager.load_latest()
    step = 0 if latest is None else latest["step"] + 1
    base = torch.arange({NUMEL}, dtype=torch.float32)
    while True:
        tensor = base + step
        manager.save({{"step": step, "tensor": tensor,
                      "sha256": hashlib.sha256(tensor.numpy().tobytes()).hexdigest()}}, step)
        step += 1
""")


def _wait_for_checkpoint_after(directory, step, process, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read().decode()
        steps = [int(p.name[5:13]) for p in directory.glob("ckpt-*.pt")]
        if steps and max(steps) > step:
            return
        time.sleep(0.02)
    pytest.fail("the saving subprocess wrote no checkpoint in time")


def _wait_for_temp_file(directory, process, timeout=60.0):
    """Until a save is in flight (its temporary file exists): the moment to kill the writer mid-save."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read().decode()
        if any(p.name.endswith(".tmp") for p in directory.iterdir()):
            return
        time.sleep(0.001)
    pytest.fail("the saving subprocess never had a save in flight")


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_during_save_leaves_loadable_checkpoint(tmp_path):
    directory = tmp_path / "checkpoints"
    directory.mkdir()
    rng = random.Random()
    last_step, saw_temp_file = -1, False
    for round_ in range(3):
        process = subprocess.Popen(
            [sys.executable, "-c", SAVER, str(directory)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            _wait_for_checkpoint_after(directory, last_step, process)
            if round_ == 0:   # one kill surely inside a save, the others at random moments
                _wait_for_temp_file(directory, process)
            else:
                time.sleep(rng.uniform(0.0, 0.4))
        finally:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            process.stderr.close()
        saw_temp_file |= any(p.name.endswith(".tmp") for p in directory.iterdir())

        manager = CheckpointManager(directory, keep_last=2)  # cleans up temp files of the killed writer
        assert sorted(p.name for p in directory.iterdir()) == [p.name for p in manager.checkpoint_paths()]
        state = manager.load_latest()
        assert state["step"] > last_step
        assert hashlib.sha256(state["tensor"].numpy().tobytes()).hexdigest() == state["sha256"]
        assert torch.equal(state["tensor"], torch.arange(NUMEL, dtype=torch.float32) + state["step"])
        for path in manager.checkpoint_paths():  # every file that looks like a checkpoint is a complete one
            torch.load(path, weights_only=False, mmap=True)
        last_step = state["step"]
    assert saw_temp_file, "no kill landed during a save; the test did not exercise the crash window"
