"""Resize image observations with gymnasium's ``TransformObservation`` and Pillow.

gymnasium's own ``ResizeObservation`` needs OpenCV (``cv2``), which the pinned set does not ship; Pillow does
ship with it, so the resize goes through ``TransformObservation`` with Pillow's box filter (area averaging,
the same idea as OpenCV's ``INTER_AREA`` used by ``ResizeObservation``). One code path on every machine keeps
observations identical everywhere.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from PIL import Image


def resize_image_observation(env: gym.Env, size: tuple[int, int]) -> gym.Env:
    """Wrap ``env`` (uint8 ``H×W×C`` or ``H×W`` observations) so observations are resized to ``size = (H, W)``."""
    space = env.observation_space
    if not isinstance(space, spaces.Box) or space.dtype != np.uint8 or len(space.shape) not in (2, 3):
        raise ValueError(f"resize_image_observation needs a uint8 H×W[×C] Box observation space, got {space}")
    height, width = int(size[0]), int(size[1])
    if height < 1 or width < 1:
        raise ValueError(f"resize size must be positive (height, width), got {size}")
    resized = spaces.Box(0, 255, (height, width, *space.shape[2:]), np.uint8)

    def resize(observation: np.ndarray) -> np.ndarray:
        return np.asarray(Image.fromarray(observation).resize((width, height), Image.Resampling.BOX))

    return gym.wrappers.TransformObservation(env, resize, resized)
