"""Read a data pickle that may hold only plain data and uint8 numpy arrays, without running anything it names.

A pickle names functions and classes (its *globals*) that ``pickle.load`` imports and calls, so a file
from elsewhere can run any code. :func:`load_restricted_pickle` admits only what the CIFAR python pickles
hold: dicts, lists, tuples, str, bytes, ints, floats, bools, None (none of which needs a global) and
numpy ``uint8`` arrays in numpy's own pickle form. The globals admitted are exactly those that form needs:

- ``numpy.core.multiarray._reconstruct`` (numpy 1 and the python 2 originals) or
  ``numpy._core.multiarray._reconstruct`` (numpy 2), ``numpy.ndarray`` and ``numpy.dtype``;
- ``numpy.core.numeric._frombuffer`` / ``numpy._core.numeric._frombuffer``, numpy's form at protocol 5;
- ``_codecs.encode``, which python 3 uses to write bytes at protocol 2 (``encode(str, "latin1")``).

None of them is called on the file's data as such: the array and dtype states are checked here (uint8, no
fields, no objects, raw bytes of the right length) and the array is built with ``numpy.frombuffer``.
Anything else raises :class:`RestrictedPickleError` naming what was refused.
"""

from __future__ import annotations

import math
import os
import pickle
from typing import Any

import numpy as np

_RECONSTRUCT = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct")}
_FROMBUFFER = {("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer")}
_LATIN1 = ("latin1", "latin-1", "iso-8859-1")


class RestrictedPickleError(pickle.UnpicklingError):
    """The pickle names a global or holds a value outside what :func:`load_restricted_pickle` admits."""


def load_restricted_pickle(path: str | os.PathLike, encoding: str = "bytes") -> Any:
    """Unpickle ``path`` admitting only plain data and uint8 arrays (see the module's docstring).

    ``encoding`` is how python 2 ``str`` values are read (``"bytes"`` keeps them as bytes, as the CIFAR
    readers expect). Raises :class:`RestrictedPickleError` for anything else, and what ``pickle`` raises
    for a truncated or invalid file (``UnpicklingError``, ``EOFError``, ``ValueError``).
    """
    with open(path, "rb") as handle:
        content = _RestrictedUnpickler(handle, encoding=encoding).load()
    try:
        return _resolve(content)
    except RecursionError:
        raise RestrictedPickleError("containers nested too deeply for a data file") from None


class _NdarrayType:
    """Stands for ``numpy.ndarray`` as the first argument of ``_reconstruct``; never instantiated."""


class _ArrayStub:
    """What ``_reconstruct`` returns: receives the array's pickled state, checks it, builds the array."""

    def __init__(self) -> None:
        self.array: np.ndarray | None = None

    def __setstate__(self, state: Any) -> None:
        if not (isinstance(state, tuple) and len(state) == 5):
            raise RestrictedPickleError(f"a numpy array state of unexpected form ({type(state).__name__})")
        _version, shape, dtype, fortran, raw = state
        self.array = _uint8_array(raw, dtype, shape, "F" if fortran else "C")


def _uint8_array(raw: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    """The array of ``shape`` over the bytes ``raw``, after checking that it is exactly that."""
    if not isinstance(dtype, _Uint8Dtype):
        raise RestrictedPickleError("a numpy array whose dtype is not uint8")
    if not (isinstance(shape, tuple) and all(isinstance(n, int) and n >= 0 for n in shape)):
        raise RestrictedPickleError(f"a numpy array with an invalid shape {shape!r}")
    if order not in ("C", "F"):
        raise RestrictedPickleError(f"a numpy array with an invalid order {order!r}")
    if not isinstance(raw, (bytes, bytearray)) or len(raw) != math.prod(shape):
        raise RestrictedPickleError(f"a uint8 array of shape {shape} whose data is not {math.prod(shape)} raw bytes")
    return np.frombuffer(bytes(raw), dtype=np.uint8).reshape(shape, order=order).copy(order=order)


class _Uint8Dtype:
    """Stands for ``numpy.dtype``: admits only the plain uint8 dtype (code ``u1``, no fields, no objects)."""

    def __init__(self, code: Any, align: Any = 0, copy: Any = 1) -> None:
        if code not in ("u1", b"u1"):
            raise RestrictedPickleError(f"a numpy dtype {code!r}; only uint8 ('u1') is admitted")

    def __setstate__(self, state: Any) -> None:
        # (version, byte order, subarray, names, fields, element size, alignment, flags[, metadata])
        plain = (
            isinstance(state, tuple)
            and len(state) in (8, 9)
            and state[1] in ("|", b"|", "=", b"=", "<", b"<", ">", b">")
            and state[2:8] == (None, None, None, -1, -1, 0)
            and (len(state) == 8 or state[8] is None)
        )
        if not plain:
            raise RestrictedPickleError(f"a uint8 dtype with an unexpected state {state!r}")


def _encode(text: Any, encoding: Any = "utf-8", errors: Any = "strict") -> bytes:
    """``_codecs.encode`` as protocol 2 uses it for bytes: a str encoded as latin-1, nothing else."""
    if not isinstance(text, str) or encoding not in _LATIN1 or errors != "strict":
        raise RestrictedPickleError("_codecs.encode called with anything but (str, 'latin1')")
    return text.encode("latin1")


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _RECONSTRUCT:
            return _reconstruct
        if (module, name) in _FROMBUFFER:
            return _frombuffer
        if (module, name) == ("numpy", "ndarray"):
            return _NdarrayType
        if (module, name) == ("numpy", "dtype"):
            return _Uint8Dtype
        if (module, name) == ("_codecs", "encode"):
            return _encode
        raise RestrictedPickleError(
            f"the pickle names {module}.{name}, which a data file does not need and which could run code"
        )

    def persistent_load(self, pid: Any) -> Any:
        raise RestrictedPickleError("the pickle holds a persistent id, which a data file does not need")


def _reconstruct(subtype: Any, shape: Any, typecode: Any) -> _ArrayStub:
    if subtype is not _NdarrayType:
        raise RestrictedPickleError("numpy's _reconstruct called for something other than numpy.ndarray")
    return _ArrayStub()


def _frombuffer(buffer: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    return _uint8_array(buffer, dtype, shape, order)


def _resolve(value: Any) -> Any:
    """Replace array stubs by their arrays; refuse stubs left without state and stray dtypes."""
    if isinstance(value, _ArrayStub):
        if value.array is None:
            raise RestrictedPickleError("a numpy array without its data")
        return value.array
    if isinstance(value, dict):
        return {_resolve(k): _resolve(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_resolve(v) for v in value)
    if isinstance(value, (_Uint8Dtype, type)):
        raise RestrictedPickleError(f"a {getattr(value, '__name__', type(value).__name__)} outside an array")
    return value
