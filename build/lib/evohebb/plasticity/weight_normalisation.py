"""Per-layer weight normalisation and clipping applied after a plastic update."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["clip_weights_", "normalise_max_abs_"]


def normalise_max_abs_(w: Tensor, population_dims: int = 1, eps: float = 1e-12) -> Tensor:
    """Divide each individual's weights by their max ``|w|`` in place (as the seeds do).

    ``w`` is ``[P, ...]`` (``population_dims`` leading dims index individuals)."""
    flat = w.reshape(*w.shape[:population_dims], -1)
    m = torch.maximum(flat.amax(-1), flat.amin(-1).neg()).clamp_min(eps)      # max |w| without a |w| tensor
    # times 1/max|w| (a product pass costs half a division pass on CPU; the same to one rounding)
    w.mul_(m.reciprocal().reshape(*m.shape, *([1] * (w.dim() - population_dims))))
    return w


def clip_weights_(w: Tensor, bound: float) -> Tensor:
    """Clamp weights into ``[-bound, bound]`` in place."""
    return w.clamp_(-bound, bound)
