"""What each task's training leaves behind for choosing its head without labels: the statistics of its frozen
features.

:class:`FeatureStatistics` keeps, per head (task), the class-conditional means ``[C, D]`` of the task's frozen
training features and their pooled within-class variance per feature ``[D]``, shrunk towards its mean over the
features (``v ← (1 − λ) v + λ · mean(v)``: with ``D`` features and fewer images, a per-feature variance alone
over-trusts the rare ones). A diagonal covariance, because the features are wide (4 608 for the narrow 3-layer
network on MNIST): a full one would be ~85 MB per task in every checkpoint. Recorded once, at the end of the
task; state: tensors and plain containers only (weights-only checkpoints).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

__all__ = ["FeatureStatistics"]


class FeatureStatistics:
    """Per head: class means and a shrunk diagonal within-class variance of its task's frozen features."""

    def __init__(self, shrinkage: float = 0.5, eps: float = 1e-6):
        if not 0.0 <= shrinkage <= 1.0:
            raise ValueError(f"shrinkage: {shrinkage} is not allowed; allowed: 0 to 1")
        self.shrinkage, self.eps = shrinkage, eps
        self.means: list[Tensor] = []       # [C, D] per head
        self.variances: list[Tensor] = []   # [D] per head

    def __len__(self) -> int:
        return len(self.means)

    @torch.no_grad()
    def record(self, index: int, features: Tensor, labels: Tensor, n_classes: int) -> None:
        """Head ``index``'s statistics from its task's features ``[N, D]`` and its labels ``[N]`` (0..C-1);
        heads are recorded in order (``index`` = the number recorded, or an earlier one to replace)."""
        if index > len(self):
            raise ValueError(f"head {index} recorded before head {len(self)}")
        x = features.double()
        one_hot = torch.nn.functional.one_hot(labels.long(), n_classes).double()     # [N, C]
        counts = one_hot.sum(0).clamp_min(1.0)
        means = (one_hot.T @ x) / counts[:, None]                                      # [C, D]
        residual = x - means[labels.long()]
        variance = (residual ** 2).sum(0) / max(1, len(x) - int((one_hot.sum(0) > 0).sum()))
        variance = (1 - self.shrinkage) * variance + self.shrinkage * variance.mean() + self.eps
        stats = (means.float(), variance.float())
        if index == len(self):
            self.means.append(stats[0])
            self.variances.append(stats[1])
        else:
            self.means[index], self.variances[index] = stats

    def stacked(self, upto: int, device: torch.device | str | None = None) -> tuple[Tensor, Tensor]:
        """Means ``[H, C, D]`` and variances ``[H, D]`` of heads ``0..upto-1``."""
        if upto > len(self):
            raise ValueError(f"feature statistics of {upto} heads asked, {len(self)} recorded: a feature-statistics "
                             f"head score needs every head's task to have ended in this run")
        return (torch.stack(self.means[:upto]).to(device), torch.stack(self.variances[:upto]).to(device))

    def state_dict(self) -> dict[str, Any]:
        return {"shrinkage": self.shrinkage, "means": list(self.means), "variances": list(self.variances)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.shrinkage = float(state["shrinkage"])
        self.means, self.variances = list(state["means"]), list(state["variances"])
