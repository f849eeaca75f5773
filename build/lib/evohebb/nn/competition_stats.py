"""Competition statistics of SoftHebb-family layers over a data sample: who wins, how evenly, who never does.

At every position of every image the *winner* of a layer is the neuron (output channel) with the largest
activation: hard-WTA's winner and soft-WTA's largest share alike (the softmax is monotone), and the neuron the
threshold and temporal competitions favour most. From the win counts per neuron over a sample:

* **win frequency** ``p_k`` (sums to 1) and the **entropy** of the winner distribution ``H = -sum p log p``
  (nats; ``H / log K`` is 1 when every neuron wins equally often, 0 when one neuron always wins);
* **dead** units: ``p_k < DEAD_FRACTION / K`` (less than 1 % of a uniform share: never or almost never win);
* **dominant** units: ``p_k > min(DOMINANT_FACTOR / K, DOMINANT_CAP)`` (more than ten uniform shares, or more
  than half of all wins: with ten neurons or fewer ten shares cannot be reached);
* the per-neuron **weight norms** ``||W_k||`` (SoftHebb's converge to 1) and, for BCM, the sliding thresholds.

:class:`WinCounter` gathers the counts from forward hooks on a network's Hebbian layers (batched: one argmax
and one ``bincount`` per layer and batch).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from evohebb.nn.softhebb_conv import SoftHebbConv2d

DEAD_FRACTION = 0.01     # dead: win frequency below 1 % of a uniform share 1/K
DOMINANT_FACTOR = 10.0   # dominant: win frequency above 10 uniform shares 10/K ...
DOMINANT_CAP = 0.5       # ... or above one half, whichever is lower


def win_counts(a: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """How often each neuron along ``dim`` of ``a`` is the argmax, over every other index: ``[K]`` (int64)."""
    return torch.bincount(a.argmax(dim=dim).flatten(), minlength=a.shape[dim])


@dataclass(frozen=True)
class CompetitionStats:
    """One layer's competition over a sample (tensors on the CPU, one entry per neuron)."""

    win_frequency: torch.Tensor      # [K], sums to 1
    entropy: float                   # nats
    dead: torch.Tensor               # [K] bool
    dominant: torch.Tensor           # [K] bool
    weight_norms: torch.Tensor       # [K]
    bcm_theta: torch.Tensor | None   # [K] for BCM layers
    dead_below: float                # the thresholds on win_frequency that were used
    dominant_above: float

    @property
    def n_neurons(self) -> int:
        return len(self.win_frequency)

    @property
    def normalised_entropy(self) -> float:
        """``H / log K`` in [0, 1] (1 for a single neuron)."""
        return self.entropy / math.log(self.n_neurons) if self.n_neurons > 1 else 1.0

    @property
    def dead_fraction(self) -> float:
        return self.dead.float().mean().item()

    @property
    def dominant_fraction(self) -> float:
        return self.dominant.float().mean().item()

    def summary(self) -> dict[str, float]:
        return {"neurons": self.n_neurons, "win_entropy": self.entropy,
                "win_entropy_normalised": self.normalised_entropy, "dead_fraction": self.dead_fraction,
                "dominant_fraction": self.dominant_fraction, "weight_norm_mean": self.weight_norms.mean().item(),
                "weight_norm_std": self.weight_norms.std(unbiased=False).item()}


def competition_stats(counts: torch.Tensor, weight: torch.Tensor, bcm_theta: torch.Tensor | None = None,
                      dead_fraction: float = DEAD_FRACTION, dominant_factor: float = DOMINANT_FACTOR
                      ) -> CompetitionStats:
    """Statistics from win ``counts [K]`` and the layer's ``weight [K, ...]`` (see the module doc)."""
    counts = counts.detach().to("cpu", torch.float64)
    if counts.sum() <= 0:
        raise ValueError("no wins counted: run the layer on at least one sample first")
    p = counts / counts.sum()
    k = len(p)
    entropy = max(0.0, -(p * p.clamp_min(1e-300).log()).sum().item())   # not -0.0 for a single winner
    dominant_above = min(dominant_factor / k, DOMINANT_CAP)
    return CompetitionStats(
        win_frequency=p.float(), entropy=entropy, dead=p < dead_fraction / k, dominant=p > dominant_above,
        weight_norms=weight.detach().flatten(1).norm(dim=1).cpu(),
        bcm_theta=None if bcm_theta is None else bcm_theta.detach().cpu().clone(),
        dead_below=dead_fraction / k, dominant_above=dominant_above)


class WinCounter:
    """Counts the winners of every :class:`SoftHebbConv2d` in ``model`` on each forward pass, until
    :meth:`remove`; :meth:`stats` turns the counts so far into :class:`CompetitionStats` per layer name."""

    def __init__(self, model: nn.Module):
        self.layers = {name: m for name, m in model.named_modules() if isinstance(m, SoftHebbConv2d)}
        self.counts = {name: torch.zeros(m.out_channels, dtype=torch.long) for name, m in self.layers.items()}
        self._hooks = [m.register_forward_hook(self._hook(name)) for name, m in self.layers.items()]

    def _hook(self, name: str):
        def count(module, inputs, output):
            self.counts[name] += win_counts(output.detach()).cpu()
        return count

    def reset(self) -> None:
        for counts in self.counts.values():
            counts.zero_()

    def remove(self) -> None:
        for hook in self._hooks:
            hook.remove()
        self._hooks = []

    def stats(self, **thresholds) -> dict[str, CompetitionStats]:
        return {name: competition_stats(self.counts[name], layer.weight, sliding_threshold(layer), **thresholds)
                for name, layer in self.layers.items()}


def sliding_threshold(layer: SoftHebbConv2d) -> torch.Tensor | None:
    """The per-neuron sliding threshold of the layer's competition (BCM's ``theta``), None if it has none."""
    return getattr(getattr(layer.competition, "threshold", None), "theta", None)
