"""A population's forward pass as native CPU loops (``native_forward.cpp``): convs with their tanh, linear layers.

A learning conv's post-activity is needed twice: by the next layer and, in ``[P, C, H, W]`` order, by the rule
(per-neuron parameters are laid out that way, and so is the native copies kernel's input). The grouped conv of
:func:`~evohebb.nn.unrolled.population_conv2d` is fastest on channels-last memory and returns ``[H, W, P, C]``;
reordering its map then costs as much as the conv. :func:`conv_tanh` computes each individual's conv directly in
``[P, C, H, W]`` order (4 output channels × 16 positions per register block) and applies tanh in the same pass:
at the thesis's first conv (36 individuals, 3→6 k3 on 64×64) it replaces the grouped conv, the reordering and
the four tanh passes, ~4× faster. :func:`linear` reads each individual's weights once, row by row (a learning
linear layer's weights change every step and do not stay in cache: 392 → 128 for 36 individuals is 7.2 MB), ~2×
faster there than a batched product of row vectors. :func:`max_pool2_tanh` pools 2×2 in one pass (and applies a
static conv's tanh after it).

Values: the sums are those of any float32 conv or product to rounding (the order of the products differs from
oneDNN's and MKL's), tanh within ~3e-7 of ``torch.tanh`` (tested). Built once per machine like
:mod:`~evohebb.plasticity.native_copies`; where there is no compiler, or the case does not apply (not a CPU
float32 tensor, zero padding), the functions return None and the caller uses torch. Used where
``network.compile_copies`` is on.
"""

from __future__ import annotations

import ctypes
import logging
from pathlib import Path

import torch
from torch import Tensor

from evohebb.plasticity.conv_geometry import ConvGeometry, phase_grids
from evohebb.run_io.native_build import NativeLibrary

__all__ = ["available", "conv_tanh", "linear", "max_pool2_tanh"]

log = logging.getLogger(__name__)


def _declare(library) -> None:
    library.population_conv.argtypes = [ctypes.c_void_p] * 4 + [ctypes.c_int64] * 7 + [ctypes.c_int]
    library.population_linear.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_int64] * 3
    library.pool2_tanh.argtypes = [ctypes.c_void_p] * 2 + [ctypes.c_int64] * 3 + [ctypes.c_int]
    for kernel in (library.population_conv, library.population_linear, library.pool2_tanh):
        kernel.restype = None


_native = NativeLibrary(Path(__file__).with_suffix(".cpp"), _declare,
                        "network.compile_copies: the native forward kernels are not available here ({error}); torch is "
                        "used", log)
available = _native.available        # whether this process has (or can build) the kernels


def conv_tanh(x: Tensor, weight: Tensor, geom: ConvGeometry, tanh: bool = True) -> Tensor | None:
    """``tanh(conv(x[p], weight[p]))`` for every individual ``p`` → contiguous ``[P, Cout, Ho, Wo]`` (``tanh``
    False: the pre-activation). ``x [P, Cin, H, W]`` (any layout), ``weight [P, Cout, Cin, k, k]``. None where the
    case does not apply (see the module doc) or the kernel is not available."""
    library = None if geom.padding else _native.get_for(x, weight)
    if library is None:
        return None
    P = x.shape[0]
    grids, offsets, row_stride = phase_grids(x, geom)
    w = weight.reshape(P, geom.out_channels, -1).contiguous()
    out = torch.empty(P, geom.out_channels, geom.out_height, geom.out_width, dtype=torch.float32)
    library.population_conv(grids.data_ptr(), offsets.data_ptr(), w.data_ptr(), out.data_ptr(), P,
                            grids[0].numel() if P else 0, geom.entry_size, geom.out_channels, geom.out_height,
                            geom.out_width, row_stride, int(tanh))
    return out


def linear(x: Tensor, weight: Tensor) -> Tensor | None:
    """``x [P, n_in]``, ``weight [P, n_out, n_in]`` → ``[P, n_out]`` (:func:`~evohebb.nn.unrolled.population_linear`);
    None where the case does not apply (not CPU float32) or the kernel is not available."""
    library = _native.get_for(x, weight)
    if library is None:
        return None
    P, n_out, n_in = weight.shape
    x, weight = x.contiguous(), weight.contiguous()
    out = torch.empty(P, n_out, dtype=torch.float32)
    library.population_linear(weight.data_ptr(), x.data_ptr(), out.data_ptr(), P, n_out, n_in)
    return out


def max_pool2_tanh(x: Tensor, tanh: bool = False) -> Tensor | None:
    """2×2 max-pooling (stride 2) of ``x [P, C, H, W]`` → contiguous ``[P, C, H // 2, W // 2]``
    (:func:`~evohebb.nn.unrolled.population_max_pool2d`), then ``tanh`` where asked (a static conv's map, pooled
    before its tanh); None where the case does not apply (not CPU float32) or the kernel is not available."""
    library = _native.get_for(x) if x.dim() == 4 else None
    if library is None:
        return None
    P, C, H, W = x.shape
    x = x.contiguous()
    out = torch.empty(P, C, H // 2, W // 2, dtype=torch.float32)
    library.pool2_tanh(x.data_ptr(), out.data_ptr(), P * C, H, W, int(tanh))
    return out
