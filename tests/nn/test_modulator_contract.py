"""The one modulator contract (evohebb.plasticity.modulators): in a SoftHebb layer and in a plastic layer stack a
modulator gets the layer's int index and the rule update — SoftHebb's after its ÷max|Δw|, before the rate; the
stack's before normalisation by max|w| — and the weights change by exactly its factor times that update."""

import torch

from evohebb.nn.layer_specs import ConvSpec, LinearSpec
from evohebb.nn.plastic_layer_stack import PlasticLayerStack
from evohebb.nn.softhebb_conv import SoftHebbConv2d
from evohebb.nn.softhebb_settings import HebbianSettings
from evohebb.plasticity.rule import CopyUpdate, Term
from evohebb.plasticity.weight_normalisation import normalise_max_abs_


class Recorder:
    """A modulator that doubles every update and remembers what it was handed."""

    def __init__(self):
        self.seen: list[tuple[int, torch.Tensor]] = []

    def factor(self, layer, delta):
        self.seen.append((layer, delta.clone()))
        return 2.0


class PlainHebb:
    def copy_update(self, pre, post, weight, state=None):
        return CopyUpdate(terms=(Term(pre=pre, post=post),))


def test_softhebb_layer_hands_its_modulators_the_normalised_rule_update_before_the_rate():
    settings = HebbianSettings(adaptive_lr=False, eta0=0.05)
    torch.manual_seed(0)
    layer = SoftHebbConv2d(2, 4, 3, settings=settings)
    recorder = Recorder()
    layer.set_modulators([recorder], 3)
    before = layer.weight.detach().clone()
    layer(torch.rand(5, 2, 6, 6))
    layer.hebbian_step()
    [(index, seen)] = recorder.seen
    assert type(index) is int and index == 3
    assert seen.shape == (1, 4, 2, 3, 3) and seen.abs().max().item() == 1.0   # SoftHebb's ÷max|Δw| is the rule's
    torch.testing.assert_close(layer.weight.detach() - before, 0.05 * 2.0 * seen[0])


def test_plastic_stack_hands_its_modulators_the_rule_update_before_weight_normalisation():
    for weight_norm in (False, True):
        stack = PlasticLayerStack((1, 6, 6), [ConvSpec(3, 3), LinearSpec(2)])
        stack.reset_weights(0)
        before = [w.clone() for w in stack.weights()]
        _, acts = stack(torch.rand(1, 1, 6, 6))
        recorder = Recorder()
        stack.update(PlainHebb(), [None, None], acts, aggregation="mean", mode="delta", caches=[{}, {}],
                     modulators=[recorder], weight_norm=weight_norm)
        assert [index for index, _ in recorder.seen] == [0, 1]
        assert all(type(index) is int for index, _ in recorder.seen)
        for w0, w, (_, seen) in zip(before, stack.weights(), recorder.seen):
            expected = w0 + 2.0 * seen
            if weight_norm:
                normalise_max_abs_(expected)
            torch.testing.assert_close(w, expected)
