"""The episode-length schedule (``evaluation.max_steps_schedule``): episodes get longer at the stated generation,
in one command, and a run resumed across the switch reproduces the uninterrupted one."""

from __future__ import annotations

import pytest

from evohebb.cli import main
from evohebb.config import ConfigError, config_from_dict
from evohebb.pipelines.evolve_config import EvolveConfig
from evohebb.run_io import read_metrics

POPSIZE, EPISODES = 4, 2


def _args(data_dir, *extra):
    return ["task=classification", "classification.dataset=mnist", f"classification.data_dir={data_dir}",
            f"algorithm.popsize={POPSIZE}", f"evaluation.episodes_per_individual={EPISODES}",
            "evaluation.max_steps=10", "evaluation.max_steps_schedule=[[2, 25]]", "evaluation.num_actors=0",
            "evaluation.validation_every=0", "evaluation.random_baseline=false", "checkpoint.every=1", *extra]


def _history(run_dir):
    return [(m["step"], m["evaluation/env_steps"], m["fitness/best"], m["fitness/mean"]) for m in read_metrics(run_dir)]


def test_episode_length_switches_at_the_stated_generation_and_survives_resume(tmp_path, mnist_like_dir):
    runs = tmp_path / "runs"
    assert main(["evolve", *_args(mnist_like_dir, "generations=4"), "--runs-root", str(runs), "--name", "one"]) == 0
    straight = _history(runs / "one")
    steps = [int(env_steps) // (POPSIZE * EPISODES) for _, env_steps, _, _ in straight]
    assert steps == [10, 10, 25, 25]

    assert main(["evolve", *_args(mnist_like_dir, "generations=2"), "--runs-root", str(runs), "--name", "two"]) == 0
    assert main(["evolve", "generations=4", "--resume", str(runs / "two")]) == 0
    assert _history(runs / "two") == straight


@pytest.mark.parametrize("schedule", ["[[0, 100]]", "[[5, 100], [3, 200]]", "[[5, 0]]", "[[5]]"])
def test_a_bad_schedule_is_refused_naming_the_field(schedule):
    with pytest.raises(ConfigError, match=r"evaluation.max_steps_schedule: .* is not allowed; allowed: "
                                          r"\[\[generation, max_steps\], ...\]"):
        config_from_dict(EvolveConfig, {"evaluation": {"max_steps_schedule": schedule}})
