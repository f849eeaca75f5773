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

Each rule is written once, as the per-copy update of :mod:`evohebb.plasticity.rule`; the weight-sharing
engine turns it into a linear layer's, a conv-native layer's or an unrolled conv's update. No weights are
owned, nothing is written anywhere. Layers decide when to apply the update, modulators scale it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor

from evohebb.plasticity.conv_geometry import linear_geometry
from evohebb.plasticity.rule import (
    CopyUpdate,
    HebbianRule,
    NeuronRate,
    RuleInputs,
    RuleParameter,
    Term,
    parameter_values,
)
from evohebb.plasticity.weight_sharing import reduce_copies

__all__ = [
    "NEURON_PARAM_NAMES",
    "NeuronCentricABCD",
    "NeuronParams",
    "SynapseCentricABCD",
    "SynapseParams",
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


class SynapseParams(NamedTuple):
    """Per-synapse (per kernel entry) ABCD parameters, each ``[P, Cout, K]`` or shaped like the weight."""

    A: Tensor
    B: Tensor
    C: Tensor
    D: Tensor
    eta: Tensor


class NeuronCentricABCD(HebbianRule):
    """``Δw_ij = (η_i + η_j)/2 · (A_i x_i + B_j y_j + C_i C_j x_i y_j + D_i D_j)``; ``state`` is
    ``(pre_params, post_params)``: :class:`NeuronParams` shaped like ``pre[:, 0]`` and ``post[:, 0]``."""

    parameters = (RuleParameter("A", "pre"), RuleParameter("B", "post"), RuleParameter("C", "neuron"),
                  RuleParameter("D", "neuron"), RuleParameter("eta", "neuron", positive=True, rate=True))

    def layer_state(self, inputs: RuleInputs) -> tuple[NeuronParams, NeuronParams]:
        return (NeuronParams(*parameter_values(inputs.pre, NEURON_PARAM_NAMES)),
                NeuronParams(*parameter_values(inputs.post, NEURON_PARAM_NAMES)))

    def copy_update(self, pre: Tensor, post: Tensor, weight: Tensor | None,
                    state: tuple[NeuronParams, NeuronParams]) -> CopyUpdate:
        p, q = state
        if p.A is None or q.B is None:
            raise ValueError("neuron-centric ABCD needs A on the presynaptic and B on the postsynaptic group")
        return CopyUpdate(
            terms=(Term(pre=p.A.unsqueeze(1) * pre, name="A"),
                   Term(post=q.B.unsqueeze(1) * post, name="B"),
                   Term(pre=p.C.unsqueeze(1) * pre, post=q.C.unsqueeze(1) * post, name="C"),
                   Term(pre=p.D.unsqueeze(1), post=q.D.unsqueeze(1), constant=True, name="D")),
            rate=NeuronRate(p.eta, q.eta))

    def linear_factors(self, pre: Tensor, post: Tensor, state: tuple[NeuronParams, NeuronParams],
                       cache: dict | None = None) -> tuple[Tensor, Tensor]:
        """``Δw = V @ U`` of a linear layer, rank 8: the rate ``(η_i + η_j)/2`` splits each of the four terms in
        two, ``½ η_i f_i g_j + ½ f_i η_j g_j``. Each factor is ``activity × coefficients + constants``
        (one ``addcmul``); the coefficients depend only on the genome and are kept in ``cache``."""
        coefficients = None if cache is None else cache.get("linear_factors")
        if coefficients is None:
            coefficients = _linear_coefficients(state, pre.shape[0])
            if cache is not None:
                cache["linear_factors"] = coefficients
        u_coef, u_const, v_coef, v_const = coefficients
        return torch.addcmul(v_const, post.unsqueeze(2), v_coef), torch.addcmul(u_const, pre.unsqueeze(1), u_coef)


def _linear_coefficients(state: tuple[NeuronParams, NeuronParams], P: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Rows ``r`` of ``U = x · u_coef + u_const`` and columns of ``V = y · v_coef + v_const`` pair as
    ``½η_i A_i x_i · 1``, ``A_i x_i · ½η_j``, ``½η_i · B_j y_j``, ``1 · ½η_j B_j y_j``, ``½η_i C_i x_i · C_j y_j``,
    ``C_i x_i · ½η_j C_j y_j``, ``½η_i D_i · D_j``, ``D_i · ½η_j D_j``."""
    p, q = state
    if p.A is None or q.B is None:
        raise ValueError("neuron-centric ABCD needs A on the presynaptic and B on the postsynaptic group")
    A, Ci, Di, eta_i = (t.reshape(P, -1) for t in (p.A, p.C, p.D, p.eta))
    B, Cj, Dj, eta_j = (t.reshape(P, -1) for t in (q.B, q.C, q.D, q.eta))
    hi, hj = eta_i * 0.5, eta_j * 0.5
    zi, zj = torch.zeros_like(A), torch.zeros_like(B)
    u_coef = torch.stack([hi * A, A, zi, zi, hi * Ci, Ci, zi, zi], 1)
    u_const = torch.stack([zi, zi, hi, torch.ones_like(A), zi, zi, hi * Di, Di], 1)
    v_coef = torch.stack([zj, zj, B, hj * B, Cj, hj * Cj, zj, zj], 2)
    v_const = torch.stack([torch.ones_like(B), hj, zj, zj, zj, zj, Dj, hj * Dj], 2)
    return u_coef, u_const, v_coef, v_const


class SynapseCentricABCD(HebbianRule):
    """``Δw_ij = η_ij (A_ij o_i o_j + B_ij o_i + C_ij o_j + D_ij)`` (Najarro & Risi); ``state`` is
    :class:`SynapseParams`, one value per synapse (per kernel entry on a conv)."""

    parameters = tuple(RuleParameter(n, "synapse") for n in "ABCD") + (
        RuleParameter("eta", "synapse", positive=True, rate=True),)

    def layer_state(self, inputs: RuleInputs) -> SynapseParams:
        return SynapseParams(*(inputs.synapse[n] for n in NEURON_PARAM_NAMES))

    def copy_update(self, pre: Tensor, post: Tensor, weight: Tensor | None, state: SynapseParams) -> CopyUpdate:
        P, c = post.shape[0], post.shape[2]
        A, B, C, D, eta = (t.reshape(P, c, -1) for t in state)
        return CopyUpdate(terms=(Term(pre=pre, post=post, coef=eta * A, name="A"),
                                 Term(pre=pre, coef=eta * B, name="B"),
                                 Term(post=post, coef=eta * C, name="C"),
                                 Term(coef=eta * D, constant=True, name="D")))

    def synapse_coefficients(self, state: SynapseParams, shape: tuple[int, int, int], cache: dict | None = None
                             ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(η A, η B, η C, η D)`` of a linear layer, each ``[P, n_out, n_in]``: ``Δw = ηA ⊙ y xᵀ + ηB ⊙ 1 xᵀ +
        ηC ⊙ y 1ᵀ + ηD``; formed once per genome (kept in ``cache``) instead of at every step."""
        coefficients = None if cache is None else cache.get("synapse_coefficients")
        if coefficients is None:
            A, B, C, D, eta = (t.reshape(shape) for t in state)
            coefficients = tuple((eta * t).contiguous() for t in (A, B, C, D))
            if cache is not None:
                cache["synapse_coefficients"] = coefficients
        return coefficients


def _as_population(t: Tensor, lead: tuple[int, ...]) -> Tensor:
    """``[..., n]`` → ``[P, 1, n, 1, 1]`` (one neuron per 1×1 channel)."""
    return t.reshape(math.prod(lead), 1, t.shape[-1], 1, 1)


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
    lead = pre.shape[:-1]
    P = math.prod(lead)
    params = SynapseParams(*(t.reshape(P, post.shape[-1], pre.shape[-1]) for t in (A, B, C, D, eta)))
    update = SynapseCentricABCD().copy_update(_as_population(pre, lead), _as_population(post, lead), None, params)
    dw = reduce_copies(update, linear_geometry(pre.shape[-1], post.shape[-1]))
    return dw.reshape(*lead, post.shape[-1], pre.shape[-1])


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
    lead = pre.shape[:-1]
    P = math.prod(lead)

    def group(params: NeuronParams, n: int) -> NeuronParams:
        return NeuronParams(*(None if t is None else t.reshape(P, n, 1, 1) for t in params))

    update = NeuronCentricABCD().copy_update(
        _as_population(pre, lead), _as_population(post, lead), None,
        (group(pre_params, pre.shape[-1]), group(post_params, post.shape[-1])))
    dw = reduce_copies(update, linear_geometry(pre.shape[-1], post.shape[-1]))
    return dw.reshape(*lead, post.shape[-1], pre.shape[-1])


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
