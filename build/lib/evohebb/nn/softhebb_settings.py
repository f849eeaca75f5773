"""Settings of one Hebbian layer (:class:`~evohebb.nn.softhebb_conv.SoftHebbConv2d` and its linear twin).

A frozen dataclass whose fields are :func:`evohebb.config.option` s: the softhebb pipeline config embeds it as
its ``hebbian`` section, and building one directly runs the same checks as loading it. Each allowed-values
tuple is defined here once (the aggregations of weight sharing come from the sharing engine; the competitions
and the rules come from their registries, checked at construction so that a plug-in registered later is allowed).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, fields, replace

from evohebb.config import ConfigError, Settings, option
from evohebb.plasticity.competition_registry import COMPETITIONS
from evohebb.plasticity.rule_registry import RULES
from evohebb.plasticity.weight_sharing import AGGREGATIONS

#: the built-in competitions (``mode``); a plug-in adds more to :data:`COMPETITIONS`
MODES = tuple(COMPETITIONS)
PRESYNAPTIC_KINDS = ("softmax", "lp_norm")
INITS = ("softhebb", "kaiming_uniform")


@dataclass(frozen=True)
class HebbianSettings(Settings):
    """Switches and constants of one Hebbian layer (see the docstring of evohebb.nn.softhebb_conv)."""

    mode: str = option("soft", help="the competition: how the learning signal y comes from the activations a, by "
                                    "registered name (evohebb.plasticity.competition_registry.COMPETITIONS): soft, "
                                    "hard, topk, basic (none: y = a), bcm, temporal, threshold, or a plug-in's")
    rule: str = option("softhebb", help="the plasticity rule: how the weights move given x, y and w, by registered "
                                        "name (evohebb.plasticity.rule_registry.RULES): softhebb (Journé et al.), "
                                        "oja, or one registered by a plug-in that runs without genome parameters")
    t_inv: float = option(1.0, help="soft-WTA inverse temperature (the softhebb config sets it per layer: "
                                    "model.t_inv)")
    anti_hebbian: bool = option(True, help="soft WTA: negate non-winners' updates")
    eta0: float = option(0.01, help="base Hebbian rate (the softhebb config sets it per layer: model.eta0)")
    adaptive_lr: bool = option(True, help="per-neuron rate eta0 * (| |W_k| - 1 | + 1e-10) ** lr_power")
    lr_power: float = option(0.5, low=0.0, help="exponent of the adaptive rate")
    top_k: int = option(1, low=1, help="winners per position (mode topk)")
    cosine: bool = option(False, help="cosine-similarity activation")
    lateral_inhibition: bool = option(False, help="difference-of-Gaussians surround inhibition")
    sigma_e: float = option(1.2, low=0.0, low_inclusive=False, help="excitatory Gaussian sigma")
    sigma_i: float = option(1.4, low=0.0, low_inclusive=False, help="inhibitory Gaussian sigma")
    lateral_kernel: int = option(5, low=1, help="lateral inhibition kernel size (odd)")
    bcm_decay: float = option(0.5, low=0.0, high=1.0, high_inclusive=False, help="BCM theta decay d")
    temporal_window: int = option(500, low=1, help="temporal competition history length")
    competition_k: float = option(2.0, help="threshold competition: winners above mean + k * std")
    presynaptic: str | None = option(None, choices=PRESYNAPTIC_KINDS,
                                     help="presynaptic competition (null: none)")
    presynaptic_p: float = option(2.0, low=0.0, low_inclusive=False, help="p of the lp_norm competition")
    homeostasis: bool = option(False, help="homeostatic synaptic scaling")
    homeostasis_strength: float = option(0.01, low=0.0, help="synaptic scaling strength")
    dale: bool = option(False, help="Dale's principle: non-negative effective weights")
    alpha: float = option(1.0, low=0.0, high=1.0, help="1: Hebbian only, 0: backprop only, in between: "
                                                       "W += alpha * dW_hebb - (1 - alpha) * lr * grad")
    init: str = option("softhebb", choices=INITS, help="weight initialisation")
    init_radius: float = option(25.0, low=0.0, low_inclusive=False, help="softhebb init: initial weight norm")
    sharing: str | None = option(None, choices=AGGREGATIONS,
                                 help="null: conv-native update; else the unrolled SoftHebb of seed 002, "
                                      "per-position updates aggregated per kernel entry")

    def validate(self) -> None:
        if self.mode not in COMPETITIONS:
            hint = difflib.get_close_matches(self.mode, list(COMPETITIONS), n=1)
            extra = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise ConfigError(f"mode: {self.mode!r} is not a registered competition; allowed: "
                              f"{', '.join(map(repr, COMPETITIONS))}{extra}")
        usable = sorted(n for n, r in RULES.items() if r.runs_without_parameters)
        if self.rule not in usable:
            what = "needs genome parameters (evolve networks only)" if self.rule in RULES else "is not registered"
            raise ConfigError(f"rule: {self.rule!r} {what}; allowed in a Hebbian layer: {', '.join(usable)}")

    @classmethod
    def from_kwargs(cls, **kw) -> HebbianSettings:
        """Build from keyword arguments, naming any unknown key."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(kw) - known)
        if unknown:
            raise TypeError(f"unknown Hebbian setting(s) {unknown}; known: {sorted(known)}")
        return cls(**kw)

    def with_(self, **kw) -> HebbianSettings:
        return replace(self, **kw)
