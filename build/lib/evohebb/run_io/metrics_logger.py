"""Metrics of one run: ``metrics.jsonl`` (one line per logged step) and TensorBoard events, same values in both."""

from __future__ import annotations

import json
import logging
import math
import os
import pathlib
import time
from collections.abc import Mapping
from typing import Any, Self

import torch
from torch.utils.tensorboard import SummaryWriter

from evohebb.run_io.atomic_write import atomic_write_text

logger = logging.getLogger(__name__)

METRICS_NAME = "metrics.jsonl"


def _parse_lines(path: pathlib.Path) -> list[tuple[str, dict]]:
    """(raw line, record) pairs of a metrics file; a truncated last line (crash mid-write) is skipped with a warning."""
    lines = path.read_text(encoding="utf-8").splitlines()
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            if number == len(lines):
                logger.warning("skipping truncated last line %d of %s (interrupted write)", number, path)
                continue
            raise ValueError(
                f"{path} line {number} is not valid JSON ({error}); fix or delete that line"
            ) from error
        records.append((line, record))
    return records


def read_metrics(run_dir: str | os.PathLike) -> list[dict]:
    """The records of ``run_dir/metrics.jsonl`` in file order ([] if the file does not exist)."""
    path = pathlib.Path(run_dir) / METRICS_NAME
    if not path.exists():
        return []
    return [record for _, record in _parse_lines(path)]


def _to_float(key: str, value: Any) -> float:
    try:
        return float(value.item() if hasattr(value, "item") else value)
    except (TypeError, ValueError, RuntimeError) as error:
        raise TypeError(
            f"metric {key!r} has value {value!r}, which is not a single number; "
            f"log scalars only (use log_images/log_figure for the rest)"
        ) from error


class MetricsLogger:
    """Appends ``{"step", "time", **scalars}`` lines to ``run_dir/metrics.jsonl`` and the same scalars to
    TensorBoard event files in ``run_dir``.

    With ``resume_step`` (the step of the checkpoint a run resumes from), lines with a larger step are first
    removed from the jsonl file and TensorBoard is told to purge events from ``resume_step + 1`` on, so the
    resumed curves have no duplicate steps.
    """

    def __init__(self, run_dir: str | os.PathLike, resume_step: int | None = None):
        self.run_dir = pathlib.Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.run_dir / METRICS_NAME
        purge_step = None
        if resume_step is not None:
            resume_step = int(resume_step)
            purge_step = resume_step + 1
            self._truncate_after(resume_step)
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - open until close()
        self._writer = SummaryWriter(log_dir=str(self.run_dir), purge_step=purge_step)
        self._closed = False

    def _truncate_after(self, resume_step: int) -> None:
        if not self.path.exists():
            return
        records = _parse_lines(self.path)
        kept = [line for line, record in records if record.get("step", -math.inf) <= resume_step]
        dropped = len(records) - len(kept)
        if dropped or len(kept) != len(self.path.read_text(encoding="utf-8").splitlines()):
            atomic_write_text(self.path, "".join(line + "\n" for line in kept))
        if dropped:
            logger.info(
                "dropped %d metrics lines after step %d from %s (resuming)", dropped, resume_step, self.path
            )

    @property
    def writer(self) -> SummaryWriter:
        """The underlying TensorBoard writer, for the rare call that the methods here do not cover."""
        return self._writer

    def log(self, step: int, scalars: Mapping[str, float]) -> None:
        """One jsonl line ``{"step": step, "time": unix time, **scalars}`` (flushed) and one scalar per tag."""
        step = int(step)
        values = {key: _to_float(key, value) for key, value in scalars.items()}
        for reserved in ("step", "time"):
            if reserved in values:
                raise ValueError(
                    f"metric name {reserved!r} is reserved for the jsonl record; rename that metric"
                )
        record = {"step": step, "time": time.time(), **values}
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        for tag, value in values.items():
            self._writer.add_scalar(tag, value, step)

    def log_images(self, tag: str, images: Any, step: int, nrow: int = 8, *, scale_each: bool = True) -> None:
        """Images ``[N, C, H, W]`` (C = 1 or 3; ``[N, H, W]`` is taken as C = 1) as one grid, each image
        normalised to [0, 1] on its own (``scale_each=False``: over the whole batch)."""
        from evohebb.torchvision_import import import_torchvision

        make_grid = import_torchvision().utils.make_grid
        images = torch.as_tensor(images).detach().to("cpu", torch.float32)
        if images.dim() == 3:
            images = images.unsqueeze(1)
        if images.dim() != 4 or images.shape[1] not in (1, 3):
            raise ValueError(
                f"log_images({tag!r}) needs images shaped [N, C, H, W] with C = 1 or 3, got "
                f"{tuple(images.shape)}; select or average channels first"
            )
        grid = make_grid(images, nrow=nrow, normalize=True, scale_each=scale_each, padding=1)
        self._writer.add_image(tag, grid, int(step))

    def log_figure(self, tag: str, figure: Any, step: int, *, close: bool = True) -> None:
        """A matplotlib figure as an image (the figure is closed afterwards unless ``close=False``)."""
        self._writer.add_figure(tag, figure, int(step), close=close)

    def flush(self) -> None:
        self._file.flush()
        self._writer.flush()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._file.close()
        self._writer.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
