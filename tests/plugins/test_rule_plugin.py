"""A rule defined only in this file (no library edit) is selected by name from configs: evolved for 2
generations on CarRacing by the real evolve pipeline (Ray actors import this module as the run's plug-in), and
used by a SoftHebb conv layer."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from evohebb.cli import main
from evohebb.nn.softhebb_conv import SoftHebbConv2d
from evohebb.plasticity.competition import soft_wta
from evohebb.plasticity.rule import CopyUpdate, HebbianRule, RuleInputs, RuleParameter, Term
from evohebb.plasticity.rule_registry import RULES, register_rule
from evohebb.plasticity.softhebb_rule import normalise_update
from evohebb.run_io import read_metrics, read_results

REPO = Path(__file__).resolve().parents[2]
PLUGIN = "tests.plugins.test_rule_plugin"      # this file, imported by name in the Ray actors


class GatedHebb(HebbianRule):
    """``Δw_ij = g_j · x_i · y_j``: plain Hebb gated by one evolved gain per postsynaptic neuron (1 without one)."""

    parameters = (RuleParameter("gain", "post", init=0.5),)
    runs_without_parameters = True

    def copy_update(self, pre, post, weight, state=None) -> CopyUpdate:
        gated = post if state is None else post * state.unsqueeze(1)
        return CopyUpdate(terms=(Term(pre=pre, post=gated, name="hebb"),))

    def layer_state(self, inputs: RuleInputs):
        return inputs.post.get("gain")


if "gated_hebb" not in RULES:          # this module is imported once by pytest and once more as a plug-in
    register_rule("gated_hebb")(GatedHebb)


def test_a_rule_defined_in_a_test_file_is_evolved_on_carracing_by_name(tmp_path):
    runs = tmp_path / "runs"
    assert main(["evolve", str(REPO / "configs" / "evolve_carracing.yaml"), f"plugins=[{PLUGIN}]",
                 "network.rule=gated_hebb", "generations=2", "algorithm.popsize=4", "evaluation.max_steps=40",
                 "evaluation.episodes_per_individual=1", "evaluation.validation_every=0", "evaluation.num_actors=2",
                 "--runs-root", str(runs), "--name", "gated"]) == 0
    results = read_results(runs / "gated")
    # the genome is the rule's declaration: one gain per output neuron, then the evolved readout (8x8 -> 3)
    assert list(results["best_genome_summary"]) == ["out.gain", "out.W"]
    assert len(results["center_genome"]) == 3 + 3 * 64
    assert [m["step"] for m in read_metrics(runs / "gated")] == [0, 1]


def test_a_rule_defined_in_a_test_file_drives_a_softhebb_conv_layer():
    torch.manual_seed(0)
    layer = SoftHebbConv2d(2, 4, 3, rule="gated_hebb", adaptive_lr=False, eta0=0.1, t_inv=2.0)
    x = torch.randn(6, 2, 7, 7)
    w0 = layer.weight.detach().clone()
    layer.train()
    u = layer(x)
    layer.hebbian_step()
    y = soft_wta(u.detach(), 2.0, dim=1)
    hebb = torch.nn.grad.conv2d_weight(x, w0.shape, y)            # Σ_b Σ_l x ⊗ y, no decay term
    torch.testing.assert_close(layer.weight.detach(), w0 + 0.1 * normalise_update(hebb), rtol=1e-5, atol=1e-6)
    assert not torch.allclose(F.conv2d(x, layer.weight), F.conv2d(x, w0))
