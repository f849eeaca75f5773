"""Modulators: factors that scale a layer's update ``Δw`` per individual, per layer or per output channel (kernel).

**The contract.** A modulator implements ``factor(layer, delta) -> Tensor | float | None``:

* ``delta`` is the layer's *rule update*: what the rule and the weight-sharing engine give for the layer,
  shaped like its weights with a leading population dimension ``[P, Cout, ...]``. It includes what belongs to
  the rule (the rate of its :class:`~evohebb.plasticity.rule.CopyUpdate`, e.g. ABCD's ``η``; SoftHebb's division
  by ``max |Δw|``, :func:`~evohebb.plasticity.softhebb_rule.normalise_update`) and nothing the layer does
  afterwards: its step size (SoftHebb's ``eta0`` / norm-dependent rate), then, on the weights, normalisation by
  ``max |w|``, clipping, Dale's clamp, homeostatic scaling;
* ``layer`` is the layer's index (``int``, ``0..L-1``) in its network's order of plastic layers
  (:meth:`~evohebb.nn.plastic_layer_stack.PlasticLayerStack.weights`,
  :meth:`~evohebb.nn.softhebb_blocks.HebbianConvNet.hebbian_layers`);
* the factor broadcasts over ``delta`` (``None``: leave the update alone).

Every layer applies its modulators the same way, with :func:`modulate`: ``delta`` times every factor, in order.
(The reward classifier's per-sample dopamine is not a modulator: it scales each sample's postsynaptic signal
before the rule sums the batch; see :mod:`evohebb.plasticity.sample_modulators`.)

* per individual: the reward-prediction error (:class:`~evohebb.plasticity.rpe.RewardModulator`);
* per layer: :class:`LayerTable` (e.g. a dopamine level per layer);
* per output channel / kernel: :class:`KernelScale`, kernel-plasticity neuromodulation
  (:class:`~evohebb.plasticity.kernel_plasticity.KernelPlasticity`) and any continual strategy
  (:mod:`evohebb.plasticity.continual_strategy`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from torch import Tensor

__all__ = ["KernelScale", "LayerTable", "Modulator", "modulate"]


class Modulator(Protocol):
    def factor(self, layer: int, delta: Tensor) -> Tensor | float | None: ...


def modulate(delta: Tensor, modulators: Iterable[Modulator], layer: int) -> Tensor:
    """The rule update ``delta`` ``[P, Cout, ...]`` of plastic layer ``layer`` times every modulator's factor
    (the contract in the module doc)."""
    for modulator in modulators:
        f = modulator.factor(layer, delta)
        if f is None:
            continue
        delta = delta * f
    return delta


class LayerTable:
    """One factor per layer index (layers absent from the table are left alone)."""

    def __init__(self, factors: Mapping[int, float]):
        self.factors = {int(k): float(v) for k, v in factors.items()}

    def factor(self, layer: int, delta: Tensor) -> float | None:
        return self.factors.get(layer)


class KernelScale:
    """One factor per output channel (kernel) of each layer: ``[Cout]`` (shared by the population) or
    ``[P, Cout]``; set with :meth:`set`, applied to ``delta`` ``[P, Cout, ...]``."""

    def __init__(self):
        self.scales: dict[int, Tensor] = {}

    def set(self, layer: int, scale: Tensor) -> None:
        self.scales[int(layer)] = scale

    def factor(self, layer: int, delta: Tensor) -> Tensor | None:
        scale = self.scales.get(layer)
        if scale is None:
            return None
        if scale.dim() == 1:
            scale = scale.unsqueeze(0)
        if scale.shape[-1] != delta.shape[1]:
            raise ValueError(f"layer {layer}: {scale.shape[-1]} kernel factors for {delta.shape[1]} output channels")
        return scale.to(delta).view(*scale.shape, *([1] * (delta.dim() - 2)))
