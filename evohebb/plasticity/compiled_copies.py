"""The max/min over a kernel entry's copies of a product term, as one compiled loop (``torch.compile``).

An unrolled conv's ``C`` term under ``max``/``min`` sharing is ``agg_l u[p, k, l] · v[p, c, l]``: eager torch forms
the ``[p, c, K, L]`` products (in chunks) and reduces them, ~22 M products per step for the thesis's first conv
and 36 individuals. Inductor fuses the product into the reduction, so nothing is materialised: the same values
bitwise (a product and a min/max round the same way), ~5-9x faster on CPU here. It needs a C++ compiler and
compiles once per shape (~40 s on this VM); where compiling fails the caller's eager path is used, with one
warning. Opt-in: ``network.compile_copies``.
"""

from __future__ import annotations

import logging

import torch
from torch import Tensor

__all__ = ["outer_aggregate"]

log = logging.getLogger(__name__)

_kernels: dict[tuple[str, bool], object] = {}
_unavailable: list[str] = []


def _product_aggregate(u: Tensor, v: Tensor, aggregation: str) -> Tensor:
    block = u.unsqueeze(1) * v.unsqueeze(2)                       # [p, c, K, L], fused away by inductor
    return block.amax(-1) if aggregation == "max" else block.amin(-1)


def _masked_product_aggregate(u: Tensor, v: Tensor, valid: Tensor, aggregation: str) -> Tensor:
    block = u.unsqueeze(1) * v.unsqueeze(2)
    if aggregation == "max":
        return block.masked_fill(~valid, float("-inf")).amax(-1)
    return block.masked_fill(~valid, float("inf")).amin(-1)


def outer_aggregate(u: Tensor, v: Tensor, aggregation: str, valid: Tensor | None) -> Tensor | None:
    """``agg_l u[p, k, l] · v[p, c, l]`` → ``[p, c, K]`` for ``aggregation`` max or min (``valid`` ``[K, L]``: the
    copies that exist), compiled; None where this process cannot compile (then use the eager path)."""
    if aggregation not in ("max", "min") or _unavailable:
        return None
    key = (aggregation, valid is not None)
    kernel = _kernels.get(key)
    if kernel is None:
        kernel = _kernels[key] = torch.compile(
            _masked_product_aggregate if valid is not None else _product_aggregate, dynamic=False)
    try:
        return kernel(u, v, valid, aggregation) if valid is not None else kernel(u, v, aggregation)
    except Exception as exc:  # noqa: BLE001 - any compiler failure means: run eagerly
        _unavailable.append(f"{type(exc).__name__}: {exc}".splitlines()[0])
        log.warning("network.compile_copies: torch.compile is not available here (%s); the eager path is used",
                    _unavailable[0])
        return None
