"""The reward-driven image-classification episode as an environment entry (``env.name: classification``): see an
image, name its class, get 1 if right (:class:`envs.image_classification.ImageClassificationEnv`)."""

from __future__ import annotations

import functools

import numpy as np

from envs.env_registry import EnvEntry, register_env
from envs.env_settings import ClassificationSettings

__all__ = ["CLASSIFICATION_ENTRY"]


@functools.lru_cache(maxsize=4)
def _dataset(name: str, train: bool, data_dir: str | None, download: bool):
    from evohebb.data import load_dataset
    return load_dataset(name, train=train, data_dir=data_dir, download=download)


def _vector_env(settings: ClassificationSettings, num_envs: int, max_steps: int, **overrides):
    from gymnasium.vector import SyncVectorEnv

    from envs.image_classification import ImageClassificationEnv
    data = _dataset(settings.dataset, settings.train, settings.data_dir, settings.download)   # once per process
    return SyncVectorEnv([lambda: ImageClassificationEnv(data, episode_length=max_steps, **overrides)] * num_envs)


def _class_choices(settings: ClassificationSettings):
    return lambda output: output.argmax(dim=-1).cpu().numpy().astype(np.int64)


def _accuracy_halves(rewards: np.ndarray) -> dict[str, float]:
    """Reward 1 per right answer: the accuracy over the first and the last half of the episode (does it learn?)."""
    half = rewards.shape[0] // 2
    return {"accuracy_first_half": float(rewards[:half].mean()), "accuracy_last_half": float(rewards[half:].mean())}


CLASSIFICATION_ENTRY = register_env("classification", EnvEntry(
    settings=ClassificationSettings,
    make_vector_env=_vector_env,
    network="image_classifier",
    network_arguments=lambda s: {"in_shape": s.observation_shape, "n_classes": s.n_classes},
    to_action=_class_choices,
    observation_shape=lambda s: s.observation_shape,
    output_names=lambda s: tuple(f"class {i}" for i in range(s.n_classes)),
    conditions=lambda s: {"dataset": s.dataset, "train": s.train},
    episode_summary=_accuracy_halves,
))
