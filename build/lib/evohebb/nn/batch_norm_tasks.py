"""What a network's batch-norm running statistics do across a stream of tasks (``continual.bn``).

The SoftHebb blocks normalise their input with ``BatchNorm2d``: while a task trains, each batch is normalised by
its own statistics and the running mean and variance follow the task's images; at inference (frozen features)
the running ones are used. Kernel plasticity protects kernels, not these statistics. A mode, registered by name in
:data:`BN_MODES`, is told when a task's unsupervised epoch is over and says which statistics each head's
features are computed with:

* ``shared`` (default, the thesis): the running statistics follow every task; every head sees the latest;
* ``frozen``: the statistics after the first task are kept: after every later task's epoch they are restored;
* ``per_task``: each task's statistics at the end of its epoch are kept, and head ``h``'s features (its readout,
  its feature statistics, its logits at inference) are computed with task ``h``'s (:attr:`BatchNormMode.per_head`).

Statistics are every ``running_mean``, ``running_var`` and ``num_batches_tracked`` of the model's batch-norm
layers; state: tensors only (weights-only checkpoints).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

from evohebb.registry import Registry

__all__ = ["BN_MODES", "BatchNormMode", "batch_norm_statistics", "load_batch_norm_statistics"]


def batch_norm_statistics(model: nn.Module) -> dict[str, Tensor]:
    """A copy of every batch-norm buffer of ``model``, by its name in ``model.state_dict()``."""
    return {f"{name}.{key}": buf.detach().clone() for name, module in model.named_modules()
            if isinstance(module, nn.modules.batchnorm._BatchNorm)
            for key, buf in module.named_buffers(recurse=False) if buf is not None}


@torch.no_grad()
def load_batch_norm_statistics(model: nn.Module, statistics: dict[str, Tensor]) -> None:
    buffers = dict(model.named_buffers())
    for name, value in statistics.items():
        buffers[name].copy_(value)


class BatchNormMode:
    """``shared``: the running statistics are left alone; the base of the other modes."""

    per_head = False   # True: head h's features are computed with task h's statistics (:meth:`head_statistics`)

    def __init__(self) -> None:
        self.kept: list[dict[str, Tensor]] = []   # statistics kept at the end of tasks' epochs

    def end_unsupervised(self, task: int, model: nn.Module) -> None:
        """Task ``task``'s unsupervised epoch is over (the model's statistics are that task's)."""

    @contextmanager
    def head_statistics(self, model: nn.Module, head: int) -> Iterator[None]:
        """Within: the model computes head ``head``'s features (with ``per_head``: task ``head``'s statistics;
        the model's own are put back on exit)."""
        yield

    def state_dict(self) -> dict[str, Any]:
        return {"kept": list(self.kept)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.kept = list(state.get("kept", []))


BN_MODES: Registry[Callable[[], BatchNormMode]] = Registry("batch-norm mode")
BN_MODES.register("shared")(BatchNormMode)


@BN_MODES.register("frozen")
class FrozenBatchNorm(BatchNormMode):
    """The first task's statistics, restored after every later task's epoch."""

    def end_unsupervised(self, task: int, model: nn.Module) -> None:
        if not self.kept:
            self.kept.append(batch_norm_statistics(model))
        else:
            load_batch_norm_statistics(model, self.kept[0])


@BN_MODES.register("per_task")
class PerTaskBatchNorm(BatchNormMode):
    """Each task's statistics, used for its own head's features."""

    per_head = True

    def end_unsupervised(self, task: int, model: nn.Module) -> None:
        statistics = batch_norm_statistics(model)
        if task < len(self.kept):
            self.kept[task] = statistics
        else:
            self.kept.append(statistics)

    @contextmanager
    def head_statistics(self, model: nn.Module, head: int) -> Iterator[None]:
        current = batch_norm_statistics(model)
        load_batch_norm_statistics(model, self.kept[head])
        try:
            yield
        finally:
            load_batch_norm_statistics(model, current)
