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

import torch
from torch import Tensor

__all__ = ["PREDICTIONS", "SCALES", "RewardModulator", "reward_prediction_error", "rpe_scale"]

PREDICTIONS = ("running_average", "greedy")
SCALES = ("proportional", "sign")


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
    if scale not in SCALES:
        raise ValueError(f"scale={scale!r} is not supported; use one of {SCALES}")
    if scale == "proportional":
        pos, neg = gain_positive * rpe, gain_negative * rpe
    else:
        pos = gain_positive * torch.ones_like(rpe)
        neg = -gain_negative * torch.ones_like(rpe)
    out = torch.where(rpe > 0, pos, neg)
    return torch.where(rpe == 0, torch.full_like(rpe, zero_scale), out)


class RewardModulator:
    """Stateful RPE modulator for a population (state shape ``[P]``)."""

    def __init__(
        self,
        prediction: str = "running_average",
        rate: float = 0.1,
        gain_positive: float = 1.0,
        gain_negative: float = 1.0,
        zero_scale: float = 0.0,
        scale: str = "proportional",
        initial_prediction: float = 0.0,
    ) -> None:
        if prediction not in PREDICTIONS:
            raise ValueError(f"prediction={prediction!r} is not supported; use one of {PREDICTIONS}")
        if scale not in SCALES:
            raise ValueError(f"scale={scale!r} is not supported; use one of {SCALES}")
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate={rate} must lie in [0, 1]")
        self.prediction_kind = prediction
        self.rate = rate
        self.gain_positive = gain_positive
        self.gain_negative = gain_negative
        self.zero_scale = zero_scale
        self.scale = scale
        self.initial_prediction = initial_prediction
        self.prediction: Tensor = torch.zeros(0)
        self.last_rpe: Tensor = torch.zeros(0)

    def reset(
        self, population: int, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32
    ) -> None:
        """Forget the reward history of every individual."""
        self.prediction = torch.full(
            (population,), float(self.initial_prediction), device=device, dtype=dtype
        )
        self.last_rpe = torch.zeros(population, device=device, dtype=dtype)

    def predict(self, explored: Tensor | None = None) -> Tensor:
        """The current reward prediction ``[P]``."""
        if self.prediction_kind == "greedy":
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
        reward = torch.as_tensor(reward, dtype=self.prediction.dtype, device=self.prediction.device)
        if reward.shape != self.prediction.shape:
            raise ValueError(
                f"reward has shape {tuple(reward.shape)} but the modulator holds a population of "
                f"{tuple(self.prediction.shape)}; call reset(population) first"
            )
        rpe = reward_prediction_error(reward, self.predict(explored))
        if self.prediction_kind == "running_average":
            self.prediction = self.prediction + self.rate * (reward - self.prediction)
        self.last_rpe = rpe
        gp = self.gain_positive if gain_positive is None else gain_positive
        gn = self.gain_negative if gain_negative is None else gain_negative
        return rpe_scale(rpe, gp, gn, self.zero_scale, self.scale)
