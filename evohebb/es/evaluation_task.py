"""What an evaluator needs to build its networks and envs: a small typed spec sent to every Ray actor.

The ES layer never looks inside the network: a task kind names a registered network builder
(:func:`evohebb.nn.network_builders.build_network`) and an env builder, and the task carries the typed
settings both are built from.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from envs.env_settings import CarRacingSettings, ClassificationSettings
from evohebb.nn.network_builders import build_network
from evohebb.nn.network_settings import PlasticNetworkSettings


def _car_racing_envs(num_envs: int, env: CarRacingSettings, max_steps: int, **overrides):
    from envs.car_racing import make_car_racing_vector
    return make_car_racing_vector(num_envs, **{**env.vector_env_options, **overrides})


@functools.lru_cache(maxsize=4)
def _dataset(name: str, train: bool, data_dir: str | None, download: bool):
    from evohebb.data import load_dataset
    return load_dataset(name, train=train, data_dir=data_dir, download=download)


def _classification_envs(num_envs: int, env: ClassificationSettings, max_steps: int, **overrides):
    from gymnasium.vector import SyncVectorEnv

    from envs.image_classification import ImageClassificationEnv
    data = _dataset(env.dataset, env.train, env.data_dir, env.download)   # once per process, shared by the envs
    return SyncVectorEnv([lambda: ImageClassificationEnv(data, episode_length=max_steps, **overrides)] * num_envs)


def _continuous_actions(output: torch.Tensor) -> np.ndarray:
    return output.detach().cpu().numpy().astype(np.float32)


def _class_choices(output: torch.Tensor) -> np.ndarray:
    return output.argmax(dim=-1).cpu().numpy().astype(np.int64)


@dataclass(frozen=True)
class TaskKind:
    network: str                                             # a registered network builder
    network_shape: Callable[[Any], dict[str, Any]]           # env settings -> the builder's task arguments
    build_envs: Callable[..., Any]
    to_action: Callable[[torch.Tensor], np.ndarray]
    env_settings: type


TASK_KINDS: dict[str, TaskKind] = {
    "carracing": TaskKind("carracing_policy",
                          lambda env: {"in_shape": env.observation_shape, "pedals": env.pedals},
                          _car_racing_envs, _continuous_actions, CarRacingSettings),
    "classification": TaskKind("image_classifier",
                               lambda env: {"in_shape": env.observation_shape, "n_classes": env.n_classes},
                               _classification_envs, _class_choices, ClassificationSettings),
}


@dataclass(frozen=True)
class EvaluationTask:
    kind: str                                   # a key of TASK_KINDS
    max_steps: int                              # cap on every episode
    network: PlasticNetworkSettings
    env: CarRacingSettings | ClassificationSettings
    device: str = "cpu"
    plugins: tuple[str, ...] = ()               # modules to import before building (evohebb.plugins)

    def __post_init__(self):
        if self.kind not in TASK_KINDS:
            raise ValueError(f"task kind {self.kind!r} is unknown; allowed: {', '.join(TASK_KINDS)}")
        if not isinstance(self.env, self.spec.env_settings):
            raise TypeError(f"a {self.kind} task needs {self.spec.env_settings.__name__}, got "
                            f"{type(self.env).__name__}")

    @property
    def spec(self) -> TaskKind:
        return TASK_KINDS[self.kind]

    def build_network(self):
        return build_network(self.spec.network, self.network, device=self.device, **self.spec.network_shape(self.env))

    def build_envs(self, num_envs: int, **overrides):
        return self.spec.build_envs(num_envs, self.env, self.max_steps, **overrides)
