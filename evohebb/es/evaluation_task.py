"""What an evaluator needs to build its networks and envs: a small picklable spec sent to every Ray actor.

The ES layer never looks inside the network: a task names a network builder and an env builder from
the registries below and passes them keyword arguments taken from the run's config.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from evohebb.nn.hebbian_network import carracing_policy, image_classifier


def _car_racing_envs(num_envs: int, **kwargs):
    from envs.car_racing import make_car_racing_vector
    return make_car_racing_vector(num_envs, **kwargs)


@functools.lru_cache(maxsize=4)
def _dataset(name: str, train: bool, data_dir: str | None, download: bool):
    from evohebb.data import load_dataset
    return load_dataset(name, train=train, data_dir=data_dir, download=download)


def _classification_envs(num_envs: int, dataset: str, episode_length: int, data_dir: str | None = None,
                         train: bool = True, download: bool = False):
    from gymnasium.vector import SyncVectorEnv

    from envs.image_classification import ImageClassificationEnv
    data = _dataset(dataset, train, data_dir, download)   # loaded once per process, shared by the envs
    return SyncVectorEnv([lambda: ImageClassificationEnv(data, episode_length=episode_length)] * num_envs)


def _continuous_actions(output: torch.Tensor) -> np.ndarray:
    return output.detach().cpu().numpy().astype(np.float32)


def _class_choices(output: torch.Tensor) -> np.ndarray:
    return output.argmax(dim=-1).cpu().numpy().astype(np.int64)


@dataclass(frozen=True)
class TaskKind:
    build_network: Callable[..., Any]
    build_envs: Callable[..., Any]
    to_action: Callable[[torch.Tensor], np.ndarray]


TASK_KINDS: dict[str, TaskKind] = {
    "carracing": TaskKind(carracing_policy, _car_racing_envs, _continuous_actions),
    "classification": TaskKind(image_classifier, _classification_envs, _class_choices),
}


@dataclass(frozen=True)
class EvaluationTask:
    kind: str                                   # a key of TASK_KINDS
    max_steps: int                              # cap on every episode
    network: dict = field(default_factory=dict)  # keyword arguments of the network builder
    env: dict = field(default_factory=dict)      # keyword arguments of the env builder
    device: str = "cpu"

    def __post_init__(self):
        if self.kind not in TASK_KINDS:
            raise ValueError(f"task kind {self.kind!r} is unknown; allowed: {', '.join(TASK_KINDS)}")

    @property
    def spec(self) -> TaskKind:
        return TASK_KINDS[self.kind]

    def build_network(self):
        return self.spec.build_network(device=self.device, **self.network)

    def build_envs(self, num_envs: int, **overrides):
        return self.spec.build_envs(num_envs, **{**self.env, **overrides})
