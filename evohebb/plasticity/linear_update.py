"""A linear layer's update from a rule's fast-path form, added to its weights (and normalised by max |w|).

Two forms a rule may give for a linear layer (one copy per synapse) instead of its per-copy update
(:class:`~evohebb.plasticity.rule.HebbianRule`): low-rank factors ``Δw = V @ U``
(:meth:`~evohebb.plasticity.rule.HebbianRule.linear_factors`) and per-synapse coefficients
``Δw = a ⊙ y xᵀ + b ⊙ 1 xᵀ + c ⊙ y 1ᵀ + d`` (:meth:`~evohebb.plasticity.rule.HebbianRule.synapse_coefficients`).
Each is applied by the native loop of :mod:`~evohebb.plasticity.native_linear_update` where ``native`` and it
builds, else by torch; the values are the same to float rounding.
"""

from __future__ import annotations

import torch
from torch import Tensor

from evohebb.plasticity import native_linear_update
from evohebb.plasticity.weight_normalisation import normalise_max_abs_

__all__ = ["apply_low_rank_", "apply_synapse_", "synapse_delta"]


def apply_low_rank_(weight: Tensor, V: Tensor, U: Tensor, normalise: bool, native: bool) -> Tensor:
    """``weight += V @ U`` in place (``weight [P, n_out, n_in]``), then divided by its max |w| per individual where
    ``normalise``; ``weight`` returned."""
    if not (native and native_linear_update.low_rank_update_(weight, V, U, normalise)):
        weight.baddbmm_(V, U)
        if normalise:
            normalise_max_abs_(weight)
    return weight


def synapse_delta(coefficients: tuple[Tensor, Tensor, Tensor, Tensor], pre: Tensor, post: Tensor) -> Tensor:
    """``Δw = (a ⊙ y + b) ⊙ xᵀ + c ⊙ y + d`` → ``[P, n_out, n_in]`` (``pre`` = x ``[P, n_in]``, ``post`` = y
    ``[P, n_out]``)."""
    a, b, c, d = coefficients
    column = post.unsqueeze(2)
    return torch.addcmul(b, a, column).mul_(pre.unsqueeze(1)).addcmul_(c, column).add_(d)


def apply_synapse_(weight: Tensor, coefficients: tuple[Tensor, Tensor, Tensor, Tensor], pre: Tensor, post: Tensor,
                   normalise: bool, native: bool) -> Tensor:
    """``weight += synapse_delta(...)`` in place, then divided by its max |w| per individual where ``normalise``;
    ``weight`` returned."""
    pre, post = pre.contiguous(), post.contiguous()
    if not (native and native_linear_update.synapse_update_(weight, coefficients, pre, post, normalise)):
        weight.add_(synapse_delta(coefficients, pre, post))
        if normalise:
            normalise_max_abs_(weight)
    return weight
