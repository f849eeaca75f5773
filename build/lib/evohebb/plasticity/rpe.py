"""Reward-prediction-error (dopamine) modulation of a plasticity rate.

A :class:`RewardModulator` turns the rewards of a population (``[P]``) into a
dopamine signal ``[P]`` that multiplies any rule's ``Δw``:

* prediction ``"running_average"``: ``r̂ ← r̂ + rate · (r − r̂)`` per individual
  (the RPE uses the prediction *before* this step's reward is folded in);
* prediction ``"greedy"`` (seed 003): the network always predicts reward 1 for a
  greedy choice; a choice changed by exploration noise predicts 0 (pass
  ``explored``). With binary rewards the RPE is then ``0`` or ``−1`` for greedy
  choices and ``+1`` or ``0`` for explored ones.
* ``RPE = r − prediction``;
* scale (``scale=``):
  ``"proportional"``: ``g₊·RPE`` if RPE > 0, ``g₋·RPE`` if RPE < 0 (negative:
  anti-Hebbian), ``zero_scale`` if RPE == 0;
  ``"sign"`` (seed 003): ``+g₊`` if RPE > 0, ``−g₋`` if RPE < 0, ``zero_scale`` if 0.
  With the default ``zero_scale=0`` zero RPE means zero learning. Gains may be
  per individual (``[P]`` tensors, e.g. evolved) or floats.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from evohebb.config import Settings, option

__all__ = ["PREDICTIONS", "SCALES", "RPESettings", "RewardModulator", "reward_prediction_error", "rpe_scale"]

PREDICTIONS = ("running_average", "greedy")
SCALES = ("proportional", "sign")


@dataclass(frozen=True)
class RPESettings(Settings):
    """Settings of the reward-prediction-error modulator (see the module doc)."""

    enabled: bool = option(False, help="scale plasticity by a dopamine-like reward-prediction error (RPE)")
    prediction: str = option("running_average", choices=PREDICTIONS,
                             help="running average of reward, or seed 003's greedy binary prediction")
    rate: float = option(0.1, low=0.0, high=1.0, help="running-average rate of the reward prediction")
    gain_positive: float = option(1.0, help="gain for RPE > 0")
    gain_negative: float = option(1.0, help="gain for RPE < 0")
    zero_scale: float = option(0.0, help="scale when RPE == 0 (0: no learning)")
    scale: str = option("proportional", choices=SCALES,
                        help="gain x RPE, or the RPE's sign times the gain (seed 003)")
    initial_prediction: float = option(0.0, help="running-average prediction at the start of an episode")
    evolvable: bool = option(False, help="put the two gains into the genome (per individual)")

    def validate(self) -> None:
        from evohebb.config import ConfigError
        if self.evolvable and not self.enabled:
            raise ConfigError("evolvable: true needs enabled: true (there is no RPE whose gains could evolve); "
                              "allowed: false, or set enabled: true")


def reward_prediction_error(reward: Tensor, prediction: Tensor) -> Tensor:
    """``RPE = r − prediction`` (elementwise)."""
    return reward - prediction


def rpe_scale(
    rpe: Tensor,
    gain_positive: Tensor | float = 1.0,
    gain_negative: Tensor | float = 1.0,
    zero_scale: float = 0.0,
    scale: str = "proportional",
) -> Tensor:
    """Dopamine scale of the plasticity rate from the RPE (see the module doc)."""
    if scale == "proportional":
        pos, neg = gain_positive * rpe, gain_negative * rpe
    else:
        pos = gain_positive * torch.ones_like(rpe)
        neg = -gain_negative * torch.ones_like(rpe)
    out = torch.where(rpe > 0, pos, neg)
    return torch.where(rpe == 0, torch.full_like(rpe, zero_scale), out)


class RewardModulator:
    """Stateful RPE modulator for a population (state shape ``[P]``): a per-individual modulator
    (:mod:`evohebb.plasticity.modulators`) whose factor is the dopamine of the last reward."""

    def __init__(self, settings: RPESettings | None = None) -> None:
        self.settings = settings if settings is not None else RPESettings(enabled=True)
        self.prediction: Tensor = torch.zeros(0)
        self.last_rpe: Tensor = torch.zeros(0)
        self.dopamine: Tensor | None = None

    def reset(
        self, population: int, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32
    ) -> None:
        """Forget the reward history of every individual."""
        self.prediction = torch.full(
            (population,), float(self.settings.initial_prediction), device=device, dtype=dtype
        )
        self.last_rpe = torch.zeros(population, device=device, dtype=dtype)
        self.dopamine = None

    def predict(self, explored: Tensor | None = None) -> Tensor:
        """The current reward prediction ``[P]``."""
        if self.settings.prediction == "greedy":
            pred = torch.ones_like(self.prediction)
            if explored is not None:
                pred = torch.where(explored, torch.zeros_like(pred), pred)
            return pred
        return self.prediction

    def __call__(
        self,
        reward: Tensor,
        explored: Tensor | None = None,
        gain_positive: Tensor | None = None,
        gain_negative: Tensor | None = None,
    ) -> Tensor:
        """Dopamine ``[P]`` for rewards ``[P]``; updates the running prediction."""
        s = self.settings
        reward = torch.as_tensor(reward, dtype=self.prediction.dtype, device=self.prediction.device)
        if reward.shape != self.prediction.shape:
            raise ValueError(
                f"reward has shape {tuple(reward.shape)} but the modulator holds a population of "
                f"{tuple(self.prediction.shape)}; call reset(population) first"
            )
        rpe = reward_prediction_error(reward, self.predict(explored))
        if s.prediction == "running_average":
            self.prediction = self.prediction + s.rate * (reward - self.prediction)
        self.last_rpe = rpe
        gp = s.gain_positive if gain_positive is None else gain_positive
        gn = s.gain_negative if gain_negative is None else gain_negative
        self.dopamine = rpe_scale(rpe, gp, gn, s.zero_scale, s.scale)
        return self.dopamine

    def factor(self, layer: int, delta: Tensor) -> Tensor | None:
        """Modulator interface: the last dopamine per individual, shaped to broadcast over ``delta``."""
        if self.dopamine is None:
            return None
        return self.dopamine.view(-1, *([1] * (delta.dim() - 1)))
