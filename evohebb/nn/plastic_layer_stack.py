"""A chain of population-batched plastic layers: topology, forward, weights and one update step.

Layers (from :mod:`evohebb.nn.layer_specs`): unrolled convs and linears (no biases, tanh between them) and
max-pooling. Neuron groups are the network input, every plastic layer's output and every pooling layer's
output (pooled neurons are fresh neurons); their roles (presynaptic, postsynaptic or both) come from
:func:`evohebb.plasticity.abcd.neuron_centric_group_roles`. A linear layer directly after a conv (no
pooling) uses the conv's output group, flattened.

One update step, per learning layer ``i``: presynaptic pre-processing → rule (its per-copy update reduced by the
weight-sharing engine) → modulators for layer ``i`` (the contract of :mod:`evohebb.plasticity.modulators`) →
added to the weights → normalisation by max|w| / clipping.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from evohebb.nn import native_forward
from evohebb.nn.layer_specs import ConvSpec, LayerSpec, LinearSpec, PoolSpec
from evohebb.nn.unrolled import PopulationLinear, UnrolledConv2d, population_max_pool2d, population_tanh
from evohebb.plasticity.abcd import neuron_centric_group_roles
from evohebb.plasticity.modulators import Modulator, modulate
from evohebb.plasticity.rule import PlasticityRule
from evohebb.plasticity.weight_normalisation import clip_weights_, normalise_max_abs_

__all__ = ["NeuronGroup", "PlasticLayerStack"]


@dataclass(frozen=True)
class NeuronGroup:
    name: str
    shape: tuple[int, ...]
    pre: bool
    post: bool

    @property
    def size(self) -> int:
        return math.prod(self.shape)


class PlasticLayerStack(nn.Module):
    """``P`` individuals' copies of one layer chain; ``forward`` records the activity ``update`` needs."""

    def __init__(self, in_shape: Sequence[int], layers: Sequence[LayerSpec],
                 device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        if not layers or not isinstance(layers[-1], LinearSpec):
            raise ValueError("the last layer of a plastic stack must be a LinearSpec (the output layer)")
        self.in_shape = tuple(int(s) for s in in_shape)
        self.device, self.dtype = torch.device(device), dtype
        self.layers = nn.ModuleList()
        self._ops: list[tuple[str, int]] = []       # ("plastic", layer index) | ("pool", kernel)
        names, shapes, pooled_after = ["in"], [self.in_shape], []
        shape, counts = self.in_shape, {"conv": 0, "pool": 0, "fc": 0}
        for spec in layers:
            if isinstance(spec, (ConvSpec, PoolSpec)) and len(shape) != 3:
                raise ValueError(f"a {type(spec).__name__} cannot follow a LinearSpec")
            if isinstance(spec, ConvSpec):
                layer = UnrolledConv2d(shape[0], spec.out_channels, spec.kernel_size, (shape[1], shape[2]),
                                       spec.stride, spec.padding, device=self.device, dtype=dtype)
                shape = layer.out_shape
                counts["conv"] += 1
                names.append(f"conv{counts['conv']}")
            elif isinstance(spec, PoolSpec):
                if self._ops and self._ops[-1][0] == "pool":
                    raise ValueError("two PoolSpecs in a row: pool once with a larger kernel_size")
                if not self._ops:
                    raise ValueError("a PoolSpec needs a plastic layer before it")
                shape = (shape[0], shape[1] // spec.kernel_size, shape[2] // spec.kernel_size)
                counts["pool"] += 1
                pooled_after[-1] = True
                names.append(f"pool{counts['pool']}")
                shapes.append(shape)
                self._ops.append(("pool", spec.kernel_size))
                continue
            elif isinstance(spec, LinearSpec):
                layer = PopulationLinear(math.prod(shape), spec.out_features, device=self.device, dtype=dtype)
                shape = (spec.out_features,)
                counts["fc"] += 1
                names.append("out" if spec is layers[-1] else f"fc{counts['fc']}")
            else:
                raise TypeError(f"unknown layer spec {spec!r}")
            self.layers.append(layer)
            pooled_after.append(False)
            shapes.append(shape)
            self._ops.append(("plastic", len(self.layers) - 1))
        # layers whose weights are the same for every individual (after reset_weights, until they learn or are
        # given per-individual weights) run as one batched conv / matmul instead of P of them
        self._uniform = [False] * len(self.layers)
        self._pooled_after = pooled_after   # a pool follows plastic layer i
        roles = neuron_centric_group_roles(len(self.layers), pooled_after)
        self.groups = [NeuronGroup(n, s, pre, post) for n, s, (pre, post) in zip(names, shapes, roles)]
        # group index of each plastic layer's presynaptic and postsynaptic neurons
        self.connections: list[tuple[int, int]] = []
        current = 0
        for kind, _ in self._ops:
            if kind == "pool":
                current += 1
            else:
                self.connections.append((current, current + 1))
                current += 1

    # ---- weights -----------------------------------------------------------------------------------------
    @property
    def population(self) -> int:
        return self.layers[0].population

    def set_population(self, population: int) -> None:
        for layer in self.layers:
            layer.set_population(population)
        self._uniform = [False] * len(self.layers)

    def set_individual_weights(self, index: int, weight: Tensor) -> None:
        """Give layer ``index`` one weight tensor per individual (``[P, ...]``)."""
        self.layers[index].weight.copy_(weight)
        self._uniform[index] = False

    def weights(self) -> list[Tensor]:
        """Every plastic layer's weights (conv: ``[P, Cout, Cin, k, k]``, linear: ``[P, out, in]``)."""
        return [layer.weight for layer in self.layers]

    @torch.no_grad()
    def reset_weights(self, seed: int) -> None:
        """``U(-1/√fan_in, 1/√fan_in)``, the same for every individual, drawn on CPU (device-independent)."""
        gen = torch.Generator().manual_seed(int(seed))
        for w in self.weights():
            bound = 1.0 / math.sqrt(math.prod(w.shape[2:]))
            w0 = (torch.rand(w.shape[1:], generator=gen) * 2 - 1) * bound
            w.copy_(w0.to(w.device).unsqueeze(0).expand_as(w))
        self._uniform = [True] * len(self.layers)

    # ---- compute -----------------------------------------------------------------------------------------
    def forward(self, obs: Tensor, record: Sequence[bool] | None = None, native: bool = False
                ) -> tuple[Tensor, list[tuple[Tensor, Tensor] | None]]:
        """``[P, *in_shape]`` → the output layer's pre-activation ``[P, n_out]`` and each plastic layer's
        ``(presynaptic, postsynaptic)`` activity (the output layer's postsynaptic entry is its pre-activation:
        the caller replaces it with the output head's activity). ``record[i]`` False: layer ``i``'s activity is
        not needed (it does not learn), its entry is None and a pool after it runs before the tanh (the same
        values: tanh is monotonic, so max-pool and tanh commute), on a quarter of the elements. ``native``: a
        conv (and its tanh, where it is not pooled first) runs as one native loop that writes the map in the
        rule's order, a linear layer as one that reads its weights once, a 2×2 pool (and a tanh after it) as one
        pass (:mod:`~evohebb.nn.native_forward`; torch where they do not apply)."""
        P = obs.shape[0]
        h, acts = obs, []
        skip_tanh = False
        for kind, arg in self._ops:
            if kind == "pool":
                pooled = native_forward.max_pool2_tanh(h, skip_tanh) if native and arg == 2 else None
                if pooled is not None:
                    h, skip_tanh = pooled, False
                    continue
                h = population_max_pool2d(h, arg)
                if skip_tanh:
                    h, skip_tanh = population_tanh(h), False
                continue
            layer = self.layers[arg]
            conv = isinstance(layer, UnrolledConv2d)
            x = h if conv else h.reshape(P, -1)
            last = arg == len(self.layers) - 1
            recorded = record is None or record[arg] or last
            if native and conv and not last:
                xc = x.contiguous()             # read by the loop and by the rule in this order (one copy)
                pool_first = not recorded and self._pooled_after[arg]
                z = native_forward.conv_tanh(xc, layer.weight, layer.geometry, tanh=not pool_first)
                if z is not None:
                    acts.append((xc, z) if recorded else None)
                    h, skip_tanh = z, pool_first
                    continue
            z = native_forward.linear(x, layer.weight) if native and not conv else None
            if z is None and self._uniform[arg]:
                w = layer.weight[0]
                z = F.conv2d(x, w, stride=layer.geometry.stride, padding=layer.geometry.padding) if conv else x @ w.T
            elif z is None:
                z = layer(x)
            if recorded:
                # a recorded conv map is made contiguous here, in the tanh, for the rule (activity_map)
                h = z if last else population_tanh(z, contiguous=conv)
                acts.append((x, h))
                continue
            acts.append(None)
            skip_tanh = self._pooled_after[arg]
            h = z if skip_tanh else population_tanh(z)
        return h, acts

    @torch.no_grad()
    def update(self, rule: PlasticityRule, states: Sequence[Any], acts: Sequence[tuple[Tensor, Tensor]], *,
               aggregation: str, mode: str, caches: Sequence[dict], modulators: Sequence[Modulator] = (),
               presynaptic: Callable[[int, Tensor], Tensor] | None = None, learning: Sequence[bool] | None = None,
               weight_norm: bool = False, clip: float | None = None, chunk_elements: int | None = None,
               compiled: bool = False) -> None:
        """One plastic step of every learning layer (see the module doc)."""
        for i, (layer, act) in enumerate(zip(self.layers, acts)):
            if act is None or (learning is not None and not learning[i]):
                continue
            x, y = act
            if presynaptic is not None:
                x = presynaptic(i, x)
            # without modulators the rule's update goes into the weights in place (never formed when low-rank),
            # normalised there too (one native pass with the update where it can)
            dw = layer.delta(rule, x, y, states[i], aggregation, mode, caches[i], chunk_elements,
                             apply=not modulators, compiled=compiled, normalise=weight_norm and not modulators)
            if modulators:
                layer.weight.add_(modulate(dw, modulators, i))
                if weight_norm:
                    normalise_max_abs_(layer.weight)
            self._uniform[i] = False
            if clip is not None:
                clip_weights_(layer.weight, clip)
