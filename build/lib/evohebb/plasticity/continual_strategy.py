"""The continual-strategy contract: a :class:`~evohebb.plasticity.modulators.Modulator` with a task lifecycle.

A continual-learning method (kernel plasticity, a synaptic-intelligence-like importance, ...) watches a stream
of tasks learnt by a stack of Hebbian layers (indexed ``0..L-1``, the modulator contract's ``layer``) and
scales their updates. The continual pipeline drives it, the same way for every method:

* :meth:`~ContinualStrategy.begin_task` — a task starts afresh, with the layers' weights ``[C_l, ...]``
  (not called when a run resumes inside a task: the strategy's state holds what it recorded);
* :meth:`~ContinualStrategy.observe` — each training forward's output ``[B, C_l, ...]`` of a plastic layer;
* :meth:`~ContinualStrategy.on_update` — after each Hebbian update: the task's updates done and due, and the
  weights;
* :meth:`~ContinualStrategy.end_task` — the task's unsupervised epoch is over;
* :meth:`~ContinualStrategy.factor` — the modulator contract (:mod:`evohebb.plasticity.modulators`), applied by
  every Hebbian layer to every update;
* :meth:`~ContinualStrategy.state_dict` / :meth:`~ContinualStrategy.load_state_dict` — tensors and plain
  containers only (weights-only checkpoints);
* :meth:`~ContinualStrategy.summary` — ``{results key: {name: number or one number per layer}}``, merged into
  ``results.json`` at the end; after every task its per-layer lists are also logged as
  ``<method>/layer<i>/<name>``.

The pipeline finds a method by name in its registry (``evohebb.pipelines.continual_strategies``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from torch import Tensor

__all__ = ["ContinualStrategy", "NoStrategy"]


class ContinualStrategy(Protocol):
    def begin_task(self, weights: Sequence[Tensor]) -> None: ...

    def observe(self, layer: int, activation: Tensor) -> None: ...

    def on_update(self, done: int, total: int, weights: Sequence[Tensor]) -> None: ...

    def end_task(self) -> None: ...

    def factor(self, layer: int, delta: Tensor) -> Tensor | float | None: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...

    def summary(self) -> dict[str, Any]: ...


class NoStrategy:
    """Method ``none``: records nothing, leaves every update alone."""

    def begin_task(self, weights: Sequence[Tensor]) -> None:
        pass

    def observe(self, layer: int, activation: Tensor) -> None:
        pass

    def on_update(self, done: int, total: int, weights: Sequence[Tensor]) -> None:
        pass

    def end_task(self) -> None:
        pass

    def factor(self, layer: int, delta: Tensor) -> None:
        return None

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

    def summary(self) -> dict[str, Any]:
        return {}
