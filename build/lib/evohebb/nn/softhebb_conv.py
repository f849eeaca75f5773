"""Hebbian convolution (and its linear twin) learnt with SoftHebb and the seed-001 family of mechanisms.

Each mechanism is an independent switch of :class:`HebbianSettings`:

* ``mode`` — the competition, a class registered by name in
  :mod:`evohebb.plasticity.competition_registry` that maps the activations ``a`` to the learning signal ``y``:
  ``soft`` (soft WTA with anti-Hebbian non-winners), ``hard`` (one winner per position), ``topk`` (``top_k``
  winners), ``basic`` (no competition: ``y = a``), ``bcm`` (soft WTA signal modulated by a BCM sliding
  threshold), ``temporal`` (winner above the median of a ``temporal_window`` history), ``threshold`` (winner
  above ``mean + competition_k * std``), or one a plug-in registers;
* ``rule`` — the plasticity rule that turns ``x``, ``y`` and ``w`` into the update, registered by name in
  :mod:`evohebb.plasticity.rule_registry` (``softhebb``: ``y (x - u w)``, so ``basic`` + ``softhebb`` is Oja's
  rule; ``oja``);
* ``cosine`` — cosine-similarity activation ``u / (||x_patch|| ||W_k||)``;
* ``lateral_inhibition`` — difference-of-Gaussians surround modulation (``sigma_e``, ``sigma_i``, ``lateral_kernel``);
* ``presynaptic`` — competition between inputs (``softmax`` or ``lp_norm``);
* ``homeostasis`` — homeostatic synaptic scaling;
* ``dale`` — Dale's principle: non-negative effective weights (weights are clamped at 0 after every update);
* ``adaptive_lr`` / ``lr_power`` — SoftHebb's norm-dependent per-neuron rate;
* ``sharing`` — None: conv-native update (summed over positions); ``max``/``min``/``median``/``mean``: the rule
  applied per position of the unrolled layer, copies aggregated per kernel entry (the neuron-centric CNN
  thesis). Both go through the one weight-sharing engine (:mod:`evohebb.plasticity.weight_sharing`) with the
  rule that ``rule`` names (SoftHebb's by default, :class:`~evohebb.plasticity.softhebb_rule.SoftHebbRule`).
  With zero padding the copies that would read padding do not exist and are left out; with reflect (default),
  replicate or circular padding every copy reads a real, mirrored pixel and counts;
* ``alpha`` — 1: Hebbian only, 0: backprop only, in between: ``W += alpha * dW_hebb - (1 - alpha) * lr * grad``.

The module computes the update during a training-mode forward pass (batched through the weight-gradient of
a convolution, never a loop over neurons or positions) and applies it when :meth:`hebbian_step` is called:
rule -> modulators -> rate -> apply. Modulators (set with :meth:`set_modulators`) see what the modulator contract
of :mod:`evohebb.plasticity.modulators` says: the rule update ``[1, Cout, Cin/groups, k, k]`` (a population of
one) after SoftHebb's division by ``max |Δw|``, before the rate, e.g. per output channel (kernel-plasticity
neuromodulation).
"""

from __future__ import annotations

import math
from dataclasses import fields

import torch
import torch.nn.functional as F
from torch import nn

from evohebb.nn.softhebb_settings import MODES, HebbianSettings  # noqa: F401  (MODES: re-exported)
from evohebb.plasticity.competition import difference_of_gaussians, lateral_inhibition, presynaptic_competition
from evohebb.plasticity.competition_registry import make_competition
from evohebb.plasticity.conv_geometry import ConvGeometry
from evohebb.plasticity.homeostasis import SynapticScaling
from evohebb.plasticity.modulators import Modulator, modulate
from evohebb.plasticity.rule import RuleInputs
from evohebb.plasticity.rule_registry import make_rule
from evohebb.plasticity.softhebb_rule import normalise_update, rate_or_constant
from evohebb.plasticity.weight_sharing import CONV_NATIVE, reduce_copies


class SoftHebbConv2d(nn.Module):
    """Hebbian 2-D convolution without bias; ``forward`` returns the pre-activation map ``u`` (after
    cosine normalisation / lateral inhibition when enabled)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 dilation: int = 1, groups: int = 1, padding_mode: str = "reflect",
                 settings: HebbianSettings | None = None, device: torch.device | str | None = None, **kw):
        super().__init__()
        s = settings if settings is not None else HebbianSettings()
        if kw:
            s = HebbianSettings.from_kwargs(**{**_as_kwargs(s), **kw})
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"in_channels ({in_channels}) and out_channels ({out_channels}) must be divisible "
                             f"by groups ({groups})")
        if padding_mode not in ("reflect", "zeros", "replicate", "circular"):
            raise ValueError(f"padding_mode must be reflect/zeros/replicate/circular, got {padding_mode!r}")
        self.settings = s
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.dilation, self.groups, self.padding_mode = dilation, groups, padding_mode
        shape = (out_channels, in_channels // groups, kernel_size, kernel_size)
        self.weight = nn.Parameter(torch.empty(shape, device=device), requires_grad=s.alpha < 1.0)
        self.reset_parameters()
        if s.lateral_inhibition:
            self.register_buffer("dog", difference_of_gaussians(s.lateral_kernel, s.sigma_e, s.sigma_i, device))
        else:
            self.dog = None
        self.competition = make_competition(s.mode, s, out_channels, device)
        self.scaling = SynapticScaling(out_channels, strength=s.homeostasis_strength, device=device) \
            if s.homeostasis else None
        self.plastic = s.alpha > 0.0
        self.rule = make_rule(s.rule)
        self._pending: torch.Tensor | None = None
        self._scale: torch.Tensor | None = None
        self.modulators: list[Modulator] = []
        self.layer_index = 0

    def set_modulators(self, modulators: list[Modulator], layer_index: int) -> None:
        """Scale every later update by these modulators' factors for layer ``layer_index`` (the layer's index in
        its network's plastic layers; ``[]``: none)."""
        self.modulators, self.layer_index = list(modulators), int(layer_index)

    # ------------------------------------------------------------------------------------------ weights
    @torch.no_grad()
    def reset_parameters(self) -> None:
        fan_in = self.weight[0].numel()
        if self.settings.init == "softhebb":  # N(0, (R / sqrt(fan_in))^2): initial norm ~ R, far from 1
            self.weight.normal_(0.0, self.settings.init_radius / math.sqrt(fan_in))
        else:
            nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.settings.dale:
            self.weight.abs_()

    def effective_weight(self) -> torch.Tensor:
        """The weight the convolution uses (non-negative under Dale's principle)."""
        return self.weight.clamp(min=0.0) if self.settings.dale else self.weight

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        if not self.padding:
            return x
        mode = "constant" if self.padding_mode == "zeros" else self.padding_mode
        return F.pad(x, (self.padding,) * 4, mode=mode)

    # ------------------------------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.settings
        if s.presynaptic is not None:
            x = presynaptic_competition(x, s.presynaptic, s.presynaptic_p, dim=1)
        xp = self._pad(x)
        w = self.effective_weight()
        u = F.conv2d(xp, w, stride=self.stride, dilation=self.dilation, groups=self.groups)
        a = u
        if s.cosine:
            a = a / (self._patch_norm(xp) * w.reshape(w.shape[0], -1).norm(dim=1).view(1, -1, 1, 1) + 1e-8)
        if self.dog is not None:
            a = lateral_inhibition(a, self.dog)
        if self.training and self.plastic:
            with torch.no_grad():
                self._pending = self._hebbian_update(x.detach(), xp.detach(), u.detach(), a.detach())
        return a

    def _patch_norm(self, xp: torch.Tensor) -> torch.Tensor:
        ones = torch.ones(self.groups, self.in_channels // self.groups, self.kernel_size, self.kernel_size,
                          device=xp.device, dtype=xp.dtype)
        sq = F.conv2d(xp * xp, ones, stride=self.stride, dilation=self.dilation, groups=self.groups)
        return sq.clamp_min(0).sqrt().repeat_interleave(self.out_channels // self.groups, dim=1)

    def postsynaptic(self, a: torch.Tensor) -> torch.Tensor:
        """The competition's learning signal ``y`` for activations ``a [B, K, ...]`` (channel axis 1)."""
        return self.competition.signal(a, dim=1)

    def _hebbian_update(self, x: torch.Tensor, xp: torch.Tensor, u: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """The rule's update of ``weight`` from one batch: conv-native (summed over positions) or, with
        ``sharing``, aggregated over each kernel entry's copies of the unrolled layer. Zero padding: the copies
        that read padding do not exist (masked); reflect/replicate/circular padding: every copy reads a real
        (mirrored) pixel, so all of them count."""
        y = self.postsynaptic(a)
        s = self.settings
        pre, padding = (x, self.padding) if self.padding_mode == "zeros" else (xp, 0)
        geom = ConvGeometry(self.in_channels, self.out_channels, self.kernel_size, self.stride, padding,
                            pre.shape[-2], pre.shape[-1], self.dilation, self.groups)
        update = self.rule.copy_update(pre.unsqueeze(0), y.unsqueeze(0), self.weight.detach().unsqueeze(0),
                                       self.rule.layer_state(RuleInputs(preactivation=u)))
        delta = normalise_update(reduce_copies(update, geom, s.sharing or CONV_NATIVE)[0])
        if self.modulators:
            delta = modulate(delta.unsqueeze(0), self.modulators, self.layer_index)[0]
        eta = rate_or_constant(self.weight.detach(), s.eta0, s.adaptive_lr, s.lr_power)
        if self.scaling is not None:
            self._scale = self.scaling.update(y, dim=1)
        return eta.view(-1, 1, 1, 1) * delta

    # ------------------------------------------------------------------------------------------ update
    @torch.no_grad()
    def hebbian_step(self, bp_lr: float = 0.0) -> None:
        """Apply the update computed by the last training forward pass:
        ``W += alpha * dW_hebb - (1 - alpha) * bp_lr * grad`` (the gradient term only where one exists)."""
        s = self.settings
        if self._pending is not None:
            self.weight.add_(s.alpha * self._pending)
            self._pending = None
        if s.alpha < 1.0 and self.weight.grad is not None and bp_lr > 0:
            self.weight.add_(-(1.0 - s.alpha) * bp_lr * self.weight.grad)
        if self._scale is not None:
            self.weight.mul_(self._scale.view(-1, 1, 1, 1))
            self._scale = None
        if s.dale:
            self.weight.clamp_(min=0.0)

    def _stateful(self) -> dict:
        """The mechanisms that may hold state, by checkpoint key: the competition under its name (``bcm``,
        ``temporal``, ...), homeostasis under ``scaling``."""
        out = {self.settings.mode: self.competition}
        if self.scaling is not None:
            out["scaling"] = self.scaling
        return out

    def plasticity_state(self) -> dict:
        """State of the stateful mechanisms (competition, homeostasis) for checkpoints; stateless ones are left out."""
        states = {name: obj.state_dict() for name, obj in self._stateful().items()}
        return {name: state for name, state in states.items() if state}

    def load_plasticity_state(self, state: dict) -> None:
        stateful = self._stateful()
        unknown = sorted(set(state) - set(stateful))
        if unknown:
            raise ValueError(f"plasticity state {unknown} does not fit this layer (mode {self.settings.mode!r}): "
                             f"it holds {sorted(stateful)}; was the checkpoint written with other hebbian settings?")
        for name, sub in state.items():
            stateful[name].load_state_dict(sub)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, groups={self.groups}, mode={self.settings.mode}, "
                f"t_inv={self.settings.t_inv}, eta0={self.settings.eta0}, alpha={self.settings.alpha}")


class SoftHebbLinear(nn.Module):
    """The linear twin of :class:`SoftHebbConv2d`: a 1x1 Hebbian conv on ``[B, D, 1, 1]``; ``weight`` is
    ``[K, D]`` (a view of the conv's)."""

    def __init__(self, in_features: int, out_features: int, settings: HebbianSettings | None = None,
                 device: torch.device | str | None = None, **kw):
        super().__init__()
        s = settings if settings is not None else HebbianSettings()
        if s.lateral_inhibition or kw.get("lateral_inhibition"):
            raise ValueError("lateral_inhibition needs a spatial map; SoftHebbLinear has none")
        self.conv = SoftHebbConv2d(in_features, out_features, 1, settings=s, device=device, **kw)
        self.in_features, self.out_features = in_features, out_features

    @property
    def weight(self) -> torch.Tensor:
        return self.conv.weight.view(self.out_features, self.in_features)

    @property
    def settings(self) -> HebbianSettings:
        return self.conv.settings

    def postsynaptic(self, a: torch.Tensor) -> torch.Tensor:
        return self.conv.postsynaptic(a[:, :, None, None])[:, :, 0, 0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x[:, :, None, None])[:, :, 0, 0]

    def hebbian_step(self, bp_lr: float = 0.0) -> None:
        self.conv.hebbian_step(bp_lr)

    def plasticity_state(self) -> dict:
        return self.conv.plasticity_state()

    def load_plasticity_state(self, state: dict) -> None:
        self.conv.load_plasticity_state(state)


def _as_kwargs(s: HebbianSettings) -> dict:
    return {f.name: getattr(s, f.name) for f in fields(s)}
