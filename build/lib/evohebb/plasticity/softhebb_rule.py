"""The SoftHebb rule (Journé et al., ICLR 2023) in the rule contract of :mod:`evohebb.plasticity.rule`.

For postsynaptic signals ``y`` (from a competition, :mod:`evohebb.plasticity.competition`), pre-activations
``u = W x`` and weights ``W``, the update of output channel ``k`` at position ``l`` is::

    dW_k[l] = Σ_b y[b, k, l] · x_patch[b, :, l]  −  (Σ_b y[b, k, l] · u[b, k, l]) · W_k        (Hebbian − decay)

The weight-sharing engine reduces it: summed over positions for a conv-native layer (exactly
``torch.nn.grad.conv2d_weight`` minus the decay), aggregated per kernel entry (max/min/median/mean) for the
unrolled SoftHebb of seed 002, taken as is for a linear layer. Then, as SoftHebb does::

    dW  /= max |dW|                                            (normalised update, per individual)
    eta_k = eta0 * (| ||W_k|| - 1 | + 1e-10) ** power          (adaptive, norm-dependent rate)
"""

from __future__ import annotations

import torch
from torch import Tensor

from evohebb.plasticity.rule import CopyUpdate, HebbianRule, RuleInputs, Term

__all__ = ["SoftHebbRule", "adaptive_rate", "neuron_norms", "normalise_update"]


class SoftHebbRule(HebbianRule):
    """``pre`` ``[P, B, Cin, H, W]`` (the layer's input, already padded for non-zero padding modes), ``post`` the
    competition's ``y`` ``[P, B, Cout, Ho, Wo]``, ``state`` the pre-activation ``u`` shaped like ``post``."""

    sharing_modes = ("delta",)        # the decay term has no per-term aggregate
    needs_preactivation = True
    runs_without_parameters = True

    def layer_state(self, inputs: RuleInputs) -> Tensor:
        if inputs.preactivation is None:
            raise ValueError("the SoftHebb rule needs the layer's pre-activation u (a SoftHebb layer provides it)")
        return inputs.preactivation.unsqueeze(0)

    def copy_update(self, pre: Tensor, post: Tensor, weight: Tensor, state: Tensor) -> CopyUpdate:
        return CopyUpdate(terms=(Term(pre=pre, post=post, name="hebbian"),), decay=(post * state).sum(1),
                          weight=weight)


def normalise_update(delta: Tensor, population_dims: int = 0) -> Tensor:
    """Divide by the largest absolute entry (SoftHebb's update normalisation), per individual when the first
    ``population_dims`` dimensions index individuals."""
    flat = delta.reshape(*delta.shape[:population_dims], -1)
    m = flat.abs().amax(-1) + 1e-30
    return delta / m.reshape(*m.shape, *([1] * (delta.dim() - population_dims)))


def neuron_norms(weight: Tensor) -> Tensor:
    """L2 norm of each neuron's (output channel's) weight vector, shape ``[K]``."""
    return weight.reshape(weight.shape[0], -1).norm(dim=1)


def adaptive_rate(weight: Tensor, eta0: float, power: float = 0.5) -> Tensor:
    """Per-neuron learning rate ``eta0 * (| ||W_k|| - 1 | + 1e-10) ** power``: large while the norm is far from
    1, vanishing as the neuron converges to the unit sphere."""
    return eta0 * ((neuron_norms(weight) - 1.0).abs() + 1e-10).pow(power)


def rate_or_constant(weight: Tensor, eta0: float, adaptive: bool, power: float) -> Tensor:
    """The per-neuron rate ``[K]``: adaptive, or ``eta0`` for every neuron."""
    if adaptive:
        return adaptive_rate(weight, eta0, power)
    return torch.full((weight.shape[0],), float(eta0), device=weight.device, dtype=weight.dtype)
