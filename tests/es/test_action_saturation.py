"""The rollout's saturation statistic: the fraction of an episode's steps with each action at a nonzero bound of
the action space (the plateaus of docs/results.md are a steering output held at full lock)."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from evohebb.config import load_config
from evohebb.es.rollout import run_episodes, saturation_bounds
from evohebb.pipelines.evolve import evaluation_task
from evohebb.pipelines.evolve_config import EvolveConfig

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "evolve_carracing.yaml"


@pytest.fixture(scope="module")
def task():
    return evaluation_task(load_config(EvolveConfig, CONFIG, ["evaluation.max_steps=80"]))


@pytest.mark.parametrize("action, expected", [
    ((1.0, 0.5, 0.0), (1.0, 0.0, 0.0)),       # full right lock; half gas and a released brake are not saturated
    ((-1.0, 1.0, 1.0), (1.0, 1.0, 1.0)),      # full left lock, both pedals fully down
    ((0.3, 0.0, 0.995), (0.0, 0.0, 1.0)),     # within 1 % of the brake's range of its bound
])
def test_a_constant_action_is_saturated_exactly_where_it_sits_at_a_nonzero_bound(task, action, expected):
    network, envs = task.build_network(), task.build_envs(3)
    genomes = network.genome_init(torch.Generator().manual_seed(0)).expand(3, -1).contiguous()
    played = run_episodes(network, envs, genomes, [1, 2, 3], weight_seed=0, max_steps=task.max_steps,
                          to_action=lambda out: np.tile(np.asarray(action, np.float32), (out.shape[0], 1)))
    envs.close()
    assert played.saturated.shape == (3, 3)
    np.testing.assert_allclose(played.saturated, np.tile(expected, (3, 1)))


def test_the_policy_s_own_actions_give_fractions_and_a_discrete_space_none(task):
    network, envs = task.build_network(), task.build_envs(2)
    genomes = network.genome_init(torch.Generator().manual_seed(0)).expand(2, -1).contiguous()
    played = run_episodes(network, envs, genomes, [1, 2], weight_seed=0, max_steps=task.max_steps,
                          to_action=task.spec.to_action)
    envs.close()
    assert ((played.saturated >= 0) & (played.saturated <= 1)).all()

    class Discrete:
        single_action_space = gym.spaces.Discrete(10)
    assert saturation_bounds(Discrete()) is None
