"""Build a C++ source into a shared library once per machine, cached, and load it.

The library is compiled with the system's C++ compiler (``$CXX``, else ``c++``/``g++``) into
``$XDG_CACHE_HOME/evohebb`` (default ``~/.cache/evohebb``), under a name keyed by a hash of the source, the flags,
the compiler and the CPU (``-march=native`` code is only loaded where it was built for), and put in place atomically
(:func:`~evohebb.run_io.atomic_write.replacing`): concurrent processes (Ray actors) each find either nothing or a
whole library. Only libraries this module built from the package's own sources are loaded.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from evohebb.run_io.atomic_write import replacing

__all__ = ["DEFAULT_FLAGS", "NativeLibrary", "load_shared_library"]

DEFAULT_FLAGS = ("-O3", "-march=native", "-std=c++17", "-shared", "-fPIC")


def _cpu_key() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next((line for line in f if line.startswith("flags")), platform.processor())
    except OSError:
        return platform.machine() + platform.processor()


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "evohebb"


def load_shared_library(source: Path, flags: Sequence[str] = DEFAULT_FLAGS) -> ctypes.CDLL:
    """The library built from ``source`` (built now unless cached); raises RuntimeError (or OSError) naming why
    where it cannot be built or loaded."""
    compiler = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++")
    if compiler is None:
        raise RuntimeError("no C++ compiler (set CXX, or install g++)")
    key = hashlib.sha256(b"\0".join([source.read_bytes(), " ".join(flags).encode(), compiler.encode(),
                                     _cpu_key().encode()]))
    path = _cache_dir() / f"{source.stem}-{key.hexdigest()[:16]}.so"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with replacing(path) as (temp, fd):
            os.close(fd)                # the compiler writes the temporary file itself
            result = subprocess.run([compiler, *flags, "-o", str(temp), str(source)], capture_output=True,
                                    text=True, timeout=300)
            if result.returncode != 0:
                lines = result.stderr.strip().splitlines() or [""]
                raise RuntimeError(f"{compiler} failed: {next((ln for ln in lines if 'error' in ln), lines[0])}")
    return ctypes.CDLL(str(path))


class NativeLibrary:
    """A package's C++ source built (:func:`load_shared_library`) and loaded on first use, once per process.

    ``declare`` sets the exported functions' ctypes signatures. Where building or loading fails, :meth:`get` returns
    None and ``log`` gets ``warning`` once (``{error}`` in it: why), so that the caller takes its other path;
    :attr:`state` holds ``"library"`` or ``"error"``."""

    def __init__(self, source: Path, declare: Callable[[ctypes.CDLL], None], warning: str, log: logging.Logger):
        self.source, self._declare, self._warning, self._log = source, declare, warning, log
        self.state: dict[str, object] = {}

    def get(self) -> ctypes.CDLL | None:
        if not self.state:
            try:
                library = load_shared_library(self.source)
                self._declare(library)
                self.state["library"] = library
            except Exception as exc:  # noqa: BLE001 - any build or load failure means: use the other path
                self.state["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
                self._log.warning(self._warning.format(error=self.state["error"]))
        return self.state.get("library")

    def available(self) -> bool:
        """Whether this process has (or can build) the library."""
        return self.get() is not None

    def get_for(self, *tensors) -> ctypes.CDLL | None:
        """The library where every tensor (None: absent) is a CPU float32 one, the only kind the kernels read;
        None otherwise or where it is not available."""
        if any(t is not None and (t.device.type != "cpu" or t.dtype != torch.float32) for t in tensors):
            return None
        return self.get()
