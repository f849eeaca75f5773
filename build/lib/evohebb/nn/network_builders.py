"""Unrolled plastic networks registered by name, so that ``es`` builds them without importing a builder.

``build_network(name, settings, **shape)`` — ``settings`` (:class:`PlasticNetworkSettings`) say how the network
learns; the keyword arguments give what the task fixes (input shape, number of outputs, output head); an
environment entry (:mod:`envs.env_registry`) names its builder and gives them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import torch

from evohebb.nn.layer_specs import ConvSpec, LayerSpec, LinearSpec, PoolSpec
from evohebb.nn.network_settings import PlasticNetworkSettings
from evohebb.nn.unrolled_plastic_network import UnrolledPlasticNetwork
from evohebb.registry import Registry

__all__ = ["CLASSIFIER_CONV", "NETWORK_BUILDERS", "THESIS_CONV", "build_network", "carracing_policy",
           "image_classifier", "register_network", "vector_policy"]

NETWORK_BUILDERS: Registry[Callable[..., UnrolledPlasticNetwork]] = Registry("network")
register_network = NETWORK_BUILDERS.register


def build_network(name: str, settings: PlasticNetworkSettings | None = None, **kw: Any) -> UnrolledPlasticNetwork:
    """Build the network registered as ``name``."""
    return NETWORK_BUILDERS.lookup(name)(settings, **kw)


def _settings(settings: PlasticNetworkSettings | None, overrides: dict[str, Any]) -> PlasticNetworkSettings:
    """``settings`` (default: the defaults) with some fields replaced (e.g. ``aggregation="min"`` in a test)."""
    return replace(settings if settings is not None else PlasticNetworkSettings(), **overrides)


def _trunk(settings: PlasticNetworkSettings, conv: Sequence[LayerSpec]) -> Sequence[LayerSpec]:
    """The builder's conv trunk, or none (``settings.trunk``)."""
    return conv if settings.trunk == "conv" else ()


def _hidden(settings: PlasticNetworkSettings, hidden: Sequence[int]) -> list[LinearSpec]:
    """The hidden linear layers: the builder's widths unless ``settings.hidden`` gives them."""
    return [LinearSpec(h) for h in (hidden if settings.hidden is None else settings.hidden)]


THESIS_CONV = (ConvSpec(6, 3), PoolSpec(2), ConvSpec(8, 5, stride=2), PoolSpec(2))


@register_network("carracing_policy")
def carracing_policy(settings: PlasticNetworkSettings | None = None, *, head: str = "carracing_clip",
                     in_shape: Sequence[int] = (3, 64, 64), conv: Sequence[LayerSpec] = THESIS_CONV,
                     hidden: Sequence[int] = (128, 64), device: torch.device | str = "cpu",
                     dtype: torch.dtype = torch.float32, **overrides: Any) -> UnrolledPlasticNetwork:
    """The thesis's CarRacing policy: 64×64×3 → conv 3→6 k3 + tanh + pool 2 → conv 6→8 k5 s2 + tanh + pool 2
    → 392→128→64→3, no biases; outputs ``[steer, gas, brake]`` through ``head`` (``carracing_clip``: tanh, the
    pedals clipped to [0, 1]; ``carracing_sigmoid``: the thesis's; see :mod:`evohebb.nn.output_heads`; the CarRacing
    entry maps its ``pedals`` setting to one). ``settings.trunk="none"`` with ``settings.hidden=[]`` is the pixel
    readout (e.g. an 8×8 grayscale frame → 64→3, ``configs/evolve_carracing.yaml``)."""
    settings = _settings(settings, overrides)
    layers = [*_trunk(settings, conv), *_hidden(settings, hidden), LinearSpec(3)]
    return UnrolledPlasticNetwork(in_shape, layers, head, settings, device, dtype)


@register_network("vector_policy")
def vector_policy(settings: PlasticNetworkSettings | None = None, *, in_shape: Sequence[int], n_outputs: int,
                  head: str = "tanh", hidden: Sequence[int] = (32, 32), device: torch.device | str = "cpu",
                  dtype: torch.dtype = torch.float32, **overrides: Any) -> UnrolledPlasticNetwork:
    """A policy for a vector observation (e.g. a gymnasium env's ``Box`` of shape ``in_shape``, flattened):
    ``hidden`` tanh layers (``settings.hidden`` wins) → ``n_outputs`` through ``head`` (``tanh`` for continuous
    actions, ``choice`` for a discrete one). It has no conv trunk: ``settings.trunk`` does not apply."""
    settings = _settings(settings, overrides)
    layers = [*_hidden(settings, hidden), LinearSpec(n_outputs)]
    return UnrolledPlasticNetwork((math.prod(in_shape),), layers, head, settings, device, dtype)


CLASSIFIER_CONV = (ConvSpec(8, 5, stride=2), PoolSpec(2))


@register_network("image_classifier")
def image_classifier(settings: PlasticNetworkSettings | None = None, *, in_shape: Sequence[int] = (1, 28, 28),
                     n_classes: int = 10, conv: Sequence[LayerSpec] = CLASSIFIER_CONV, hidden: Sequence[int] = (),
                     device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
                     **overrides: Any) -> UnrolledPlasticNetwork:
    """Reward-driven classifier for 28×28×1 / 32×32×3 images with ``n_classes`` outputs (seed 003's setting).

    Default trunk: unrolled conv k5 stride 2 → 8 maps + tanh + max-pool 2 (288 features on 28×28, 392 on
    32×32×3), then ``hidden`` linear layers and the output layer. (``conv=THESIS_CONV`` gives the thesis trunk,
    whose 2×2×8 = 32 features on 28×28 learn the label mapping much more slowly.) ``forward`` returns the
    (noisy) scores; the output neurons' activity for the rule is the one-hot of the chosen class
    (``last_choice``). Learning is reward-driven when ``settings.rpe.enabled`` (seed 003: the greedy binary
    prediction, reward 1 for the right class)."""
    settings = _settings(settings, overrides)
    layers = [*_trunk(settings, conv), *_hidden(settings, hidden), LinearSpec(n_classes)]
    return UnrolledPlasticNetwork(in_shape, layers, "choice", settings, device, dtype)
