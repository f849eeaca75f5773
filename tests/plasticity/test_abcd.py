"""ABCD rules by hand on a 2x2 layer; neuron-centric parameter counts."""

import torch

from evohebb.nn.layer_specs import LinearSpec
from evohebb.nn.network_builders import carracing_policy
from evohebb.nn.network_settings import PlasticNetworkSettings
from evohebb.nn.unrolled_plastic_network import UnrolledPlasticNetwork
from evohebb.plasticity.abcd import (
    NeuronCentricABCD,
    NeuronParams,
    SynapseCentricABCD,
    SynapseParams,
    neuron_centric_abcd,
    neuron_centric_group_roles,
    neuron_centric_parameter_count,
    synapse_centric_abcd,
)


def test_synapse_centric_by_hand():
    pre = torch.tensor([1.0, 2.0])  # o_i
    post = torch.tensor([3.0, -1.0])  # o_j
    A = torch.tensor([[1.0, 0.0], [0.5, 1.0]])
    B = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    C = torch.tensor([[1.0, 1.0], [0.0, 2.0]])
    D = torch.tensor([[0.1, 0.2], [0.3, 0.4]])
    eta = torch.tensor([[1.0, 0.5], [2.0, 1.0]])
    # w[j, i] = eta (A o_i o_j + B o_i + C o_j + D)
    expected = torch.tensor(
        [
            [1.0 * (1 * 1 * 3 + 0 + 1 * 3 + 0.1), 0.5 * (0 + 1 * 2 + 1 * 3 + 0.2)],
            [2.0 * (0.5 * 1 * -1 + 1 * 1 + 0 + 0.3), 1.0 * (1 * 2 * -1 + 0 + 2 * -1 + 0.4)],
        ]
    )
    torch.testing.assert_close(synapse_centric_abcd(pre, post, A, B, C, D, eta), expected)
    # the linear layers' fast path: coefficients formed once, the same update
    cache = {}
    a, b, c, d = SynapseCentricABCD().synapse_coefficients(
        SynapseParams(*(t.unsqueeze(0) for t in (A, B, C, D, eta))), (1, 2, 2), cache)
    assert set(cache) == {"synapse_coefficients"}
    fast = a[0] * post[:, None] * pre[None] + b[0] * pre[None] + c[0] * post[:, None] + d[0]
    torch.testing.assert_close(fast, expected)


def test_neuron_centric_by_hand():
    x = torch.tensor([1.0, 2.0])
    y = torch.tensor([3.0, -1.0])
    pre = NeuronParams(
        A=torch.tensor([0.5, -1.0]),
        B=None,
        C=torch.tensor([1.0, 2.0]),
        D=torch.tensor([0.1, 0.2]),
        eta=torch.tensor([1.0, 0.0]),
    )
    post = NeuronParams(
        A=None,
        B=torch.tensor([2.0, 1.0]),
        C=torch.tensor([0.5, -1.0]),
        D=torch.tensor([1.0, 3.0]),
        eta=torch.tensor([0.0, 2.0]),
    )
    # Δw[j, i] = (η_i + η_j)/2 (A_i x_i + B_j y_j + C_i C_j x_i y_j + D_i D_j)
    expected = torch.tensor(
        [
            [
                0.5 * (0.5 + 6.0 + 1.0 * 0.5 * 1 * 3 + 0.1 * 1.0),
                0.0 * (-2.0 + 6.0 + 2.0 * 0.5 * 2 * 3 + 0.2 * 1.0),
            ],
            [
                1.5 * (0.5 - 1.0 + 1.0 * -1.0 * 1 * -1 + 0.1 * 3.0),
                1.0 * (-2.0 - 1.0 + 2.0 * -1.0 * 2 * -1 + 0.2 * 3.0),
            ],
        ]
    )
    assert expected[0, 1] == 0.0  # (η_1 + η_0)/2 = 0: no plasticity on that synapse
    torch.testing.assert_close(neuron_centric_abcd(x, y, pre, post), expected)
    # batched over a population: each individual as alone
    xs, ys = torch.stack([x, 2 * x]), torch.stack([y, -y])
    pp = NeuronParams(*(None if t is None else torch.stack([t, t]) for t in pre))
    qq = NeuronParams(*(None if t is None else torch.stack([t, t]) for t in post))
    batched = neuron_centric_abcd(xs, ys, pp, qq)
    torch.testing.assert_close(batched[1], neuron_centric_abcd(2 * x, -y, pre, post))
    # the linear layers' fast path: the same update as V @ U
    V, U = NeuronCentricABCD().linear_factors(x.unsqueeze(0), y.unsqueeze(0), (
        NeuronParams(*(None if t is None else t.unsqueeze(0) for t in pre)),
        NeuronParams(*(None if t is None else t.unsqueeze(0) for t in post))))
    torch.testing.assert_close((V @ U)[0], expected)


def test_linear_fast_path_equals_the_engine_and_caches_only_the_genome():
    g = torch.Generator().manual_seed(2)
    P, n_in, n_out = 3, 7, 5

    def params(n, pre):
        A, B, C, D = (torch.randn(P, n, generator=g) for _ in range(4))
        return NeuronParams(A if pre else None, None if pre else B, C, D, torch.rand(P, n, generator=g))

    state = (params(n_in, True), params(n_out, False))
    rule, cache = NeuronCentricABCD(), {}
    for _ in range(2):           # the second step reads the coefficients from the cache, with new activity
        x, y = torch.randn(P, n_in, generator=g), torch.randn(P, n_out, generator=g)
        V, U = rule.linear_factors(x, y, state, cache)
        assert V.shape == (P, n_out, 8) and U.shape == (P, 8, n_in)
        torch.testing.assert_close(V @ U, neuron_centric_abcd(x, y, *state), rtol=1e-5, atol=1e-6)
    assert set(cache) == {"linear_factors"}


def test_parameter_count_formula_three_layers():
    sizes = [4, 3, 5, 2]  # a 3-layer net
    assert neuron_centric_parameter_count(sizes) == 5 * sum(sizes) - 4 - 2 == 64
    net = UnrolledPlasticNetwork((1, 2, 2), [LinearSpec(3), LinearSpec(5), LinearSpec(2)], "tanh",
                                 PlasticNetworkSettings())
    assert net.genome_size() == 64
    assert net.genome_spec()["in.A"] == (1, 2, 2) and "in.B" not in net.genome_spec()
    assert "out.B" in net.genome_spec() and "out.A" not in net.genome_spec()


def test_pooled_groups_are_fresh_neurons():
    roles = neuron_centric_group_roles(3, pooled_after=[True, False])
    assert roles == [(True, False), (False, True), (True, False), (True, True), (False, True)]
    net = carracing_policy()
    sizes = [3 * 64 * 64, 6 * 62 * 62, 6 * 31 * 31, 8 * 14 * 14, 8 * 7 * 7, 128, 64, 3]
    roles = neuron_centric_group_roles(5, pooled_after=[True, True, False, False])
    assert net.genome_size() == neuron_centric_parameter_count(sizes, roles) == 173284
