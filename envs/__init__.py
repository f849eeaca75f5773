"""Gymnasium environments and wrappers: preprocessed CarRacing (single, and vectorised on gymnasium or EnvPool),
image classification."""

import gymnasium as gym

from envs.car_racing import CAR_RACING_BACKENDS, CAR_RACING_ID, make_car_racing, make_car_racing_vector
from envs.episode_returns import EpisodeReturns
from envs.image_classification import IMAGE_CLASSIFICATION_ID, ImageClassificationEnv
from envs.image_resize import resize_image_observation, resize_vector_observation
from envs.negative_reward_termination import NegativeRewardTermination

if IMAGE_CLASSIFICATION_ID not in gym.registry:  # gym.make(IMAGE_CLASSIFICATION_ID, images=..., labels=...)
    gym.register(IMAGE_CLASSIFICATION_ID, entry_point="envs.image_classification:ImageClassificationEnv")

__all__ = [
    "CAR_RACING_BACKENDS",
    "CAR_RACING_ID",
    "IMAGE_CLASSIFICATION_ID",
    "EpisodeReturns",
    "ImageClassificationEnv",
    "NegativeRewardTermination",
    "make_car_racing",
    "make_car_racing_vector",
    "resize_image_observation",
    "resize_vector_observation",
]
