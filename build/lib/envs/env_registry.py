"""The environments the evolve pipeline runs, registered by name (config ``env.name``).

An :class:`EnvEntry` holds everything the pipelines need to know about one environment: its settings (the
config's ``env`` section, a :class:`EnvSettings` subclass), its vector-env factory, the observation shape and the
number of network outputs (from the spaces), its default network builder and output head, how a network output
becomes an action, the conditions final scores are reported on, its baseline policies and whether it can render.
The pipelines look an entry up by name and hold no branch on a particular one. The built-in entries
(``carracing``, ``classification``, ``gymnasium``) register themselves when :mod:`envs` is imported; a new
environment is one module that calls :func:`register_env` (``docs/extending.md``, "Add an environment").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evohebb.config import Settings, option
from evohebb.registry import Registry

__all__ = ["ENVIRONMENTS", "ConfiguredEnv", "EnvEntry", "EnvSettings", "env_entry", "register_env"]


@dataclass(frozen=True)
class EnvSettings(Settings):
    """Base of every environment's settings: the ``env`` section of the evolve config; ``name`` selects the entry."""

    name: str = option("carracing", help="the registered environment (envs.ENVIRONMENTS)")


#: a fixed policy of a baseline: observations [N, ...] -> actions [N, ...]
Policy = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class EnvEntry:
    """One environment, as the pipelines see it (see the module doc).

    ``make_vector_env(settings, num_envs, max_steps, **overrides)`` returns a gymnasium vector env (autoreset in
    gymnasium's next-step mode); ``overrides`` are its factory's keyword arguments (``render_overrides``,
    ``baseline_overrides``). ``network_arguments(settings)`` gives the network builder's task arguments (input
    shape, number of outputs, head); ``to_action(settings)`` maps the network's output ``[N, n_out]`` to the
    vector env's actions."""

    settings: type[EnvSettings]
    make_vector_env: Callable[..., Any]
    network: str                                                  # a registered network builder
    network_arguments: Callable[[Any], dict[str, Any]]
    to_action: Callable[[Any], Callable[[Any], np.ndarray]]
    observation_shape: Callable[[Any], tuple[int, ...]]
    output_names: Callable[[Any], tuple[str, ...]]
    #: config overrides of the conditions final scores are reported on (``evohebb evaluate`` without --as-trained)
    reference_overrides: tuple[str, ...] = ()
    #: the report's entries that say which conditions an evaluation ran on (baselines are reused only on equal ones)
    conditions: Callable[[Any], dict[str, Any]] = lambda settings: {}
    #: baseline policies besides random actions: name -> policy
    baselines: Mapping[str, Policy] = field(default_factory=dict)
    #: factory overrides of the envs the baselines play in (e.g. CarRacing's own frame, which they are defined on)
    baseline_overrides: Mapping[str, Any] = field(default_factory=dict)
    #: factory overrides of a one-env vector env whose ``envs[0].render()`` gives RGB frames (None: cannot render)
    render_overrides: Mapping[str, Any] | None = None
    #: extra entries of an evaluation report from the played rewards ``[T, N]`` (e.g. a classifier's accuracy)
    episode_summary: Callable[[np.ndarray], dict[str, float]] = lambda rewards: {}

    @property
    def can_render(self) -> bool:
        return self.render_overrides is not None


@dataclass(frozen=True)
class ConfiguredEnv:
    """An entry with its settings: what an evaluator builds its envs and network from."""

    entry: EnvEntry
    settings: EnvSettings

    @property
    def to_action(self) -> Callable[[Any], np.ndarray]:
        """The network's output ``[N, n_out]`` -> the vector env's actions."""
        return self.entry.to_action(self.settings)

    @property
    def observation_shape(self) -> tuple[int, ...]:
        return tuple(self.entry.observation_shape(self.settings))

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(self.entry.output_names(self.settings))

    def network_arguments(self) -> dict[str, Any]:
        return self.entry.network_arguments(self.settings)

    def make_vector_env(self, num_envs: int, max_steps: int, **overrides):
        return self.entry.make_vector_env(self.settings, num_envs, max_steps, **overrides)


ENVIRONMENTS: Registry[EnvEntry] = Registry("environment")


def register_env(name: str, entry: EnvEntry) -> EnvEntry:
    """Register ``entry`` as ``name`` (its settings' ``name`` default should be ``name``)."""
    return ENVIRONMENTS.register(name)(entry)


def env_entry(name: str) -> EnvEntry:
    """The entry registered as ``name`` (an unknown name raises a ValueError listing the registered ones)."""
    return ENVIRONMENTS.lookup(name)
