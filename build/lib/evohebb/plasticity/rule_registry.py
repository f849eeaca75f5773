"""The plasticity rules selectable by name (``network.rule`` in the evolve config, ``hebbian.rule`` in a SoftHebb
config). A rule is one class deriving from :class:`~evohebb.plasticity.rule.HebbianRule`, registered here::

    from evohebb.plasticity.rule_registry import register_rule

    @register_rule("my_rule")
    class MyRule(HebbianRule): ...

``docs/extending.md`` walks through a complete one.
"""

from __future__ import annotations

from evohebb.plasticity.abcd import NeuronCentricABCD, SynapseCentricABCD
from evohebb.plasticity.oja import OjaRule
from evohebb.plasticity.rule import HebbianRule
from evohebb.plasticity.softhebb_rule import SoftHebbRule
from evohebb.registry import Registry

__all__ = ["RULES", "make_rule", "register_rule"]

RULES: Registry[type[HebbianRule]] = Registry("plasticity rule")
register_rule = RULES.register

register_rule("neuron_centric_abcd")(NeuronCentricABCD)
register_rule("synapse_centric_abcd")(SynapseCentricABCD)
register_rule("oja")(OjaRule)
register_rule("softhebb")(SoftHebbRule)


def make_rule(name: str) -> HebbianRule:
    """A new instance of the rule registered as ``name`` (an unknown name lists the registered ones)."""
    return RULES.lookup(name)()
