"""The max/min over a kernel entry's copies of a product term as a native CPU kernel (``native_copies.cpp``).

An unrolled conv's product term under ``max``/``min`` sharing is ``agg_l x[p, k, l] · v[p, c, l]`` over the
output positions ``l``: a max-times "matrix product" that no BLAS provides. Inductor's fused loop
(:mod:`~evohebb.plasticity.compiled_copies`) keeps one accumulator per output and re-reads both rows for every
``(c, k)``; this kernel blocks 4 kernel entries × 2 output channels over shared vector loads, and at stride 1
reads the conv's input where each copy reads it instead of an unfolded copy of it. At the thesis's shapes
(36 individuals, conv1 3→6 k3 on 64×64, conv2 6→8 k5 s2) it is ~3× (conv1) and ~2× (conv2) faster than the
inductor loop on one thread here; the values are the same (each product is rounded as torch rounds it, and a
max/min is exact), except that a NaN product is skipped instead of returned.

The C++ source is compiled once per machine (``-O3 -march=native``, cached in ``~/.cache/evohebb``:
:func:`~evohebb.run_io.native_build.load_shared_library`). Where there is no compiler, or the case does not apply
(not a CPU float32 tensor, zero padding, an aggregation other than max/min), :func:`product_extreme` returns None
and the caller uses its other path; a failed build warns once.
"""

from __future__ import annotations

import ctypes
import logging
from pathlib import Path

import torch
from torch import Tensor

from evohebb.plasticity.conv_geometry import ConvGeometry, phase_grids
from evohebb.run_io.native_build import NativeLibrary

__all__ = ["available", "product_extreme"]

log = logging.getLogger(__name__)


def _declare(library) -> None:
    library.copies_product_extreme.argtypes = [ctypes.c_void_p] * 4 + [ctypes.c_int64] * 7 + [ctypes.c_int]
    library.copies_product_extreme.restype = None


_native = NativeLibrary(Path(__file__).with_suffix(".cpp"), _declare,
                        "network.compile_copies: the native kernel is not available here ({error}); torch.compile or "
                        "the eager path is used", log)
available = _native.available        # whether this process has (or can build) the kernels


def product_extreme(x: Tensor, v: Tensor | None, geom: ConvGeometry, aggregation: str) -> Tensor | None:
    """``agg_l unfold(x)[p, k, l] · v[p, c, l]`` → ``[P, Cout, K]`` for ``aggregation`` max or min; ``v`` None:
    the presynaptic-only ``agg_l unfold(x)[p, k, l]`` → ``[P, 1, K]``.

    ``x [P, Cin, H, W]``: the conv's input; ``v [P, Cout, L]``: the postsynaptic factor per output position.
    The kernel reads ``x`` where each copy reads it (at stride ``s > 1`` from ``x`` split once into its ``s²``
    phase grids, so that every kernel entry's copies are contiguous along a row). None where the case does not
    apply (see the module doc) or the kernel is not available."""
    if aggregation not in ("max", "min") or geom.padding or not geom.unrollable:
        return None
    library = _native.get_for(x, v)
    if library is None:
        return None
    P, K, L = x.shape[0], geom.entry_size, geom.n_positions
    grids, offsets, row_stride = phase_grids(x, geom)
    v = x.new_ones(P, 1, L) if v is None else v.contiguous()
    out = torch.empty(P, v.shape[1], K, dtype=torch.float32)
    library.copies_product_extreme(grids.data_ptr(), offsets.data_ptr(), v.data_ptr(), out.data_ptr(), P,
                                   grids[0].numel() if P else 0, K, v.shape[1], geom.out_height, geom.out_width,
                                   row_stride, int(aggregation == "max"))
    return out
