"""Settings of the unrolled plastic networks (the evolve pipeline's ``network`` section embeds them)."""

from __future__ import annotations

from dataclasses import dataclass, field

from evohebb.config import ConfigError, Settings, option
from evohebb.plasticity.rpe import RPESettings
from evohebb.plasticity.rule_registry import RULES
from evohebb.plasticity.weight_sharing import AGGREGATIONS, SHARING_MODES

__all__ = ["PARAMETER_SHARING", "PLASTIC_LAYERS", "TRUNKS", "PlasticNetworkSettings"]

PARAMETER_SHARING = ("neuron", "layer", "layer_outputs")
PLASTIC_LAYERS = ("all", "output")
TRUNKS = ("conv", "none")


@dataclass(frozen=True)
class PlasticNetworkSettings(Settings):
    """How an unrolled plastic network learns during its lifetime (a registered rule, neuron-centric ABCD by
    default, optionally RPE-modulated)."""

    rule: str = option("neuron_centric_abcd",
                       help="the plasticity rule, by registered name (evohebb.plasticity.rule_registry.RULES): "
                            "neuron_centric_abcd (the thesis's), synapse_centric_abcd (Najarro & Risi's), oja, or "
                            "one registered by a plug-in")

    aggregation: str = option("max", choices=AGGREGATIONS,
                              help="weight-sharing aggregation over a kernel entry's copies (unrolled convs)")
    sharing_mode: str = option("terms", choices=SHARING_MODES,
                               help="terms: aggregate each ABCD term and the rate separately (thesis); "
                                    "delta: aggregate the whole per-copy update")
    compile_copies: bool = option(False, help="native CPU kernels, built once per machine with the C++ compiler "
                                              "(~1 s): each conv with its tanh in one loop; with max/min sharing, "
                                              "each product term's aggregate over an unrolled conv's copies in one "
                                              "loop (with zero padding one compiled by torch.compile, ~40 s per "
                                              "actor); a linear layer's low-rank update with its max|w| "
                                              "normalisation in one pass; the same values to float rounding; "
                                              "torch with a warning where nothing compiles")
    weight_norm: bool = option(True, help="divide each layer's weights by max|w| after every update")
    weight_clip: float | None = option(None, low=0.0, help="clip weights to [-c, c] after every update")
    exploration_std: float = option(0.5, low=0.0, help="classifier: noise on the scores before the choice")
    eta_scale: float = option(1.0, low=0.0,
                              help="the genome's learning-rate genes (eta) are multiplied by this before use: a small "
                                   "scale lets an ES whose sigma suits the weights search learning rates near zero "
                                   "(with evolve_output_weights, an eta of ~0.05 overwrites an evolved readout in a "
                                   "few dozen steps)")
    plastic: bool = option(True, help="false: no weight updates (the non-plastic control)")
    evolve_output_weights: bool = option(False, help="the output layer's initial weights are part of the genome "
                                         "(with plastic=false: the direct-encoded non-plastic control); the same "
                                         "as naming out in evolve_weights")
    evolve_weights: list[str] = option([], help="layers whose initial weights are part of the genome (slices "
                                                "<layer>.W), by name: the network's plastic layers are conv1, conv2, "
                                                "..., fc1, fc2, ..., out; an evolved layer that does not learn "
                                                "(plastic_layers) is static, e.g. the evolved convs of Najarro & Risi")
    evolved_weight_gain: float = option(1.0, low=0.0,
                                        help="the search starts the evolved weights (evolve_weights) at this times "
                                             "U(±1/√fan_in): at 1 an evolved conv trunk's features hardly change "
                                             "with the frame (temporal std ~0.02 on CarRacing), at 3 they do (~0.13)")
    evolved_weight_scale: float | None = option(None, low=0.0,
                                                help="what an evolved weight's gene holds: null: the weight itself; "
                                                     "s: the weight in units of s/sqrt(fan_in), so that the search's "
                                                     "sigma perturbs every evolved layer alike relative to its "
                                                     "initial scale (sigma x s / evolved_weight_gain of it; null "
                                                     "gives a 392-input readout ~20x the relative sigma of its "
                                                     "genes' rule parameters, and its outputs saturate)")
    parameter_sharing: str = option("neuron", choices=PARAMETER_SHARING,
                                    help="neuron: the rule's parameters per neuron (per synapse for a synapse "
                                         "rule); layer: one set per layer; layer_outputs: one set per layer but "
                                         "per neuron (synapse) for the output layer")
    plastic_layers: str | list[str] = option("all",
                                             help="all: every layer learns; output: only the last layer learns (the "
                                                  "trunk stays fixed; the rule's parameters still exist for every "
                                                  "neuron group, as in earlier runs); a list of layer names (e.g. "
                                                  "[fc1, fc2, out]): those layers learn, and the rule's parameters "
                                                  "exist only where a learning layer uses them")
    pre_centering: float = option(0.0, low=0.0, high=1.0,
                                  help="rate of a running mean subtracted from the presynaptic activity the rule "
                                       "sees (covariance rule; 0: off)")
    center_input: bool = option(False, help="subtract each observation's mean (over its pixels and channels) before "
                                            "the first layer: the brightness every pixel shares then drives no "
                                            "output, so a drift of evolved input weights does not add up in every "
                                            "pre-activation alike (the pixel readout's steering saturates that way)")
    trunk: str = option("conv", choices=TRUNKS,
                        help="conv: the network's own conv trunk (e.g. the thesis's two unrolled convs); none: the "
                             "linear layers see the observation's pixels (where the road lies in the frame)")
    hidden: list[int] | None = option(None, low=1, help="widths of the hidden linear layers between the conv trunk "
                                                         "and the output layer (null: the network's own, e.g. "
                                                         "[128, 64] for the CarRacing policy; []: none)")
    rpe: RPESettings = field(default_factory=RPESettings)


    def validate(self) -> None:
        if isinstance(self.plastic_layers, str) and self.plastic_layers not in PLASTIC_LAYERS:
            raise ConfigError(f"plastic_layers: {self.plastic_layers!r} is not allowed; allowed: "
                              f"{', '.join(map(repr, PLASTIC_LAYERS))} or a list of layer names")
        if self.rule not in RULES:
            raise ConfigError(f"rule: {self.rule!r} is not a registered plasticity rule; allowed: "
                              f"{', '.join(sorted(RULES))}")
        rule = RULES[self.rule]
        if rule.needs_preactivation:
            usable = sorted(n for n, r in RULES.items() if not r.needs_preactivation)
            raise ConfigError(f"rule: {self.rule!r} needs a layer's pre-activation (SoftHebb layers only); allowed "
                              f"here: {', '.join(usable)}")
        if self.trunk == "conv" and self.sharing_mode not in rule.sharing_modes:
            raise ConfigError(f"rule: {self.rule!r} does not support sharing_mode={self.sharing_mode!r} on the "
                              f"unrolled conv trunk (network.sharing_mode); allowed with this rule: "
                              f"{', '.join(map(repr, rule.sharing_modes))}, or trunk: none")
