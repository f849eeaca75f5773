"""Image classification as a reward-driven episode: see an image, name its class, get 1 if right."""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from evohebb.data.image_dataset import ImageDataset

IMAGE_CLASSIFICATION_ID = "evohebb/ImageClassification-v0"


class ImageClassificationEnv(gym.Env):
    """An episode of ``episode_length`` images drawn from a data set; action = class index, reward = 1.0 if right.

    Observation: float32 ``C×H×W`` in [0, 1]. ``reset(seed=s)`` draws the episode's images from ``s`` (without
    replacement when ``episode_length <= N``). Each ``step`` scores the shown image and shows the next; ``info``
    holds ``label`` (true class of the image just classified), ``correct`` and ``index`` (its sample index).
    The episode terminates after ``episode_length`` steps (the last observation is repeated).
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(
        self,
        images: ImageDataset | torch.Tensor | np.ndarray,
        labels: torch.Tensor | np.ndarray | None = None,
        episode_length: int = 10,
        n_classes: int | None = None,
    ):
        if isinstance(images, ImageDataset):
            if labels is not None:
                raise ValueError("labels must be None when images is an ImageDataset (it holds its labels)")
            labels, n_classes = images.labels, n_classes or images.n_classes
            images = images.images
        elif labels is None:
            raise ValueError("labels are required when images is a tensor or array")
        self._images = _as_image_array(images)
        self._labels = np.asarray(labels.numpy() if isinstance(labels, torch.Tensor) else labels).astype(
            np.int64
        )
        if self._labels.ndim != 1 or len(self._labels) != len(self._images) or len(self._labels) == 0:
            raise ValueError(
                f"labels must be 1-D with one label per image ({len(self._images)}), got shape {self._labels.shape}"
            )
        if n_classes is None:
            n_classes = int(self._labels.max()) + 1
        if self._labels.min() < 0 or self._labels.max() >= n_classes:
            raise ValueError(f"labels must lie in [0, n_classes={n_classes}), got [{self._labels.min()}, "
                             f"{self._labels.max()}]")  # fmt: skip
        if isinstance(episode_length, bool) or not isinstance(episode_length, int) or episode_length < 1:
            raise ValueError(f"episode_length must be an int >= 1, got {episode_length!r}")
        self.episode_length = episode_length
        self.n_classes = int(n_classes)
        self.observation_space = spaces.Box(0.0, 1.0, self._images.shape[1:], np.float32)
        self.action_space = spaces.Discrete(self.n_classes)
        self._order = np.zeros(0, dtype=np.int64)
        self._step = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        count = len(self._labels)
        self._order = self.np_random.choice(count, self.episode_length, replace=self.episode_length > count)
        self._step = 0
        return self._observation(0), {"index": int(self._order[0])}

    def step(self, action):
        if self._step >= len(self._order):
            raise RuntimeError(
                "ImageClassificationEnv: the episode has ended (or never started); call reset()"
            )
        if not self.action_space.contains(action):
            raise ValueError(f"action must be a class index in 0..{self.n_classes - 1}, got {action!r}")
        index = int(self._order[self._step])
        label = int(self._labels[index])
        correct = int(action) == label
        self._step += 1
        terminated = self._step >= self.episode_length
        observation = self._observation(self._step - 1 if terminated else self._step)
        info = {"label": label, "correct": correct, "index": index}
        return observation, 1.0 if correct else 0.0, terminated, False, info

    def _observation(self, position: int) -> np.ndarray:
        image = self._images[self._order[position]]
        if image.dtype == np.uint8:
            return image.astype(np.float32) / np.float32(255.0)
        return image.copy()


def _as_image_array(images: torch.Tensor | np.ndarray) -> np.ndarray:
    array = images.numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if array.ndim == 3:
        array = array[:, None]
    if array.ndim != 4:
        raise ValueError(f"images must be [N, C, H, W] (or [N, H, W]), got shape {array.shape}")
    if array.dtype == np.uint8:
        return array
    array = array.astype(np.float32)
    if array.size and (array.min() < 0.0 or array.max() > 1.0):
        raise ValueError("float images must lie in [0, 1] (uint8 images are scaled by 1/255)")
    return array
