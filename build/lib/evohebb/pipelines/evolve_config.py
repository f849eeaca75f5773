"""Configuration of the evolve pipeline (``evohebb evolve <config.yaml> [key=value ...]``).

The ``env`` section is the settings of the environment its ``name`` selects (:mod:`envs.env_registry`: ``carracing``,
``classification``, ``gymnasium``, or any registered one). Configs and zoo files written before environments were
registry entries held ``task: carracing|classification`` and one section per task (``carracing:``,
``classification:``); they still load: :meth:`EvolveConfig.upgrade_keys` turns ``task`` into ``env.name`` and the
selected task's section into ``env`` (``key=value`` overrides such as ``carracing.backend=gymnasium`` too), and
drops the other task's section, which was never read (it is refused if it holds anything but its defaults).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from envs import EnvSettings, env_entry
from evohebb.config import ConfigError, config_to_dict, option, selected_section
from evohebb.es.search_algorithms import ALGORITHMS, settings_of
from evohebb.nn.network_settings import PlasticNetworkSettings
from evohebb.run_io.run_settings import CheckpointSettings, RunSettings


@dataclass
class AlgorithmConfig:
    """The search algorithm and its settings; each algorithm reads only some of them (``settings_of``), and a
    setting it does not read must keep its default."""

    name: str = option("pgpe", choices=tuple(ALGORITHMS), help="evotorch search algorithm")
    popsize: int = option(16, low=2, help="population size")
    stdev_init: float = option(0.05, low=0.0, low_inclusive=False, help="initial search stdev (sigma)")
    center_lr: float = option(0.02, low=0.0, low_inclusive=False, help="center learning rate (pgpe, openai_es)")
    stdev_lr: float = option(0.1, low=0.0, help="stdev learning rate (pgpe)")
    parenthood_ratio: float = option(0.25, low=0.0, high=1.0, low_inclusive=False, help="elite fraction (cem)")
    lr_decay: float = option(1.0, low=0.0, high=1.0, low_inclusive=False,
                             help="center learning rate multiplied by this every generation (pgpe, openai_es; "
                                  "the thesis's openai_es: 0.995)")

    def validate(self) -> None:
        reads = settings_of(self.name)
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "name" or f.name in reads or value == f.default:
                continue
            readers = [name for name in ALGORITHMS if f.name in settings_of(name)]
            raise ConfigError(f"{f.name}: {value!r} does not apply to the search algorithm {self.name!r} (it reads "
                              f"{', '.join(reads)}); allowed: the default {f.default!r}, or an algorithm that "
                              f"reads it: {', '.join(map(repr, readers))}")
        if self.name in ("pgpe", "openai_es") and self.popsize % 2:
            raise ConfigError(f"popsize: {self.popsize} must be even for {self.name} (symmetric sampling); "
                              f"allowed: even integers >= 2")


@dataclass
class EvaluationConfig:
    episodes_per_individual: int = option(3, low=1, help="episodes (CarRacing: tracks) per generation, shared by the "
                                                         "whole population and new each generation; fitness = the "
                                                         "mean return over them")
    validation_every: int = option(5, low=0, help="every N generations (and after the last) play the search centre "
                                                  "on the fixed validation seeds, never used for selection (0: never)")
    validation_episodes: int = option(10, low=1, help="number of validation seeds (tracks)")
    max_steps: int = option(200, low=1, help="cap on every episode's length (env steps)")
    max_steps_schedule: list[list[int]] = option([], help="[[generation, max_steps], ...]: from that generation on, "
                                                          "episodes last up to max_steps (e.g. max_steps: 500 with "
                                                          "[[65, 1000]]: 500-step episodes for generations 0-64, "
                                                          "then whole 1000-step tracks); [] keeps max_steps")
    num_actors: int | str = option(2, help="Ray actors evaluating the population (0: in this process; 'auto': one "
                                           "per CPU of the cluster, re-checked every generation so that "
                                           "nodes that join get actors)")
    placement_timeout_s: float = option(30.0, low=0.0, low_inclusive=False,
                                        help="an actor (a lost node's replacement, a new one) that Ray has not "
                                             "placed on a node within this many seconds is given up: the pool "
                                             "shrinks, its work goes to the actors left")
    torch_threads: int = option(1, low=1, help="torch threads per actor")
    l2_penalty: float = option(0.0, low=0.0, help="fitness -= l2_penalty * |genome|^2")
    random_baseline: bool = option(True, help="each generation, also play random actions on the generation's "
                                              "seeds and log their mean return as fitness/random")
    ray_address: str | None = option(None, help="join this Ray cluster (else RAY_ADDRESS, else a local instance)")

    def validate(self) -> None:
        if self.num_actors != "auto" and not (isinstance(self.num_actors, int) and self.num_actors >= 0):
            raise ConfigError(f"num_actors: {self.num_actors!r} is not allowed; allowed: an integer >= 0 or 'auto'")
        last = 0
        for entry in self.max_steps_schedule:
            if len(entry) != 2 or entry[0] <= last or entry[1] < 1:
                raise ConfigError(f"max_steps_schedule: {self.max_steps_schedule!r} is not allowed; allowed: "
                                  f"[[generation, max_steps], ...] with generations >= 1 in increasing order and "
                                  f"max_steps >= 1")
            last = entry[0]

    def max_steps_at(self, generation: int) -> int:
        """The episode cap of ``generation`` (``max_steps``, then the schedule's)."""
        steps = self.max_steps
        for start, scheduled in self.max_steps_schedule:
            if generation >= start:
                steps = scheduled
        return steps


@dataclass
class CheckpointConfig(CheckpointSettings):
    every: int = option(5, low=1, help="checkpoint every N generations (and at the end and on SIGINT/SIGTERM)")


@dataclass
class EvolveConfig(RunSettings):
    """The run section (name, seed, device, checkpoint; see RunSettings) and the evolution."""

    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    env: EnvSettings = selected_section(lambda name: env_entry(name).settings, "carracing",
                                        help="the environment: its name (a registered entry) and its settings")
    generations: int = option(10, low=1)
    algorithm: AlgorithmConfig = field(default_factory=AlgorithmConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    network: PlasticNetworkSettings = field(default_factory=PlasticNetworkSettings)

    @property
    def task(self) -> str:
        """The environment's registered name (``env.name``; the ``task`` key of older configs)."""
        return self.env.name

    def __getattr__(self, name: str) -> Any:
        """``cfg.carracing`` / ``cfg.classification`` (the sections of older configs): the env settings when that
        environment is the selected one."""
        env = self.__dict__.get("env")
        if name in LEGACY_ENV_SECTIONS and env is not None and env.name == name:
            return env
        raise AttributeError(f"{type(self).__name__!r} has no attribute {name!r}")

    @staticmethod
    def upgrade_keys(data: dict[str, Any]) -> dict[str, Any]:
        """A mapping of an older config (``task`` and per-task sections) as this version's (see the module doc)."""
        if not any(key in data for key in ("task", *LEGACY_ENV_SECTIONS)):
            return data
        data = dict(data)
        task = data.pop("task", None)
        sections = {key: data.pop(key) for key in LEGACY_ENV_SECTIONS if key in data}
        env = dict(data.get("env") or {})
        if task is not None and env.get("name", task) != task:
            raise ConfigError(f"task: {task!r} contradicts env.name {env['name']!r}; allowed: one of the two "
                              "(task is the older spelling of env.name)")
        name = task or env.get("name") or (next(iter(sections)) if len(sections) == 1 else "carracing")
        for key, section in sections.items():
            if not isinstance(section, dict):
                raise ConfigError(f"{key}: {section!r} is not a mapping of {key} settings")
            if key != name and section != _defaults_of(key, section):
                raise ConfigError(f"{key}: {section!r} configures an environment that env.name {name!r} does not "
                                  f"select; allowed: env.name={key} (or task={key}), or leave {key} out")
        legacy = sections.get(name, {})
        for key in legacy.keys() & env.keys():
            if legacy[key] != env[key]:
                raise ConfigError(f"{name}.{key}: {legacy[key]!r} contradicts env.{key} {env[key]!r}; allowed: one of "
                                  f"the two ({name}.{key} is the older spelling of env.{key})")
        data["env"] = {**legacy, **env, "name": name}
        return data


#: the per-task sections of configs written before environments were registry entries
LEGACY_ENV_SECTIONS = ("carracing", "classification")


def _defaults_of(name: str, section: dict[str, Any]) -> dict[str, Any]:
    """The defaults of environment ``name``'s settings, for the keys ``section`` gives."""
    defaults = config_to_dict(env_entry(name).settings())
    return {key: defaults.get(key) for key in section}
