"""Several linear readouts over one feature extractor, and unsupervised head selection (the M model of the
neuromodAI thesis).

:class:`MultiHead` holds one head (Dropout + Linear) per task. At inference the head is chosen without labels:
every head scores the evaluated images and the highest total wins (:func:`select_heads`). Scores are
registered by name in :data:`HEAD_SCORES`; each maps logits ``[H, N, C]`` to a per-image score ``[H, N]``
(higher: more confident), summed over the images of one selection unit (a batch, or a whole test set):

* ``max_abs_logit`` (the thesis's ``head_choser``): ``max_c |logit_c|``;
* ``min_entropy``: ``−entropy(softmax(logits))``, so the head with the lowest mean entropy wins;
* ``max_softmax``: the largest class probability.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from evohebb.registry import Registry

__all__ = ["HEAD_SCORES", "MultiHead", "select_heads"]

HEAD_SCORES: Registry[Callable[[Tensor], Tensor]] = Registry("head-selection score")


@HEAD_SCORES.register("max_abs_logit")
def max_abs_logit(logits: Tensor) -> Tensor:
    return logits.abs().amax(-1)


@HEAD_SCORES.register("min_entropy")
def min_entropy(logits: Tensor) -> Tensor:
    log_p = torch.log_softmax(logits, dim=-1)
    return (log_p.exp() * log_p).sum(-1)


@HEAD_SCORES.register("max_softmax")
def max_softmax(logits: Tensor) -> Tensor:
    return torch.softmax(logits, dim=-1).amax(-1)


def select_heads(logits: Tensor, score: str = "max_abs_logit", unit: int = 0) -> Tensor:
    """The chosen head of every image ``[N]`` from every head's logits ``[H, N, C]``: images are grouped in
    consecutive units of ``unit`` images (0: all ``N`` are one unit), each head's score is summed over a unit,
    and the highest sum wins for every image of that unit (ties: the lower head index)."""
    per_image = HEAD_SCORES.lookup(score)(logits.float())          # [H, N]
    h, n = per_image.shape
    size = n if unit <= 0 else unit
    group = torch.arange(n, device=logits.device) // max(1, size)  # unit of each image
    totals = torch.zeros(h, int(group[-1]) + 1 if n else 0, device=logits.device)
    totals.index_add_(1, group, per_image)
    return totals.argmax(0)[group]


class MultiHead(nn.Module):
    """One ``Dropout -> Linear(feature_dim, n_outputs)`` head per task, over shared features."""

    def __init__(self, feature_dim: int, dropout: float = 0.5, device: torch.device | str | None = None):
        super().__init__()
        self.feature_dim, self.device = feature_dim, device
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleList()

    def add_head(self, n_outputs: int) -> int:
        """Append a freshly initialised head; returns its index."""
        self.heads.append(nn.Linear(self.feature_dim, n_outputs, device=self.device))
        return len(self.heads) - 1

    @property
    def sizes(self) -> list[int]:
        return [head.out_features for head in self.heads]

    def readout(self, index: int) -> nn.Module:
        """Head ``index`` with the shared dropout in front (what the readout trains)."""
        return nn.Sequential(self.dropout, self.heads[index])

    def forward(self, features: Tensor, index: int) -> Tensor:
        return self.heads[index](self.dropout(features))

    @torch.no_grad()
    def all_logits(self, features: Tensor, upto: int | None = None) -> Tensor:
        """Logits of heads ``0..upto-1`` (all by default) in eval mode: ``[H, N, C]`` (equal head sizes)."""
        heads = list(self.heads)[:upto]
        if len({h.out_features for h in heads}) > 1:
            raise ValueError(f"all_logits needs heads of one size, got {[h.out_features for h in heads]}")
        weight = torch.stack([h.weight for h in heads])                   # [H, C, D]
        bias = torch.stack([h.bias for h in heads])                       # [H, C]
        return torch.einsum("nd,hcd->hnc", features.to(weight), weight) + bias[:, None, :]

    @torch.no_grad()
    def predict(self, features: Tensor, upto: int | None = None, score: str = "max_abs_logit",
                unit: int = 0) -> tuple[Tensor, Tensor]:
        """Without labels: the head chosen for every image among heads ``0..upto-1`` (:func:`select_heads`) and
        that head's class (its output index); both ``[N]``."""
        logits = self.all_logits(features, upto)                          # [H, N, C]
        chosen = select_heads(logits, score, unit)
        return chosen, logits[chosen, torch.arange(logits.shape[1], device=logits.device)].argmax(-1)
