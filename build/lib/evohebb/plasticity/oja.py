"""Oja's rule (Oja 1982), a normalising Hebbian rule, in the rule contract of :mod:`evohebb.plasticity.rule`::

    Δw_ij = η_j · y_j · (x_i − y_j · w_ij)

The Hebbian term ``y x`` grows a weight along the input's principal direction, the decay ``y² w`` keeps its norm
near 1. ``η_j`` is a parameter of each postsynaptic neuron (evolved by the evolve pipeline; a SoftHebb layer has
no genome and applies its own rate, so there ``η = 1`` and ``y`` is the layer's competition signal).
"""

from __future__ import annotations

from torch import Tensor

from evohebb.plasticity.rule import CopyUpdate, HebbianRule, RuleInputs, RuleParameter, Term

__all__ = ["OjaRule"]


class OjaRule(HebbianRule):
    """``state``: the postsynaptic rate ``η`` ``[P, Cout, Ho, Wo]``, or None (rate 1)."""

    parameters = (RuleParameter("eta", "post", positive=True, rate=True),)
    sharing_modes = ("delta",)        # the decay term has no per-term aggregate
    runs_without_parameters = True

    def copy_update(self, pre: Tensor, post: Tensor, weight: Tensor, state: Tensor | None = None) -> CopyUpdate:
        rated = post if state is None else post * state.unsqueeze(1)
        return CopyUpdate(terms=(Term(pre=pre, post=rated, name="hebbian"),), decay=(rated * post).sum(1),
                          weight=weight)

    def layer_state(self, inputs: RuleInputs) -> Tensor | None:
        return inputs.post.get("eta")
