"""A linear layer's plastic update and its max|w| normalisation as one native CPU loop (``native_linear_update.cpp``).

Neuron-centric ABCD updates a linear layer by ``V @ U`` (rank 8,
:meth:`~evohebb.plasticity.abcd.NeuronCentricABCD.linear_factors`), synapse-centric ABCD by per-synapse
coefficients (:meth:`~evohebb.plasticity.abcd.SynapseCentricABCD.synapse_coefficients`), and the thesis's networks
then divide each individual's weights by their max |w|. With torch that is a pass over the weights per operation
(for the low-rank update ``baddbmm_``, ``amax``, ``amin`` and a product: four reads and two writes), which at the
CarRacing network's 392 → 128 layer (7.2 MB for 36 individuals) do not stay in cache. These loops update one
individual's rows keeping the max and min in registers and scale them while they are in cache: each array read
once, the weights written once (the low-rank update ~1.7× faster there, cache flushed between calls). The values
are the same to float rounding. Built once per machine like :mod:`~evohebb.plasticity.native_copies`; where there
is no compiler or the case does not apply (not CPU float32), the functions return False and the caller uses torch.
Used where ``network.compile_copies`` is on.
"""

from __future__ import annotations

import ctypes
import logging
from pathlib import Path

from torch import Tensor

from evohebb.run_io.native_build import NativeLibrary

__all__ = ["available", "low_rank_update_", "synapse_update_"]

log = logging.getLogger(__name__)


def _declare(library) -> None:
    library.low_rank_update.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_int64] * 4 + [ctypes.c_int,
                                                                                        ctypes.c_float]
    library.synapse_update.argtypes = [ctypes.c_void_p] * 7 + [ctypes.c_int64] * 3 + [ctypes.c_int,
                                                                                       ctypes.c_float]
    library.low_rank_update.restype = library.synapse_update.restype = None


_native = NativeLibrary(Path(__file__).with_suffix(".cpp"), _declare,
                        "network.compile_copies: the native linear-layer update is not available here ({error}); torch "
                        "is used", log)
available = _native.available        # whether this process has (or can build) the kernels


def low_rank_update_(weight: Tensor, V: Tensor, U: Tensor, normalise: bool, eps: float = 1e-12) -> bool:
    """``weight += V @ U`` in place (``weight [P, n_out, n_in]`` contiguous, ``V [P, n_out, r]``,
    ``U [P, r, n_in]``), then, where ``normalise``, ``weight /= max |weight|`` per individual (as
    :func:`~evohebb.plasticity.weight_normalisation.normalise_max_abs_`). False (nothing done) where the case
    does not apply or the kernel is not available."""
    library = _native.get_for(weight, V, U) if weight.is_contiguous() else None
    if library is None:
        return False
    P, n_out, n_in = weight.shape
    V, U = V.contiguous(), U.contiguous()
    library.low_rank_update(weight.data_ptr(), V.data_ptr(), U.data_ptr(), P, n_out, n_in, U.shape[1],
                            int(normalise), eps)
    return True


def synapse_update_(weight: Tensor, coefficients: tuple[Tensor, Tensor, Tensor, Tensor], pre: Tensor, post: Tensor,
                    normalise: bool, eps: float = 1e-12) -> bool:
    """``weight += (a ⊙ y xᵀ) + b ⊙ 1 xᵀ + c ⊙ y 1ᵀ + d`` in place (``coefficients`` ``(a, b, c, d)``, each shaped like
    ``weight [P, n_out, n_in]``; ``pre`` = x ``[P, n_in]``, ``post`` = y ``[P, n_out]``), then, where ``normalise``,
    ``weight /= max |weight|`` per individual. False (nothing done) where the case does not apply or the kernel is
    not available."""
    tensors = (weight, *coefficients, pre, post)
    library = _native.get_for(*tensors) if all(t.is_contiguous() for t in tensors) else None
    if library is None:
        return False
    P, n_out, n_in = weight.shape
    library.synapse_update(*(t.data_ptr() for t in tensors), P, n_out, n_in, int(normalise), eps)
    return True
