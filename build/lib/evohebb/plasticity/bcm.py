"""Bienenstock–Cooper–Munro plasticity: a sliding threshold ``theta`` that tracks the mean squared activity.

``theta <- d * theta + (1 - d) * mean(y**2)`` (per neuron) and the postsynaptic learning signal is
``phi(y) = y * (y - theta)``: above threshold potentiation, below it depression.
"""

from __future__ import annotations

import torch


class BCMThreshold:
    """Per-neuron sliding threshold. ``decay`` is ``d`` above (0.5 in seed 001)."""

    def __init__(self, n_neurons: int, decay: float = 0.5, device: torch.device | str | None = None):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"bcm theta decay must lie in [0, 1), got {decay}")
        self.decay = decay
        self.theta = torch.zeros(n_neurons, device=device)

    @torch.no_grad()
    def update(self, y: torch.Tensor, dim: int = 1) -> torch.Tensor:
        """Move ``theta`` toward ``mean(y**2)`` over every axis but ``dim``; returns the new ``theta``."""
        axes = [a for a in range(y.dim()) if a != dim % y.dim()]
        mean_sq = y.detach().pow(2).mean(dim=axes).to(self.theta)
        self.theta.mul_(self.decay).add_((1.0 - self.decay) * mean_sq)
        return self.theta

    def modulate(self, y: torch.Tensor, dim: int = 1) -> torch.Tensor:
        """``y * (y - theta)`` with ``theta`` broadcast along ``dim``."""
        shape = [1] * y.dim()
        shape[dim] = -1
        return y * (y - self.theta.view(shape).to(y))

    def state_dict(self) -> dict:
        return {"theta": self.theta.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.theta.copy_(state["theta"])
