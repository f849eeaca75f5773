"""The per-layer dopamine table: the seed's four (prediction, reward) cases per layer, per-sample factors on the
rule's rank axis, and what the RPE modulator can and cannot express."""

import pytest
import torch

from evohebb.config import ConfigError, config_from_dict
from evohebb.plasticity.conv_geometry import linear_geometry
from evohebb.plasticity.dopamine_table import CASES, DopamineSettings, DopamineTable
from evohebb.plasticity.rpe import RewardModulator, RPESettings
from evohebb.plasticity.sample_modulators import modulate_post
from evohebb.plasticity.soft_wta_hebb import SoftWTAHebbRule
from evohebb.plasticity.weight_sharing import reduce_copies

# hebbianCNN: launch.py (conv, feedf) and Network.__init__ (classification); keys as in the seed's dicts
SEED = {
    "feedf": {"-e+r": 6.0, "+e+r": 0.01, "-e-r": -0.6, "+e-r": -2.0},
    "conv": {"-e+r": 2.7, "+e+r": 0.1, "-e-r": -0.07, "+e-r": 1.0},
    "classification": {"-e+r": 0.3, "+e+r": 0.3, "-e-r": -0.2, "+e-r": -0.2},
}


def _seed_key(prediction: int, reward: int) -> str:
    return ("+e" if prediction else "-e") + ("+r" if reward else "-r")


@pytest.mark.parametrize("layer", ["conv", "feedf", "classification"])
@pytest.mark.parametrize("case", CASES)
def test_lookup_of_each_case_in_each_layer_is_the_seeds_value(layer, case):
    table = DopamineTable.from_settings(DopamineSettings())
    prediction, reward = (torch.tensor([v]) for v in case)
    value = table.lookup(layer, prediction, reward)
    assert value.item() == pytest.approx(SEED[layer][_seed_key(*case)])


def test_a_batch_of_mixed_cases_gets_one_value_per_sample():
    table = DopamineTable.from_settings(DopamineSettings(), release=("feedf",))
    prediction = torch.tensor([0, 0, 1, 1, 1, 0])
    reward = torch.tensor([0, 1, 0, 1, 1, 1])
    table.release_for(prediction, reward)
    expected = [SEED["feedf"][_seed_key(p, r)] for p, r in zip(prediction.tolist(), reward.tolist())]
    torch.testing.assert_close(table.sample_factors("feedf"), torch.tensor(expected))


def test_predicted_reward_and_no_reward_expected_get_different_values_unlike_the_rpe_modulator():
    """(1, 1) and (0, 0) both have RPE 0: the table tells them apart, the RPE modulator cannot."""
    table = DopamineTable.from_settings(DopamineSettings())
    one, zero = torch.tensor([1]), torch.tensor([0])
    assert table.lookup("feedf", one, one).item() == pytest.approx(0.01)
    assert table.lookup("feedf", zero, zero).item() == pytest.approx(-0.6)
    assert table.lookup("conv", one, one).item() != table.lookup("conv", zero, zero).item()
    assert table.lookup("classification", one, one).item() != table.lookup("classification", zero, zero).item()
    for scale in ("proportional", "sign"):
        rpe = RewardModulator(RPESettings(True, "greedy", scale=scale, zero_scale=0.3))
        rpe.reset(2)
        d = rpe(torch.tensor([1.0, 0.0]), explored=torch.tensor([False, True]))   # cases (1, 1) and (0, 0)
        assert d[0].item() == d[1].item() == pytest.approx(0.3)


@pytest.mark.parametrize("scale", ["proportional", "sign"])
def test_from_rpe_is_the_rpe_modulator_for_binary_rewards(scale):
    settings = RPESettings(True, "greedy", scale=scale, gain_positive=1.7, gain_negative=0.4, zero_scale=0.05)
    table = DopamineTable.from_rpe(settings, ["feedf"])
    prediction = torch.tensor([0, 0, 1, 1])
    reward = torch.tensor([0, 1, 0, 1])
    rpe = RewardModulator(settings)
    rpe.reset(4)
    expected = rpe(reward.float(), explored=prediction == 0)
    table.release_for(prediction, reward)
    torch.testing.assert_close(table.sample_factors("feedf"), expected)


def test_factor_scales_the_postsynaptic_signal_per_sample_and_leaves_quiet_layers_alone():
    table = DopamineTable.from_settings(DopamineSettings(), release=("classification", "feedf"))
    table.release_for(torch.tensor([1, 0, 1]), torch.tensor([1, 1, 0]))
    post = torch.ones(1, 3, 4, 1, 1)
    scaled = modulate_post(post, [table], "feedf")
    torch.testing.assert_close(scaled[0, :, 0, 0, 0], torch.tensor([0.01, 6.0, -2.0]))
    assert table.post_factor("conv", post) is None     # not released: learns without dopamine
    assert modulate_post(post, [table], "conv") is post
    with pytest.raises(ValueError, match="rank axis"):
        table.post_factor("feedf", torch.ones(1, 5, 4, 1, 1))


def test_the_per_sample_factor_equals_each_sample_learning_at_its_own_rate():
    """Dopamine on the rank axis before the rule sums the batch = Σ_b d_b · (sample b's update)."""
    torch.manual_seed(0)
    rule, geom = SoftWTAHebbRule(), linear_geometry(6, 4)
    x = torch.rand(5, 6) + 1
    y = torch.softmax(torch.randn(5, 4), 1)
    w = torch.rand(4, 6) + 1
    table = DopamineTable.from_settings(DopamineSettings(), release=("feedf",))
    prediction, reward = torch.tensor([1, 0, 1, 0, 1]), torch.tensor([1, 1, 0, 0, 1])
    table.release_for(prediction, reward)
    post = modulate_post(y.view(1, 5, 4, 1, 1), [table], "feedf")
    batched = reduce_copies(rule.copy_update(x.view(1, 5, 6, 1, 1), post, w.view(1, 4, 6, 1, 1)), geom)[0]
    d = table.sample_factors("feedf")
    oracle = sum(d[b] * y[b][:, None] * (x[b][None, :] - w) for b in range(5))
    torch.testing.assert_close(batched.view(4, 6), oracle, rtol=1e-5, atol=1e-5)


def test_settings_refuse_a_layer_without_dopamine_and_round_trip():
    with pytest.raises(ConfigError, match="release: 'classification' is not allowed; allowed: 'conv', 'feedf'"):
        DopamineSettings(release=("classification",))
    with pytest.raises(ConfigError, match=r"release: \['feedf', 'feedf'\] names a layer twice"):
        config_from_dict(DopamineSettings, {"release": ["feedf", "feedf"]})
    s = config_from_dict(DopamineSettings, {"feedf": {"omitted_reward": -1.0}, "release": ["conv"]})
    assert s.feedf.omitted_reward == -1.0 and s.feedf.unpredicted_reward == 6.0 and s.release == ("conv",)
    with pytest.raises(ConfigError, match="feedf.bonus: unknown key"):
        config_from_dict(DopamineSettings, {"feedf": {"bonus": 1.0}})
    with pytest.raises(ValueError, match="release names"):
        DopamineTable({"feedf": (0, 1, 2, 3)}, release=("conv",))
