"""Results of a run: ``run_dir/results.json``, written atomically."""

from __future__ import annotations

import json
import os
import pathlib

from evohebb.run_io.atomic_write import atomic_write_json

RESULTS_NAME = "results.json"


def write_results(run_dir: str | os.PathLike, results: dict) -> pathlib.Path:
    """Write ``results`` (tensors / numpy values are converted to JSON numbers and lists) to ``results.json``."""
    if not isinstance(results, dict):
        raise TypeError(f"results must be a dict, got {type(results).__name__}")
    path = pathlib.Path(run_dir) / RESULTS_NAME
    atomic_write_json(path, results)
    return path


def read_results(run_dir: str | os.PathLike) -> dict:
    """The dict in ``run_dir/results.json``; ``FileNotFoundError`` if the run has not written results yet."""
    path = pathlib.Path(run_dir) / RESULTS_NAME
    if not path.exists():
        raise FileNotFoundError(
            f"{path} does not exist: the run has written no results yet (evolve writes them with "
            f"every checkpoint, the other pipelines when they end; or the run was started elsewhere); "
            f"resume it with --resume {pathlib.Path(run_dir)} to produce results"
        )
    return json.loads(path.read_text(encoding="utf-8"))
