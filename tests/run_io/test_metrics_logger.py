import json
import time

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from evohebb.run_io import MetricsLogger, read_metrics


def _scalars(run_dir, tag):
    accumulator = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "images": 0})
    accumulator.Reload()
    return accumulator, [(event.step, event.value) for event in accumulator.Scalars(tag)]


def test_jsonl_and_tensorboard_agree(tmp_path):
    with MetricsLogger(tmp_path) as logger:
        for step in range(5):
            logger.log(step, {"fitness/best": 0.25 * step, "loss": torch.tensor(1.0 / (step + 1))})
        logger.log_images("receptive_fields", torch.randn(6, 3, 5, 5), step=4, nrow=3)
        with pytest.raises(ValueError, match="C = 1 or 3"):
            logger.log_images("bad", torch.randn(2, 4, 5, 5), step=4)
    records = read_metrics(tmp_path)
    assert [r["step"] for r in records] == list(range(5)) and all("time" in r for r in records)
    accumulator, best = _scalars(tmp_path, "fitness/best")
    assert best == [(r["step"], pytest.approx(r["fitness/best"])) for r in records]
    _, loss = _scalars(tmp_path, "loss")
    assert loss == [(r["step"], pytest.approx(r["loss"])) for r in records]
    assert "receptive_fields" in accumulator.Tags()["images"]


def test_resume_drops_lines_after_resume_step(tmp_path):
    with MetricsLogger(tmp_path) as logger:
        for step in range(10):
            logger.log(step, {"value": float(step)})
    with open(tmp_path / "metrics.jsonl", "a") as file:
        file.write('{"step": 10, "val')  # truncated line of a killed process
    # a resumed run is a new process, started later: its event file's name (time, host, pid, a per-process counter)
    # sorts after the first one's. In one process within one second, the counter decides, and it sorts as text
    # (".10" before ".9" once earlier tests have made writers); a second's pause keeps the real order
    time.sleep(1.1)
    with MetricsLogger(tmp_path, resume_step=5) as logger:
        assert [r["step"] for r in read_metrics(tmp_path)] == list(range(6))
        for step in range(6, 10):
            logger.log(step, {"value": 100.0 + step})
    records = read_metrics(tmp_path)
    assert [r["step"] for r in records] == list(range(10))
    assert [r["value"] for r in records] == [float(s) for s in range(6)] + [100.0 + s for s in range(6, 10)]
    _, values = _scalars(tmp_path, "value")
    assert values == [(r["step"], r["value"]) for r in records]
    # every line of the file is valid JSON again
    assert all(json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines())


def test_log_figure(tmp_path):
    from matplotlib.figure import Figure

    figure = Figure()
    axes = figure.add_subplot()
    axes.plot([0, 1], [1, 0])
    with MetricsLogger(tmp_path) as logger:
        logger.log_figure("curves", figure, step=0)
    accumulator = EventAccumulator(str(tmp_path))
    accumulator.Reload()
    assert "curves" in accumulator.Tags()["images"]
