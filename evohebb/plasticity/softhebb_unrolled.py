"""SoftHebb on an *unrolled* conv layer (seed 002's CIFAR experiment).

In the unrolled layer every output position ``l`` owns its own copy of each kernel, so the SoftHebb rule
gives one update per copy::

    dW_k[l] = sum_b y[b, k, l] * x_patch[b, :, l] - (sum_b y[b, k, l] * u[b, k, l]) * W_k

The conv's weight sharing is then restored by aggregating the copies of each kernel entry with ``max``,
``min`` or ``median`` (``mean`` reproduces the conv-native SoftHebb update up to a factor ``1/L``) through
:func:`evohebb.plasticity.weight_sharing.aggregate_copies`; copies that would read padding do not exist and
are masked out. The caller normalises (``/ max|dW|``) and applies the rate as for the conv-native rule.
"""

from __future__ import annotations

import torch

from evohebb.plasticity.weight_sharing import aggregate_copies


def unrolled_softhebb_delta(patches: torch.Tensor, y: torch.Tensor, u: torch.Tensor, weight: torch.Tensor,
                            aggregation: str, valid: torch.Tensor | None = None,
                            chunk_neurons: int = 64) -> torch.Tensor:
    """Aggregated per-copy SoftHebb update shaped like ``weight`` ``[K, D...]``.

    ``patches`` ``[B, D, L]`` (unfold order), ``y`` / ``u`` ``[B, K, L]``, ``valid`` ``[D, L]`` bool or None.
    Neurons are processed in chunks of ``chunk_neurons`` so the ``[K, D, L]`` per-copy tensor never exists whole.
    """
    k = weight.shape[0]
    w = weight.reshape(k, -1)
    yu = (y * u).sum(0)  # [K, L]
    out = torch.empty_like(w)
    for start in range(0, k, chunk_neurons):  # chunks of neurons (memory bound), not a loop over neurons
        sl = slice(start, start + chunk_neurons)
        per_copy = torch.einsum("bkl,bdl->kdl", y[:, sl], patches) - yu[sl, None, :] * w[sl, :, None]
        out[sl] = aggregate_copies(per_copy, aggregation, valid, dim=-1)
    return out.view_as(weight)
