"""The rule contract: presynaptic activity, postsynaptic activity, weights and rule state in; Δw out.

A rule does not return a finished ``Δw``. It returns the *per-copy* update of a layer in factored form
(:class:`CopyUpdate`), and the weight-sharing engine (:mod:`evohebb.plasticity.weight_sharing`) reduces it
to the layer's weights: summed over positions for a conv-native layer, aggregated over a kernel entry's
copies (max/min/median/mean) for an unrolled conv, taken as is for a linear layer (one copy per synapse).
That is what lets one rule object serve a conv-native layer, an unrolled layer and a linear layer, each
with a leading population dimension ``P``.

Per-copy update of output channel ``c``, kernel entry ``k`` (``ci·k² + ky·k + kx``) at position ``l``::

    Δw[p, c, k, l] = rate[p, c, k, l] · Σ_t coef_t[p, c, k] · Σ_r pre_t[p, r, k, l] · post_t[p, r, c, l]
                     − decay[p, c, l] · w[p, c, k]

* ``pre_t`` is given as an image ``[P, R, Cin, H, W]`` (unfolded by the engine; ``None`` = 1), ``post_t``
  as a map ``[P, R, Cout, Ho, Wo]`` (``None`` = 1); ``r`` runs over a rank axis (a batch of samples for
  SoftHebb, 1 for the online ABCD rules);
* ``coef_t`` ``[P, Cout, K]`` is a per-kernel-entry factor (synapse-centric parameters; ``None`` = 1);
* ``rate`` is the neuron-centric ``(η_pre + η_post) / 2`` (``None`` = 1);
* ``decay`` multiplies the current weight (SoftHebb's ``Σ y·u`` term).

Terms marked ``constant`` do not depend on activity: the engine may cache their aggregate per genome.

**A rule owns its parameters.** It declares them (:attr:`HebbianRule.parameters`: each a
:class:`RuleParameter` held per presynaptic neuron, per postsynaptic neuron, per neuron or per synapse), builds a
layer's ``state`` from the named slices a network reads out of a genome (:meth:`HebbianRule.layer_state`, given
:class:`RuleInputs`), and says which weight-sharing modes it supports on an unrolled conv
(:attr:`HebbianRule.sharing_modes`). Networks select a rule by name from
:data:`evohebb.plasticity.rule_registry.RULES` and never name a rule class.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import torch
from torch import Tensor

__all__ = ["PARAMETER_PLACES", "SHARING_MODES", "CopyUpdate", "HebbianRule", "NeuronRate", "PlasticityRule",
           "RuleInputs", "RuleParameter", "Term", "parameter_values"]

#: where a rule parameter lives: on presynaptic neurons, on postsynaptic neurons, on every neuron, on each synapse
PARAMETER_PLACES = ("pre", "post", "neuron", "synapse")
#: how an unrolled conv aggregates a rule's per-copy update (:mod:`evohebb.plasticity.weight_sharing`)
SHARING_MODES = ("terms", "delta")


@dataclass(frozen=True)
class Term:
    """One separable term ``coef · Σ_r pre ⊗ post`` of a per-copy update (see the module doc)."""

    pre: Tensor | None = None
    post: Tensor | None = None
    coef: Tensor | None = None
    constant: bool = False
    name: str = ""


@dataclass(frozen=True)
class NeuronRate:
    """The neuron-centric rate ``(η_pre + η_post) / 2``: ``pre`` ``[P, Cin, H, W]``, ``post`` ``[P, Cout, Ho, Wo]``."""

    pre: Tensor
    post: Tensor


@dataclass(frozen=True)
class CopyUpdate:
    """A layer's per-copy update in factored form (see the module doc)."""

    terms: tuple[Term, ...] = ()
    rate: NeuronRate | None = None
    decay: Tensor | None = None          # [P, Cout, Ho, Wo]
    weight: Tensor | None = None         # [P, Cout, Cin, k, k], needed with decay
    info: dict[str, Any] = field(default_factory=dict)


class PlasticityRule(Protocol):
    """What every rule implements. ``pre`` is ``[P, R, Cin, H, W]``, ``post`` ``[P, R, Cout, Ho, Wo]``,
    ``weight`` ``[P, Cout, Cin, k, k]`` (linear layers: ``H = W = Ho = Wo = k = 1``); ``state`` is the rule's
    own (per-neuron parameters, a potential, …)."""

    def copy_update(self, pre: Tensor, post: Tensor, weight: Tensor, state: Any = None) -> CopyUpdate: ...


@dataclass(frozen=True)
class RuleParameter:
    """One parameter a rule needs. ``place``: ``pre`` (every neuron that is presynaptic somewhere), ``post``
    (every postsynaptic neuron), ``neuron`` (every neuron) or ``synapse`` (every synapse of a learning layer; one
    per kernel entry on a conv). A search starts it at ``U(-init, init)``, or ``U(0, init)`` when ``positive``;
    ``rate``: a learning rate (a network's ``eta_scale`` multiplies it)."""

    name: str
    place: str
    init: float = 0.1
    positive: bool = False
    rate: bool = False

    def __post_init__(self) -> None:
        if self.place not in PARAMETER_PLACES:
            raise ValueError(f"rule parameter {self.name!r}: place {self.place!r} is not one of {PARAMETER_PLACES}")

    def applies_to(self, is_pre: bool, is_post: bool) -> bool:
        """Whether a neuron group with these roles holds this parameter."""
        return {"pre": is_pre, "post": is_post, "neuron": True, "synapse": False}[self.place]

    def initial(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` starting values for a search."""
        u = torch.rand(n, generator=generator)
        return u * self.init if self.positive else (u * 2 - 1) * self.init


@dataclass(frozen=True)
class RuleInputs:
    """What a layer hands a rule to build its state: the rule's parameters of the layer's presynaptic and
    postsynaptic neurons (name → ``[P, C, H, W]`` map), of its synapses (name → ``[P, *weight_shape[1:]]`` or
    broadcastable) and, where the layer has it, the pre-activation ``u`` (``[B, Cout, Ho, Wo]``, SoftHebb layers)."""

    pre: Mapping[str, Tensor] = field(default_factory=dict)
    post: Mapping[str, Tensor] = field(default_factory=dict)
    synapse: Mapping[str, Tensor] = field(default_factory=dict)
    preactivation: Tensor | None = None


class HebbianRule:
    """Base of the registered rules: the declarations with their defaults and :meth:`copy_update` /
    :meth:`layer_state` to implement.

    * ``parameters``: what the rule needs from a genome (none by default);
    * ``sharing_modes``: the weight-sharing modes it supports on an unrolled conv (a rule with a decay term:
      ``("delta",)``); a config that combines it with another is refused at load;
    * ``needs_preactivation``: it reads the layer's pre-activation ``u`` (only SoftHebb layers provide it);
    * ``runs_without_parameters``: it also works with no genome (its parameters absent, e.g. a rate taken as 1),
      so a SoftHebb layer, which has no genome, can use it."""

    parameters: ClassVar[tuple[RuleParameter, ...]] = ()
    sharing_modes: ClassVar[tuple[str, ...]] = SHARING_MODES
    needs_preactivation: ClassVar[bool] = False
    runs_without_parameters: ClassVar[bool] = False

    def copy_update(self, pre: Tensor, post: Tensor, weight: Tensor, state: Any = None) -> CopyUpdate:
        raise NotImplementedError

    def layer_state(self, inputs: RuleInputs) -> Any:
        """The ``state`` :meth:`copy_update` takes, from a layer's named parameters (default: none)."""
        return None

    def linear_factors(self, pre: Tensor, post: Tensor, state: Any, cache: dict | None = None
                       ) -> tuple[Tensor, Tensor] | None:
        """Optional fast path of a linear layer (one copy per synapse) whose update is low-rank: ``Δw = V @ U``
        as ``(V [P, n_out, r], U [P, r, n_in])`` from ``pre [P, n_in]`` and ``post [P, n_out]``, equal to what the
        engine makes of :meth:`copy_update` (to float rounding) in a few fused tensor operations instead of a term
        at a time; ``cache``: the caller's per-genome dict. None (the default): the engine's path."""
        return None

    def synapse_coefficients(self, state: Any, shape: tuple[int, int, int], cache: dict | None = None
                             ) -> tuple[Tensor, Tensor, Tensor, Tensor] | None:
        """Optional fast path of a linear layer (weights ``shape = (P, n_out, n_in)``) whose update is
        ``Δw = a ⊙ y xᵀ + b ⊙ 1 xᵀ + c ⊙ y 1ᵀ + d`` with coefficients that depend only on the genome: ``(a, b, c, d)``,
        each contiguous ``[P, n_out, n_in]``, equal to what the engine makes of :meth:`copy_update`; ``cache``: the
        caller's per-genome dict. None (the default): the engine's path."""
        return None

    @classmethod
    def parameters_at(cls, place: str) -> tuple[RuleParameter, ...]:
        return tuple(p for p in cls.parameters if p.place == place)


def parameter_values(inputs: Mapping[str, Tensor], names: tuple[str, ...]) -> tuple[Tensor | None, ...]:
    """``inputs[name]`` for each name, None where absent (a group that does not hold that parameter)."""
    return tuple(inputs.get(n) for n in names)

