"""Output heads of the unrolled plastic networks, registered by name.

A head maps the last layer's pre-activation ``z`` ``[P, n_out]`` to ``(activity, output)``: the output
neurons' activity that the rule sees, and what the network returns to its caller (actions, scores).

* ``tanh`` — both are ``tanh(z)``;
* ``carracing_sigmoid`` — ``[steer (tanh), gas, brake (sigmoid)]``: the thesis's pedals; an untrained
  network holds both pedals at ~0.5 and barely moves;
* ``carracing_clip`` — all tanh, gas and brake clipped to [0, 1] in the output (a zero or negative output is
  no pedal); the rule sees the unclipped tanh;
* ``carracing_half_gas`` — as ``carracing_clip`` but gas is ``(tanh + 1) / 2`` (the mapping of World Models'
  CarRacing controller): a zero output is half gas, so a network whose gas output averages out near zero still
  drives instead of standing still; the rule sees the tanh;
* ``choice`` — a classifier: Gaussian exploration noise (``exploration_std``, one reproducible stream per
  individual) is added to the scores, the activity is the one-hot of the noisy argmax (seed 003), the output
  the noisy scores; ``explored`` says where the noise changed the choice.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from evohebb.nn.row_noise import row_normal
from evohebb.registry import Registry

__all__ = ["OUTPUT_HEADS", "ChoiceHead", "OutputHead", "make_head", "register_head"]


class OutputHead:
    """Stateless head; subclasses with state override :meth:`reset`."""

    n_outputs: int | None = None     # required number of outputs (None: any)
    explored: Tensor | None = None   # where exploration changed the output (choice head)

    def __init__(self, exploration_std: float = 0.0):
        self.exploration_std = float(exploration_std)   # read by heads that explore

    def reset(self, noise_seeds: Tensor) -> None:
        pass

    def __call__(self, z: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError


OUTPUT_HEADS: Registry[Callable[..., OutputHead]] = Registry("output head")
register_head = OUTPUT_HEADS.register


@register_head("tanh")
class TanhHead(OutputHead):
    def __call__(self, z: Tensor) -> tuple[Tensor, Tensor]:
        y = torch.tanh(z)
        return y, y


@register_head("carracing_sigmoid")
class SigmoidPedalsHead(OutputHead):
    n_outputs = 3

    def __call__(self, z: Tensor) -> tuple[Tensor, Tensor]:
        y = torch.cat([torch.tanh(z[:, :1]), torch.sigmoid(z[:, 1:])], dim=1)
        return y, y


@register_head("carracing_clip")
class ClippedPedalsHead(OutputHead):
    n_outputs = 3

    def __call__(self, z: Tensor) -> tuple[Tensor, Tensor]:
        y = torch.tanh(z)
        return y, torch.cat([y[:, :1], y[:, 1:].clamp(min=0.0)], dim=1)


@register_head("carracing_half_gas")
class HalfGasPedalsHead(ClippedPedalsHead):
    def __call__(self, z: Tensor) -> tuple[Tensor, Tensor]:
        y, out = super().__call__(z)
        out[:, 1] = (y[:, 1] + 1.0) * 0.5      # out is the clipped head's own new tensor
        return y, out


@register_head("choice")
class ChoiceHead(OutputHead):
    def __init__(self, exploration_std: float = 0.0):
        super().__init__(exploration_std)
        self.noise_seeds = torch.zeros(0, dtype=torch.int64)
        self.step = 0
        self.last_choice: Tensor | None = None

    def reset(self, noise_seeds: Tensor) -> None:
        self.noise_seeds, self.step = noise_seeds, 0
        self.explored = self.last_choice = None

    def __call__(self, z: Tensor) -> tuple[Tensor, Tensor]:
        scores = z
        if self.exploration_std > 0:
            noise = row_normal(self.noise_seeds, self.step, z.shape[1], dtype=z.dtype)
            self.step += 1
            scores = z + self.exploration_std * noise
        choice = scores.argmax(1)
        self.explored = choice != z.argmax(1)
        self.last_choice = choice
        return F.one_hot(choice, z.shape[1]).to(z.dtype), scores


def make_head(name: str, n_outputs: int, exploration_std: float = 0.0) -> OutputHead:
    """The head registered as ``name`` for ``n_outputs`` output neurons."""
    head = OUTPUT_HEADS.lookup(name)(exploration_std)
    if head.n_outputs is not None and head.n_outputs != n_outputs:
        raise ValueError(f"the {name} head needs exactly {head.n_outputs} outputs, the network has {n_outputs}")
    return head
