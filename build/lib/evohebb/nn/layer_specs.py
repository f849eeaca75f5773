"""Declarative layer specifications of the unrolled plastic networks (a network is a sequence of them)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ConvSpec", "LayerSpec", "LinearSpec", "PoolSpec"]


@dataclass(frozen=True)
class ConvSpec:
    """An unrolled conv layer (no bias) followed by tanh."""

    out_channels: int
    kernel_size: int
    stride: int = 1
    padding: int = 0


@dataclass(frozen=True)
class PoolSpec:
    """Max-pooling with stride = kernel; the pooled neurons are fresh neurons (their own parameters)."""

    kernel_size: int = 2


@dataclass(frozen=True)
class LinearSpec:
    """A fully connected layer (no bias), tanh unless it is the last layer (then the output head)."""

    out_features: int


LayerSpec = ConvSpec | PoolSpec | LinearSpec
