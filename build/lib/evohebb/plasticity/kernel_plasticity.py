"""Kernel-plasticity neuromodulation (KP, Casciotti's neuromodAI thesis): a per-kernel modulator of a Hebbian
layer's update that protects the kernels a finished task relied on.

During a task (:meth:`KernelPlasticity.begin_task` ... :meth:`KernelPlasticity.end_task`), for every Hebbian
layer ``l`` with ``C`` kernels (output channels):

* **activity**: each training forward adds, per kernel, ``Σ_positions |Σ_batch a|`` of the layer's output ``a``
  (:meth:`observe`; the thesis sums the batch first, then takes the absolute value);
* **change**: every ``delta_w_interval`` updates (and after the last one) the weight change since the previous
  record is reduced to one number per kernel (:meth:`record`; ``change="sum"``: the signed sum of the kernel's
  entries, as the thesis; ``"norm"``: its L2 norm).

At the end of the task the records are averaged and divided by their largest magnitude (the kernel's
*reference* change), and the kernels are ranked by activity: the top ``top_fraction`` are *important*. With
``accumulate`` (default) importance accumulates over tasks: the important set is the union of every task's
top kernels, and a kernel keeps the reference of the task that made it important; without it each task's
ranking and references replace the previous ones (the thesis code).

It is a continual strategy (:mod:`evohebb.plasticity.continual_strategy`). On later tasks every update
``ΔW [P, C, ...]`` (the one the modulator contract of :mod:`evohebb.plasticity.modulators` hands a modulator) is
scaled per kernel (:meth:`factor`): the current change of each kernel is measured on ``ΔW`` the same way and
divided by its largest magnitude; then

* a kernel outside the important set: ``× (1 + high_lr)``;
* an important kernel whose current change exceeds its reference: ``× (1 − low_lr)`` (``low_lr = 1``: frozen);
* ``lock``: every important kernel ``× (1 − low_lr)`` whatever its change (the thesis's ``topk_lock``);
* any other kernel: ``× 1``.

Before the first task ends no kernel is important and the modulator leaves updates alone. Its state is tensors
and plain containers (:meth:`state_dict`), for weights-only checkpoints.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from evohebb.config import Settings, option

__all__ = ["CHANGE_MEASURES", "KernelPlasticity", "KernelPlasticitySettings", "kernel_change"]

CHANGE_MEASURES = ("sum", "norm")


@dataclass(frozen=True)
class KernelPlasticitySettings(Settings):
    """Constants of kernel-plasticity neuromodulation (see the module doc)."""

    top_fraction: float = option(0.15, low=0.0, high=1.0, low_inclusive=False,
                                 help="fraction of each layer's kernels that a task marks important (top by "
                                      "summed |activation|)")
    high_lr: float = option(0.15, low=0.0, help="kernels outside the important set learn x(1 + high_lr)")
    low_lr: float = option(1.0, low=0.0, high=1.0, help="important kernels changing more than their reference "
                                                        "learn x(1 - low_lr) (1: frozen)")
    delta_w_interval: int = option(30, low=1, help="record each kernel's weight change every N updates")
    lock: bool = option(False, help="every important kernel learns x(1 - low_lr) whatever its change "
                                    "(the thesis's topk_lock; with low_lr 1 it never moves)")
    accumulate: bool = option(True, help="importance accumulates over tasks (union of each task's top kernels, "
                                         "references of the task that made a kernel important); false: the "
                                         "last task's ranking and references replace the earlier ones (thesis)")
    change: str = option("sum", choices=CHANGE_MEASURES,
                         help="per-kernel change: signed sum of its entries (thesis) or their L2 norm")


def kernel_change(delta: Tensor, measure: str) -> Tensor:
    """One number per kernel of ``delta`` ``[P, C, ...]``: ``[P, C]`` (signed sum or L2 norm of its entries)."""
    flat = delta.reshape(*delta.shape[:2], -1)
    if measure == "sum":
        return flat.sum(-1)
    if measure == "norm":
        return flat.norm(dim=-1)
    raise ValueError(f"change measure {measure!r} is unknown; allowed: {', '.join(CHANGE_MEASURES)}")


def _relative(values: Tensor) -> Tensor:
    """``values`` divided by their largest magnitude along the last axis (zeros stay zeros)."""
    return values / values.abs().amax(-1, keepdim=True).clamp_min(1e-30)


class KernelPlasticity:
    """The KP modulator of a stack of Hebbian layers (indexed 0..L-1, see :meth:`factor`)."""

    def __init__(self, settings: KernelPlasticitySettings | None = None):
        self.settings = settings if settings is not None else KernelPlasticitySettings()
        self.tasks_done = 0
        self.important: list[Tensor] = []      # bool [C] per layer
        self.reference: list[Tensor] = []      # float [C]: relative average change when it became important
        self.activity: list[Tensor] = []       # float [C]: this task's summed |activation|
        self.change_sum: list[Tensor] = []     # float [C]: this task's summed per-record change
        self.records: list[int] = []           # records taken this task
        self.snapshot: list[Tensor | None] = []  # weights at the last record
        self._active: list[bool] = []          # layer has important kernels (no device sync per update)

    # ------------------------------------------------------------------------------------------ a task
    @torch.no_grad()
    def begin_task(self, weights: Sequence[Tensor]) -> None:
        """Start recording a task on layers with these weights ``[C_l, ...]`` (fixes the layers on the first call)."""
        if not self.important:
            self.important = [torch.zeros(w.shape[0], dtype=torch.bool, device=w.device) for w in weights]
            self.reference = [torch.zeros(w.shape[0], device=w.device) for w in weights]
            self._active = [False] * len(weights)
        if len(weights) != len(self.important):
            raise ValueError(f"begin_task: {len(weights)} layers, but the modulator tracks {len(self.important)}")
        self.activity = [torch.zeros(w.shape[0], device=w.device) for w in weights]
        self.change_sum = [torch.zeros(w.shape[0], device=w.device) for w in weights]
        self.records = [0] * len(weights)
        self.snapshot = [w.detach().clone() for w in weights]

    @torch.no_grad()
    def observe(self, layer: int, activation: Tensor) -> None:
        """Add one training batch's output ``[B, C, ...]`` of ``layer``: ``Σ_positions |Σ_batch a|`` per kernel."""
        summed = activation.detach().sum(0).abs()
        self.activity[layer] += summed.reshape(summed.shape[0], -1).sum(1).to(self.activity[layer])

    @torch.no_grad()
    def record(self, layer: int, weight: Tensor) -> None:
        """Record the change of ``layer``'s weights since the last record (per kernel)."""
        change = kernel_change((weight.detach() - self.snapshot[layer]).unsqueeze(0), self.settings.change)[0]
        self.change_sum[layer] += change.to(self.change_sum[layer])
        self.records[layer] += 1
        self.snapshot[layer] = weight.detach().clone()

    def on_update(self, done: int, total: int, weights: Sequence[Tensor]) -> None:
        """After update ``done`` of ``total``: record every layer's change every ``delta_w_interval`` updates and
        after the last one."""
        if done % self.settings.delta_w_interval == 0 or done == total:
            for layer, weight in enumerate(weights):
                self.record(layer, weight)

    @torch.no_grad()
    def end_task(self) -> None:
        """Rank the kernels by this task's activity and update the important sets and their references."""
        s = self.settings
        for layer, activity in enumerate(self.activity):
            n = activity.shape[0]
            k = min(n, max(1, round(s.top_fraction * n)))
            top = torch.zeros(n, dtype=torch.bool, device=activity.device)
            top[torch.argsort(activity, descending=True, stable=True)[:k]] = True
            reference = _relative(self.change_sum[layer] / max(1, self.records[layer]))
            if s.accumulate:
                new = top & ~self.important[layer]
                self.reference[layer] = torch.where(new, reference, self.reference[layer])
                self.important[layer] = self.important[layer] | top
            else:
                self.important[layer], self.reference[layer] = top, reference
            self._active[layer] = True
        self.tasks_done += 1
        self.snapshot = [None] * len(self.snapshot)

    # ------------------------------------------------------------------------------------------ modulator
    def factor(self, layer: int, delta: Tensor) -> Tensor | None:
        """Per-kernel factors ``[P, C, 1, ...]`` for ``delta`` ``[P, C, ...]`` of ``layer`` (None before the first
        task has ended)."""
        if layer >= len(self._active) or not self._active[layer]:
            return None
        s = self.settings
        important = self.important[layer].to(delta.device)
        above = _relative(kernel_change(delta, s.change)) > self.reference[layer].to(delta)
        lowered = important & (above | s.lock)
        f = 1.0 + s.high_lr * (~important).to(delta.dtype) - s.low_lr * lowered.to(delta.dtype)
        return f.view(*f.shape, *([1] * (delta.dim() - 2)))

    # ------------------------------------------------------------------------------------------ state
    def summary(self) -> dict[str, Any]:
        """Plain numbers for logs and results (``kernel_plasticity``): tasks done, fraction of important kernels
        per layer."""
        return {"kernel_plasticity": {"tasks_done": self.tasks_done,
                                      "important_fraction": [float(m.float().mean()) for m in self.important]}}

    def state_dict(self) -> dict[str, Any]:
        """Tensors and plain containers only (loadable with ``torch.load(weights_only=True)``)."""
        return {"tasks_done": self.tasks_done, "important": list(self.important), "reference": list(self.reference),
                "activity": list(self.activity), "change_sum": list(self.change_sum), "records": list(self.records),
                "snapshot": list(self.snapshot), "active": list(self._active)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.tasks_done = int(state["tasks_done"])
        self.important, self.reference = list(state["important"]), list(state["reference"])
        self.activity, self.change_sum = list(state["activity"]), list(state["change_sum"])
        self.records, self.snapshot = [int(r) for r in state["records"]], list(state["snapshot"])
        self._active = [bool(a) for a in state["active"]]
