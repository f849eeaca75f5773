"""Every preset in configs/ loads under its pipeline's config (a renamed or removed option fails here, naming the
preset), and every evolve preset builds its network and a search centre of the genome's size."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from evohebb.config import load_config
from evohebb.pipelines.continual_config import ContinualConfig
from evohebb.pipelines.evolve import evaluation_task
from evohebb.pipelines.evolve_config import EvolveConfig
from evohebb.pipelines.reward_config import RewardConfig
from evohebb.pipelines.softhebb_config import SoftHebbConfig

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
#: file-name prefix -> the config class its pipeline loads it with
PIPELINES = {"evolve": EvolveConfig, "softhebb": SoftHebbConfig, "continual": ContinualConfig, "reward": RewardConfig}
PRESETS = sorted(CONFIGS.glob("*.yaml"))


def test_every_preset_belongs_to_a_pipeline():
    assert PRESETS and all(p.name.split("_")[0] in PIPELINES for p in PRESETS), [p.name for p in PRESETS]


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.stem)
def test_a_preset_loads_under_its_pipeline(path):
    cfg = load_config(PIPELINES[path.name.split("_")[0]], path)
    assert cfg.name


@pytest.mark.parametrize("path", [p for p in PRESETS if p.name.startswith("evolve_carracing")], ids=lambda p: p.stem)
def test_an_evolve_preset_builds_its_network_and_a_centre_of_its_genome_size(path):
    task = evaluation_task(load_config(EvolveConfig, path))
    network = task.build_network()
    centre = network.genome_init(torch.Generator().manual_seed(0))
    assert centre.shape == (network.genome_size(),) and torch.isfinite(centre).all()
    assert network.head.n_outputs == len(task.spec.output_names) == 3
