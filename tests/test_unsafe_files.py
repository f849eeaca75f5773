"""Run folders from elsewhere cannot run code: through the real command line, a checkpoint whose unpickling
would create a file is refused naming the file (evolve --resume, softhebb --resume and unsupervised.from_run;
evaluate never reads checkpoints), and the file is never created. A checkpoint of the format before
weights-only (a pickled evotorch search algorithm) is refused the same way, with how to continue."""

from __future__ import annotations

import gzip
import logging
import pathlib
import struct

import numpy as np
import pytest
import torch

import evohebb.pipelines.evolve as evolve_pipeline
from evohebb.cli import main
from evohebb.config import load_config, save_config
from evohebb.pipelines.softhebb_config import SoftHebbConfig
from evohebb.run_io import read_metrics, read_results


class Payload:
    """Unpickling it creates ``target``: what a doctored checkpoint could do instead (os.system, ...)."""

    def __init__(self, target: pathlib.Path):
        self.target = target

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.target),))


def plant(run_dir: pathlib.Path, target: pathlib.Path) -> pathlib.Path:
    """A doctored newest checkpoint in ``run_dir``: a real torch.save, tensors beside the payload."""
    path = run_dir / "checkpoints" / "ckpt-00000009.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"generation": 9, "step": 9, "weights": torch.zeros(4), "searcher": Payload(target)}, path)
    return path


@pytest.fixture(scope="module")
def mnist_dir(tmp_path_factory):
    """A tiny data set in the exact MNIST idx format (gzipped), read by the real loader."""
    root = tmp_path_factory.mktemp("data")
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", 120), ("t10k", 40)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n).astype(np.uint8)
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
            (raw / f"{split}-{kind}-ubyte.gz").write_bytes(gzip.compress(header + array.tobytes()))
    return root


def evolve_args(data_dir, generations):
    return ["task=classification", "classification.dataset=mnist", f"classification.data_dir={data_dir}",
            "algorithm.popsize=4", "evaluation.max_steps=10", "evaluation.num_actors=0",
            "evaluation.random_baseline=false", "checkpoint.every=1", f"generations={generations}"]


def errors(caplog) -> str:
    return " ".join(r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR)


def test_evolve_resume_and_evaluate_never_run_a_doctored_checkpoint(tmp_path, mnist_dir, caplog):
    runs = tmp_path / "runs"
    assert main(["evolve", *evolve_args(mnist_dir, 1), "--runs-root", str(runs), "--name", "x"]) == 0
    run = runs / "x"
    results = read_results(run)
    target = tmp_path / "payload-ran"
    evil = plant(run, target)

    caplog.clear()
    assert main(["evolve", "generations=3", "--resume", str(run)]) == 2
    message = errors(caplog)
    assert str(evil) in message and "could run code" in message and "start the run again" in message
    assert not target.exists()
    assert len(read_metrics(run)) == 1 and read_results(run) == results   # nothing ran on

    assert main(["evaluate", str(run), "--episodes", "1"]) == 0   # reads results.json, never a checkpoint
    assert not target.exists()


def test_old_format_checkpoint_is_refused_with_how_to_continue(tmp_path, mnist_dir, caplog, monkeypatch):
    runs = tmp_path / "runs"
    with monkeypatch.context() as patch:   # the save of before weights-only: the evotorch object itself
        patch.setattr(evolve_pipeline, "searcher_state", lambda searcher: searcher)
        assert main(["evolve", *evolve_args(mnist_dir, 1), "--runs-root", str(runs), "--name", "old"]) == 0
    old = runs / "old" / "checkpoints" / "ckpt-00000001.pt"
    with pytest.raises(Exception, match="Weights only load failed"):
        torch.load(old, weights_only=True)

    caplog.clear()
    assert main(["evolve", "generations=2", "--resume", str(runs / "old")]) == 2
    message = errors(caplog)
    assert str(old) in message and "earlier evohebb" in message and "--overwrite" in message
    assert len(read_metrics(runs / "old")) == 1   # nothing ran on


def test_softhebb_resume_and_from_run_never_run_a_doctored_checkpoint(tmp_path, mnist_dir, caplog):
    run = tmp_path / "runs" / "s"
    run.mkdir(parents=True)
    small = ["data.name=mnist", f"data.data_dir={mnist_dir}", "model.channels=[4,8,16]", "readout.epochs=1"]
    save_config(load_config(SoftHebbConfig, None, small), run / "config.yaml")
    target = tmp_path / "payload-ran"
    evil = plant(run, target)

    caplog.clear()
    assert main(["softhebb", "--resume", str(run)]) == 2
    assert str(evil) in errors(caplog) and "could run code" in errors(caplog)
    assert not target.exists()

    caplog.clear()
    assert main(["softhebb", *small, f"unsupervised.from_run={run}", "--runs-root", str(tmp_path / "runs"),
                 "--name", "reuse"]) == 2
    assert str(evil) in errors(caplog) and "could run code" in errors(caplog)
    assert not target.exists()
