"""Any registered gymnasium env with a ``Box`` observation and ``Box`` or ``Discrete`` actions, as an environment
entry (``env.name: gymnasium``, ``env.id: LunarLander-v3``, ``env.kwargs: {continuous: true}``).

Like evotorch's ``GymNE`` and CleanRL's ``make_env(env_id)``, everything is read from the env's spaces: the
network (:func:`evohebb.nn.network_builders.vector_policy`) sees the flattened observation and has one output per
action dimension (``tanh``, scaled to the ``Box``'s bounds) or per discrete action (``choice``: the argmax). The
population plays in one ``gymnasium.make_vec`` vector env (sync or async), never a Python loop per individual.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.env_registry import EnvEntry, EnvSettings, register_env
from evohebb.config import ConfigError, option

__all__ = ["GYMNASIUM_ENTRY", "GymnasiumSettings", "env_spaces"]


@dataclass(frozen=True)
class GymnasiumSettings(EnvSettings):
    name: str = option("gymnasium", choices=("gymnasium",))
    id: str = option("LunarLander-v3", help="a registered gymnasium env id (a Box observation; Box or Discrete "
                                            "actions)")
    kwargs: dict[str, Any] = option({}, help="keyword arguments of gymnasium.make, e.g. {continuous: true}")
    vectorization: str = option("sync", choices=("sync", "async"),
                                help="gymnasium.make_vec's mode (sync: the envs step in the actor's own process)")
    #: the id's registration, looked up where the config is loaded and sent with the settings to Ray actors (an env
    #: registered only in the driver, e.g. in a notebook or a test, is made from it there)
    env_spec: Any = field(default=None, init=False, compare=False, repr=False)

    def validate(self) -> None:
        if self.id not in gym.registry:
            close = [k for k in gym.registry if k.lower().startswith(self.id.split("-")[0].lower()[:4])][:5]
            raise ConfigError(f"id: {self.id!r} is not a registered gymnasium env; allowed: a registered id "
                              f"(e.g. {', '.join(close) or 'LunarLander-v3'})")
        object.__setattr__(self, "env_spec", gym.spec(self.id))
        observation, action = self.spaces
        if not isinstance(observation, spaces.Box):
            raise ConfigError(f"id: {self.id!r} has a {type(observation).__name__} observation space; allowed: an "
                              "env with a Box observation")
        if not isinstance(action, (spaces.Box, spaces.Discrete)):
            raise ConfigError(f"id: {self.id!r} has a {type(action).__name__} action space; allowed: an env with "
                              "Box or Discrete actions")

    @property
    def spaces(self) -> tuple[spaces.Space, spaces.Space]:
        return env_spaces(self.env_spec, self.kwargs)


_SPACES: dict[str, tuple[spaces.Space, spaces.Space]] = {}


def env_spaces(env_spec, kwargs: dict[str, Any]) -> tuple[spaces.Space, spaces.Space]:
    """The observation and action spaces of ``gymnasium.make(env_spec, **kwargs)`` (made once per process)."""
    key = json.dumps([env_spec.id, kwargs], sort_keys=True)
    if key not in _SPACES:
        env = gym.make(env_spec, **kwargs)
        _SPACES[key] = env.observation_space, env.action_space
        env.close()
    return _SPACES[key]


def _vector_env(settings: GymnasiumSettings, num_envs: int, max_steps: int, vectorization: str | None = None,
                **overrides):
    flat = len(settings.spaces[0].shape) == 1
    return gym.make_vec(settings.env_spec, num_envs=num_envs,
                        vectorization_mode=vectorization or settings.vectorization,
                        wrappers=None if flat else [gym.wrappers.FlattenObservation],
                        **{**settings.kwargs, **overrides})


def _network_arguments(settings: GymnasiumSettings) -> dict[str, Any]:
    observation, action = settings.spaces
    discrete = isinstance(action, spaces.Discrete)
    n_outputs = int(action.n) if discrete else math.prod(action.shape)
    return {"in_shape": (math.prod(observation.shape),), "n_outputs": n_outputs,
            "head": "choice" if discrete else "tanh"}


def _to_action(settings: GymnasiumSettings):
    _, action = settings.spaces
    if isinstance(action, spaces.Discrete):
        start = int(action.start)
        return lambda output: output.argmax(dim=-1).cpu().numpy().astype(np.int64) + start
    low, high = action.low.astype(np.float32), action.high.astype(np.float32)
    bounded = np.isfinite(low) & np.isfinite(high)
    low, high = np.where(bounded, low, -1.0), np.where(bounded, high, 1.0)   # unbounded: the tanh as it is

    def scaled(output):   # tanh in [-1, 1] -> [low, high]
        y = output.detach().cpu().numpy().astype(np.float32).reshape(-1, *action.shape)
        return (low + (y + 1.0) * 0.5 * (high - low)).astype(action.dtype)
    return scaled


def _output_names(settings: GymnasiumSettings) -> tuple[str, ...]:
    n = _network_arguments(settings)["n_outputs"]
    return tuple(f"action {i}" for i in range(n))


GYMNASIUM_ENTRY = register_env("gymnasium", EnvEntry(
    settings=GymnasiumSettings,
    make_vector_env=_vector_env,
    network="vector_policy",
    network_arguments=_network_arguments,
    to_action=_to_action,
    observation_shape=lambda s: (math.prod(s.spaces[0].shape),),   # what the network sees: the flattened Box
    output_names=_output_names,
    conditions=lambda s: {"id": s.id, "kwargs": s.kwargs},
    render_overrides={"render_mode": "rgb_array", "vectorization": "sync"},
))
