"""The environment registry: built-in entries, the generic gymnasium entry sized from the spaces, CarRacing's pedal
mapping, and the evolve config's ``env`` section (older configs' ``task`` and per-task sections still load)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from envs import ENVIRONMENTS, env_entry
from envs.env_settings import CarRacingSettings
from evohebb.config import ConfigError, config_from_dict, config_to_dict, load_config
from evohebb.pipelines.evolve import evaluation_task
from evohebb.pipelines.evolve_config import EvolveConfig

REPO = Path(__file__).resolve().parents[2]


def test_built_in_entries_and_what_they_can_do():
    assert {"carracing", "classification", "gymnasium"} <= set(ENVIRONMENTS)
    assert env_entry("carracing").can_render and env_entry("gymnasium").can_render
    assert not env_entry("classification").can_render
    assert set(env_entry("carracing").baselines) == {"full_gas", "scripted"}
    with pytest.raises(ValueError, match="environment 'mujoco' is unknown; registered: carracing, classification"):
        env_entry("mujoco")


@pytest.mark.parametrize(("kwargs", "inputs", "outputs", "head"), [
    ({"continuous": True}, 8, 2, "tanh"),     # LunarLanderContinuous: Box(-1, 1, (2,))
    ({}, 8, 4, "choice"),                     # LunarLander: Discrete(4)
])
def test_the_gymnasium_entry_sizes_the_network_from_the_spaces(kwargs, inputs, outputs, head):
    cfg = load_config(EvolveConfig, None, ["env.name=gymnasium", "env.id=LunarLander-v3",
                                           f"env.kwargs={json.dumps(kwargs)}", "network.trunk=none"])
    task = evaluation_task(cfg)
    network = task.build_network()
    assert network.in_shape == (inputs,) and network.head_name == head
    assert network.genome_spec()["out.B"] == (outputs,)
    assert task.spec.output_names == tuple(f"action {i}" for i in range(outputs))
    envs = task.build_envs(3)
    try:
        obs, _ = envs.reset(seed=[0, 1, 2])
        output = torch.linspace(-1, 1, 3 * outputs).reshape(3, outputs)
        actions = task.spec.to_action(output)
        assert envs.action_space.contains(actions) and obs.shape == (3, inputs)
        if head == "choice":
            np.testing.assert_array_equal(actions, output.argmax(1).numpy())
    finally:
        envs.close()


def test_box_actions_are_scaled_to_their_bounds():
    cfg = load_config(EvolveConfig, None, ["env.name=gymnasium", "env.id=Pendulum-v1"])   # torque in [-2, 2]
    to_action = evaluation_task(cfg).spec.to_action
    np.testing.assert_allclose(to_action(torch.tensor([[-1.0], [0.0], [0.5]])), [[-2.0], [0.0], [1.0]])


@pytest.mark.parametrize(("overrides", "message"), [
    (["env.name=gymnasium", "env.id=NoSuchEnv-v0"], "env.id: 'NoSuchEnv-v0' is not a registered gymnasium env"),
    (["env.name=gymnasium", "env.id=Blackjack-v1"], "env.id: 'Blackjack-v1' has a Tuple observation space; "
                                                    "allowed: an env with a Box observation"),
    (["env.name=lunar"], "env.name: environment 'lunar' is unknown; registered: carracing, classification, "
                         "gymnasium"),
    (["env.name=carracing", "env.pedals=brake"],
     "env.pedals: 'brake' is not allowed; allowed: 'clip', 'half_gas', 'sigmoid'"),
    (["env.name=gymnasium", "env.size=8"], "env.size: unknown key"),
    (["task=classification", "env.name=carracing"], "task: 'classification' contradicts env.name 'carracing'"),
    (["task=classification", "carracing.size=8"], "carracing: {'size': 8} configures an environment that env.name "
                                                  "'classification' does not select"),
])
def test_bad_env_settings_are_refused_at_load_naming_the_field(overrides, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(EvolveConfig, None, overrides)


def test_the_pedal_mapping_lives_with_carracing():
    cfg = load_config(EvolveConfig, None, ["env.pedals=sigmoid", "env.size=8", "network.trunk=none"])
    assert evaluation_task(cfg).build_network().head_name == "carracing_sigmoid"
    with pytest.raises(ConfigError, match="pedals: 'gas' is not allowed"):
        CarRacingSettings(pedals="gas")


def test_older_configs_and_zoo_files_load_as_the_env_section():
    """``task`` + ``carracing:`` / ``classification:`` (zoo files embed both) become ``env``; the config then
    round-trips in the new form; ``key=value`` overrides in the old spelling still apply."""
    zoo = json.loads((REPO / "zoo" / "carracing_pixels.json").read_text())["config"]
    assert zoo["task"] == "carracing" and "classification" in zoo and "env" not in zoo
    cfg = config_from_dict(EvolveConfig, zoo)
    assert cfg.env == CarRacingSettings(**{k: v for k, v in zoo["carracing"].items()})
    assert cfg.task == "carracing" and cfg.carracing is cfg.env
    saved = config_to_dict(cfg)
    assert "task" not in saved and "carracing" not in saved and saved["env"]["name"] == "carracing"
    assert config_from_dict(EvolveConfig, saved) == cfg
    old = load_config(EvolveConfig, None, ["task=classification", "classification.dataset=fashion_mnist"])
    assert old.env.name == "classification" and old.env.dataset == "fashion_mnist"
    with pytest.raises(AttributeError):
        _ = old.carracing   # the section of an environment that is not selected
    new = load_config(EvolveConfig, REPO / "configs" / "evolve_carracing.yaml", ["carracing.backend=gymnasium"])
    assert new.env.backend == "gymnasium" and new.env.size == 8   # the override wins, the file's other settings stay
    with pytest.raises(ConfigError, match="carracing.backend: 'gymnasium' contradicts env.backend 'envpool'"):
        config_from_dict(EvolveConfig, {"env": {"backend": "envpool"}, "carracing": {"backend": "gymnasium"}})
