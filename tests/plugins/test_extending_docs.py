"""The worked examples of docs/extending.md run as written: each section's python block is executed, then the
plug-in it registers is selected by name and used."""

from __future__ import annotations

import json
import re
import sys
import types
from pathlib import Path

import gymnasium as gym
import pytest
import torch

DOC = Path(__file__).resolve().parents[2] / "docs" / "extending.md"


def section_code(heading: str) -> str:
    """The python code blocks under ``## <heading>`` of docs/extending.md, joined."""
    text = DOC.read_text()
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, flags=re.S | re.M)
    assert match, f"docs/extending.md has no section {heading!r}"
    blocks = re.findall(r"```python\n(.*?)```", match.group(1), flags=re.S)
    assert blocks, f"section {heading!r} has no python example"
    return "\n".join(blocks)


@pytest.fixture
def registered_rule():
    from evohebb.plasticity.rule_registry import RULES
    namespace: dict = {}
    exec(compile(section_code("Add a rule"), str(DOC), "exec"), namespace)
    yield namespace["GatedOja"]
    RULES.pop("gated_oja")


def test_add_a_rule_example_evolves_and_runs_in_a_softhebb_layer(registered_rule):
    from evohebb.config import ConfigError, config_from_dict
    from evohebb.nn.layer_specs import LinearSpec
    from evohebb.nn.network_settings import PlasticNetworkSettings
    from evohebb.nn.softhebb_conv import SoftHebbLinear
    from evohebb.nn.unrolled_plastic_network import UnrolledPlasticNetwork
    from evohebb.pipelines.evolve_config import EvolveConfig

    with pytest.raises(ConfigError, match="network.rule: 'gated_oja' does not support sharing_mode='terms'"):
        config_from_dict(EvolveConfig, {"network": {"rule": "gated_oja", "trunk": "conv"}})
    net = UnrolledPlasticNetwork((5,), [LinearSpec(2)], "tanh",
                                 PlasticNetworkSettings(rule="gated_oja", trunk="none", weight_norm=False))
    assert net.genome_spec() == {"out.gain": (2,)}
    genomes = torch.tensor([[0.3, 0.0], [1.0, 2.0]])
    net.load_genomes(genomes)
    net.reset(weight_seed=1)
    w0 = net.weights()[0].clone()
    x = torch.randn(2, 5)
    net.forward(x)
    net.update()
    y = torch.tanh(torch.einsum("pji,pi->pj", w0, x))
    expected = w0 + genomes[:, :, None] * y[:, :, None] * (x[:, None] - y[:, :, None] * w0)
    torch.testing.assert_close(net.weights()[0], expected)
    assert torch.equal(net.weights()[0][0, 1], w0[0, 1])         # gain 0: that neuron does not learn

    # the same rule in a SoftHebb layer without competition: Oja's rule finds the first principal direction
    torch.manual_seed(0)
    layer = SoftHebbLinear(2, 1, rule="gated_oja", mode="basic", adaptive_lr=False, eta0=0.05, init_radius=0.5)
    layer.train()
    direction = torch.tensor([0.6, 0.8])
    for _ in range(300):
        data = torch.randn(64, 1) * 2.0 * direction + torch.randn(64, 2) * 0.3
        layer(data)
        layer.hebbian_step()
    w = layer.weight[0] / layer.weight[0].norm()
    assert abs(float(w @ direction)) > 0.99


def test_add_a_competition_example_runs():
    """The conscience winner-take-all of the example gives every cluster a neuron of its own (the example asserts
    it), and what it registered is removed again (the registry is global)."""
    from evohebb.plasticity.competition_registry import COMPETITIONS
    before = set(COMPETITIONS)
    try:
        exec(compile(section_code("Add a competition to a SoftHebb layer"), str(DOC), "exec"),
             {"__name__": "extending_competition"})
        assert set(COMPETITIONS) - before == {"conscience"}
    finally:
        for name in set(COMPETITIONS) - before:
            COMPETITIONS.pop(name)


def test_add_an_environment_example_runs(tmp_path, monkeypatch):
    """The example registers a gymnasium env and an evohebb entry of its own, evolves on both for 2 generations and
    evaluates the second against its baselines."""
    from envs import ENVIRONMENTS
    monkeypatch.chdir(tmp_path)
    module = types.ModuleType("extending_example")   # as if the example were a script's module
    monkeypatch.setitem(sys.modules, module.__name__, module)
    try:
        exec(compile(section_code("Add an environment"), str(DOC), "exec"), module.__dict__)
    finally:
        ENVIRONMENTS.pop("reach", None)
        gym.registry.pop("Reach-v0", None)
    for run, task in (("reach", "gymnasium"), ("reach-entry", "reach")):
        results = json.loads((tmp_path / "runs" / run / "results.json").read_text())
        assert results["completed"] and results["generations_done"] == 2 and results["task"] == task
    report = json.loads((tmp_path / "runs" / "reach-entry" / "evaluation-best.json").read_text())
    assert len(report["returns"]) == len(report["random_returns"]) == len(report["push_right_returns"]) == 3
