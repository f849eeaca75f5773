"""RPE modulation: sign behaviour, running average, greedy prediction, per-individual gains."""

import pytest
import torch

from evohebb.config import ConfigError
from evohebb.plasticity.rpe import RewardModulator, RPESettings, rpe_scale


def test_running_average_sign_and_update():
    m = RewardModulator(RPESettings(True, "running_average", rate=0.5, gain_positive=2.0, gain_negative=0.5))
    m.reset(3)
    d = m(torch.tensor([1.0, 0.0, -1.0]))  # prediction 0
    torch.testing.assert_close(d, torch.tensor([2.0, 0.0, -0.5]))  # + → g+·rpe, 0 → no learning, − → g−·rpe
    torch.testing.assert_close(m.prediction, torch.tensor([0.5, 0.0, -0.5]))
    d = m(torch.tensor([0.5, 1.0, -2.0]))  # rpe = 0, +1, -1.5
    torch.testing.assert_close(d, torch.tensor([0.0, 2.0, -0.75]))


def test_greedy_prediction_of_seed_003():
    m = RewardModulator(RPESettings(True, "greedy", scale="sign", gain_positive=1.0, gain_negative=0.3))
    m.reset(4)
    explored = torch.tensor([False, False, True, True])
    d = m(torch.tensor([1.0, 0.0, 1.0, 0.0]), explored=explored)
    torch.testing.assert_close(m.last_rpe, torch.tensor([0.0, -1.0, 1.0, 0.0]))
    torch.testing.assert_close(d, torch.tensor([0.0, -0.3, 1.0, 0.0]))
    # without exploration information the prediction is always 1
    torch.testing.assert_close(m(torch.tensor([1.0, 0.0, 1.0, 0.0])), torch.tensor([0.0, -0.3, 0.0, -0.3]))


def test_zero_rpe_scale_and_per_individual_gains():
    rpe = torch.tensor([0.0, 1.0, -1.0])
    torch.testing.assert_close(rpe_scale(rpe, zero_scale=0.2), torch.tensor([0.2, 1.0, -1.0]))
    gp, gn = torch.tensor([1.0, 3.0, 1.0]), torch.tensor([1.0, 1.0, 4.0])
    torch.testing.assert_close(rpe_scale(rpe, gp, gn), torch.tensor([0.0, 3.0, -4.0]))
    m = RewardModulator()
    m.reset(2)
    with pytest.raises(ValueError, match="population"):
        m(torch.zeros(3))
    with pytest.raises(ConfigError, match="prediction: 'oracle' is not allowed"):
        RPESettings(True, "oracle")
