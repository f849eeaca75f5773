"""An environment defined only in this file (registered with gymnasium here, no library edit) is selected by name
from a config and evolved through the real evolve pipeline on a local Ray instance; an evohebb environment entry
defined here is selected by ``env.name`` the same way; the gymnasium entry sizes the network from the spaces."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass

import cloudpickle
import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env

from envs import ENVIRONMENTS, EnvEntry, EnvSettings, register_env
from evohebb.cli import main
from evohebb.config import ConfigError, load_config, option
from evohebb.pipelines.evolve import evaluation_task
from evohebb.pipelines.evolve_config import EvolveConfig
from evohebb.run_io import read_metrics, read_results

TARGET_ID = "EvohebbTestTarget-v0"
STEPS = 12


class TargetEnv(gym.Env):
    """Move a point on a line towards a target: observation [position, target], action a push in [-1, 1],
    reward -|position - target| after the push; ``STEPS`` steps."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, render_mode: str | None = None, speed: float = 0.2):
        self.observation_space = spaces.Box(-2.0, 2.0, (2,), np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.render_mode, self.speed = render_mode, speed
        self._state = np.zeros(2, np.float32)
        self._t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._state = self.np_random.uniform(-1.0, 1.0, 2).astype(np.float32)
        self._t = 0
        return self._state.copy(), {}

    def step(self, action):
        self._state[0] = np.clip(self._state[0] + self.speed * float(np.asarray(action).reshape(-1)[0]), -2, 2)
        self._t += 1
        reward = -abs(float(self._state[0] - self._state[1]))
        return self._state.copy(), reward, self._t >= STEPS, False, {}

    def render(self):
        frame = np.zeros((16, 32, 3), np.uint8)
        frame[:, int((self._state[0] + 2) * 7.75), 0] = 255
        frame[:, int((self._state[1] + 2) * 7.75), 1] = 255
        return frame


if TARGET_ID not in gym.registry:
    gym.register(TARGET_ID, entry_point=TargetEnv)
# the Ray actors cannot import a test module: its classes travel by value
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def test_the_test_env_passes_gymnasiums_checker():
    check_env(TargetEnv(), skip_render_check=False)
    check_env(gym.make(TARGET_ID).unwrapped)


def test_an_env_registered_in_the_test_evolves_on_ray_by_its_id(tmp_path, local_ray):
    """``env.name=gymnasium env.id=<id registered above>``: 2 generations on 2 Ray actors, real evotorch; the
    network is sized from the spaces (2 inputs, 1 output), the envs play whole episodes, then ``evaluate`` replays
    the genome beside random actions and records a GIF (the env can render)."""
    runs = tmp_path / "runs"
    assert main(["evolve", "env.name=gymnasium", f"env.id={TARGET_ID}", "network.trunk=none", "network.hidden=[4]",
                 "generations=2", "algorithm.popsize=6", "evaluation.episodes_per_individual=2",
                 f"evaluation.max_steps={STEPS + 5}", "evaluation.num_actors=2", "evaluation.validation_every=1",
                 "evaluation.validation_episodes=3", "--runs-root", str(runs), "--name", "target"]) == 0
    run = runs / "target"
    results = read_results(run)
    assert results["completed"] and results["generations_done"] == 2 and results["task"] == "gymnasium"
    # genome: ABCD of the 2 inputs (A C D eta), the 4 hidden neurons (A B C D eta) and the output (B C D eta)
    assert results["genome_size"] == 2 * 4 + 4 * 5 + 1 * 4
    metrics = read_metrics(run)
    assert [m["step"] for m in metrics] == [0, 1]
    for m in metrics:   # every individual played every episode to its end (STEPS steps, not the cap)
        assert m["evaluation/env_steps"] == 6 * 2 * STEPS and m["evaluation/failed"] == 0
        assert -2 * 4 * STEPS <= m["fitness/min"] < m["fitness/best"] <= 0   # genomes differ, so do the returns
        assert "fitness/random" in m and "validation/mean" in m
    gif = tmp_path / "target.gif"
    assert main(["evaluate", str(run), "--episodes", "3", "--baselines", "--gif", str(gif)]) == 0
    report = json.loads((run / "evaluation-best.json").read_text())
    assert report["task"] == "gymnasium" and report["id"] == TARGET_ID and report["lengths"] == [STEPS] * 3
    assert len(report["random_returns"]) == 3 and gif.stat().st_size > 100


@dataclass(frozen=True)
class TargetSettings(EnvSettings):
    name: str = option("test_target", choices=("test_target",))
    speed: float = option(0.2, low=0.0, high=1.0, help="how far one push moves the point")


def _target_vector_env(settings: TargetSettings, num_envs: int, max_steps: int, **overrides):
    return gym.vector.SyncVectorEnv([lambda: TargetEnv(speed=settings.speed, **overrides)] * num_envs)


def _push(settings: TargetSettings):
    return lambda output: output.detach().cpu().numpy().astype(np.float32)


@pytest.fixture(scope="module")
def target_entry():
    entry = register_env("test_target", EnvEntry(
        settings=TargetSettings, make_vector_env=_target_vector_env, network="vector_policy",
        network_arguments=lambda s: {"in_shape": (2,), "n_outputs": 1, "hidden": ()},
        to_action=_push, observation_shape=lambda s: (2,), output_names=lambda s: ("push",),
        conditions=lambda s: {"speed": s.speed}))
    yield entry
    del ENVIRONMENTS["test_target"]


def test_an_entry_defined_in_the_test_is_selected_by_env_name(tmp_path, target_entry):
    """A whole evohebb environment entry (settings section, factory, network, actions) defined here: its settings
    are checked at load naming the field, and it evolves through the pipeline (in-process evaluation)."""
    with pytest.raises(ConfigError, match=r"env.speed: 3.0 is out of range"):
        load_config(EvolveConfig, None, ["env.name=test_target", "env.speed=3"])
    cfg = load_config(EvolveConfig, None, ["env.name=test_target", "env.speed=0.5"])
    assert evaluation_task(cfg).build_network().genome_spec()["out.B"] == (1,)
    assert main(["evolve", "env.name=test_target", "env.speed=0.5", "network.trunk=none", "generations=2",
                 "algorithm.popsize=4", "evaluation.num_actors=0", f"evaluation.max_steps={STEPS}",
                 "--runs-root", str(tmp_path), "--name", "entry"]) == 0
    results = read_results(tmp_path / "entry")
    assert results["completed"] and results["task"] == "test_target"
    assert load_config(EvolveConfig, tmp_path / "entry" / "config.yaml").env == TargetSettings(speed=0.5)
