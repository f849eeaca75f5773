"""The SoftHebb weight update (Journé et al., ICLR 2023) as pure tensor functions.

For postsynaptic signals ``y`` (from a competition), pre-activations ``u = W x`` and weights ``W``::

    dW_k = sum_{samples, positions} y_k * x_patch  -  (sum y_k * u_k) * W_k      (Hebbian term - decay)
    dW  /= max |dW|                                                             (normalised update)
    eta_k = eta0 * (| ||W_k|| - 1 | + 1e-10) ** power                           (adaptive, norm-dependent rate)

For a conv layer the correlation ``sum y_k x_patch`` is the weight-gradient of a convolution
(``torch.nn.grad.conv2d_weight``): exact, batched and memory-cheap (no unfolded patch tensor).
"""

from __future__ import annotations

import torch
import torch.nn.grad


def conv_correlation(x: torch.Tensor, y: torch.Tensor, weight_shape: torch.Size | tuple, stride=1, dilation=1,
                     groups: int = 1) -> torch.Tensor:
    """``sum_{b, p} y[b, k, p] * patch(x)[b, :, p]`` shaped like the conv weight (``x`` already padded)."""
    return torch.nn.grad.conv2d_weight(x, weight_shape, y, stride=stride, padding=0, dilation=dilation,
                                       groups=groups)


def linear_correlation(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``sum_b y[b, k] * x[b, :]`` shaped ``[K, D]``."""
    return y.transpose(0, 1) @ x


def softhebb_delta(correlation: torch.Tensor, y: torch.Tensor, u: torch.Tensor, weight: torch.Tensor,
                   dim: int = 1, normalise: bool = True) -> torch.Tensor:
    """``dW = correlation - (sum y*u)_k W_k``, optionally divided by ``max|dW|``."""
    axes = [a for a in range(y.dim()) if a != dim]
    yu = (y * u).sum(dim=axes)
    delta = correlation - yu.view(-1, *([1] * (weight.dim() - 1))) * weight
    if normalise:
        delta = normalise_update(delta)
    return delta


def normalise_update(delta: torch.Tensor) -> torch.Tensor:
    """Divide by the largest absolute entry (SoftHebb's update normalisation)."""
    return delta / (delta.abs().amax() + 1e-30)


def neuron_norms(weight: torch.Tensor) -> torch.Tensor:
    """L2 norm of each neuron's (output channel's) weight vector, shape ``[K]``."""
    return weight.reshape(weight.shape[0], -1).norm(dim=1)


def adaptive_rate(weight: torch.Tensor, eta0: float, power: float = 0.5) -> torch.Tensor:
    """Per-neuron learning rate ``eta0 * (| ||W_k|| - 1 | + 1e-10) ** power``: large while the norm is far from
    1, vanishing as the neuron converges to the unit sphere."""
    return eta0 * ((neuron_norms(weight) - 1.0).abs() + 1e-10).pow(power)
