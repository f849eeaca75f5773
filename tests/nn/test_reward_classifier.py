"""The hebbianCNN network: conv forward and update against a dense patch oracle (per-sample dopamine included),
the guard against non-positive weights, weight-sum rescaling, batching, exploration and the backprop twin."""

import pytest
import torch
import torch.nn.functional as F

from evohebb.nn.reward_classifier import PIXEL_EPS, RewardClassifier, RewardNetworkSettings, backprop_twin
from evohebb.plasticity.dopamine_table import DopamineSettings, DopamineTable

SMALL_CONV = dict(variant="conv", conv_maps=3, conv_filter_side=3, feedf_neurons=5, input_sum=60.0,
                  lr_conv=1e-3, lr_feedf=0.05, lr_classification=0.05, t_conv=5.0, t_feedf=2.0)


def _images(n: int, side: int = 8, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, side, side, generator=g)
    x[:, :, :2] = 0.0                                   # blank rows: some patches are empty
    return x


def _patches(net: RewardClassifier, x: torch.Tensor) -> torch.Tensor:
    """The seed's conv input: every patch of the padded image (+eps), normalised to sum A: ``[B, L, K]``."""
    k, p = net.settings.conv_filter_side, net.padding
    xp = F.pad(x, (p, p, p, p)) + PIXEL_EPS
    cols = F.unfold(xp, k).transpose(1, 2)               # [B, L, K]
    n = cols.shape[-1]
    return (net.settings.input_sum - n) * cols / cols.sum(-1, keepdim=True) + 1.0


def test_conv_preactivation_is_the_normalised_patches_times_log_weights():
    torch.manual_seed(0)
    net = RewardClassifier(RewardNetworkSettings(**SMALL_CONV), (1, 8, 8), 3)
    x = _images(4)
    patches = _patches(net, x)
    torch.testing.assert_close(patches.sum(-1), torch.full(patches.shape[:2], 60.0))   # every patch sums to A
    _, _, u = net._conv(x)
    oracle = patches @ net.conv_weight.log().flatten(1).T                              # [B, L, M]
    torch.testing.assert_close(u.flatten(2).transpose(1, 2), oracle, rtol=1e-5, atol=1e-3)


def test_conv_update_through_the_sharing_engine_equals_the_dense_oracle_with_per_sample_dopamine():
    torch.manual_seed(1)
    net = RewardClassifier(RewardNetworkSettings(**SMALL_CONV, rescale="never"), (1, 8, 8), 3)
    x = _images(5, seed=1)
    act = net.propagate(x)
    table = DopamineTable.from_settings(DopamineSettings(), release=("conv", "feedf", "classification"))
    prediction, reward = torch.tensor([1, 0, 1, 0, 1]), torch.tensor([1, 1, 0, 0, 0])
    table.release_for(prediction, reward)
    before = net.conv_weight.clone()
    net.learn(act, [table])
    # the seed: per sample b, ΔW = lr · d_b · Σ_l y[l] (x̃[l] − w), summed over the batch
    d = table.sample_factors("conv")
    patches = _patches(net, x)                                       # [B, L, K]
    y = act.conv.flatten(2).transpose(1, 2)                          # [B, L, M]
    w = before.flatten(1)                                            # [M, K]
    oracle = sum(d[b] * (y[b].T @ patches[b] - y[b].sum(0)[:, None] * w) for b in range(5)) * 1e-3
    torch.testing.assert_close((net.conv_weight - before).flatten(1), oracle, rtol=1e-4, atol=1e-6)


def test_linear_layers_learn_toward_the_inputs_they_win():
    torch.manual_seed(2)
    net = RewardClassifier(RewardNetworkSettings(variant="shallow", feedf_neurons=4, input_sum=100.0,
                                                 lr_feedf=0.1, t_feedf=1.0), (1, 4, 4), 2)
    x = _images(6, side=4, seed=2)
    act = net.propagate(x)
    before = net.feedf_weight.clone()
    net.learn(act)       # no modulator: rate 1 for every sample
    pre, post = act.feedf_input, act.feedf
    oracle = 0.1 * (post.T @ pre - post.sum(0)[:, None] * before)
    torch.testing.assert_close(net.feedf_weight - before, oracle, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(pre.sum(1), torch.full((6,), 100.0))   # the shallow input sums to A


def test_no_weight_becomes_negative_and_a_skipped_neuron_keeps_its_weights():
    torch.manual_seed(3)
    s = RewardNetworkSettings(**{**SMALL_CONV, "lr_conv": 0.05, "lr_feedf": 5.0, "lr_classification": 5.0},
                              rescale="never")
    net = RewardClassifier(s, (1, 8, 8), 3)
    table = DopamineTable({"conv": (-5.0,) * 4, "feedf": (-5.0,) * 4, "classification": (-5.0,) * 4},
                          release=("conv", "feedf", "classification"))
    for step in range(20):
        x = _images(4, seed=10 + step)
        act = net.propagate(x, explore="feedf")
        table.release_for(act.prediction, torch.zeros(4, dtype=torch.long))
        before = {n: getattr(net, n).clone() for n in ("conv_weight", "feedf_weight", "class_weight")}
        skipped = net.learn(act, [table])
        for name, w in before.items():
            now = getattr(net, name)
            assert (now > 0).all(), (step, name)
            changed = (now != w).flatten(1).any(1)
            layer = {"conv_weight": "conv", "feedf_weight": "feedf", "class_weight": "classification"}[name]
            assert int((~changed).sum()) >= int(skipped[layer])      # a skipped neuron keeps its weights
    assert sum(int(v) for v in skipped.values()) > 0      # the anti-Hebbian push did run into the guard


def test_weight_sums_are_rescaled_in_the_dopamine_phase_only():
    torch.manual_seed(4)
    net = RewardClassifier(RewardNetworkSettings(**SMALL_CONV), (1, 8, 8), 3)
    sums = net.input_sums
    assert sums == {"conv": 60.0, "feedf": 16.0}     # A per patch; one per pooled position (4×4) after the softmax
    act = net.propagate(_images(3))
    net.learn(act, dopamine_phase=False)
    assert not torch.allclose(net.feedf_weight.sum(1), torch.full((5,), sums["feedf"]))
    net.learn(net.propagate(_images(3, seed=5)), dopamine_phase=True)
    torch.testing.assert_close(net.feedf_weight.sum(1), torch.full((5,), sums["feedf"]))
    torch.testing.assert_close(net.conv_weight.sum((1, 2, 3)), torch.full((3,), 60.0))
    # the subsampled maps sum to one per pooled position: 4×4 positions
    torch.testing.assert_close(act.feedf_input.sum(1), torch.full((3,), sums["feedf"]))


def test_a_batch_propagates_as_its_samples_one_by_one_and_exploration_sets_the_prediction():
    torch.manual_seed(5)
    net = RewardClassifier(RewardNetworkSettings(**SMALL_CONV, noise_feedf=3.0), (1, 8, 8), 3)
    x = _images(6, seed=6)
    batch = net.propagate(x)
    for b in range(6):
        one = net.propagate(x[b:b + 1])
        torch.testing.assert_close(one.feedf[0], batch.feedf[b], rtol=1e-5, atol=1e-6)
        assert one.greedy.item() == batch.greedy[b].item() == net(x[b:b + 1]).argmax(1).item()
    assert torch.equal(batch.taken, batch.greedy) and batch.prediction.eq(1).all()
    explored = net.propagate(x.repeat(20, 1, 1, 1), explore="feedf")
    assert torch.equal(explored.prediction == 0, explored.taken != explored.greedy)
    assert (explored.prediction == 0).any()                   # strong noise changes some choices
    torch.testing.assert_close(explored.feedf.sum(1), torch.ones(120))
    conv = net.propagate(x, explore="conv")
    assert not torch.allclose(conv.conv, batch.conv)          # the conv layer learns from its noisy activity


def test_projective_fields_and_the_backprop_twin_have_the_networks_shapes():
    torch.manual_seed(6)
    conv = RewardClassifier(RewardNetworkSettings(**SMALL_CONV), (1, 8, 8), 3)
    assert conv.projective_fields().shape == (5, 1, 9, 9)     # (4 − 1)·2 + 3 pixels of the padded 10×10 image
    shallow = RewardClassifier(RewardNetworkSettings(variant="shallow", feedf_neurons=7, input_sum=100.0),
                               (1, 4, 4), 2)
    torch.testing.assert_close(shallow.projective_fields().flatten(1), shallow.feedf_weight)
    for settings, shape, net in ((conv.settings, (1, 8, 8), conv), (shallow.settings, (1, 4, 4), shallow)):
        twin = backprop_twin(settings, shape, net.n_classes)
        assert twin(torch.rand(2, *shape)).shape == (2, net.n_classes)


def test_settings_name_the_field_and_what_is_allowed():
    from evohebb.config import ConfigError
    with pytest.raises(ConfigError, match="explore: 'conv' is not allowed with variant 'shallow'"):
        RewardNetworkSettings(variant="shallow", explore="conv")
    with pytest.raises(ConfigError, match="conv_filter_side: 4 is not allowed; allowed: an odd side"):
        RewardNetworkSettings(conv_filter_side=4)
    with pytest.raises(ConfigError, match="rescale: 'sometimes' is not allowed; allowed: 'never', 'dopamine'"):
        RewardNetworkSettings(rescale="sometimes")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_step_matches_cpu():
    torch.manual_seed(7)
    cpu = RewardClassifier(RewardNetworkSettings(**SMALL_CONV), (1, 8, 8), 3)
    gpu = RewardClassifier(RewardNetworkSettings(**SMALL_CONV), (1, 8, 8), 3, device="cuda")
    gpu.load_state_dict(cpu.state_dict())
    x = _images(4)
    table = DopamineTable.from_settings(DopamineSettings(), release=("conv", "feedf", "classification"))
    for net, device in ((cpu, "cpu"), (gpu, "cuda")):
        act = net.propagate(x.to(device))
        table.release_for(act.prediction, torch.ones(4, dtype=torch.long, device=device))
        net.learn(act, [table], dopamine_phase=True)
    torch.testing.assert_close(gpu.feedf_weight.cpu(), cpu.feedf_weight, rtol=1e-4, atol=1e-4)
