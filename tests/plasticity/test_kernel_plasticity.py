"""Kernel-plasticity neuromodulation: the per-kernel factors on a real SoftHebb layer, the ranking and the
references a task leaves, accumulation over tasks, and the weights-only state."""

import io

import pytest
import torch

from evohebb.config import ConfigError
from evohebb.nn.softhebb_conv import SoftHebbConv2d
from evohebb.plasticity.kernel_plasticity import KernelPlasticity, KernelPlasticitySettings, kernel_change

C = 6   # kernels of the small layer


def _layer(seed: int = 0) -> SoftHebbConv2d:
    torch.manual_seed(seed)
    return SoftHebbConv2d(2, C, 3, padding=1, t_inv=1.0, eta0=0.1, adaptive_lr=False)


def _pending(layer: SoftHebbConv2d, x: torch.Tensor) -> torch.Tensor:
    """The update this layer would apply for ``x`` (without changing it)."""
    layer.train()
    layer(x)
    return layer._pending.clone()


def _kp_with(important: list[int], reference: torch.Tensor, **settings) -> KernelPlasticity:
    """A modulator after one task that made ``important`` important with these references, reached through
    the public API: activity ranks the important kernels first, and the recorded change is ``reference``."""
    s = KernelPlasticitySettings(top_fraction=len(important) / C, **settings)
    kp = KernelPlasticity(s)
    w0 = torch.zeros(C, 2, 3, 3)
    kp.begin_task([w0])
    activity = torch.ones(1, C, 2, 2)
    activity[0, important] = 10.0
    kp.observe(0, activity)
    w1 = w0.clone()
    w1[:, 0, 0, 0] = reference   # one entry per kernel: its change's sum equals the reference (max entry 1)
    kp.record(0, w1)
    kp.end_task()
    return kp


def test_scaling_on_a_small_layer_is_exactly_as_documented():
    """After a task: an important kernel whose current change exceeds its reference is frozen, an important
    kernel below it learns at x1, a kernel outside the important set learns x1.15 (the defaults)."""
    x = torch.randn(4, 2, 6, 6, generator=torch.Generator().manual_seed(1))
    plain = _pending(_layer(), x)                            # [C, 2, 3, 3]
    current = kernel_change(plain.unsqueeze(0), "sum")[0]
    current = current / current.abs().max()
    # kernel 0 important with a reference below its current change, kernel 1 important with one above it;
    # a reference of magnitude 1 elsewhere, as the modulator stores them (divided by their largest magnitude)
    reference = torch.tensor([current[0] - 0.1, current[1] + 0.1, 1.0, 0.5, -0.5, 0.5])
    assert -1 < reference[0] < current[0] < 1 and -1 < current[1] < reference[1] < 1
    kp = _kp_with([0, 1], reference)
    assert kp.important[0].tolist() == [True, True, False, False, False, False]
    assert torch.allclose(kp.reference[0][:2], reference[:2])

    layer = _layer()
    layer.set_modulators([kp], 0)
    modulated = _pending(layer, x)
    w0 = layer.weight.detach().clone()
    layer.hebbian_step()
    assert torch.equal(layer.weight[0], w0[0])                          # frozen: never moves
    assert torch.equal(modulated[1], plain[1])                          # x1
    assert torch.allclose(modulated[2:], 1.15 * plain[2:], rtol=1e-6, atol=0)   # x(1 + high_lr)
    assert not torch.equal(layer.weight[2:], w0[2:])


def test_locked_important_kernels_never_move():
    kp = _kp_with([0, 1, 2], torch.full((C,), 1.0), lock=True)   # references above any current change
    layer = _layer()
    layer.set_modulators([kp], 0)
    w0 = layer.weight.detach().clone()
    for step in range(5):
        layer(torch.randn(4, 2, 6, 6, generator=torch.Generator().manual_seed(step)))
        layer.hebbian_step()
    assert torch.equal(layer.weight[:3], w0[:3])
    assert not torch.equal(layer.weight[3:], w0[3:])


def test_low_lr_scales_instead_of_freezing():
    x = torch.randn(4, 2, 6, 6, generator=torch.Generator().manual_seed(2))
    plain = _pending(_layer(), x)
    kp = _kp_with([0, 1, 2], torch.full((C,), 1.0), lock=True, low_lr=0.75, high_lr=0.0)
    layer = _layer()
    layer.set_modulators([kp], 0)
    modulated = _pending(layer, x)
    assert torch.allclose(modulated[:3], 0.25 * plain[:3], rtol=1e-6, atol=0)
    assert torch.equal(modulated[3:], plain[3:])


def test_no_modulation_before_the_first_task_ends():
    x = torch.randn(4, 2, 6, 6, generator=torch.Generator().manual_seed(3))
    plain = _pending(_layer(), x)
    kp = KernelPlasticity()
    layer = _layer()
    kp.begin_task([layer.weight])
    layer.set_modulators([kp], 0)
    assert torch.equal(_pending(layer, x), plain)


def test_task_end_ranks_by_activity_and_averages_recorded_changes():
    """Top fraction by summed |batch-summed activation|; reference = mean recorded change / its largest
    magnitude (signed sum of the kernel's entries, or its norm)."""
    for change in ("sum", "norm"):
        kp = KernelPlasticity(KernelPlasticitySettings(top_fraction=0.5, change=change, accumulate=False))
        w = torch.zeros(4, 1, 1, 1)
        kp.begin_task([w])
        a = torch.tensor([[1.0, -3.0, 2.0, 0.5], [1.0, -3.0, -2.0, 0.5]])   # [B=2, C=4]: batch sums 2, -6, 0, 1
        kp.observe(0, a[:, :, None, None])
        steps = [torch.tensor([1.0, -2.0, 4.0, 0.0]), torch.tensor([3.0, 2.0, -4.0, 2.0])]
        for d in steps:
            w = w + d.view(4, 1, 1, 1)
            kp.record(0, w)
        kp.end_task()
        assert kp.important[0].tolist() == [True, True, False, False]   # |2|, |-6| rank first; |0| last
        per_record = [d if change == "sum" else d.abs() for d in steps]
        mean = (per_record[0] + per_record[1]) / 2
        assert torch.allclose(kp.reference[0], mean / mean.abs().max())


def test_importance_accumulates_over_tasks_unless_told_otherwise():
    def two_tasks(accumulate: bool) -> KernelPlasticity:
        kp = KernelPlasticity(KernelPlasticitySettings(top_fraction=0.25, accumulate=accumulate))
        for hot, change in ((0, [1.0, 0.5, 0.25, 0.125]), (2, [0.5, 0.5, 1.0, 0.5])):
            w = torch.zeros(4, 1, 1, 1)
            kp.begin_task([w])
            act = torch.ones(1, 4)
            act[0, hot] = 5.0
            kp.observe(0, act)
            kp.record(0, w + torch.tensor(change).view(4, 1, 1, 1))
            kp.end_task()
        return kp

    kp = two_tasks(True)
    assert kp.important[0].tolist() == [True, False, True, False] and kp.tasks_done == 2
    assert kp.reference[0].tolist() == [1.0, 0.0, 1.0, 0.0]   # kernel 0 keeps task 1's, kernel 2 takes task 2's
    thesis = two_tasks(False)
    assert thesis.important[0].tolist() == [False, False, True, False]
    assert thesis.reference[0].tolist() == [0.5, 0.5, 1.0, 0.5]


def test_state_round_trips_through_a_weights_only_checkpoint():
    kp = _kp_with([0, 3], torch.linspace(-1, 1, C))
    kp.begin_task([torch.randn(C, 2, 3, 3)])   # a task in progress: buffers and snapshot in the state
    kp.observe(0, torch.randn(2, C, 4, 4))
    buffer = io.BytesIO()
    torch.save(kp.state_dict(), buffer)
    buffer.seek(0)
    again = KernelPlasticity(kp.settings)
    again.load_state_dict(torch.load(buffer, weights_only=True))
    delta = torch.randn(1, C, 2, 3, 3)
    assert torch.equal(again.factor(0, delta), kp.factor(0, delta))
    assert torch.equal(again.activity[0], kp.activity[0]) and torch.equal(again.snapshot[0], kp.snapshot[0])


@pytest.mark.parametrize("field, value", [("top_fraction", 0.0), ("low_lr", 1.5), ("delta_w_interval", 0),
                                          ("change", "mean")])
def test_bad_settings_name_the_field(field, value):
    with pytest.raises(ConfigError, match=field):
        KernelPlasticitySettings(**{field: value})
