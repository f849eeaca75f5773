"""A linear layer's low-rank update and its max|w| normalisation as one native CPU loop (``native_low_rank.cpp``).

Neuron-centric ABCD updates a linear layer by ``V @ U`` (rank 8,
:meth:`~evohebb.plasticity.abcd.NeuronCentricABCD.linear_factors`), and the thesis's networks then divide each
individual's weights by their max |w|. With torch that is ``baddbmm_``, ``amax``, ``amin`` and a product: four
reads and two writes of the weights, which at the CarRacing network's 392 → 128 layer (7.2 MB for 36 individuals)
do not stay in cache. This loop updates one individual's rows keeping the max and min in registers and scales
them while they are in cache: one read and one write (~1.7× faster there, cache flushed between calls). The
values are the same to float rounding (the ``r`` products summed in a fixed order). Built once per machine like
:mod:`~evohebb.plasticity.native_copies`; where there is no compiler or the case does not apply (not CPU float32),
:func:`low_rank_update_` returns False and the caller uses torch. Used where ``network.compile_copies`` is on.
"""

from __future__ import annotations

import ctypes
import logging
from pathlib import Path

import torch
from torch import Tensor

from evohebb.run_io.native_build import load_shared_library

__all__ = ["available", "low_rank_update_"]

log = logging.getLogger(__name__)

_SOURCE = Path(__file__).with_suffix(".cpp")
_state: dict[str, object] = {}          # "kernel": the loaded function; "error": why it is not available


def _kernel():
    if "kernel" not in _state and "error" not in _state:
        try:
            kernel = load_shared_library(_SOURCE).low_rank_update
            kernel.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_int64] * 4 + [ctypes.c_int, ctypes.c_float]
            kernel.restype = None
            _state["kernel"] = kernel
        except Exception as exc:  # noqa: BLE001 - any build or load failure means: use torch
            _state["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
            log.warning("network.compile_copies: the native low-rank update is not available here (%s); torch is "
                        "used", _state["error"])
    return _state.get("kernel")


def available() -> bool:
    """Whether this process has (or can build) the kernel."""
    return _kernel() is not None


def low_rank_update_(weight: Tensor, V: Tensor, U: Tensor, normalise: bool, eps: float = 1e-12) -> bool:
    """``weight += V @ U`` in place (``weight [P, n_out, n_in]`` contiguous, ``V [P, n_out, r]``,
    ``U [P, r, n_in]``), then, where ``normalise``, ``weight /= max |weight|`` per individual (as
    :func:`~evohebb.plasticity.weight_normalisation.normalise_max_abs_`). False (nothing done) where the case
    does not apply or the kernel is not available."""
    tensors = (weight, V, U)
    if any(t.device.type != "cpu" or t.dtype != torch.float32 for t in tensors) or not weight.is_contiguous():
        return False
    kernel = _kernel()
    if kernel is None:
        return False
    P, n_out, n_in = weight.shape
    V, U = V.contiguous(), U.contiguous()
    kernel(weight.data_ptr(), V.data_ptr(), U.data_ptr(), P, n_out, n_in, U.shape[1], int(normalise), eps)
    return True
