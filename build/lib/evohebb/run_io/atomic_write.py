"""Atomic file writes: a temporary file in the target's folder, flushed and fsynced, then renamed over the target.

A reader (or a process started after a crash) sees either the old file or the complete new one, never a
partial one. Temporary files are named ``.<target name>.<random>.tmp`` so that nothing looking for the
target's name pattern mistakes them for the real thing; ``remove_stale_temp_files`` deletes the ones a
killed process left behind.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pathlib
import secrets
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

logger = logging.getLogger(__name__)

TEMP_SUFFIX = ".tmp"


def open_temp_file(target: pathlib.Path) -> tuple[pathlib.Path, int]:
    """Create ``.<name>.<random>.tmp`` next to ``target`` exclusively; the mode follows the umask like a plain open."""
    while True:
        temp = target.with_name(f".{target.name}.{secrets.token_hex(6)}{TEMP_SUFFIX}")
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        except FileExistsError:
            continue
        return temp, fd


def fsync_directory(directory: str | os.PathLike) -> None:
    """Make a rename inside ``directory`` durable (no-op where directories cannot be opened, e.g. Windows)."""
    if os.name == "nt":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def replacing(path: str | os.PathLike) -> Iterator[tuple[pathlib.Path, int]]:
    """Yield ``(temp path, open fd)`` of a fresh temporary file next to ``path``; on a clean exit, rename it over
    ``path`` and fsync the folder. The caller fills (and fsyncs) the temporary file and closes the fd.

    If the body raises (or the process dies), ``path`` keeps its previous content; the temporary file is
    removed on exceptions (a killed process leaves it for ``remove_stale_temp_files``).
    """
    target = pathlib.Path(path)
    temp, fd = open_temp_file(target)
    try:
        yield temp, fd
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    fsync_directory(target.parent)


def atomic_write_stream(path: str | os.PathLike, write: Callable[[BinaryIO], Any]) -> None:
    """Call ``write(file)`` on a temporary file next to ``path``, fsync it, and rename it to ``path``."""
    with replacing(path) as (_, fd), os.fdopen(fd, "wb") as file:
        write(file)
        file.flush()
        os.fsync(file.fileno())


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    atomic_write_stream(path, lambda file: file.write(data))


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode(encoding))


def _json_default(value: Any) -> Any:
    """Turn the non-JSON values that results commonly hold (tensors, numpy scalars/arrays, paths) into JSON ones."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "tolist"):  # torch.Tensor, numpy.ndarray and numpy scalars
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable: {value!r}")


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON (tensors, numpy values and paths converted) to ``path`` atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, default=_json_default) + "\n")


def remove_stale_temp_files(directory: str | os.PathLike, target_prefix: str = "") -> list[pathlib.Path]:
    """Delete temporary files left in ``directory`` by killed writers (only those for targets starting with
    ``target_prefix``). Returns the removed paths. Do not call while another process writes there."""
    removed = []
    for temp in pathlib.Path(directory).glob(f".{target_prefix}*{TEMP_SUFFIX}"):
        try:
            temp.unlink()
        except FileNotFoundError:
            continue
        removed.append(temp)
        logger.info("removed stale temporary file %s (left by an interrupted write)", temp)
    return removed
