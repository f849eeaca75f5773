"""Evolved initial weights for any layer (``network.evolve_weights``) and learning layers by name
(``network.plastic_layers``): the genome's weight slices round-trip, a population whose conv weights differ per
individual equals each individual alone, and an evolved layer that does not learn is a static layer."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from evohebb.nn.layer_specs import ConvSpec, LinearSpec, PoolSpec
from evohebb.nn.network_settings import PlasticNetworkSettings
from evohebb.nn.unrolled_plastic_network import UnrolledPlasticNetwork

LAYERS = [ConvSpec(4, 3), PoolSpec(2), ConvSpec(5, 3, stride=2), LinearSpec(6), LinearSpec(3)]
IN_SHAPE = (3, 14, 14)


def _net(device: str = "cpu", **kw) -> UnrolledPlasticNetwork:
    defaults = {"evolve_weights": ["conv1", "conv2"], "plastic_layers": ["fc1", "out"], "aggregation": "max"}
    return UnrolledPlasticNetwork(IN_SHAPE, LAYERS, "tanh", PlasticNetworkSettings(**{**defaults, **kw}), device=device)


def _genomes(net: UnrolledPlasticNetwork, P: int) -> torch.Tensor:
    return torch.stack([net.genome_init(torch.Generator().manual_seed(i)) for i in range(P)])


def test_an_evolved_conv_slice_round_trips_and_only_learning_layers_hold_rule_parameters():
    net = _net()
    spec = net.genome_spec()
    assert net.layer_names == ["conv1", "conv2", "fc1", "out"]
    assert spec["conv1.W"] == (4, 3, 3, 3) and spec["conv2.W"] == (5, 4, 3, 3) and "out.W" not in spec
    # the rule's parameters exist only on the groups that the learning layers (fc1, out) connect
    assert {name.split(".")[0] for name in spec if not name.endswith(".W")} == {"conv2", "fc1", "out"}
    genomes = _genomes(net, 3)
    net.load_genomes(genomes)
    net.reset(weight_seed=5)
    named = net.named_genome(genomes)
    layer_weights = {"conv1.W": net.weights()[0], "conv2.W": net.weights()[1]}     # as the network holds them
    back = torch.cat([layer_weights.get(name, named[name]).reshape(3, -1) for name in spec], dim=1)
    torch.testing.assert_close(back, genomes)          # genome -> weights -> genome, slice by slice in order


def test_a_weight_scale_holds_each_evolved_weight_in_units_of_scale_over_sqrt_fan_in():
    absolute, scaled = _net(evolved_weight_gain=2.0), _net(evolved_weight_gain=2.0, evolved_weight_scale=4.0)
    assert scaled.genome_spec() == absolute.genome_spec()
    fan_in = {"conv1.W": 3 * 3 * 3, "conv2.W": 4 * 3 * 3}
    centre_abs, centre_s = (net.genome_init(torch.Generator().manual_seed(1)) for net in (absolute, scaled))
    named_abs, named_s = absolute.named_genome(centre_abs[None]), scaled.named_genome(centre_s[None])
    for name, n in fan_in.items():
        # the same start in weight space; the genes U(-gain/s, gain/s) whatever the fan-in
        torch.testing.assert_close(named_s[name], named_abs[name] * math.sqrt(n) / 4.0)
        assert 0.4 < named_s[name].abs().max() <= 0.5
    for name in (n for n in absolute.genome_spec() if not n.endswith(".W")):
        torch.testing.assert_close(named_s[name], named_abs[name])
    # the network holds the weight, whatever the units: the same weights, the same outputs
    obs = torch.randn(3, *IN_SHAPE)
    for net, centre in ((absolute, centre_abs), (scaled, centre_s)):
        net.load_genomes(centre.expand(3, -1))
        net.reset(weight_seed=4)
    for w_s, w_abs in zip(scaled.weights()[:2], absolute.weights()[:2]):
        torch.testing.assert_close(w_s, w_abs)
    torch.testing.assert_close(scaled.forward(obs), absolute.forward(obs))
    with pytest.raises(ValueError, match="evolved_weight_scale.*-1"):
        PlasticNetworkSettings(evolved_weight_scale=-1.0)


def test_a_population_with_per_individual_convs_equals_each_individual_alone():
    torch.manual_seed(0)
    net, alone = _net(), _net()
    genomes = _genomes(net, 4) * 3
    obs = torch.randn(6, 4, *IN_SHAPE)
    net.load_genomes(genomes)
    net.reset(weight_seed=2)
    together = []
    for t in range(6):
        together.append(net.forward(obs[t]))
        net.update()
    for p in range(4):
        alone.load_genomes(genomes[p:p + 1])
        alone.reset(weight_seed=2)
        for t in range(6):
            torch.testing.assert_close(alone.forward(obs[t, p:p + 1])[0], together[t][p], rtol=1e-5, atol=1e-5)
            alone.update()
        for w_alone, w_all in zip(alone.weights(), net.weights()):
            torch.testing.assert_close(w_alone[0], w_all[p], rtol=1e-5, atol=1e-5)


def test_evolved_convs_that_do_not_learn_are_a_static_conv_network():
    torch.manual_seed(1)
    net = _net(plastic=False)
    genomes = _genomes(net, 2)
    net.load_genomes(genomes)
    net.reset(weight_seed=7)
    named = net.named_genome(genomes)
    obs = torch.randn(2, *IN_SHAPE)
    for p in range(2):
        h = F.max_pool2d(torch.tanh(F.conv2d(obs[p:p + 1], named["conv1.W"][p])), 2)
        h = torch.tanh(F.conv2d(h, named["conv2.W"][p], stride=2)).flatten(1)
        h = torch.tanh(h @ net.weights()[2][p].T)
        expected = torch.tanh(h @ net.weights()[3][p].T)
        out = net.forward(obs)
        net.update()
        torch.testing.assert_close(out[p], expected[0], rtol=1e-5, atol=1e-5)
    # static: an update leaves every weight where the genome and the seed put it
    torch.testing.assert_close(net.weights()[0], named["conv1.W"])


def test_layer_names_are_checked():
    with pytest.raises(ValueError, match=r"network.evolve_weights: \['conv3'\] are not layers of this network; "
                                         r"allowed: conv1, conv2, fc1, out"):
        _net(evolve_weights=["conv3"])
    with pytest.raises(ValueError, match=r"network.plastic_layers: \['fc9'\]"):
        _net(plastic_layers=["fc9"])


def test_evolved_weight_gain_scales_only_the_evolved_slices_of_the_search_centre():
    base, gained = _net(), _net(evolved_weight_gain=3.0)
    g0 = base.genome_init(torch.Generator().manual_seed(7))
    g3 = gained.genome_init(torch.Generator().manual_seed(7))
    for name, sl in base.genome_slices().items():
        if name.endswith(".W"):
            torch.testing.assert_close(g3[sl], 3 * g0[sl])
            fan_in = math.prod(base.genome_layout.shape(name)[1:])
            assert g3[sl].abs().max() <= 3 / fan_in ** 0.5 and g3[sl].abs().max() > 1 / fan_in ** 0.5
        else:                                     # the rule's parameters keep their declared ranges
            torch.testing.assert_close(g3[sl], g0[sl])
