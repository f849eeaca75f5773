"""Checkpoints: atomic ``torch.save`` into ``ckpt-{step:08d}.pt``, keep the last K and the best, load with fallback.

Layout of a checkpoint directory::

    ckpt-00000010.pt   step checkpoints (the last ``keep_last`` are kept)
    best.pt            state of the best ``metric`` seen so far
    best.json          {"step", "metric", "mode"} of best.pt (written after it)
    .<name>.<random>.tmp   only while a save is in progress; stale ones are deleted on construction

Every file is written to a temporary file in the same folder, fsynced and renamed, so a process killed at
any moment leaves only complete checkpoints.

**Weights-only.** A checkpoint holds tensors and plain containers only (dicts, lists, tuples, str, numbers,
None) and is loaded with ``torch.load(weights_only=True)``, so a run folder from elsewhere cannot run code
when it is resumed. A file that holds anything else is refused with :class:`UnsafeCheckpointError`, which
names the file. A refusal is an error, not damage: :meth:`CheckpointManager.load_latest` does not fall back
past a refused file to an older checkpoint (only corrupt files, e.g. truncated ones, are skipped).

Checkpoints written before this rule (the evolve pipeline's pickled evotorch search algorithm) are refused
like any other: there is no way to load a file in full. The message says how to continue: start the run again
(its ``metrics.jsonl`` and ``results.json`` stay readable), or finish it with the evohebb version that wrote it.

The state also carries RNG states: ``capture_rng_state`` / ``restore_rng_state`` cover python ``random``,
the numpy global generator and torch (CPU, and CUDA when available); the captured dict holds only
python containers, ints, floats and tensors.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import pathlib
import pickle
import pickletools
import random
import re
import shutil
import zipfile
from typing import Any

import numpy as np
import torch

from evohebb.run_io.atomic_write import (
    atomic_write_json,
    atomic_write_stream,
    remove_stale_temp_files,
    replacing,
)

logger = logging.getLogger(__name__)

_STEP_PATTERN = re.compile(r"^ckpt-(\d{8,})\.pt$")
BEST_NAME = "best.pt"
BEST_INFO_NAME = "best.json"


class CheckpointError(RuntimeError):
    """No usable checkpoint: every candidate file failed to load."""


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint holds more than tensors and plain containers: loading it in full could run code."""


def _step_name(step: int) -> str:
    return f"ckpt-{step:08d}.pt"


class CheckpointManager:
    """Save/load the step checkpoints and the best checkpoint of one run (``runs/<name>/checkpoints``)."""

    def __init__(self, directory: str | os.PathLike, keep_last: int = 3, best_mode: str = "max"):
        if isinstance(keep_last, bool) or not isinstance(keep_last, int) or keep_last < 1:
            raise ValueError(f"keep_last={keep_last!r} is not allowed: use an integer >= 1")
        if best_mode not in ("max", "min"):
            raise ValueError(f"best_mode={best_mode!r} is not allowed: use 'max' or 'min'")
        self.directory = pathlib.Path(directory)
        self.keep_last = keep_last
        self.best_mode = best_mode
        self.directory.mkdir(parents=True, exist_ok=True)
        remove_stale_temp_files(self.directory, "ckpt-")
        remove_stale_temp_files(self.directory, "best.")
        self._best = self._read_best_info()

    # ---- best tracking -------------------------------------------------------------------------------
    def _read_best_info(self) -> dict | None:
        path = self.directory / BEST_INFO_NAME
        if not path.exists():
            return None
        try:
            info = json.loads(path.read_text())
            float(info["metric"])
        except (ValueError, KeyError, TypeError) as error:
            logger.warning("ignoring unreadable %s (%s); best tracking starts over", path, error)
            return None
        if info.get("mode", self.best_mode) != self.best_mode:
            raise ValueError(
                f"{path} was written with best_mode={info.get('mode')!r} but this manager uses "
                f"best_mode={self.best_mode!r}; use the same mode as the run you resume"
            )
        return info

    @property
    def best_metric(self) -> float | None:
        """Metric of ``best.pt`` (persisted in ``best.json``), or None before any save with a metric."""
        return None if self._best is None else float(self._best["metric"])

    @property
    def best_step(self) -> int | None:
        return None if self._best is None else int(self._best["step"])

    def _is_better(self, metric: float) -> bool:
        if math.isnan(metric):
            return False
        best = self.best_metric
        if best is None:
            return True
        return metric > best if self.best_mode == "max" else metric < best

    # ---- saving --------------------------------------------------------------------------------------
    def save(self, state: dict, step: int, metric: float | None = None) -> pathlib.Path:
        """Write ``state`` to ``ckpt-{step:08d}.pt`` atomically; update ``best.pt`` if ``metric`` improves on
        the best so far; prune to the last ``keep_last`` step checkpoints. Returns the step checkpoint's path.

        Step checkpoints with a larger step than ``step`` belong to a future that a resume has abandoned
        and are deleted, so that they are not taken for the newest one later.
        """
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
            raise ValueError(f"step={step!r} is not allowed: use an integer >= 0")
        step = int(step)
        path = self.directory / _step_name(step)
        atomic_write_stream(path, lambda file: torch.save(state, file))
        if metric is not None:
            metric = float(metric)
            if self._is_better(metric):
                self._write_best(path, step, metric)
        self._prune(step)
        return path

    def _write_best(self, source: pathlib.Path, step: int, metric: float) -> None:
        """best.pt := the checkpoint just written (hard link where possible, else a copy), then best.json."""
        with replacing(self.directory / BEST_NAME) as (temp, fd):
            os.close(fd)
            try:
                temp.unlink()
                os.link(source, temp)
            except OSError:  # no hard links on this file system: copy
                shutil.copyfile(source, temp)
                with open(temp, "rb+") as file:
                    os.fsync(file.fileno())
        self._best = {"step": step, "metric": metric, "mode": self.best_mode}
        atomic_write_json(self.directory / BEST_INFO_NAME, self._best)
        logger.info("new best checkpoint at step %d (metric %g)", step, metric)

    def _prune(self, current_step: int) -> None:
        paths = self.checkpoint_paths()
        stale_future = [p for p in paths if _path_step(p) > current_step]
        for path in stale_future:
            logger.info(
                "deleting %s: it is newer than the step just saved (%d), left by a run that was resumed "
                "from an earlier checkpoint",
                path,
                current_step,
            )
            path.unlink(missing_ok=True)
        kept = [p for p in paths if _path_step(p) <= current_step]
        for path in kept[: max(0, len(kept) - self.keep_last)]:
            path.unlink(missing_ok=True)

    # ---- loading -------------------------------------------------------------------------------------
    def checkpoint_paths(self) -> list[pathlib.Path]:
        """The step checkpoints present, sorted by step (temporary and best files excluded)."""
        paths = [p for p in self.directory.iterdir() if _STEP_PATTERN.match(p.name) and p.is_file()]
        return sorted(paths, key=_path_step)

    def steps(self) -> list[int]:
        """The steps of the step checkpoints present, ascending."""
        return [_path_step(p) for p in self.checkpoint_paths()]

    def load_step(self, step: int, map_location: Any = "cpu") -> dict:
        """State of the step checkpoint ``step`` (weights-only, like every load here)."""
        return _load(self.directory / _step_name(step), map_location)

    def load_latest(self, map_location: Any = "cpu") -> dict | None:
        """State of the newest step checkpoint that loads; falls back (with a warning) past corrupt ones.

        None if there are no step checkpoints; ``CheckpointError`` if every one of them fails to load.
        A file that is intact but not weights-only raises :class:`UnsafeCheckpointError` at once: it is not
        skipped for an older checkpoint.
        """
        paths = self.checkpoint_paths()
        if not paths:
            return None
        errors = []
        for path in reversed(paths):
            try:
                return _load(path, map_location)
            except UnsafeCheckpointError:
                raise
            except Exception as error:  # noqa: BLE001 - a truncated zip, an unpickling error, ...: try the previous one
                logger.warning(
                    "checkpoint %s cannot be loaded (%s: %s); falling back to the previous one",
                    path,
                    type(error).__name__,
                    error,
                )
                errors.append(f"{path.name}: {type(error).__name__}: {error}")
        raise CheckpointError(
            f"none of the {len(paths)} checkpoints in {self.directory} can be loaded:\n  "
            + "\n  ".join(errors)
            + "\nStart the run again with --overwrite, or restore the checkpoints from a backup"
        )

    def load_best(self, map_location: Any = "cpu") -> dict | None:
        """State saved as best so far, or None if no save had a metric yet; ``CheckpointError`` if corrupt."""
        path = self.directory / BEST_NAME
        if not path.exists():
            return None
        try:
            return _load(path, map_location)
        except UnsafeCheckpointError:
            raise
        except Exception as error:
            raise CheckpointError(
                f"best checkpoint {path} cannot be loaded ({type(error).__name__}: {error}); "
                f"use load_latest() or a step checkpoint instead"
            ) from error


def _path_step(path: pathlib.Path) -> int:
    return int(_STEP_PATTERN.match(path.name).group(1))


def _load(path: pathlib.Path, map_location: Any) -> dict:
    """``torch.load(weights_only=True)``; a refused but intact file raises :class:`UnsafeCheckpointError`;
    corrupt files raise what torch raises."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        globals_named = _pickle_globals(path)
        if globals_named is None:  # not even a well-formed pickle: a corrupt file
            raise
        shown = ", ".join(globals_named[:6]) + (", ..." if len(globals_named) > 6 else "")
        names = f" (it names {shown})" if globals_named else ""
        raise UnsafeCheckpointError(
            f"{path} is not a weights-only checkpoint: it holds python objects other than tensors and plain "
            f"containers{names}, and loading it could run code, so evohebb does not. If an earlier evohebb wrote "
            f"it (before weights-only checkpoints), start the run again (--overwrite; its metrics.jsonl and "
            f"results.json stay readable) or finish it with that version; otherwise remove the file"
        ) from error


def _pickle_globals(path: pathlib.Path) -> list[str] | None:
    """The ``module.name`` globals (other than torch's own) named by the pickle of ``path`` (the
    ``data.pkl`` of a torch zip, else the file's pickles one after the other), read without running them;
    None when the file does not start with a well-formed pickle (a corrupt file)."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                member = next(n for n in archive.namelist() if n == "data.pkl" or n.endswith("/data.pkl"))
                data = archive.read(member)
        else:
            data = path.read_bytes()
    except Exception:  # noqa: BLE001 - a bad zip or no data.pkl: not a well-formed checkpoint
        return None
    stream, names, first = io.BytesIO(data), set(), True
    while stream.tell() < len(data):  # the legacy torch format is several pickles, then raw storage bytes
        found, strings, memo = set(), [], {}  # strings: the str pushed last (STACK_GLOBAL takes two of them)
        try:
            for opcode, arg, _ in pickletools.genops(stream):
                if opcode.name in ("GLOBAL", "INST"):
                    found.add(arg.replace(" ", "."))
                elif opcode.name == "STACK_GLOBAL":
                    found.add(".".join(str(part) for part in strings[-2:]))
                elif opcode.name in ("GET", "BINGET", "LONG_BINGET"):
                    strings.append(memo.get(arg))
                elif opcode.name in ("PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"):
                    memo[len(memo) if arg is None else arg] = strings[-1] if strings else None
                elif isinstance(arg, str):
                    strings.append(arg)
        except Exception:  # noqa: BLE001 - truncated or invalid: corrupt if it is the first pickle
            if first:
                return None
            break
        names |= found
        first = False
    return sorted(n for n in names if not n.startswith("torch.") and n != "collections.OrderedDict")


# ---- RNG state ---------------------------------------------------------------------------------------
def capture_rng_state() -> dict:
    """RNG states of python ``random``, numpy's global generator, torch CPU and (if available) all CUDA devices."""
    name, keys, pos, has_gauss, cached_gaussian = np.random.get_state(legacy=True)
    state = {
        "python": random.getstate(),
        "numpy": {
            "name": name,
            "keys": keys.tolist(),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> None:
    """Restore the RNG states captured by ``capture_rng_state`` (keys that are absent are left alone)."""
    if "python" in state:
        version, internal, gauss = state["python"]
        random.setstate((version, tuple(internal), gauss))
    if "numpy" in state:
        np_state = state["numpy"]
        np.random.set_state(
            (
                np_state["name"],
                np.asarray(np_state["keys"], dtype=np.uint32),
                np_state["pos"],
                np_state["has_gauss"],
                np_state["cached_gaussian"],
            )
        )
    if "torch" in state:
        torch.set_rng_state(torch.as_tensor(state["torch"], dtype=torch.uint8).cpu())
    if "cuda" in state:
        if not torch.cuda.is_available():
            logger.warning(
                "the checkpoint holds CUDA RNG states but CUDA is not available; they are not restored"
            )
        elif len(state["cuda"]) != torch.cuda.device_count():
            logger.warning(
                "the checkpoint holds CUDA RNG states for %d devices but %d are visible; "
                "CUDA RNG states are not restored",
                len(state["cuda"]),
                torch.cuda.device_count(),
            )
        else:
            torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
