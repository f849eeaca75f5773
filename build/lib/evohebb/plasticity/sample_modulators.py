"""Sample modulators: per-sample factors on a layer's postsynaptic signal, before the rule sums the batch.

Not a :class:`~evohebb.plasticity.modulators.Modulator` (which scales a layer's finished update ``Δw``): a
sample modulator implements ``post_factor(layer, post) -> Tensor | None``:

* ``post`` is the postsynaptic signal the rule is about to read, ``[P, R, Cout, ...]``, with the samples of
  the batch on the rule's rank axis ``R``;
* ``layer`` is the layer's name (``str``, e.g. the reward classifier's ``"conv"``, ``"feedf"``,
  ``"classification"``);
* the factor broadcasts over ``post`` along ``R`` (``None``: leave the signal alone).

For a rule linear in its postsynaptic signal (:class:`~evohebb.plasticity.soft_wta_hebb.SoftWTAHebbRule`) that is
exactly a per-sample learning rate: hebbianCNN's dopamine
(:class:`~evohebb.plasticity.dopamine_table.DopamineTable`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from torch import Tensor

__all__ = ["SampleModulator", "modulate_post"]


class SampleModulator(Protocol):
    def post_factor(self, layer: str, post: Tensor) -> Tensor | None: ...


def modulate_post(post: Tensor, modulators: Iterable[SampleModulator], layer: str) -> Tensor:
    """The postsynaptic signal ``post`` ``[P, R, Cout, ...]`` of layer ``layer`` times every sample modulator's
    per-sample factor."""
    for modulator in modulators:
        f = modulator.post_factor(layer, post)
        if f is not None:
            post = post * f
    return post
