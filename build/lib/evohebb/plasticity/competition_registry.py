"""The competition variants selectable by name (``hebbian.mode`` in a SoftHebb config): each one a
:class:`~evohebb.plasticity.competition.Competition` class registered here, built from the layer's settings.

The competition decides *who learns and how much* (the learning signal ``y`` from the activations ``a``); the
rule (``hebbian.rule``, :mod:`evohebb.plasticity.rule_registry`) decides *how* the weights move given ``x``, ``y``
and ``w``. A new variant is one class::

    from evohebb.plasticity.competition import Competition
    from evohebb.plasticity.competition_registry import register_competition

    @register_competition("my_competition")
    class MyCompetition(Competition):
        def signal(self, a, dim=1): ...

``docs/extending.md`` walks through a complete one.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from evohebb.plasticity.bcm import BCMThreshold
from evohebb.plasticity.competition import (
    Competition,
    TemporalCompetition,
    hard_wta,
    no_competition,
    soft_wta,
    threshold_competition,
    top_k_wta,
)
from evohebb.registry import Registry

__all__ = ["COMPETITIONS", "make_competition", "register_competition"]

COMPETITIONS: Registry[type[Competition]] = Registry("competition")
register_competition = COMPETITIONS.register


@register_competition("soft")
class SoftWTA(Competition):
    """SoftHebb's soft winner-take-all ``softmax(t_inv · a)``, non-winners negated when ``anti_hebbian``."""

    def __init__(self, t_inv: float = 1.0, anti_hebbian: bool = True):
        self.t_inv, self.anti_hebbian = t_inv, anti_hebbian

    @classmethod
    def from_settings(cls, settings: Any, n_neurons: int, device: torch.device | str | None = None) -> SoftWTA:
        return cls(settings.t_inv, settings.anti_hebbian)

    def signal(self, a: Tensor, dim: int = 1) -> Tensor:
        return soft_wta(a, self.t_inv, dim=dim, anti_hebbian=self.anti_hebbian)


@register_competition("hard")
class HardWTA(Competition):
    """One winner (the argmax) per position."""

    def signal(self, a: Tensor, dim: int = 1) -> Tensor:
        return hard_wta(a, dim=dim)


@register_competition("topk")
class TopKWTA(Competition):
    """The ``top_k`` largest per position win (1), the others 0."""

    def __init__(self, k: int = 1):
        self.k = k

    @classmethod
    def from_settings(cls, settings: Any, n_neurons: int, device: torch.device | str | None = None) -> TopKWTA:
        return cls(settings.top_k)

    def signal(self, a: Tensor, dim: int = 1) -> Tensor:
        return top_k_wta(a, self.k, dim=dim)


@register_competition("basic")
class NoCompetition(Competition):
    """No competition: ``y = a`` (with the default ``softhebb`` rule, whose decay is ``y·u``, that is Oja's rule)."""

    def signal(self, a: Tensor, dim: int = 1) -> Tensor:
        return no_competition(a, dim=dim)


@register_competition("bcm")
class BCMCompetition(Competition):
    """Soft-WTA probabilities (no anti-Hebbian sign) modulated by a BCM sliding threshold:
    ``y · (y − θ)``, ``θ`` moving toward the mean of ``y²`` with decay ``bcm_decay``."""

    def __init__(self, n_neurons: int, t_inv: float = 1.0, decay: float = 0.5,
                 device: torch.device | str | None = None):
        self.t_inv = t_inv
        self.threshold = BCMThreshold(n_neurons, decay, device)

    @classmethod
    def from_settings(cls, settings: Any, n_neurons: int,
                      device: torch.device | str | None = None) -> BCMCompetition:
        return cls(n_neurons, settings.t_inv, settings.bcm_decay, device)

    def signal(self, a: Tensor, dim: int = 1) -> Tensor:
        y = soft_wta(a, self.t_inv, dim=dim, anti_hebbian=False)
        self.threshold.update(y, dim=dim)
        return self.threshold.modulate(y, dim=dim)

    def state_dict(self) -> dict:
        return self.threshold.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.threshold.load_state_dict(state)


register_competition("temporal")(TemporalCompetition)


@register_competition("threshold")
class ThresholdCompetition(Competition):
    """Neurons above ``mean + competition_k · std`` (across the competing neurons) win (1), the others 0."""

    def __init__(self, k: float = 2.0):
        self.k = k

    @classmethod
    def from_settings(cls, settings: Any, n_neurons: int,
                      device: torch.device | str | None = None) -> ThresholdCompetition:
        return cls(settings.competition_k)

    def signal(self, a: Tensor, dim: int = 1) -> Tensor:
        return threshold_competition(a, self.k, dim=dim)


def make_competition(name: str, settings: Any, n_neurons: int,
                     device: torch.device | str | None = None) -> Competition:
    """A new instance of the competition registered as ``name`` for ``n_neurons`` competing neurons, built from
    the layer's ``settings`` (an unknown name lists the registered ones)."""
    return COMPETITIONS.lookup(name).from_settings(settings, n_neurons, device)
