"""Homeostatic synaptic scaling: neurons that win less than their share have their weights scaled up,
neurons that win more are scaled down (multiplicatively, per neuron)."""

from __future__ import annotations

import torch


class SynapticScaling:
    """Tracks each neuron's activity rate (EMA of the fraction of positions where it wins) and returns
    per-neuron multiplicative factors ``1 + strength * (target - rate) / target`` (clamped to [0.5, 2])."""

    def __init__(self, n_neurons: int, target: float | None = None, decay: float = 0.99, strength: float = 0.01,
                 device: torch.device | str | None = None):
        self.target = target if target is not None else 1.0 / n_neurons
        self.decay = decay
        self.strength = strength
        self.rate = torch.full((n_neurons,), self.target, device=device)

    @torch.no_grad()
    def update(self, active: torch.Tensor, dim: int = 1) -> torch.Tensor:
        """``active``: postsynaptic signal (positive where the neuron learns); returns scaling factors [K]."""
        axes = [a for a in range(active.dim()) if a != dim % active.dim()]
        rate = (active.detach() > 0).float().mean(dim=axes).to(self.rate)
        self.rate.mul_(self.decay).add_((1 - self.decay) * rate)
        return (1 + self.strength * (self.target - self.rate) / self.target).clamp(0.5, 2.0)

    def state_dict(self) -> dict:
        return {"rate": self.rate.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.rate.copy_(state["rate"])
