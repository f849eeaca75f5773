"""Metrics of a continual-learning run from its accuracy matrix ``R`` (``R[i][j]``: task ``j`` tested after
training task ``i``; ``None`` for ``j > i``), in the definitions of Lopez-Paz & Ranzato (GEM) and Chaudhry et al.:

* average accuracy after task ``i``: ``mean_{j <= i} R[i][j]``;
* backward transfer after task ``i``: ``mean_{j < i} (R[i][j] − R[j][j])`` (negative: forgetting); with
  ``reference`` the subtracted value is ``reference[j]`` instead, e.g. the thesis's, the accuracy of task
  ``j``'s own readout right after it was trained (a multi-head model's ``R[j][j]`` already pays for head selection);
* forgetting after task ``i``: ``mean_{j < i} (max_{j <= l < i} R[l][j] − R[i][j])``.

Plain Python on lists; ``None`` where a metric needs an earlier task (``i = 0``).
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import fmean

Matrix = Sequence[Sequence[float | None]]

__all__ = ["average_accuracy", "backward_transfer", "forgetting"]


def average_accuracy(r: Matrix, i: int) -> float:
    return fmean(r[i][j] for j in range(i + 1))


def backward_transfer(r: Matrix, i: int, reference: Sequence[float] | None = None) -> float | None:
    if i == 0:
        return None
    ref = [r[j][j] for j in range(i)] if reference is None else reference
    return fmean(r[i][j] - ref[j] for j in range(i))


def forgetting(r: Matrix, i: int) -> float | None:
    if i == 0:
        return None
    return fmean(max(r[k][j] for k in range(j, i)) - r[i][j] for j in range(i))
