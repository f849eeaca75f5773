"""Where a rule's parameters sit in a plastic layer stack, and how they come out of a genome.

A rule declares its parameters (:class:`~evohebb.plasticity.rule.RuleParameter`: per presynaptic neuron, per
postsynaptic neuron, per neuron or per synapse). For a :class:`~evohebb.nn.plastic_layer_stack.PlasticLayerStack`
this module names one genome slice per (neuron group, parameter) — ``"<group>.<name>"``, e.g. ``fc1.eta`` — and
per (learning layer, synapse parameter) — ``"<pre group>-><post group>.<name>"``, e.g. ``in->out.A`` —, gives
their starting values, and turns the named slices of ``P`` genomes into each layer's rule state. The neuron
groups and their roles come from the stack; which names exist comes from the rule, never from a name suffix.

``parameter_sharing``: ``neuron`` (one value per neuron or synapse), ``layer`` (one per group or layer,
broadcast), ``layer_outputs`` (one per group or layer, except per neuron/synapse on the output layer).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from evohebb.nn.plastic_layer_stack import PlasticLayerStack
from evohebb.plasticity.rule import HebbianRule, RuleInputs, RuleParameter

__all__ = ["RuleSlice", "initial_values", "layer_name", "rule_slices", "rule_states"]


@dataclass(frozen=True)
class RuleSlice:
    """One genome slice of a rule parameter: its name, per-individual shape and declaration."""

    name: str
    shape: tuple[int, ...]
    parameter: RuleParameter


def _per_element(parameter_sharing: str, output: bool) -> bool:
    return parameter_sharing == "neuron" or (parameter_sharing == "layer_outputs" and output)


def layer_name(stack: PlasticLayerStack, index: int) -> str:
    """``"<pre group>-><post group>"`` of plastic layer ``index``."""
    pre, post = stack.connections[index]
    return f"{stack.groups[pre].name}->{stack.groups[post].name}"


def rule_slices(rule: HebbianRule, stack: PlasticLayerStack, parameter_sharing: str,
                learning: Sequence[bool], every_group: bool = True) -> list[RuleSlice]:
    """The rule's genome slices, in genome order: the neuron groups' parameters (group by group, in the rule's
    declaration order; every group, or with ``every_group=False`` only the groups a learning layer connects),
    then every learning layer's synapse parameters."""
    used = {g for i, pair in enumerate(stack.connections) if learning[i] for g in pair}
    out = []
    for index, g in enumerate(stack.groups):
        if not every_group and index not in used:
            continue
        per = _per_element(parameter_sharing, g.name == "out")
        out += [RuleSlice(f"{g.name}.{p.name}", g.shape if per else (1,), p)
                for p in rule.parameters if p.applies_to(g.pre, g.post)]
    last = len(stack.layers) - 1
    for i, layer in enumerate(stack.layers):
        if not learning[i]:
            continue
        per = _per_element(parameter_sharing, i == last)
        out += [RuleSlice(f"{layer_name(stack, i)}.{p.name}", tuple(layer.weight.shape[1:]) if per else (1,), p)
                for p in rule.parameters_at("synapse")]
    return out


def initial_values(slices: Sequence[RuleSlice], generator: torch.Generator | None) -> list[Tensor]:
    """Starting values of each slice (its parameter's declared range)."""
    return [s.parameter.initial(math.prod(s.shape), generator) for s in slices]


def rule_states(rule: HebbianRule, stack: PlasticLayerStack, slices: Sequence[RuleSlice],
                named: dict[str, Tensor], learning: Sequence[bool], rate_scale: float = 1.0) -> list:
    """Each learning layer's rule state (None for a layer that does not learn) from ``P`` genomes' named slices
    (``[P, *shape]``); learning-rate parameters are multiplied by ``rate_scale``."""
    P = next(iter(named.values())).shape[0] if named else stack.population
    by_name = {s.name: s for s in slices}

    def value(name: str, full: tuple[int, ...]) -> Tensor:
        t = named[name]
        if by_name[name].parameter.rate and rate_scale != 1.0:
            t = t * rate_scale
        return t.reshape(P, *[1] * len(full)).expand(P, *full) if tuple(t.shape[1:]) != full else t

    def group(index: int) -> dict[str, Tensor]:
        g = stack.groups[index]
        return {p.name: value(f"{g.name}.{p.name}", g.shape) for p in rule.parameters
                if p.applies_to(g.pre, g.post) and f"{g.name}.{p.name}" in by_name}

    states = []
    for i, (layer, (pre, post)) in enumerate(zip(stack.layers, stack.connections)):
        if not learning[i]:
            states.append(None)
            continue
        synapse = {}
        prefix = layer_name(stack, i)
        for p in rule.parameters_at("synapse"):
            synapse[p.name] = value(f"{prefix}.{p.name}", tuple(layer.weight.shape[1:]))
        pre_maps = {n: layer.neuron_map(t, pre=True) for n, t in group(pre).items()}
        post_maps = {n: layer.neuron_map(t, pre=False) for n, t in group(post).items()}
        states.append(rule.layer_state(RuleInputs(pre=pre_maps, post=post_maps, synapse=synapse)))
    return states
