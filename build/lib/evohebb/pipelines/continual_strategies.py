"""Continual-learning methods by name (``continual.method``), and how a task's unsupervised epoch feeds one.

:data:`CONTINUAL_METHODS` maps a name to a builder ``(the continual config section) -> ContinualStrategy``
(:mod:`evohebb.plasticity.continual_strategy`). Built in: ``none`` (V, M) and ``kp`` (kernel plasticity, KP and
KPM). A new method is a strategy class and one registration, e.g. in a test or a plug-in module::

    @CONTINUAL_METHODS.register("si")
    def build_si(settings):
        return SynapticImportance()

then ``continual.method=si`` (see ``docs/extending.md``, "Add a continual method").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from evohebb.nn.softhebb_blocks import HebbianConvNet
from evohebb.plasticity.continual_strategy import ContinualStrategy, NoStrategy
from evohebb.plasticity.kernel_plasticity import KernelPlasticity
from evohebb.registry import Registry

if TYPE_CHECKING:
    from evohebb.pipelines.continual_config import ContinualSettings

__all__ = ["CONTINUAL_METHODS", "StrategyHooks", "build_strategy"]

CONTINUAL_METHODS: Registry[Callable[[ContinualSettings], ContinualStrategy]] = Registry("continual method")


@CONTINUAL_METHODS.register("none")
def build_none(settings: ContinualSettings) -> ContinualStrategy:
    return NoStrategy()


@CONTINUAL_METHODS.register("kp")
def build_kernel_plasticity(settings: ContinualSettings) -> ContinualStrategy:
    return KernelPlasticity(settings.kp)


def build_strategy(settings: ContinualSettings, model: HebbianConvNet) -> ContinualStrategy:
    """The method ``settings`` selects, set as the modulator of every Hebbian layer of ``model`` (layer ``i``: the
    ``i``-th of :meth:`~evohebb.nn.softhebb_blocks.HebbianConvNet.hebbian_layers`)."""
    strategy = CONTINUAL_METHODS.lookup(settings.method_name)(settings)
    for i, layer in enumerate(model.hebbian_layers()):
        layer.set_modulators([strategy], i)
    return strategy


class StrategyHooks:
    """Feeds one task's unsupervised epoch to a strategy: a task that starts afresh (``done == 0``) begins it;
    each training forward's output of every plastic Hebbian layer is observed, and the weights are handed over
    after every update (``on_update``, with the task's ``total`` updates). Use as a context manager: the forward
    hooks are removed on exit."""

    def __init__(self, strategy: ContinualStrategy, model: HebbianConvNet, done: int, total: int):
        self.strategy, self.layers, self.total = strategy, model.hebbian_layers(), total
        if done == 0:
            strategy.begin_task([layer.weight for layer in self.layers])
        self.handles = [layer.register_forward_hook(self._observer(i)) for i, layer in enumerate(self.layers)]

    def _observer(self, index: int):
        def hook(module, inputs, output):
            if module.training and module.plastic:
                self.strategy.observe(index, output)
        return hook

    def on_update(self, done: int) -> None:
        self.strategy.on_update(done, self.total, [layer.weight for layer in self.layers])

    def __enter__(self) -> StrategyHooks:
        return self

    def __exit__(self, *exc) -> None:
        for handle in self.handles:
            handle.remove()
