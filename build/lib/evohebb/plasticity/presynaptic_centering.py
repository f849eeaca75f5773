"""Presynaptic centering: the rule sees ``x − mean(x)`` instead of ``x`` (the covariance rule).

A pre-processing step of any rule: per layer, a running mean of the presynaptic activity with rate ``r``
(bias-corrected, ``m_t = EMA_t / (1 − (1 − r)^t)``, restarting at :meth:`reset`) is subtracted before the
rule sees the activity, so a feature that every input shares does not dominate what is learnt. ``r = 0`` is
off (the activity passes unchanged).
"""

from __future__ import annotations

from torch import Tensor

__all__ = ["PresynapticCentering"]


class PresynapticCentering:
    def __init__(self, rate: float):
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"pre_centering rate {rate} must lie in [0, 1] (0: off)")
        self.rate = float(rate)
        self.reset()

    def reset(self) -> None:
        self._mean: dict[int, Tensor] = {}
        self._steps: dict[int, int] = {}

    def __call__(self, layer: int, x: Tensor) -> Tensor:
        """Layer ``layer``'s presynaptic activity minus its bias-corrected running mean."""
        if self.rate <= 0.0:
            return x
        r = self.rate
        ema = self._mean.get(layer)
        ema = x * r if ema is None else ema.mul_(1.0 - r).add_(x, alpha=r)
        self._mean[layer] = ema
        steps = self._steps.get(layer, 0) + 1
        self._steps[layer] = steps
        return x - ema / (1.0 - (1.0 - r) ** steps)
