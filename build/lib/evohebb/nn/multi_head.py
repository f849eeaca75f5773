"""Several linear readouts over one feature extractor, and unsupervised head selection (the M model of the
neuromodAI thesis).

:class:`MultiHead` holds one head (Dropout + Linear) per task. At inference the head is chosen without labels:
every head scores the evaluated images and the highest total wins (:func:`select_heads`). Scores are
registered by name in :data:`HEAD_SCORES`; each maps a :class:`HeadEvidence` (every head's logits ``[H, N, C]``,
the images' features, and what each task's training left behind) to a per-image score ``[H, N]`` (higher: more
confident), summed over the images of one selection unit (one image, a batch, or a whole test set):

* ``max_abs_logit`` (the thesis's ``head_choser``): ``max_c |logit_c|``;
* ``min_entropy``: ``−entropy(softmax(logits))``, so the head with the lowest mean entropy wins;
* ``max_softmax``: the largest class probability;
* ``energy``: ``logsumexp_c logit_c`` (the negative free energy of the head's logits);
* ``mahalanobis``: ``−min_c Σ_d (x_d − μ_hcd)² / v_hd``, the distance of the features to the nearest class mean of
  head ``h``'s task, in that task's shrunk diagonal within-class variance
  (:class:`~evohebb.nn.head_statistics.FeatureStatistics`);
* ``gaussian``: the log-likelihood of that nearest class's diagonal Gaussian, ``−½ (min_c d² + Σ_d log v_hd)``
  (the distance plus each task's spread, so a broad task does not claim every image).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import torch
from torch import Tensor, nn

from evohebb.nn.head_statistics import FeatureStatistics
from evohebb.registry import Registry

__all__ = ["HEAD_SCORES", "HeadEvidence", "MultiHead", "chosen_class", "select_heads"]


@dataclass
class HeadEvidence:
    """What a head score may use: every head's logits ``[H, N, C]``; the images' features ``[N, D]`` (or ``[H, N, D]``
    when each head sees its own features) and the heads' feature statistics (means ``[H, C, D]``, variances
    ``[H, D]``), both ``None`` where only logit scores are asked."""

    logits: Tensor
    features: Tensor | None = None
    statistics: tuple[Tensor, Tensor] | None = None

    @cached_property
    def nearest_distance(self) -> Tensor:
        """``min_c Σ_d (x_d − μ_hcd)² / v_hd`` of every head and image, ``[H, N]``."""
        if self.features is None or self.statistics is None:
            raise ValueError("a feature-statistics head score needs the features and every head's statistics "
                             "(FeatureStatistics.record at the end of each task)")
        means, variances = (t.double() for t in self.statistics)               # [H, C, D], [H, D]
        x = self.features.double()                                              # [N, D] or [H, N, D]
        images = "nd" if x.dim() == 2 else "hnd"
        precision = 1.0 / variances
        d2 = (torch.einsum(f"{images},hd->hn", x * x, precision)[:, :, None]
              - 2 * torch.einsum(f"{images},hcd->hnc", x, means * precision[:, None])
              + torch.einsum("hcd,hd->hc", means * means, precision)[:, None, :])
        return d2.clamp_min(0).amin(-1)


HEAD_SCORES: Registry[Callable[[HeadEvidence], Tensor]] = Registry("head-selection score")


@HEAD_SCORES.register("max_abs_logit")
def max_abs_logit(evidence: HeadEvidence) -> Tensor:
    return evidence.logits.abs().amax(-1)


@HEAD_SCORES.register("min_entropy")
def min_entropy(evidence: HeadEvidence) -> Tensor:
    log_p = torch.log_softmax(evidence.logits, dim=-1)
    return (log_p.exp() * log_p).sum(-1)


@HEAD_SCORES.register("max_softmax")
def max_softmax(evidence: HeadEvidence) -> Tensor:
    return torch.softmax(evidence.logits, dim=-1).amax(-1)


@HEAD_SCORES.register("energy")
def energy(evidence: HeadEvidence) -> Tensor:
    return torch.logsumexp(evidence.logits, dim=-1)


@HEAD_SCORES.register("mahalanobis")
def mahalanobis(evidence: HeadEvidence) -> Tensor:
    return -evidence.nearest_distance.float()


@HEAD_SCORES.register("gaussian")
def gaussian(evidence: HeadEvidence) -> Tensor:
    log_det = evidence.statistics[1].double().log().sum(-1)                     # [H]
    return (-0.5 * (evidence.nearest_distance + log_det[:, None])).float()


def select_heads(logits: Tensor | HeadEvidence, score: str = "max_abs_logit", unit: int = 0) -> Tensor:
    """The chosen head of every image ``[N]`` from every head's logits ``[H, N, C]`` (or the whole evidence): images
    are grouped in consecutive units of ``unit`` images (0: all ``N`` are one unit; 1: every image is chosen for
    alone), each head's score is summed over a unit, and the highest sum wins for every image of that unit (ties:
    the lower head index)."""
    evidence = logits if isinstance(logits, HeadEvidence) else HeadEvidence(logits)
    evidence.logits = evidence.logits.float()
    per_image = HEAD_SCORES.lookup(score)(evidence)                  # [H, N]
    h, n = per_image.shape
    size = n if unit <= 0 else unit
    group = torch.arange(n, device=per_image.device) // max(1, size)  # unit of each image
    totals = torch.zeros(h, int(group[-1]) + 1 if n else 0, device=per_image.device)
    totals.index_add_(1, group, per_image)
    return totals.argmax(0)[group]


class MultiHead(nn.Module):
    """One ``Dropout -> Linear(feature_dim, n_outputs)`` head per task, over shared features, and the statistics of
    each task's frozen features (:attr:`statistics`, recorded by :meth:`record_statistics` at the end of its task;
    kept apart from :meth:`state_dict`: ``statistics.state_dict()``)."""

    def __init__(self, feature_dim: int, dropout: float = 0.5, device: torch.device | str | None = None,
                 shrinkage: float = 0.5):
        super().__init__()
        self.feature_dim, self.device = feature_dim, device
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleList()
        self.statistics = FeatureStatistics(shrinkage)

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

    def record_statistics(self, index: int, features: Tensor, labels: Tensor) -> None:
        """Head ``index``'s task is over: keep its features' statistics (labels: the head's output indices)."""
        self.statistics.record(index, features, labels, self.heads[index].out_features)

    @torch.no_grad()
    def all_logits(self, features: Tensor, upto: int | None = None) -> Tensor:
        """Logits of heads ``0..upto-1`` (all by default) in eval mode: ``[H, N, C]`` (equal head sizes), from
        features ``[N, D]`` that every head sees or ``[H, N, D]``, one set per head."""
        heads = list(self.heads)[:upto]
        if len({h.out_features for h in heads}) > 1:
            raise ValueError(f"all_logits needs heads of one size, got {[h.out_features for h in heads]}")
        weight = torch.stack([h.weight for h in heads])                   # [H, C, D]
        bias = torch.stack([h.bias for h in heads])                       # [H, C]
        if features.dim() == 3:
            return torch.einsum("hnd,hcd->hnc", features.to(weight), weight) + bias[:, None, :]
        return torch.einsum("nd,hcd->hnc", features.to(weight), weight) + bias[:, None, :]

    def evidence(self, features: Tensor, upto: int | None = None) -> HeadEvidence:
        """Everything a head score may use for heads ``0..upto-1``: their logits, the features and, where every one
        of them has been recorded, their feature statistics."""
        upto = len(self.heads) if upto is None else upto
        statistics = self.statistics.stacked(upto, features.device) if len(self.statistics) >= upto else None
        return HeadEvidence(self.all_logits(features, upto), features, statistics)

    @torch.no_grad()
    def predict(self, features: Tensor, upto: int | None = None, score: str = "max_abs_logit",
                unit: int = 0) -> tuple[Tensor, Tensor]:
        """Without labels: the head chosen for every image among heads ``0..upto-1`` (:func:`select_heads`) and
        that head's class (its output index); both ``[N]``."""
        evidence = self.evidence(features, upto)
        chosen = select_heads(evidence, score, unit)
        return chosen, chosen_class(evidence.logits, chosen)


def chosen_class(logits: Tensor, chosen: Tensor) -> Tensor:
    """The class ``[N]`` that head ``chosen[n]`` gives image ``n``, from every head's logits ``[H, N, C]``."""
    return logits[chosen, torch.arange(logits.shape[1], device=logits.device)].argmax(-1)
