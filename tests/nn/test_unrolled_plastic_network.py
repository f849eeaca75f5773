"""Unrolled plastic networks: genome layout, population == singles, learning a label mapping."""

from dataclasses import replace

import pytest
import torch

from evohebb.nn.layer_specs import ConvSpec, LinearSpec, PoolSpec
from evohebb.nn.network_builders import build_network, carracing_policy, image_classifier
from evohebb.nn.network_settings import PlasticNetworkSettings
from evohebb.nn.unrolled_plastic_network import UnrolledPlasticNetwork
from evohebb.plasticity.rpe import RPESettings


def _genomes(net, P, seed, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    return torch.stack([net.genome_init(g) * scale for _ in range(P)])


def test_carracing_genome_layout_and_outputs():
    net = carracing_policy()
    spec = net.genome_spec()
    assert list(spec)[:5] == ["in.A", "in.C", "in.D", "in.eta", "conv1.B"]
    assert spec["pool2.A"] == (8, 7, 7) and spec["fc1.A"] == (128,) and spec["out.B"] == (3,)
    assert net.genome_size() == sum(torch.Size(s).numel() for s in spec.values()) == 173284
    net.load_genomes(_genomes(net, 2, 0))
    net.reset(7)
    obs = torch.rand(2, 3, 64, 64)
    for _ in range(3):
        a = net(obs)
        net.update()
    assert a.shape == (2, 3)
    assert (a[:, 0].abs() <= 1).all() and ((a[:, 1:] >= 0) & (a[:, 1:] <= 1)).all()
    for w in net.weights():  # per-layer normalisation by max |w|
        torch.testing.assert_close(w.flatten(1).abs().amax(1), torch.ones(2))


def _same_network_heads(*heads):
    """The CarRacing policy with each output head, on the same genomes and frame: ``(network, output)`` per head."""
    nets = [carracing_policy(head=h) for h in heads]
    genomes, obs = _genomes(nets[0], 16, 3), torch.rand(16, 3, 64, 64)
    for net in nets:
        net.load_genomes(genomes)
        net.reset(5)
    return [(net, net(obs)) for net in nets]


def test_clipped_pedals_are_off_for_negative_outputs_and_the_rule_sees_tanh():
    (_, s), (clip, c) = _same_network_heads("carracing_sigmoid", "carracing_clip")
    # same weights, same z: sigmoid(z) vs max(tanh(z), 0); steer is tanh(z) in both
    z = torch.logit(s[:, 1:])
    torch.testing.assert_close(c[:, 1:], torch.tanh(z).clamp(min=0), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(c[:, 0], s[:, 0])
    assert (c[:, 1:] == 0).any() and (c[:, 1:] > 0).any()
    _, out_activity = clip._acts[-1]   # what the rule sees: the unclipped tanh
    torch.testing.assert_close(out_activity[:, 1:], torch.tanh(z), atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="output head 'brake' is unknown"):
        carracing_policy(head="brake")


def test_half_gas_pedals_map_a_zero_output_to_half_gas_and_the_rule_sees_tanh():
    (_, c), (half, h) = _same_network_heads("carracing_clip", "carracing_half_gas")
    _, y = half._acts[-1]                      # the tanh of the same z in both heads
    torch.testing.assert_close(h[:, 1], (y[:, 1] + 1) / 2)
    torch.testing.assert_close(h[:, [0, 2]], c[:, [0, 2]])
    assert ((h[:, 1] > 0) & (h[:, 1] < 1)).all() and (h[:, 1] > c[:, 1]).any()
    # a network that outputs zero presses half the gas and no brake
    zero = half.head(torch.zeros(2, 3))[1]
    torch.testing.assert_close(zero, torch.tensor([[0.0, 0.5, 0.0]] * 2))


def test_layer_outputs_sharing_keeps_output_neurons_apart():
    net = carracing_policy(parameter_sharing="layer_outputs", weight_norm=False)
    spec = net.genome_spec()
    assert spec["out.B"] == spec["out.eta"] == (3,) and spec["fc1.A"] == spec["conv1.B"] == (1,)
    assert net.genome_size() == 42 == carracing_policy(parameter_sharing="layer").genome_size() + 4 * 2
    genome = net.genome_init(torch.Generator().manual_seed(0))
    named = net.named_genome(genome.unsqueeze(0))
    for name, view in named.items():
        if name.endswith(".eta"):
            view.zero_()
    named["out.eta"][0] = torch.tensor([0.0, 1.0, 0.0])   # only the gas neuron learns
    net.load_genomes(genome.unsqueeze(0))
    net.reset(3)
    before = net.weights()[-1].clone()
    for _ in range(3):
        net(torch.rand(1, 3, 64, 64))
        net.update()
    after = net.weights()[-1]
    changed = (after - before).abs().sum(dim=-1)[0]   # [3] per output neuron (rows of [P, out, in])
    assert changed[0] == 0 and changed[2] == 0 and changed[1] > 0


def test_reset_is_seeded_and_shared_by_all_individuals():
    net = carracing_policy()
    net.load_genomes(_genomes(net, 3, 1))
    net.reset(5)
    first = [w.clone() for w in net.weights()]
    assert all(torch.equal(w[0], w[2]) for w in first)
    net(torch.rand(3, 3, 64, 64))
    net.update()
    assert not torch.equal(first[2], net.weights()[2])
    net.reset(5)
    assert all(torch.equal(a, b) for a, b in zip(first, net.weights()))
    net.reset(6)
    assert not torch.equal(first[0], net.weights()[0])
    net.load_genomes(_genomes(net, 5, 2))  # P may change between calls
    assert net.population == 5 and net(torch.rand(5, 3, 64, 64)).shape == (5, 3)


def _small_net(dtype=torch.float32, **kw):
    layers = [ConvSpec(4, 3, 1, 1), PoolSpec(2), ConvSpec(5, 3, 2, 1), LinearSpec(6), LinearSpec(3)]
    return UnrolledPlasticNetwork((3, 12, 12), layers, "tanh", replace(PlasticNetworkSettings(), **kw), dtype=dtype)


BUILDS = {
    "carracing-max-rpe-clip": lambda **kw: carracing_policy(
        aggregation="max", rpe=RPESettings(True, rate=0.3, gain_negative=0.5), weight_clip=0.8, **kw
    ),
    "padded-median-delta-evolvable-rpe": lambda **kw: _small_net(
        aggregation="median", sharing_mode="delta", rpe=RPESettings(True, "running_average", evolvable=True), **kw
    ),
    "padded-mean-no-norm": lambda **kw: _small_net(aggregation="mean", weight_norm=False, **kw),
    "classifier-32x32x3-min": lambda **kw: image_classifier(
        in_shape=(3, 32, 32), n_classes=5, aggregation="min", exploration_std=0.0, **kw
    ),
}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("name", list(BUILDS))
def test_population_step_equals_single_steps(name, dtype):
    """Same math: exact to rtol 1e-5 in float64. In float32 the weights agree to float rounding
    (~1e-7), which the strongly scaled test genomes amplify in the outputs to ~1e-5 absolute."""
    P = 3
    pop, single = BUILDS[name](dtype=dtype), BUILDS[name](dtype=dtype)
    out_atol = 1e-5 if dtype == torch.float64 else 2e-4
    genomes = _genomes(pop, P, 3)
    pop.load_genomes(genomes)
    pop.reset(11)
    g = torch.Generator().manual_seed(0)
    obs = [torch.rand(P, *pop.in_shape, generator=g, dtype=dtype) for _ in range(3)]
    rewards = [torch.rand(P, generator=g, dtype=dtype) for _ in range(3)]
    outs = []
    for o, r in zip(obs, rewards):
        outs.append(pop(o))
        pop.update(r)
    for q in range(P):
        single.load_genomes(genomes[q : q + 1])
        single.reset(11)
        for t, (o, r) in enumerate(zip(obs, rewards)):
            torch.testing.assert_close(single(o[q : q + 1])[0], outs[t][q], rtol=1e-5, atol=out_atol)
            single.update(r[q : q + 1])
        for ws, wp in zip(single.weights(), pop.weights()):
            torch.testing.assert_close(ws[0], wp[q], rtol=1e-5, atol=1e-6)


def test_rpe_network_requires_reward_and_validates():
    net = image_classifier(n_classes=3, rpe=RPESettings(True, "greedy"))
    net.load_genomes(net.genome_init().unsqueeze(0))
    net.reset(0)
    net(torch.rand(1, 1, 28, 28))
    with pytest.raises(ValueError, match="reward"):
        net.update()
    with pytest.raises(ValueError, match="genomes"):
        net.load_genomes(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="aggregation"):
        carracing_policy(aggregation="sum")
    assert build_network("image_classifier", n_classes=4).genome_spec()["out.B"] == (4,)


def test_rpe_hebbian_classifier_learns_label_mapping_with_hand_set_parameters():
    """Seed 003's scheme: frozen conv features, one-hot choice as output activity, greedy binary RPE.

    Hand-set genome: only the output layer learns, Δw_ij = dopamine · η · x_i · onehot_j
    (C = 1 on both sides, A = B = D = 0, η = 0.05; conv layer η = 0)."""
    n, P = 4, 2
    g = torch.Generator().manual_seed(1)
    protos = (torch.rand(n, 1, 28, 28, generator=g) > 0.5).float()
    net = image_classifier(n_classes=n, exploration_std=0.5, rpe=RPESettings(True, "greedy", scale="sign"))
    genome = torch.zeros(P, net.genome_size())
    sl = net.genome_slices()
    genome[:, sl["pool1.C"]] = genome[:, sl["out.C"]] = 1.0
    genome[:, sl["pool1.eta"]] = genome[:, sl["out.eta"]] = 0.05
    net.load_genomes(genome)
    net.reset(0)

    def trial():
        label = torch.randint(0, n, (P,), generator=g)
        return label, protos[label] + 0.3 * torch.randn(P, 1, 28, 28, generator=g)

    def accuracy(k=100):
        std, net.head.exploration_std = net.head.exploration_std, 0.0
        correct = sum((net(x).argmax(1) == y).float().mean().item() for y, x in (trial() for _ in range(k)))
        net.head.exploration_std = std
        return correct / k

    before = accuracy()
    for _ in range(300):
        label, x = trial()
        net(x)
        net.update((net.last_choice == label).float())
    after = accuracy()
    assert before < 0.6 and after > 0.9, (before, after)


def test_output_only_plasticity_and_pre_centering():
    """plastic_layers="output" leaves the trunk at its initialisation (not even normalised); with
    pre_centering the Hebbian term of an input seen over and over vanishes, while new inputs still learn."""
    P = 2
    net = image_classifier(n_classes=4, rpe=RPESettings(True, "running_average", scale="proportional"),
                           plastic_layers="output", pre_centering=0.1, weight_norm=True)
    genome = torch.zeros(P, net.genome_size())
    sl = net.genome_slices()
    for name in ("in.C", "conv1.C", "pool1.C", "out.C", "in.eta", "conv1.eta", "pool1.eta", "out.eta"):
        genome[:, sl[name]] = 1.0   # Hebbian term only: Δw = η C_i C_j (x_i - mean x_i) y_j
    net.load_genomes(genome)
    net.reset(0)
    w0 = [w.clone() for w in net.weights()]
    x = torch.rand(1, 1, 28, 28).expand(P, -1, -1, -1)
    for _ in range(5):   # the same image every step: its centred activity is 0
        net(x)
        net.update(torch.ones(P))
    assert torch.equal(net.weights()[0], w0[0])
    assert torch.allclose(net.weights()[-1], w0[-1] / w0[-1].abs().amax((1, 2), keepdim=True), atol=1e-5)
    net(torch.rand(P, 1, 28, 28))
    net.update(torch.ones(P))
    assert torch.equal(net.weights()[0], w0[0])
    assert not torch.allclose(net.weights()[-1], w0[-1] / w0[-1].abs().amax((1, 2), keepdim=True))
    with pytest.raises(ValueError, match="plastic_layers"):
        image_classifier(plastic_layers="trunk")
    with pytest.raises(ValueError, match="pre_centering"):
        image_classifier(pre_centering=1.5)


def test_evolved_output_weights_replace_the_seeded_ones():
    """With evolve_output_weights the genome's out.W is each individual's readout at every reset; the trunk
    keeps its seeded initialisation; without plasticity the readout stays exactly the evolved one."""
    net = image_classifier(n_classes=4, plastic=False, evolve_output_weights=True)
    spec = net.genome_spec()
    assert spec["out.W"] == tuple(net.weights()[-1].shape[1:])
    genomes = torch.stack([net.genome_init(torch.Generator().manual_seed(i)) for i in range(3)])
    net.load_genomes(genomes)
    net.reset(7)
    evolved = net.named_genome(genomes)["out.W"]
    torch.testing.assert_close(net.weights()[-1], evolved)
    x = torch.rand(3, 1, 28, 28)
    net(x)
    net.update()
    torch.testing.assert_close(net.weights()[-1], evolved)
    reference = image_classifier(n_classes=4)
    reference.load_genomes(reference.genome_init().expand(3, -1))
    reference.reset(7)
    torch.testing.assert_close(net.weights()[0], reference.weights()[0])


def test_layers_shared_by_the_population_run_batched_and_equal_the_unrolled_path():
    """After reset every individual holds the same trunk weights: those layers run as one batched conv / matmul
    (the speed of the default CarRacing setting); the result equals P separate unrolled layers, and a layer that
    has learnt (or holds evolved per-individual weights) leaves the batched path."""
    net = carracing_policy(plastic_layers="output", evolve_output_weights=True)
    net.load_genomes(_genomes(net, 4, 5, scale=1.0))
    net.reset(2)
    assert net.stack._uniform == [True, True, True, True, False]
    obs = torch.rand(4, 3, 64, 64)
    batched = net(obs)
    # layers that do not learn are not recorded, and their tanh runs after the max-pool (same values)
    z_all, acts_all = net.stack(obs)
    z_some, acts_some = net.stack(obs, record=[False, False, False, False, True])
    # the same values up to tanh's rounding (in ~1 of 10 draws an element differs in its last bits, ~2e-6 of max |z|)
    torch.testing.assert_close(z_some, z_all, rtol=1e-5, atol=1e-6)
    assert acts_some[:4] == [None] * 4 and all(a is not None for a in acts_all)
    net.stack._uniform = [False] * 5
    torch.testing.assert_close(net(obs), batched, rtol=1e-5, atol=1e-6)
    net.reset(2)
    net(obs)
    net.update()
    assert net.stack._uniform == [True, True, True, True, False]   # only the output layer learns


def test_no_trunk_readout_sees_the_pixels():
    """trunk='none', hidden=[]: the policy is its output head on W·pixels (no conv, no pooling), the genome is the
    readout's ABCD sets plus its initial weights, and a wrong trunk name is refused naming the field."""
    from evohebb.config import ConfigError

    settings = PlasticNetworkSettings(trunk="none", hidden=[], parameter_sharing="layer_outputs",
                                      plastic=False, evolve_output_weights=True)
    net = carracing_policy(settings, in_shape=(1, 8, 8))
    assert net.genome_spec()["out.W"] == (3, 64) and net.genome_size() == 4 + 4 * 3 + 3 * 64
    genomes = torch.stack([net.genome_init(torch.Generator().manual_seed(i)) * 3 for i in range(2)])
    net.load_genomes(genomes)
    net.reset(0)
    obs = torch.rand(2, 1, 8, 8)
    w = net.named_genome(genomes)["out.W"]
    z = torch.einsum("poi,pi->po", w, obs.flatten(1))
    torch.testing.assert_close(net(obs), torch.cat([z[:, :1].tanh(), z[:, 1:].tanh().clamp(min=0)], 1))
    with pytest.raises(ConfigError, match="trunk.*'pixels'.*conv"):
        PlasticNetworkSettings(trunk="pixels")


def test_eta_scale_multiplies_the_learning_rate_genes():
    """eta_scale=s with genome g learns exactly as eta_scale=1 with g's eta genes multiplied by s."""
    scaled = carracing_policy(PlasticNetworkSettings(eta_scale=0.01, parameter_sharing="layer_outputs"))
    plain = carracing_policy(PlasticNetworkSettings(parameter_sharing="layer_outputs"))
    genomes = _genomes(plain, 2, 4)
    rescaled = genomes.clone()
    for name, cut in plain.genome_slices().items():
        if name.endswith(".eta"):
            rescaled[:, cut] *= 0.01
    obs = torch.rand(5, 2, 3, 64, 64)
    for net, g in ((scaled, genomes), (plain, rescaled)):
        net.load_genomes(g)
        net.reset(3)
        initial = [w.clone() for w in net.weights()]
        for x in obs:
            net(x)
            net.update()
    for a, b, w0 in zip(scaled.weights(), plain.weights(), initial):
        torch.testing.assert_close(a, b)
        assert not torch.allclose(a, w0)      # the rule did change every layer


def test_center_input_subtracts_each_frames_mean_and_ignores_brightness():
    """center_input: the readout sees pixels minus their frame's mean, so a brightness added to a whole frame
    changes neither the outputs nor what the rule learns (without it, it does)."""
    obs = torch.rand(4, 2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    brighter = obs + torch.tensor([0.3, -0.2]).view(1, 2, 1, 1, 1)
    runs = {}
    for centred in (True, False):
        net = carracing_policy(PlasticNetworkSettings(trunk="none", hidden=[], parameter_sharing="layer_outputs",
                                                      evolve_output_weights=True, center_input=centred),
                               in_shape=(1, 8, 8))
        genomes = _genomes(net, 2, 7)
        for name, frames in (("plain", obs), ("brighter", brighter)):
            net.load_genomes(genomes)
            net.reset(1)
            outputs = []
            for x in frames:
                outputs.append(net(x))
                net.update()
            runs[centred, name] = (torch.stack(outputs), net.weights()[-1].clone())
        if centred:
            w = net.named_genome(genomes)["out.W"]
            net.load_genomes(genomes)
            net.reset(1)
            x = obs[0].flatten(1)
            z = torch.einsum("poi,pi->po", w, x - x.mean(1, keepdim=True))
            torch.testing.assert_close(net(obs[0]), torch.cat([z[:, :1].tanh(), z[:, 1:].tanh().clamp(min=0)], 1))
    for a, b in zip(runs[True, "plain"], runs[True, "brighter"]):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(runs[False, "plain"][1], runs[False, "brighter"][1], atol=1e-3)   # what it learnt


def test_last_readout_is_the_output_layers_input_and_pre_activation():
    """last_readout(): the output layer's input (the conv features, flattened) and its pre-activation z = W·x, the
    z whose tanh is the output, for every individual; after a reset it is gone until the next forward."""
    net = carracing_policy(PlasticNetworkSettings(parameter_sharing="layer_outputs", weight_norm=False,
                                                  weight_clip=1.0), head="tanh")
    net.load_genomes(_genomes(net, 3, 2))
    net.reset(4)
    obs = torch.rand(2, 3, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    assert net.last_readout() is None
    for frame in obs:
        w = net.weights()[-1].clone()         # the output layer's weights this step (before its update)
        output = net(frame)
        x, z = net.last_readout()
        assert x.shape == (3, 64) and z.shape == (3, 3)
        torch.testing.assert_close(z, torch.einsum("poi,pi->po", w, x))
        torch.testing.assert_close(output, torch.tanh(z))
        net.update()
    net.reset(4)
    assert net.last_readout() is None
