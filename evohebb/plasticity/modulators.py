"""Modulators: factors that scale a rule's ``Δw`` per individual, per layer or per output channel (kernel).

A modulator implements ``factor(layer, delta) -> Tensor | float | None``: something that broadcasts over the
layer's update ``delta`` ``[P, Cout, ...]`` (``None``: leave the update alone). The layer multiplies the
update by every modulator's factor, in order (:func:`modulate`), before normalisation and clipping.

* per individual: the reward-prediction error (:class:`~evohebb.plasticity.rpe.RewardModulator`);
* per layer: :class:`LayerTable` (e.g. a dopamine level per layer);
* per output channel / kernel: :class:`KernelScale` (e.g. kernel-plasticity neuromodulation, which sets
  the factors of the important kernels after each task).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from torch import Tensor

__all__ = ["KernelScale", "LayerTable", "Modulator", "modulate"]


class Modulator(Protocol):
    def factor(self, layer: int, delta: Tensor) -> Tensor | float | None: ...


def modulate(delta: Tensor, modulators: Iterable[Modulator], layer: int) -> Tensor:
    """``delta`` times every modulator's factor for ``layer``."""
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
