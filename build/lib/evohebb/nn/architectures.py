"""Architectures registered by name (like torchvision): ``get_model("softhebb", input_shape=..., ...)``.

Every builder takes keyword arguments only: ``input_shape`` ``(C, H, W)``, ``n_classes``, ``hebbian`` (the
:class:`~evohebb.nn.softhebb_settings.HebbianSettings` applied to every layer, e.g. a preset's mechanisms),
``dropout``, ``device`` and the per-layer settings of its family (``n_layers``, ``channels``, ``t_inv``,
``eta0``, ``power`` for SoftHebb; ``channels``, ``eta0`` for Lagani). A builder's signature is the one
declaration of what it reads (:func:`model_settings`); the Hebbian fields it sets itself, per layer or fixed,
are :func:`hebbian_fields_set_by` it. Grayscale and 28x28 inputs work with the same builders (the readout size
follows the input).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any

import torch
from torch import nn

from evohebb.nn.softhebb_blocks import DepthwiseSeparableBlock, HebbianConvNet, ResidualBlock, SoftHebbBlock
from evohebb.nn.softhebb_settings import HebbianSettings
from evohebb.registry import Registry


@dataclass(frozen=True)
class RegisteredModel:
    build: Callable[..., HebbianConvNet]
    fixed_hebbian: tuple[str, ...] = ()   # HebbianSettings fields the architecture fixes (backprop: alpha, init)

    @property
    def settings(self) -> tuple[str, ...]:
        params = inspect.signature(self.build).parameters.values()
        return tuple(p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY)


MODELS: Registry[RegisteredModel] = Registry("architecture")


def register_model(name: str, *, fixed_hebbian: tuple[str, ...] = ()) -> Callable:
    """Register a builder (keyword-only arguments) under ``name``; ``fixed_hebbian`` names the HebbianSettings
    fields it overrides with its own values."""
    def wrap(fn: Callable[..., HebbianConvNet]) -> Callable[..., HebbianConvNet]:
        MODELS.register(name)(RegisteredModel(fn, tuple(fixed_hebbian)))
        return fn
    return wrap


def list_models() -> list[str]:
    return sorted(MODELS)


def get_model(name: str, **kwargs: Any) -> HebbianConvNet:
    """Build the architecture registered as ``name``."""
    return _registered(name).build(**kwargs)


def model_settings(name: str) -> tuple[str, ...]:
    """The keyword arguments the builder of ``name`` reads."""
    return _registered(name).settings


def hebbian_fields_set_by(name: str) -> tuple[str, ...]:
    """HebbianSettings fields that architecture ``name`` sets itself: per layer from its own arguments
    (``t_inv``, ``eta0``) or fixed (backprop's ``alpha`` and ``init``); a ``hebbian`` value for them is unused."""
    entry = _registered(name)
    per_layer = [f.name for f in fields(HebbianSettings) if f.name in entry.settings]
    return tuple(per_layer) + entry.fixed_hebbian


def _registered(name: str) -> RegisteredModel:
    return MODELS.lookup(name)


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


def _softhebb_family(block_cls: type, doc: str, backprop: bool = False) -> Callable[..., HebbianConvNet]:
    """A builder of the SoftHebb family with ``block_cls`` blocks (``backprop``: alpha 0, Kaiming init)."""
    def build(*, input_shape=(3, 32, 32), n_classes: int = 10, n_layers: int = 3,
              channels: Sequence[int] | None = None, t_inv: Sequence[float] | None = None,
              eta0: Sequence[float] | None = None, power: Sequence[float] | None = None,
              hebbian: HebbianSettings | None = None, dropout: float = 0.5,
              device: torch.device | str | None = None) -> HebbianConvNet:
        if not 1 <= n_layers <= 11:
            raise ValueError(f"n_layers must lie in [1, 11], got {n_layers}")
        channels = _per_layer(channels, SOFTHEBB_CHANNELS, n_layers, "channels")
        t_inv = _per_layer(t_inv, SOFTHEBB_T_INV, n_layers, "t_inv")
        eta0 = _per_layer(eta0, SOFTHEBB_ETA0, n_layers, "eta0")
        power = _per_layer(power, SOFTHEBB_POWER, n_layers, "power")
        kernels = _per_layer(None, SOFTHEBB_KERNELS, n_layers, "kernels")
        base = hebbian if hebbian is not None else HebbianSettings()
        if backprop:
            base = base.with_(**BACKPROP_HEBBIAN)
        blocks, c_in = [], input_shape[0]
        for i in range(n_layers):
            s = base.with_(t_inv=t_inv[i], eta0=eta0[i])
            blocks.append(block_cls(c_in, channels[i], kernels[i], kernels[i] // 2, s, power=power[i],
                                    pool=_softhebb_pool(i, n_layers), device=device))
            c_in = channels[i]
        return HebbianConvNet(blocks, input_shape, n_classes, dropout, device)
    build.__doc__ = doc
    return build


BACKPROP_HEBBIAN = {"alpha": 0.0, "init": "kaiming_uniform"}

softhebb = register_model("softhebb")(_softhebb_family(
    SoftHebbBlock, "Journé et al. (2023): 96 -> 384 -> 1536, kernels 5/3/3, MaxPool(4,2,1) x2 then AvgPool(2,2)."))
softhebb_depthwise = register_model("softhebb_depthwise")(_softhebb_family(
    DepthwiseSeparableBlock, "SoftHebb with depthwise-separable Hebbian convolutions (~6.7x fewer parameters)."))
softhebb_residual = register_model("softhebb_residual")(_softhebb_family(
    ResidualBlock, "SoftHebb with inverted-bottleneck residual blocks (1x1 -> depthwise -> 1x1, Hebbian 1x1 "
                   "shortcut)."))
backprop = register_model("backprop", fixed_hebbian=tuple(BACKPROP_HEBBIAN))(_softhebb_family(
    SoftHebbBlock, "The ``softhebb`` architecture trained end to end by backprop (``alpha = 0``, Kaiming init).",
    backprop=True))


# ------------------------------------------------------------------------------------------ Lagani / Amato
LAGANI_CHANNELS = (96, 128, 192, 256)
LAGANI_KERNELS = (5, 3, 3, 3)
LAGANI_ETA0 = 0.01


def _lagani(n_layers: int, doc: str) -> Callable[..., HebbianConvNet]:
    """A builder of Amato et al.'s network with ``n_layers`` layers (no padding; without ``hebbian``, hard WTA
    with cosine activation)."""
    def build(*, input_shape=(3, 32, 32), n_classes: int = 10, channels: Sequence[int] | None = None,
              eta0: Sequence[float] | None = None, hebbian: HebbianSettings | None = None, dropout: float = 0.5,
              device: torch.device | str | None = None) -> HebbianConvNet:
        channels = _per_layer(channels, LAGANI_CHANNELS, n_layers, "channels")
        eta0 = _per_layer(eta0, (LAGANI_ETA0,), n_layers, "eta0")
        base = hebbian if hebbian is not None else HebbianSettings(mode="hard", cosine=True)
        pools = (nn.MaxPool2d(2, 2), None, nn.MaxPool2d(2, 2), None)
        blocks, c_in = [], input_shape[0]
        for i in range(n_layers):
            blocks.append(SoftHebbBlock(c_in, channels[i], LAGANI_KERNELS[i], 0, base.with_(eta0=eta0[i]),
                                        power=1.0, pool=pools[i], device=device))
            c_in = channels[i]
        return HebbianConvNet(blocks, input_shape, n_classes, dropout, device)
    build.__doc__ = doc
    return build


lagani_short = register_model("lagani_short")(_lagani(
    3, "Amato et al. (2019), 3 layers 96 -> 128 -> 192, no padding, hard WTA with cosine activation."))
lagani_deep = register_model("lagani_deep")(_lagani(4, "Amato et al. (2019), 4 layers 96 -> 128 -> 192 -> 256, "
                                                       "no padding."))
