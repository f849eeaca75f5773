"""Competition between neurons: maps pre-activations ``u`` to postsynaptic learning signals ``y``.

Every function is pure and works on tensors whose competing axis is ``dim`` (channels, ``dim=1``, for
conv feature maps ``[B, K, H, W]`` and linear activations ``[B, K]``), so one rule serves a conv layer, a
linear layer and an unrolled layer. :class:`Competition` is the contract of a competition variant that a
Hebbian layer selects by name (:mod:`evohebb.plasticity.competition_registry`); stateful variants (temporal
history, a BCM threshold) are small objects that own their state and no weights.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F


class Competition:
    """A competition variant: :meth:`signal` maps a layer's activations ``a`` to its learning signal ``y`` (the
    postsynaptic activity that the layer's rule then turns into a weight update).

    A variant is built from the layer's settings (:meth:`from_settings`: any object with the fields it reads,
    e.g. :class:`~evohebb.nn.softhebb_settings.HebbianSettings`) and the number of competing neurons; a variant
    with state (a history, a threshold) returns it from :meth:`state_dict` (tensors and plain values, for
    checkpoints) and restores it in :meth:`load_state_dict`. A stateless one inherits the empty defaults.
    """

    @classmethod
    def from_settings(cls, settings: Any, n_neurons: int, device: torch.device | str | None = None) -> Competition:
        return cls()

    def signal(self, a: torch.Tensor, dim: int = 1) -> torch.Tensor:
        """The learning signal ``y`` (same shape as ``a``) of neurons competing along ``dim``."""
        raise NotImplementedError

    def __call__(self, a: torch.Tensor, dim: int = 1) -> torch.Tensor:
        return self.signal(a, dim)

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        if state:
            raise ValueError(f"{type(self).__name__} has no state; got {sorted(state)}")


def winner_mask(u: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """Boolean mask with exactly one ``True`` (the argmax) along ``dim`` at every other index."""
    idx = u.argmax(dim=dim, keepdim=True)
    return torch.zeros_like(u, dtype=torch.bool).scatter_(dim, idx, True)


def soft_wta(u: torch.Tensor, t_inv: float = 1.0, dim: int = 1, anti_hebbian: bool = True) -> torch.Tensor:
    """SoftHebb soft winner-take-all: ``y = softmax(t_inv * u)`` along ``dim``.

    With ``anti_hebbian`` every non-winner's activity is negated (``y_k <- -y_k`` for ``k != argmax``),
    the anti-Hebbian plasticity of Journé et al. (2023).
    """
    y = torch.softmax(t_inv * u, dim=dim)
    if anti_hebbian:
        y = torch.where(winner_mask(u, dim), y, -y)
    return y


def hard_wta(u: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """One winner per index along ``dim``: a one-hot float tensor at the argmax."""
    return winner_mask(u, dim).to(u.dtype)


def top_k_wta(u: torch.Tensor, k: int = 1, dim: int = 1) -> torch.Tensor:
    """The ``k`` largest along ``dim`` get 1, the others 0."""
    if k < 1 or k > u.shape[dim]:
        raise ValueError(f"top_k must lie in [1, {u.shape[dim]}] (number of competing neurons), got {k}")
    idx = u.topk(k, dim=dim).indices
    return torch.zeros_like(u).scatter_(dim, idx, 1.0)


def no_competition(u: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """Basic Hebbian learning: the postsynaptic signal is the activation itself (with the SoftHebb decay term
    this is Oja's rule)."""
    return u


def threshold_competition(u: torch.Tensor, k: float = 2.0, dim: int = 1) -> torch.Tensor:
    """Homeostatic/threshold competition: neurons above ``mean + k * std`` along ``dim`` win (1), others 0."""
    mean = u.mean(dim=dim, keepdim=True)
    std = u.std(dim=dim, keepdim=True, unbiased=False)
    return (u > mean + k * std).to(u.dtype)


class TemporalCompetition(Competition):
    """Temporal competition: a neuron wins where its activation exceeds the median of its own recent history.

    The history holds, per neuron, the last ``window`` samples' mean activation (over positions for conv maps).
    Before any history exists every neuron with positive activation wins. Settings: ``temporal_window``.
    """

    def __init__(self, n_neurons: int, window: int = 500, device: torch.device | str | None = None):
        if window < 1:
            raise ValueError(f"temporal_window must be >= 1, got {window}")
        self.window = window
        self.history = torch.zeros(window, n_neurons, device=device)
        self.count = 0

    @classmethod
    def from_settings(cls, settings: Any, n_neurons: int,
                      device: torch.device | str | None = None) -> TemporalCompetition:
        return cls(n_neurons, settings.temporal_window, device)

    def signal(self, u: torch.Tensor, dim: int = 1) -> torch.Tensor:
        um = u.movedim(dim, -1)
        if self.count == 0:
            threshold = torch.zeros(um.shape[-1], device=u.device, dtype=u.dtype)
        else:
            threshold = self.history[: min(self.count, self.window)].median(dim=0).values.to(u.dtype)
        y = (um > threshold).to(u.dtype).movedim(-1, dim)
        self.push(um.reshape(um.shape[0], -1, um.shape[-1]).mean(dim=1))
        return y

    @torch.no_grad()
    def push(self, samples: torch.Tensor) -> None:
        """Append ``samples [N, n_neurons]`` to the ring buffer."""
        samples = samples.detach().to(self.history)
        for start in range(0, samples.shape[0], self.window):  # chunks only when N > window
            chunk = samples[start:start + self.window]
            idx = (self.count + torch.arange(chunk.shape[0], device=chunk.device)) % self.window
            self.history[idx] = chunk
            self.count += chunk.shape[0]

    def state_dict(self) -> dict:
        return {"history": self.history.clone(), "count": self.count}

    def load_state_dict(self, state: dict) -> None:
        self.history.copy_(state["history"])
        self.count = int(state["count"])


def presynaptic_competition(x: torch.Tensor, kind: str = "softmax", p: float = 2.0, dim: int = 1,
                            eps: float = 1e-8) -> torch.Tensor:
    """Competition between *input* features at each position: ``softmax`` along ``dim`` or division by the
    ``L_p`` norm along ``dim`` (``lp_norm``)."""
    if kind == "softmax":
        return torch.softmax(x, dim=dim)
    if kind == "lp_norm":
        return x / (x.abs().pow(p).sum(dim=dim, keepdim=True).pow(1.0 / p) + eps)
    raise ValueError(f"presynaptic competition kind must be 'softmax' or 'lp_norm', got {kind!r}")


def difference_of_gaussians(size: int = 5, sigma_e: float = 1.2, sigma_i: float = 1.4,
                            device: torch.device | str | None = None) -> torch.Tensor:
    """Surround-inhibition kernel ``[size, size]``: normalised excitatory Gaussian minus inhibitory Gaussian."""
    if size < 1 or size % 2 == 0:
        raise ValueError(f"lateral_kernel must be an odd positive size, got {size}")
    r = torch.arange(size, dtype=torch.float32, device=device) - size // 2
    d2 = r[:, None] ** 2 + r[None, :] ** 2

    def gauss(s: float) -> torch.Tensor:
        g = torch.exp(-d2 / (2 * s * s))
        return g / g.sum()

    return gauss(sigma_e) - gauss(sigma_i)


def lateral_inhibition(u: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Modulate each channel of ``u [B, K, H, W]`` by its spatial surround: ``u + DoG * u`` (same size)."""
    k = kernel.to(u)
    channels = u.shape[1]
    weight = k.expand(channels, 1, *k.shape)
    pad = k.shape[-1] // 2
    return u + F.conv2d(F.pad(u, (pad,) * 4, mode="replicate"), weight, groups=channels)
