"""The soft-WTA Hebbian rule of hebbianCNN (seed 003) in the rule contract of :mod:`evohebb.plasticity.rule`.

Every neuron ``c`` of a layer holds positive weights ``w_c``; its activity is a soft winner-take-all over the
layer, ``y = softmax(x̃ · log w / t)`` (the layer computes it), and it learns::

    Δw_ck = Σ_r Σ_l y[r, c, l] · (x̃[r, k, l] − w_ck)                     (× the layer's learning rate)

summed over the rank axis ``r`` (the samples of a batch) and, in a conv layer, over positions ``l``: the weights
move towards the inputs the neuron wins, so they converge to a weighted mean of those inputs (a Poisson
mixture's centres when the inputs sum to a constant). In factored form: one Hebbian term ``Σ y ⊗ x̃`` and a
decay ``(Σ y) · w`` — the :class:`~evohebb.plasticity.softhebb_rule.SoftHebbRule` decay ``Σ y·u`` replaced by
``Σ y``.

**Affine inputs.** hebbianCNN normalises every conv patch to a fixed sum ``A``:
``x̃[k, l] = s[l] · x[k, l] + o[l]`` with a per-position scale ``s`` and offset ``o``. A per-position factor
belongs to the postsynaptic side of a term, so with ``state=AffineInput(s, o)`` the rule returns
``Term(pre=x, post=y·s) + Term(post=y·o)`` and the weight-sharing engine still computes the conv-native sum as
one convolution weight-gradient — no patch matrix is formed.

**Per-sample learning rates.** Both terms are linear in ``y``: scaling ``y[r]`` by a factor ``d[r]`` before the
rule (what :class:`~evohebb.plasticity.dopamine_table.DopamineTable` does) is exactly multiplying sample
``r``'s learning rate by ``d[r]`` before the batch is summed.

:func:`skip_nonpositive` is the seed's guard: a neuron whose update would make any of its weights ``≤ 0`` is
not updated at all (``log w`` must stay finite).

**Weight sums.** With a positive rate the rule drives each neuron's weight sum to the input sum
(``Δ Σ_k w_ck ∝ Σ y · (Σ_k x̃_k − Σ_k w_ck)``); with a negative rate (negative dopamine) it drives the sum *away*
from it, and since ``u = x̃ · log w`` grows by ``A · log(Σw / A)`` for every input, one neuron whose sum runs
away wins every input. :func:`rescale_to_sum` restores the sum (the seed's predecessor, hebbianRL, guarded the
same run-away with its ``lim_weights`` cap on ``Σ w``).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from evohebb.plasticity.rule import CopyUpdate, Term

__all__ = ["AffineInput", "SoftWTAHebbRule", "rescale_to_sum", "skip_nonpositive"]


@dataclass(frozen=True)
class AffineInput:
    """The rule's presynaptic activity is ``scale · pre + offset``; ``scale`` and ``offset`` are per position,
    ``[P, R, 1, Ho, Wo]`` (or anything that broadcasts against the postsynaptic signal; ``offset`` may be a
    float)."""

    scale: Tensor
    offset: Tensor | float = 1.0


class SoftWTAHebbRule:
    """``pre`` ``[P, R, Cin, H, W]``, ``post`` the soft-WTA activity ``[P, R, Cout, Ho, Wo]`` (already scaled by
    any per-sample factor), ``weight`` ``[P, Cout, Cin, k, k]``; ``state`` an optional :class:`AffineInput`."""

    def copy_update(self, pre: Tensor, post: Tensor, weight: Tensor, state: AffineInput | None = None) -> CopyUpdate:
        if state is None:
            terms = (Term(pre=pre, post=post, name="hebbian"),)
        else:
            offset = state.offset
            terms = (Term(pre=pre, post=post * state.scale, name="hebbian"),
                     Term(post=post * offset, name="offset"))
        return CopyUpdate(terms=terms, decay=post.sum(1), weight=weight)


def skip_nonpositive(weight: Tensor, delta: Tensor) -> tuple[Tensor, Tensor]:
    """``delta`` with the update of every neuron (index along dim 0) zeroed where ``weight + delta`` would have
    an entry ``≤ 0``; and the bool mask ``[Cout]`` of the skipped neurons."""
    skipped = ~((weight + delta) > 0).reshape(weight.shape[0], -1).all(1)
    keep = (~skipped).to(delta.dtype).view(-1, *([1] * (delta.dim() - 1)))
    return delta * keep, skipped


def rescale_to_sum(weight: Tensor, total: float) -> None:
    """Rescale every neuron's weights (index along dim 0) in place so that they sum to ``total``."""
    weight.mul_(total / weight.reshape(weight.shape[0], -1).sum(1).view(-1, *([1] * (weight.dim() - 1))))
