"""Hebbian ABCD rules: synapse-centric and neuron-centric.

Notation: ``i`` indexes presynaptic neurons (activity ``x_i`` / ``o_i``), ``j``
postsynaptic neurons (activity ``y_j`` / ``o_j``). Weight tensors are laid out
``[..., n_post, n_pre]`` like ``torch.nn.Linear`` (leading dims = population).

* Synapse-centric (Najarro & Risi):
  ``Δw_ij = η_ij (A_ij o_i o_j + B_ij o_i + C_ij o_j + D_ij)``;
  every parameter has the shape of the weight.
* Neuron-centric (thesis of seed 002): every neuron holds its own
  ``A, B, C, D, η`` and
  ``Δw_ij = (η_i + η_j)/2 · (A_i x_i + B_j y_j + C_i C_j x_i y_j + D_i D_j)``.
  ``A`` is used only when a neuron is presynaptic and ``B`` only when it is
  postsynaptic, so network inputs carry no ``B`` and network outputs no ``A``:
  a chain of layers with ``N_0 … N_L`` neurons has ``5·ΣN − N_0 − N_L``
  parameters. A layer's presynaptic parameters are the previous layer's
  postsynaptic ones; after a pooling layer the pooled neurons are fresh
  neurons (own ``A, C, D, η``; no ``B``), see :func:`neuron_centric_group_roles`.

Everything here is a pure tensor function: no weights are owned, nothing is
written anywhere. Modules decide when to apply the update, modulators scale it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor

__all__ = [
    "NEURON_PARAM_NAMES",
    "NeuronParams",
    "neuron_centric_abcd",
    "neuron_centric_group_roles",
    "neuron_centric_parameter_count",
    "synapse_centric_abcd",
]

NEURON_PARAM_NAMES = ("A", "B", "C", "D", "eta")


class NeuronParams(NamedTuple):
    """Per-neuron ABCD parameters of one neuron group, each shaped like the
    group's activity (e.g. ``[P, C, H, W]`` or ``[P, N]``). ``A`` is ``None``
    for a group that is never presynaptic, ``B`` for one never postsynaptic."""

    A: Tensor | None
    B: Tensor | None
    C: Tensor
    D: Tensor
    eta: Tensor


def synapse_centric_abcd(
    pre: Tensor, post: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor, eta: Tensor
) -> Tensor:
    """Synapse-centric ABCD update of a fully connected layer.

    Args:
        pre: ``[..., n_pre]`` presynaptic activity ``o_i``.
        post: ``[..., n_post]`` postsynaptic activity ``o_j``.
        A, B, C, D, eta: ``[..., n_post, n_pre]`` per-synapse parameters.
    Returns:
        ``Δw`` of shape ``[..., n_post, n_pre]``.
    """
    oi = pre.unsqueeze(-2)  # [..., 1, n_pre]
    oj = post.unsqueeze(-1)  # [..., n_post, 1]
    return eta * (A * oi * oj + B * oi + C * oj + D)


def neuron_centric_abcd(
    pre: Tensor, post: Tensor, pre_params: NeuronParams, post_params: NeuronParams
) -> Tensor:
    """Neuron-centric ABCD update of a fully connected layer.

    Args:
        pre: ``[..., n_pre]`` presynaptic activity ``x_i``.
        post: ``[..., n_post]`` postsynaptic activity ``y_j``.
        pre_params: parameters of the presynaptic neurons (``A, C, D, eta`` used), each ``[..., n_pre]``.
        post_params: parameters of the postsynaptic neurons (``B, C, D, eta`` used), each ``[..., n_post]``.
    Returns:
        ``Δw`` of shape ``[..., n_post, n_pre]``.
    """
    if pre_params.A is None or post_params.B is None:
        raise ValueError("neuron_centric_abcd needs A on the presynaptic and B on the postsynaptic group")
    # The bracket A_i x_i + B_j y_j + (C_i x_i)(C_j y_j) + D_i D_j is a rank-4 sum of
    # outer products: one batched matmul [.., n_post, 4] @ [.., 4, n_pre].
    ones_pre = torch.ones_like(pre)
    ones_post = torch.ones_like(post)
    left = torch.stack([post_params.C * post, post_params.D, ones_post, post_params.B * post], dim=-1)
    right = torch.stack([pre_params.C * pre, pre_params.D, pre_params.A * pre, ones_pre], dim=-2)
    bracket = torch.matmul(left, right)
    rate = (pre_params.eta.unsqueeze(-2) + post_params.eta.unsqueeze(-1)).mul_(0.5)
    return bracket.mul_(rate)


def neuron_centric_group_roles(n_layers: int, pooled_after: Sequence[bool] = ()) -> list[tuple[bool, bool]]:
    """Roles ``(is_pre, is_post)`` of the neuron groups of a chain of ``n_layers`` plastic layers.

    ``pooled_after[k]`` says that a pooling layer sits between plastic layer ``k``
    and ``k+1``: then layer ``k``'s outputs (post only) and the pooled neurons
    (pre only) are two groups. Without pooling a hidden group is both.
    """
    pooled = list(pooled_after) + [False] * (n_layers - len(pooled_after))
    roles: list[tuple[bool, bool]] = [(True, False)]  # network input
    for k in range(n_layers):
        last = k == n_layers - 1
        if last:
            roles.append((False, True))
        elif pooled[k]:
            roles.append((False, True))
            roles.append((True, False))
        else:
            roles.append((True, True))
    return roles


def neuron_centric_parameter_count(
    group_sizes: Sequence[int], roles: Sequence[tuple[bool, bool]] | None = None
) -> int:
    """Number of neuron-centric parameters for neuron groups of the given sizes.

    Each neuron holds ``C, D, η`` plus ``A`` if presynaptic and ``B`` if
    postsynaptic. With ``roles=None`` the groups form a plain chain (first =
    input, last = output), giving ``5·ΣN − N_in − N_out``.
    """
    sizes = list(group_sizes)
    if roles is None:
        roles = [(k < len(sizes) - 1, k > 0) for k in range(len(sizes))]
    if len(roles) != len(sizes):
        raise ValueError(f"got {len(sizes)} group sizes but {len(roles)} roles")
    return sum(n * (3 + int(pre) + int(post)) for n, (pre, post) in zip(sizes, roles))
