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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from torch import Tensor

__all__ = ["CopyUpdate", "NeuronRate", "PlasticityRule", "Term"]


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
