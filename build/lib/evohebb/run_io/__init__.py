"""Run I/O: run directories, atomic checkpoints, metrics (jsonl + TensorBoard), progress bars and results.

I/O only: nothing here imports ``evohebb.nn``, ``evohebb.es`` or the pipelines.
"""

from evohebb.run_io.atomic_write import atomic_write_bytes, atomic_write_json, atomic_write_text
from evohebb.run_io.checkpoints import (
    CheckpointError,
    CheckpointManager,
    UnsafeCheckpointError,
    capture_rng_state,
    restore_rng_state,
)
from evohebb.run_io.metrics_logger import MetricsLogger, read_metrics
from evohebb.run_io.progress import progress_bar
from evohebb.run_io.results import read_results, write_results
from evohebb.run_io.run_dir import RunExistsError, create_run_dir, default_run_name

__all__ = [
    "CheckpointError",
    "CheckpointManager",
    "MetricsLogger",
    "RunExistsError",
    "UnsafeCheckpointError",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "capture_rng_state",
    "create_run_dir",
    "default_run_name",
    "progress_bar",
    "read_metrics",
    "read_results",
    "restore_rng_state",
    "write_results",
]
