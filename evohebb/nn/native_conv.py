"""A population's convs followed by tanh as one native CPU loop (``native_conv.cpp``), the map in rule order.

A learning conv's post-activity is needed twice: by the next layer and, in ``[P, C, H, W]`` order, by the rule
(per-neuron parameters are laid out that way, and so is the native copies kernel's input). The grouped conv of
:func:`~evohebb.nn.unrolled.population_conv2d` is fastest on channels-last memory and returns ``[H, W, P, C]``;
reordering its map then costs as much as the conv. This kernel computes each individual's conv directly in
``[P, C, H, W]`` order (4 output channels × 8 positions per register block) and applies tanh in the same pass.
At the thesis's first conv (36 individuals, 3→6 k3 on 64×64) it replaces the grouped conv, the reordering and
the four tanh passes.

Values: the conv's sums are those of any float32 conv to rounding (the order of the ``Cin·k²`` products differs
from oneDNN's), tanh within ~3e-7 of ``torch.tanh`` (tested). Built once per machine like
:mod:`~evohebb.plasticity.native_copies`; where there is no compiler, or the case does not apply (not a CPU
float32 tensor, zero padding), :func:`conv_tanh` returns None and the caller uses torch. Used where
``network.compile_copies`` is on (the thesis config).
"""

from __future__ import annotations

import ctypes
import logging
from pathlib import Path

import torch
from torch import Tensor

from evohebb.plasticity.conv_geometry import ConvGeometry, phase_grids
from evohebb.run_io.native_build import load_shared_library

__all__ = ["available", "conv_tanh"]

log = logging.getLogger(__name__)

_SOURCE = Path(__file__).with_suffix(".cpp")
_state: dict[str, object] = {}          # "kernel": the loaded function; "error": why it is not available


def _kernel():
    if "kernel" not in _state and "error" not in _state:
        try:
            kernel = load_shared_library(_SOURCE).population_conv
            kernel.argtypes = [ctypes.c_void_p] * 4 + [ctypes.c_int64] * 7 + [ctypes.c_int]
            kernel.restype = None
            _state["kernel"] = kernel
        except Exception as exc:  # noqa: BLE001 - any build or load failure means: use torch
            _state["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
            log.warning("network.compile_copies: the native conv is not available here (%s); torch's conv is used",
                        _state["error"])
    return _state.get("kernel")


def available() -> bool:
    """Whether this process has (or can build) the kernel."""
    return _kernel() is not None


def conv_tanh(x: Tensor, weight: Tensor, geom: ConvGeometry, tanh: bool = True) -> Tensor | None:
    """``tanh(conv(x[p], weight[p]))`` for every individual ``p`` → contiguous ``[P, Cout, Ho, Wo]`` (``tanh``
    False: the pre-activation). ``x [P, Cin, H, W]`` (any layout), ``weight [P, Cout, Cin, k, k]``. None where the
    case does not apply (see the module doc) or the kernel is not available."""
    if geom.padding or x.device.type != "cpu" or x.dtype != torch.float32 or weight.dtype != torch.float32:
        return None
    kernel = _kernel()
    if kernel is None:
        return None
    P = x.shape[0]
    grids, offsets, row_stride = phase_grids(x, geom)
    w = weight.reshape(P, geom.out_channels, -1).contiguous()
    out = torch.empty(P, geom.out_channels, geom.out_height, geom.out_width, dtype=torch.float32)
    kernel(grids.data_ptr(), offsets.data_ptr(), w.data_ptr(), out.data_ptr(), P, grids[0].numel() if P else 0,
           geom.entry_size, geom.out_channels, geom.out_height, geom.out_width, row_stride, int(tanh))
    return out
