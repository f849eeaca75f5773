"""Rules selected by name: each owns its parameters (the genome layout comes from the rule), the evolve network
with a per-synapse rule equals a dense per-synapse oracle, unsupported rule x sharing combinations are refused
at config load, and Oja's rule does what it says."""

from __future__ import annotations

import pytest
import torch

from evohebb.config import ConfigError, config_from_dict
from evohebb.nn.layer_specs import ConvSpec, LinearSpec
from evohebb.nn.network_settings import PlasticNetworkSettings
from evohebb.nn.unrolled_plastic_network import UnrolledPlasticNetwork
from evohebb.pipelines.evolve_config import EvolveConfig
from evohebb.plasticity.conv_geometry import copy_index
from evohebb.plasticity.rule_registry import RULES


def _network(rule: str, aggregation: str = "mean", mode: str = "delta", **kw) -> UnrolledPlasticNetwork:
    settings = PlasticNetworkSettings(rule=rule, aggregation=aggregation, sharing_mode=mode, weight_norm=False, **kw)
    return UnrolledPlasticNetwork((2, 5, 5), [ConvSpec(3, 3), LinearSpec(4)], "tanh", settings)


def _aggregate(values: torch.Tensor, entries: torch.Tensor, n_entries: int, aggregation: str) -> torch.Tensor:
    return torch.stack([getattr(values[entries == e], {"mean": "mean", "max": "amax"}[aggregation])()
                        for e in range(n_entries)])


@pytest.mark.parametrize("native", [False, True], ids=["torch", "native-kernels"])
@pytest.mark.parametrize("aggregation", ["mean", "max"])
def test_synapse_centric_rule_in_the_evolve_network_equals_a_dense_per_synapse_oracle(aggregation, native):
    """One step of an unrolled conv + linear network with ``network.rule=synapse_centric_abcd``: every synapse
    (every copy of a kernel entry on the conv) updated by ``η (A x y + B x + C y + D)`` with its entry's
    parameters, written out synapse by synapse, then re-shared by the aggregation (also with
    ``compile_copies``: the native conv and the linear layer's native per-synapse update)."""
    torch.manual_seed(0)
    net = _network("synapse_centric_abcd", aggregation, compile_copies=native)
    spec = net.genome_spec()
    assert spec["in->conv1.A"] == (3, 2, 3, 3) and spec["conv1->out.eta"] == (4, 27)
    assert not any(name.startswith(("in.", "conv1.", "out.")) for name in spec)      # no neuron parameters
    P = 2
    genomes = torch.randn(P, net.genome_size())
    net.load_genomes(genomes)
    net.reset(weight_seed=3)
    w0 = [w.clone() for w in net.weights()]
    obs = torch.randn(P, 2, 5, 5)
    net.forward(obs)
    net.update()
    named = net.named_genome(genomes)
    conv, linear = net.stack.layers
    entry, pre, post = copy_index(conv.geometry)
    for p in range(P):
        x = obs[p].reshape(-1)
        y = torch.tanh(conv.to_dense(w0[0][p]) @ x)
        A, B, C, D, eta = (named[f"in->conv1.{n}"][p].reshape(-1)[entry] for n in ("A", "B", "C", "D", "eta"))
        xi, yj = x[pre], y[post]
        per_synapse = eta * (A * xi * yj + B * xi + C * yj + D)
        expected = w0[0][p].reshape(-1) + _aggregate(per_synapse, entry, 54, aggregation)
        torch.testing.assert_close(net.weights()[0][p].reshape(-1), expected, rtol=1e-5, atol=1e-5)

        h = y                                              # the linear layer sees the conv's tanh output
        out = torch.tanh(w0[1][p] @ h)                     # the tanh head's activity
        A, B, C, D, eta = (named[f"conv1->out.{n}"][p] for n in ("A", "B", "C", "D", "eta"))
        dense = eta * (A * out[:, None] * h[None] + B * h[None] + C * out[:, None] + D)
        torch.testing.assert_close(net.weights()[1][p], w0[1][p] + dense, rtol=1e-5, atol=1e-5)


def test_neuron_centric_layout_is_the_rules_declaration():
    net = _network("neuron_centric_abcd", mode="terms")
    assert list(net.genome_spec()) == ["in.A", "in.C", "in.D", "in.eta", "conv1.A", "conv1.B", "conv1.C",
                                       "conv1.D", "conv1.eta", "out.B", "out.C", "out.D", "out.eta"]


def test_oja_rule_in_the_evolve_network_equals_its_formula():
    """``Δw_ij = η_j y_j (x_i − y_j w_ij)`` with one evolved η per postsynaptic neuron (linear layers)."""
    torch.manual_seed(1)
    settings = PlasticNetworkSettings(rule="oja", weight_norm=False, trunk="none")
    net = UnrolledPlasticNetwork((6,), [LinearSpec(3)], "tanh", settings)
    assert net.genome_spec() == {"out.eta": (3,)}
    genomes = torch.rand(2, 3)
    net.load_genomes(genomes)
    net.reset(weight_seed=0)
    w0 = net.weights()[0].clone()
    x = torch.randn(2, 6)
    net.forward(x)
    net.update()
    y = torch.tanh(torch.einsum("pji,pi->pj", w0, x))
    expected = w0 + genomes[:, :, None] * y[:, :, None] * (x[:, None, :] - y[:, :, None] * w0)
    torch.testing.assert_close(net.weights()[0], expected)


def test_a_rule_that_cannot_share_by_terms_is_refused_at_load_naming_both_fields():
    with pytest.raises(ConfigError) as err:
        config_from_dict(EvolveConfig, {"network": {"rule": "oja", "sharing_mode": "terms", "trunk": "conv"}})
    message = str(err.value)
    assert message.startswith("network.rule: 'oja'") and "network.sharing_mode" in message and "'delta'" in message
    # the same rule is fine where there is no unrolled conv, or with delta sharing
    config_from_dict(EvolveConfig, {"network": {"rule": "oja", "sharing_mode": "terms", "trunk": "none"}})
    config_from_dict(EvolveConfig, {"network": {"rule": "oja", "sharing_mode": "delta"}})


def test_unknown_and_layer_only_rules_are_refused_with_the_registered_names():
    with pytest.raises(ConfigError, match=r"network.rule: 'hebb' is not a registered plasticity rule; allowed: "
                                          r".*neuron_centric_abcd.*synapse_centric_abcd"):
        config_from_dict(EvolveConfig, {"network": {"rule": "hebb"}})
    with pytest.raises(ConfigError, match=r"network.rule: 'softhebb' needs a layer's pre-activation"):
        config_from_dict(EvolveConfig, {"network": {"rule": "softhebb"}})
    assert {"neuron_centric_abcd", "synapse_centric_abcd", "oja", "softhebb"} <= set(RULES)
