"""CarRacing builder on the real Box2D env; kept to a few hundred simulator steps in total."""

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from envs import EpisodeReturns, NegativeRewardTermination, make_car_racing, make_car_racing_vector

BRAKE = np.array([0.0, 0.0, 1.0], dtype=np.float32)
GAS = np.array([0.0, 1.0, 0.0], dtype=np.float32)


def test_check_env_unwrapped_and_wrapped():
    env = make_car_racing(size=64, grayscale=True, frame_skip=2)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(different from the unwrapped|not having a spec).*")
        check_env(env.unwrapped, skip_render_check=True)
        check_env(env, skip_render_check=True)
    env.close()


@pytest.mark.parametrize("size,grayscale,shape", [(64, False, (64, 64, 3)), (64, True, (64, 64, 1)),
                                                  (96, False, (96, 96, 3))])  # fmt: skip
def test_observation_shapes(size, grayscale, shape):
    env = make_car_racing(size=size, grayscale=grayscale)
    observation, _ = env.reset(seed=0)
    assert (
        env.observation_space.shape == shape and observation.shape == shape and observation.dtype == np.uint8
    )
    observation, *_ = env.step(GAS)
    assert env.observation_space.contains(observation)
    env.close()


def _rollout(env, seed, actions):
    observation, _ = env.reset(seed=seed)
    observations, rewards = [observation], []
    for action in actions:
        observation, reward, *_ = env.step(action)
        observations.append(observation)
        rewards.append(reward)
    return np.stack(observations), np.array(rewards)


def test_same_seed_same_track_and_returns():
    env = make_car_racing(size=32)
    actions = [GAS] * 20 + [np.array([-0.6, 0.5, 0.0], np.float32)] * 10
    obs_a, rewards_a = _rollout(env, 7, actions)
    obs_b, rewards_b = _rollout(env, 7, actions)
    assert np.array_equal(obs_a, obs_b) and np.array_equal(rewards_a, rewards_b)
    track_7 = [tuple(t) for t in env.unwrapped.track]
    env.reset(seed=8)
    assert [tuple(t) for t in env.unwrapped.track] != track_7
    env.close()


def test_negative_patience_fires_after_exactly_n_negative_frames_after_grace():
    # standing still with the brake on earns -0.1 every frame after the first
    env = make_car_racing(size=32, negative_patience=20, frame_skip=1)
    env.reset(seed=1)
    for frame in range(1, 71):
        _, reward, terminated, truncated, info = env.step(BRAKE)
        if frame > 50:
            assert reward < 0
        assert terminated == (frame == 70), frame  # 50 grace frames + 20 negative frames
    assert info["negative_reward_termination"] and not truncated
    env.close()


def test_negative_patience_counts_frames_under_frame_skip():
    env = make_car_racing(size=32, negative_patience=4, grace_steps=6, frame_skip=2)
    env.reset(seed=1)
    terminated_at = [step for step in range(1, 8) if env.step(BRAKE)[2]]
    assert terminated_at[0] == 5  # frames 7..10 are the 4 negative frames; agent step 5 holds frames 9 and 10
    env.close()


class ScriptedRewards(gym.Env):
    observation_space = gym.spaces.Box(0, 1, (1,), np.float32)
    action_space = gym.spaces.Discrete(1)

    def __init__(self, rewards):
        self.rewards = rewards

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.t += 1
        return np.zeros(1, np.float32), self.rewards[self.t - 1], False, False, {}


def test_negative_run_resets_on_non_negative_reward():
    rewards = [-1] * 3 + [-1, -1, 0, -1, -1, 5, -1, -1, -1, -1]  # grace 3, then a run of 4 ends at step 13
    env = NegativeRewardTermination(ScriptedRewards(rewards), patience=4, grace_steps=3)
    env.reset()
    ends = [t for t in range(1, len(rewards) + 1) if env.step(0)[2]]
    assert ends == [13]
    with pytest.raises(ValueError, match="patience"):
        NegativeRewardTermination(ScriptedRewards(rewards), patience=0)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="frame_skip"):
        make_car_racing(frame_skip=0)
    with pytest.raises(ValueError, match="vectorization"):
        make_car_racing_vector(2, vectorization="threads")


@pytest.mark.parametrize("vectorization", ["sync", "async"])
def test_vector_env_first_episode_returns_match_single_env(vectorization):
    actions = [GAS] * 14
    single = make_car_racing(size=32, max_steps=10, negative_patience=None)
    expected = [_rollout(single, seed, actions[:10])[1].sum() for seed in (3, 4)]
    single.close()
    vector = make_car_racing_vector(2, vectorization, size=32, max_steps=10, negative_patience=None)
    observations, _ = vector.reset(seed=[3, 4])
    assert observations.shape == (2, 32, 32, 3)
    tracker = EpisodeReturns(2)
    steps = 0
    while not tracker.all_done:
        _, rewards, terminated, truncated, _ = vector.step(np.stack([GAS, GAS]))
        tracker.update(rewards, terminated, truncated)
        steps += 1
    assert steps == 10 and tracker.lengths.tolist() == [10, 10]
    np.testing.assert_allclose(tracker.returns, expected, rtol=1e-6)
    # next-step autoreset: the following step starts new episodes, which the tracker no longer counts
    vector.step(np.stack([GAS, GAS]))
    vector.close()
