"""Configuration of the evolve pipeline (``evohebb evolve <config.yaml> [key=value ...]``)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from envs.env_settings import CarRacingSettings, ClassificationSettings
from evohebb.config import ConfigError, option
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
    task: str = option("carracing", choices=("carracing", "classification"))
    generations: int = option(10, low=1)
    algorithm: AlgorithmConfig = field(default_factory=AlgorithmConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    network: PlasticNetworkSettings = field(default_factory=PlasticNetworkSettings)
    carracing: CarRacingSettings = field(default_factory=CarRacingSettings)
    classification: ClassificationSettings = field(default_factory=ClassificationSettings)
