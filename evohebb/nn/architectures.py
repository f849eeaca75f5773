"""Architectures registered by name (like torchvision): ``get_model("softhebb", input_shape=..., ...)``.

Every builder takes ``input_shape`` ``(C, H, W)``, ``n_classes``, ``hebbian`` (a dict of
:class:`~evohebb.nn.softhebb_conv.HebbianSettings` fields applied to every layer, e.g. a preset's
mechanisms), optional per-layer lists (``channels``, ``t_inv``, ``eta0``, ``power``), ``dropout`` and
``device``. Grayscale and 28x28 inputs work with the same builders (the readout size follows the input).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from evohebb.nn.softhebb_blocks import DepthwiseSeparableBlock, HebbianConvNet, ResidualBlock, SoftHebbBlock
from evohebb.nn.softhebb_conv import HebbianSettings

_REGISTRY: dict[str, Callable[..., HebbianConvNet]] = {}


class UnknownArchitectureError(KeyError):
    """No builder is registered under the requested name."""

    def __str__(self) -> str:
        return str(self.args[0])


def register_model(name: str) -> Callable:
    """Decorator registering a builder under ``name``."""
    def wrap(fn: Callable[..., HebbianConvNet]) -> Callable[..., HebbianConvNet]:
        if name in _REGISTRY:
            raise ValueError(f"architecture {name!r} is already registered")
        _REGISTRY[name] = fn
        return fn
    return wrap


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def get_model(name: str, **kwargs: Any) -> HebbianConvNet:
    """Build the architecture registered as ``name``."""
    try:
        builder = _REGISTRY[name]
    except KeyError:
        raise UnknownArchitectureError(f"unknown architecture {name!r}; registered: {', '.join(list_models())}") \
            from None
    return builder(**kwargs)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ------------------------------------------------------------------------------------------ SoftHebb family
SOFTHEBB_CHANNELS = (96, 384, 1536)
SOFTHEBB_T_INV = (1.0, 0.65, 0.25)
SOFTHEBB_ETA0 = (0.08, 0.005, 0.01)
SOFTHEBB_POWER = (0.7, 1.4, 1.0)
SOFTHEBB_KERNELS = (5, 3, 3)


def _per_layer(values: Sequence | None, defaults: Sequence, n: int, name: str) -> list:
    if values is None:
        values = list(defaults) + [defaults[-1]] * max(0, n - len(defaults))
        return values[:n]
    if len(values) != n:
        raise ValueError(f"{name} needs one value per layer ({n}), got {len(values)}: {list(values)}")
    return list(values)


def _softhebb_pool(i: int, n: int) -> nn.Module | None:
    if i == n - 1:
        return nn.AvgPool2d(2, 2)
    if i < 2:
        return nn.MaxPool2d(4, 2, 1)
    return None


def _softhebb_family(block_cls: type, input_shape=(3, 32, 32), n_classes: int = 10, n_layers: int = 3,
                     channels: Sequence[int] | None = None, t_inv: Sequence[float] | None = None,
                     eta0: Sequence[float] | None = None, power: Sequence[float] | None = None,
                     kernels: Sequence[int] | None = None, hebbian: dict | None = None, dropout: float = 0.5,
                     device: torch.device | str | None = None) -> HebbianConvNet:
    if not 1 <= n_layers <= 11:
        raise ValueError(f"n_layers must lie in [1, 11], got {n_layers}")
    channels = _per_layer(channels, SOFTHEBB_CHANNELS, n_layers, "channels")
    t_inv = _per_layer(t_inv, SOFTHEBB_T_INV, n_layers, "t_inv")
    eta0 = _per_layer(eta0, SOFTHEBB_ETA0, n_layers, "eta0")
    power = _per_layer(power, SOFTHEBB_POWER, n_layers, "power")
    kernels = _per_layer(kernels, SOFTHEBB_KERNELS, n_layers, "kernels")
    base = HebbianSettings.from_kwargs(**(hebbian or {}))
    blocks, c_in = [], input_shape[0]
    for i in range(n_layers):
        s = base.with_(t_inv=t_inv[i], eta0=eta0[i])
        blocks.append(block_cls(c_in, channels[i], kernels[i], kernels[i] // 2, s, power=power[i],
                                pool=_softhebb_pool(i, n_layers), device=device))
        c_in = channels[i]
    return HebbianConvNet(blocks, input_shape, n_classes, dropout, device)


@register_model("softhebb")
def softhebb(**kw: Any) -> HebbianConvNet:
    """Journé et al. (2023): 96 -> 384 -> 1536, kernels 5/3/3, MaxPool(4,2,1) x2 then AvgPool(2,2)."""
    return _softhebb_family(SoftHebbBlock, **kw)


@register_model("softhebb_depthwise")
def softhebb_depthwise(**kw: Any) -> HebbianConvNet:
    """SoftHebb with depthwise-separable Hebbian convolutions (~6.7x fewer parameters)."""
    return _softhebb_family(DepthwiseSeparableBlock, **kw)


@register_model("softhebb_residual")
def softhebb_residual(**kw: Any) -> HebbianConvNet:
    """SoftHebb with inverted-bottleneck residual blocks (1x1 -> depthwise -> 1x1, Hebbian 1x1 shortcut)."""
    return _softhebb_family(ResidualBlock, **kw)


@register_model("backprop")
def backprop(**kw: Any) -> HebbianConvNet:
    """The ``softhebb`` architecture trained end to end by backprop (``alpha = 0``, Kaiming init)."""
    hebbian = {**(kw.pop("hebbian", None) or {}), "alpha": 0.0, "init": "kaiming_uniform"}
    return _softhebb_family(SoftHebbBlock, hebbian=hebbian, **kw)


# ------------------------------------------------------------------------------------------ Lagani / Amato
def _lagani(n_layers: int, input_shape=(3, 32, 32), n_classes: int = 10, channels: Sequence[int] | None = None,
            hebbian: dict | None = None, eta0: float = 0.01, dropout: float = 0.5,
            device: torch.device | str | None = None) -> HebbianConvNet:
    channels = _per_layer(channels, (96, 128, 192, 256), n_layers, "channels")
    kernels = (5, 3, 3, 3)
    pools = (nn.MaxPool2d(2, 2), None, nn.MaxPool2d(2, 2), None)
    base = HebbianSettings.from_kwargs(**{"mode": "hard", "cosine": True, "eta0": eta0, **(hebbian or {})})
    blocks, c_in = [], input_shape[0]
    for i in range(n_layers):
        blocks.append(SoftHebbBlock(c_in, channels[i], kernels[i], 0, base, power=1.0, pool=pools[i],
                                    device=device))
        c_in = channels[i]
    return HebbianConvNet(blocks, input_shape, n_classes, dropout, device)


@register_model("lagani_short")
def lagani_short(**kw: Any) -> HebbianConvNet:
    """Amato et al. (2019), 3 layers 96 -> 128 -> 192, no padding, hard WTA with cosine activation."""
    return _lagani(3, **kw)


@register_model("lagani_deep")
def lagani_deep(**kw: Any) -> HebbianConvNet:
    """Amato et al. (2019), 4 layers 96 -> 128 -> 192 -> 256, no padding."""
    return _lagani(4, **kw)
