"""What an evaluator needs to build its networks and envs: a small typed spec sent to every Ray actor.

The ES layer never looks inside the network or names an environment: ``kind`` names a registered environment
entry (:mod:`envs.env_registry`), which names its network builder (:func:`evohebb.nn.network_builders.build_network`)
and builds its vector env; the task carries the typed settings both are built from.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from envs import ConfiguredEnv, EnvEntry, EnvSettings, env_entry
from evohebb.nn.network_builders import build_network
from evohebb.nn.network_settings import PlasticNetworkSettings


@dataclass(frozen=True)
class EvaluationTask:
    kind: str                                   # a registered environment (envs.ENVIRONMENTS)
    max_steps: int                              # cap on every episode
    network: PlasticNetworkSettings
    env: EnvSettings                            # that environment's settings
    device: str = "cpu"
    plugins: tuple[str, ...] = ()               # modules to import before building (evohebb.plugins)
    #: the entry registered as ``kind``, looked up where the task is made and sent with it to the Ray actors (an
    #: environment registered only in the driver, e.g. in a test, works there too)
    entry: EnvEntry = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self):
        entry = env_entry(self.kind)   # an unknown name raises, listing the registered ones
        if not isinstance(self.env, entry.settings):
            raise TypeError(f"a {self.kind} task needs {entry.settings.__name__}, got {type(self.env).__name__}")
        object.__setattr__(self, "entry", entry)

    @property
    def spec(self) -> ConfiguredEnv:
        """The environment entry with this task's settings (``to_action``, ``observation_shape``, …)."""
        return ConfiguredEnv(self.entry, self.env)

    def build_network(self):
        return build_network(self.entry.network, self.network, device=self.device,
                             **self.spec.network_arguments())

    def build_envs(self, num_envs: int, **overrides):
        return self.spec.make_vector_env(num_envs, self.max_steps, **overrides)
