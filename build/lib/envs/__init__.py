"""Gymnasium environments and wrappers: preprocessed CarRacing (single, and vectorised on gymnasium or EnvPool),
image classification; the environment registry (:mod:`envs.env_registry`) and its built-in entries, registered
here so that every process that imports ``envs`` sees them."""

import gymnasium as gym

from envs.car_racing import CAR_RACING_BACKENDS, CAR_RACING_ID, make_car_racing, make_car_racing_vector
from envs.car_racing_entry import CAR_RACING_ENTRY
from envs.classification_entry import CLASSIFICATION_ENTRY
from envs.env_registry import ENVIRONMENTS, ConfiguredEnv, EnvEntry, EnvSettings, env_entry, register_env
from envs.episode_returns import EpisodeReturns
from envs.gymnasium_entry import GYMNASIUM_ENTRY
from envs.image_classification import IMAGE_CLASSIFICATION_ID, ImageClassificationEnv
from envs.image_resize import resize_image_observation, resize_vector_observation
from envs.negative_reward_termination import NegativeRewardTermination

if IMAGE_CLASSIFICATION_ID not in gym.registry:  # gym.make(IMAGE_CLASSIFICATION_ID, images=..., labels=...)
    gym.register(IMAGE_CLASSIFICATION_ID, entry_point="envs.image_classification:ImageClassificationEnv")

__all__ = [
    "CAR_RACING_BACKENDS",
    "CAR_RACING_ENTRY",
    "CAR_RACING_ID",
    "CLASSIFICATION_ENTRY",
    "ConfiguredEnv",
    "ENVIRONMENTS",
    "GYMNASIUM_ENTRY",
    "IMAGE_CLASSIFICATION_ID",
    "EnvEntry",
    "EnvSettings",
    "EpisodeReturns",
    "ImageClassificationEnv",
    "NegativeRewardTermination",
    "env_entry",
    "make_car_racing",
    "make_car_racing_vector",
    "register_env",
    "resize_image_observation",
    "resize_vector_observation",
]
