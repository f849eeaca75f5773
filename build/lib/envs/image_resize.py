"""Resize image observations with gymnasium's ``TransformObservation`` and Pillow, for one env or a vector env.

gymnasium's own ``ResizeObservation`` needs OpenCV (``cv2``), which the pinned set does not ship; Pillow does
ship with it, so the resize goes through ``TransformObservation`` with Pillow's box filter (area averaging,
the same idea as OpenCV's ``INTER_AREA`` used by ``ResizeObservation``). One code path on every machine keeps
observations identical everywhere; the vector form applies the very same per-frame function to each env's frame
(gymnasium's ``VectorizeTransformObservation``), so both CarRacing backends are resampled identically.
"""

from __future__ import annotations

import functools

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.wrappers.vector import VectorizeTransformObservation
from PIL import Image


def resize_image_observation(env: gym.Env, size: tuple[int, int]) -> gym.Env:
    """Wrap ``env`` (uint8 ``H×W×C`` or ``H×W`` observations) so observations are resized to ``size = (H, W)``."""
    resized, resize = _resized_space_and_function(env.observation_space, size)
    return gym.wrappers.TransformObservation(env, resize, resized)


def resize_vector_observation(vector_env: gym.vector.VectorEnv, size: tuple[int, int]) -> gym.vector.VectorEnv:
    """Wrap a vector env: each env's frame resized to ``size = (H, W)`` as :func:`resize_image_observation` does."""
    resized, resize = _resized_space_and_function(vector_env.single_observation_space, size)
    return VectorizeTransformObservation(
        vector_env, wrapper=gym.wrappers.TransformObservation, func=resize, observation_space=resized
    )


def resize_frame(observation: np.ndarray, height: int, width: int) -> np.ndarray:
    """One uint8 ``H×W[×C]`` frame resized to ``height×width`` with Pillow's box (area) filter."""
    return np.asarray(Image.fromarray(observation).resize((width, height), Image.Resampling.BOX))


def _resized_space_and_function(space: spaces.Space, size: tuple[int, int]):
    if not isinstance(space, spaces.Box) or space.dtype != np.uint8 or len(space.shape) not in (2, 3):
        raise ValueError(f"resizing needs a uint8 H×W[×C] Box observation space, got {space}")
    height, width = int(size[0]), int(size[1])
    if height < 1 or width < 1:
        raise ValueError(f"resize size must be positive (height, width), got {size}")
    resized = spaces.Box(0, 255, (height, width, *space.shape[2:]), np.uint8)
    return resized, functools.partial(resize_frame, height=height, width=width)
