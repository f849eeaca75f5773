"""Counter-based Gaussian noise, one independent stream per row of a population.

Row ``p``'s noise at step ``t`` depends only on (its seed, t): an individual explores the same way
whichever slice of the population, or which Ray actor, it is evaluated in. A splitmix64 hash of
(seed, step, index) in int64 tensor arithmetic (wrapping multiply, logical shifts by masking), then
Box-Muller: no Python loop over rows, works on any device.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

_GOLDEN = 0x9E3779B97F4A7C15 - (1 << 64)
_MIX1 = 0xBF58476D1CE4E5B9 - (1 << 64)
_MIX2 = 0x94D049BB133111EB - (1 << 64)


def _shift_right(x: Tensor, bits: int) -> Tensor:
    """Logical right shift of int64 (torch shifts arithmetically)."""
    return (x >> bits) & ((1 << (64 - bits)) - 1)


def _splitmix64(x: Tensor) -> Tensor:
    z = x + _GOLDEN
    z = (z ^ _shift_right(z, 30)) * _MIX1
    z = (z ^ _shift_right(z, 27)) * _MIX2
    return z ^ _shift_right(z, 31)


def row_normal(row_seeds: Tensor, step: int, n: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """Standard normal noise ``[P, n]``; row p is a function of ``(row_seeds[p], step)`` only."""
    seeds = row_seeds.to(torch.int64)
    counters = torch.arange(2 * n, device=seeds.device, dtype=torch.int64) + int(step) * (2 * n)
    bits = _splitmix64(_splitmix64(seeds).unsqueeze(1) ^ counters.unsqueeze(0))
    uniform = (_shift_right(bits, 11).to(torch.float64) + 0.5) * 2.0**-53       # (0, 1)
    u1, u2 = uniform[:, :n], uniform[:, n:]
    return (torch.sqrt(-2.0 * torch.log(u1)) * torch.cos(2.0 * math.pi * u2)).to(dtype)
