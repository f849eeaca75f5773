"""The reward-driven classification episode on synthetic images."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import envs
from envs import ImageClassificationEnv
from evohebb.data import ImageDataset


def toy(n=12):
    labels = torch.arange(n) % 3
    images = (torch.arange(n) * 20).view(-1, 1, 1, 1).expand(-1, 1, 4, 4).to(torch.uint8).clone()
    return ImageDataset(images, labels, ["a", "b", "c"], "toy")


def test_check_env_and_spaces():
    env = ImageClassificationEnv(toy(), episode_length=5)
    check_env(env)
    assert env.observation_space.shape == (1, 4, 4) and env.observation_space.dtype == np.float32
    assert env.action_space.n == 3
    registered = gym.make(envs.IMAGE_CLASSIFICATION_ID, images=toy(), episode_length=3)
    assert registered.reset(seed=0)[0].shape == (1, 4, 4)


def test_correct_action_pays_one_and_episode_has_k_steps():
    data = toy()
    env = ImageClassificationEnv(data, episode_length=6)
    observation, info = env.reset(seed=3)
    total, steps, terminated = 0.0, 0, False
    while not terminated:
        index = round(float(observation[0, 0, 0]) * 255) // 20  # images encode their index
        if steps == 0:
            assert index == info["index"]  # reset's info names the first image
        label = int(data.labels[index])
        action = label if steps % 2 == 0 else (label + 1) % 3
        observation, reward, terminated, truncated, info = env.step(action)
        assert info["index"] == index and info["label"] == label and info["correct"] == (steps % 2 == 0)
        assert reward == (1.0 if steps % 2 == 0 else 0.0) and not truncated
        total += reward
        steps += 1
    assert steps == 6 and total == 3.0
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)


def test_seed_draws_the_same_images():
    env = ImageClassificationEnv(toy(), episode_length=8)

    def episode(seed):
        env.reset(seed=seed)
        indices = []
        for _ in range(8):
            info = env.step(0)[4]
            indices.append(info["index"])
        return indices

    first = episode(5)
    assert first == episode(5) and len(set(first)) == 8  # no repeats when K <= N
    assert first != episode(6)


def test_raw_float_tensors_and_errors():
    images, labels = torch.rand(5, 2, 3, 3), torch.tensor([0, 1, 0, 1, 1])
    env = ImageClassificationEnv(images, labels, episode_length=20)  # K > N draws with replacement
    observation, info = env.reset(seed=0)
    assert np.allclose(observation, images[info["index"]].numpy())
    with pytest.raises(ValueError, match="labels are required"):
        ImageClassificationEnv(images)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ImageClassificationEnv(images * 3, labels)
    with pytest.raises(ValueError, match="episode_length"):
        ImageClassificationEnv(images, labels, episode_length=0)
