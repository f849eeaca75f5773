"""CarRacing as an environment entry (``env.name: carracing``): both backends (EnvPool's C++ port for evolution,
gymnasium's reference env that final scores are reported on), the pedal mapping, the scripted baselines."""

from __future__ import annotations

import numpy as np

from envs.baseline_policies import POLICIES
from envs.car_racing_options import CAR_RACING_FRAME_SIZE
from envs.env_registry import EnvEntry, register_env
from envs.env_settings import PEDAL_HEADS, CarRacingSettings

__all__ = ["CAR_RACING_ENTRY"]


def _vector_env(settings: CarRacingSettings, num_envs: int, max_steps: int, **overrides):
    from envs.car_racing import make_car_racing_vector
    return make_car_racing_vector(num_envs, **{**settings.vector_env_options, **overrides})


def _continuous_actions(settings: CarRacingSettings):
    return lambda output: output.detach().cpu().numpy().astype(np.float32)


CAR_RACING_ENTRY = register_env("carracing", EnvEntry(
    settings=CarRacingSettings,
    make_vector_env=_vector_env,
    network="carracing_policy",
    network_arguments=lambda s: {"in_shape": s.observation_shape, "head": PEDAL_HEADS[s.pedals]},
    to_action=_continuous_actions,
    observation_shape=lambda s: s.observation_shape,
    output_names=lambda s: ("steer", "gas", "brake"),
    # gymnasium's env, whole tracks, no early termination (issue 11)
    reference_overrides=("env.backend=gymnasium", "env.negative_patience=0", "evaluation.max_steps=1000"),
    conditions=lambda s: {"backend": s.backend, "negative_patience": s.negative_patience,
                          "frame_skip": s.frame_skip},
    baselines=POLICIES,
    # the baselines see the env's own 96×96 RGB frame (the scripted driver is defined on it)
    baseline_overrides={"size": CAR_RACING_FRAME_SIZE, "grayscale": False},
    render_overrides={"render_mode": "rgb_array", "backend": "gymnasium", "vectorization": "sync"},
))
