"""Population layers of the unrolled plastic networks: the one unrolled conv layer and its linear twin.

Both hold the weights of ``P`` individuals (leading population dimension) and learn through any
:class:`~evohebb.plasticity.rule.PlasticityRule`: :meth:`PopulationLayer.delta` asks the rule for its
per-copy update and reduces it with the weight-sharing engine (an unrolled conv's copies are aggregated per
kernel entry; a linear layer has one copy per synapse). The conv's geometry (copies, padding masks, the dense
oracle) lives in :mod:`evohebb.plasticity.conv_geometry`.

The hot path never builds the dense ``n_post × n_pre`` matrix of an unrolled conv: weights are kept as
shared kernels ``[P, Cout, Cin, k, k]`` and the forward is one batched matmul of unfolded patches.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from evohebb.plasticity.conv_geometry import (
    ConvGeometry,
    copy_index,
    copy_valid_mask,
    dense_matrix,
    linear_geometry,
)
from evohebb.plasticity.linear_update import apply_low_rank_, apply_synapse_, synapse_delta
from evohebb.plasticity.rule import PlasticityRule
from evohebb.plasticity.weight_normalisation import normalise_max_abs_
from evohebb.plasticity.weight_sharing import reduce_copies

__all__ = ["PopulationLayer", "PopulationLinear", "UnrolledConv2d", "population_conv2d", "population_linear",
           "population_max_pool2d", "population_tanh"]


def population_conv2d(x: Tensor, weight: Tensor, stride: int = 1, padding: int = 0) -> Tensor:
    """``P`` independent convs in one call: ``x [P, Cin, H, W]``, ``weight [P, Cout, Cin, k, k]``
    → ``[P, Cout, Ho, Wo]``.

    One grouped conv (``groups=P``) on channels-last memory: on CPU ~1.3× (3 input channels) to 2× (6) faster
    than unfolded patches × kernels as one ``bmm``, and ~2× faster than the same grouped conv on the default
    layout (measured at the CarRacing network's shapes, P=24); equal to ``F.conv2d`` per individual to float
    rounding (tested). The input is laid out ``[H, W, P, Cin]`` in one copy (none if it already is), and the
    output is returned as a strided view of the conv's channels-last result, not copied back to ``[P, Cout, H,
    W]`` order (that copy cost as much as the first conv itself)."""
    P, Cout, Cin, k, _ = weight.shape
    H, W = x.shape[2:]
    grouped = x.permute(2, 3, 0, 1).reshape(1, H, W, P * Cin).permute(0, 3, 1, 2)
    out = F.conv2d(grouped, weight.reshape(P * Cout, Cin, k, k), stride=stride, padding=padding, groups=P)
    return out[0].unflatten(0, (P, Cout))


def population_max_pool2d(x: Tensor, kernel_size: int) -> Tensor:
    """Max-pooling (stride = kernel) of ``[P, C, H, W]``; for ``k=2`` via strided maxima
    (~15× faster than ``F.max_pool2d`` on CPU, identical result)."""
    if kernel_size != 2:
        return F.max_pool2d(x, kernel_size)
    H, W = (x.shape[2] // 2) * 2, (x.shape[3] // 2) * 2
    x = x[:, :, :H, :W]
    rows = torch.maximum(x[:, :, 0::2], x[:, :, 1::2])
    return torch.maximum(rows[..., 0::2], rows[..., 1::2])


def population_tanh(z: Tensor, contiguous: bool = False) -> Tensor:
    """``tanh(z)``; on CPU as ``2·σ(2z) − 1``, within 2.4e-7 of ``torch.tanh`` (tested): torch's CPU tanh costs ~7× its
    sigmoid here, so the four passes are ~4× faster than it on the CarRacing network's first conv map. ``contiguous``:
    the result in ``[P, C, H, W]`` order whatever ``z``'s layout (a conv's map arrives laid out ``[H, W, P, C]``,
    :func:`population_conv2d`), the reordering done by the first of the four passes instead of a fifth."""
    if z.device.type != "cpu":
        return torch.tanh(z).contiguous() if contiguous else torch.tanh(z)
    out = torch.empty(z.shape, dtype=z.dtype, device=z.device) if contiguous else None
    return torch.mul(z, 2.0, out=out).sigmoid_().mul_(2.0).sub_(1.0)


def population_linear(x: Tensor, weight: Tensor) -> Tensor:
    """``x [P, n_in]``, ``weight [P, n_out, n_in]`` → ``[P, n_out]``.

    As row vectors times the transposed weights (``x Wᵀ``, the transpose a view): on CPU torch's batched
    matrix × column-vector product takes a slow path, 2–10× slower at the CarRacing network's 392 → 128 layer for
    P = 24…72 (``bench/unrolled.py``)."""
    return torch.bmm(x.unsqueeze(1), weight.transpose(1, 2)).squeeze(1)


class PopulationLayer(nn.Module):
    """A layer of ``P`` individuals' weights (``weight[P, ...]``) with a geometry and a plastic update."""

    geometry: ConvGeometry

    @property
    def population(self) -> int:
        return self.weight.shape[0]

    def set_population(self, population: int) -> None:
        if population != self.population:
            self.weight = self.weight.new_zeros(population, *self.weight.shape[1:])

    def activity_map(self, a: Tensor, pre: bool) -> Tensor:
        """Activity ``[P, ...]`` as the rule's ``[P, 1, C, H, W]`` map (rank 1: one sample per individual), in
        contiguous memory: a conv's activities arrive laid out ``[H, W, P, C]`` (:func:`population_conv2d`), the
        rule multiplies them by per-neuron parameters in ``[P, C, H, W]`` order, and the native loop reads them in
        that order (one copy here instead of mixed-layout products; a thesis step 20.3 → 20.1 ms, bench/README.md).
        A conv's recorded output arrives contiguous already (:func:`population_tanh`), its input does not."""
        g = self.geometry
        shape = (g.in_channels, g.in_height, g.in_width) if pre else (g.out_channels, g.out_height, g.out_width)
        return a.reshape(a.shape[0], 1, *shape).contiguous()

    def neuron_map(self, t: Tensor | None, pre: bool) -> Tensor | None:
        """Per-neuron tensor ``[P, ...]`` as a ``[P, C, H, W]`` map."""
        return None if t is None else self.activity_map(t, pre)[:, 0]

    def delta(self, rule: PlasticityRule, x: Tensor, y: Tensor, state: Any, aggregation: str = "mean",
              mode: str = "delta", cache: dict | None = None, chunk_elements: int | None = None,
              apply: bool = False, compiled: bool = False, normalise: bool = False) -> Tensor:
        """The rule's update of this layer's weights, shaped like ``weight``; ``apply``: added to ``weight`` in
        place instead (a linear layer's low-rank update is then never formed), and ``weight`` returned;
        ``normalise`` (with ``apply``): the weights then divided by their max |w| per individual;
        ``compiled``: see :func:`~evohebb.plasticity.weight_sharing.reduce_copies`."""
        update = rule.copy_update(self.activity_map(x, True), self.activity_map(y, False), self.weight, state)
        kw = {} if chunk_elements is None else {"chunk_elements": chunk_elements}
        dw = reduce_copies(update, self.geometry, aggregation, mode, cache, add_to=self.weight if apply else None,
                           compiled=compiled, **kw)
        if apply and normalise:
            normalise_max_abs_(self.weight)
        return dw.view_as(self.weight)


class UnrolledConv2d(PopulationLayer):
    """A population of ``P`` unrolled conv layers without bias (weights shared per kernel entry).

    Neurons are input pixel×channel (``n_pre = Cin·H·W``) and output pixel×channel (``n_post = Cout·Ho·Wo``);
    kernel entry ``(co, ci, ky, kx)`` is realised by the copies that :meth:`copy_index` lists."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, in_size: tuple[int, int],
                 stride: int = 1, padding: int = 0, population: int = 1,
                 device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.geometry = ConvGeometry(in_channels, out_channels, kernel_size, stride, padding, in_size[0], in_size[1])
        if self.geometry.out_height < 1 or self.geometry.out_width < 1:
            raise ValueError(f"kernel {kernel_size} (stride {stride}, padding {padding}) does not fit input {in_size}")
        self.register_buffer("weight", torch.zeros(population, *self.geometry.weight_shape, device=device,
                                                   dtype=dtype))

    @property
    def in_shape(self) -> tuple[int, int, int]:
        g = self.geometry
        return (g.in_channels, g.in_height, g.in_width)

    @property
    def out_shape(self) -> tuple[int, int, int]:
        g = self.geometry
        return (g.out_channels, g.out_height, g.out_width)

    @property
    def n_pre(self) -> int:
        return self.in_shape[0] * self.in_shape[1] * self.in_shape[2]

    @property
    def n_post(self) -> int:
        return self.geometry.out_channels * self.geometry.n_positions

    @property
    def n_conv_parameters(self) -> int:
        """Weights of the conv (= number of kernel entries)."""
        return self.geometry.out_channels * self.geometry.entry_size

    @property
    def n_edges(self) -> int:
        """Synapses of the unrolled layer (one unshared weight each)."""
        g = self.geometry
        valid = copy_valid_mask(g)
        per_entry_total = g.kernel_size**2 * g.n_positions if valid is None else int(valid.sum())
        return g.out_channels * g.in_channels * per_entry_total

    def parameter_counts(self) -> dict[str, int]:
        return {"conv": self.n_conv_parameters, "unrolled": self.n_edges, "dense": self.n_pre * self.n_post}

    def copy_index(self) -> tuple[Tensor, Tensor, Tensor]:
        """Every edge as ``(entry, pre, post)`` int64 tensors ``[E]`` (see :func:`conv_geometry.copy_index`)."""
        return copy_index(self.geometry)

    def copies(self, co: int, ci: int, ky: int, kx: int) -> Tensor:
        """``[n, 2]`` (pre, post) pairs realising one kernel entry."""
        k = self.geometry.kernel_size
        entry, pre, post = self.copy_index()
        sel = entry == ((co * self.geometry.in_channels + ci) * k + ky) * k + kx
        return torch.stack([pre[sel], post[sel]], dim=1)

    def to_dense(self, weight: Tensor | None = None) -> Tensor:
        """Dense ``[P, n_post, n_pre]`` matrix of the unrolled layer (small layers only)."""
        w = self.weight if weight is None else weight
        single = w.dim() == 4
        dense = dense_matrix(self.geometry, w.unsqueeze(0) if single else w)
        return dense[0] if single else dense

    def forward(self, x: Tensor) -> Tensor:
        """``[P, Cin, H, W]`` → pre-activation ``[P, Cout, Ho, Wo]``."""
        g = self.geometry
        return population_conv2d(x, self.weight, g.stride, g.padding)

    def extra_repr(self) -> str:
        g = self.geometry
        return (f"{g.in_channels}->{g.out_channels}, k={g.kernel_size}, stride={g.stride}, padding={g.padding}, "
                f"in={g.in_height}x{g.in_width}, P={self.population}")


class PopulationLinear(PopulationLayer):
    """A population of ``P`` fully connected layers without bias: ``weight [P, n_out, n_in]``."""

    def __init__(self, in_features: int, out_features: int, population: int = 1,
                 device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.geometry = linear_geometry(in_features, out_features)
        self.register_buffer("weight", torch.zeros(population, out_features, in_features, device=device,
                                                   dtype=dtype))

    def forward(self, x: Tensor) -> Tensor:
        """``[P, n_in]`` → ``[P, n_out]``."""
        return population_linear(x, self.weight)

    def delta(self, rule: PlasticityRule, x: Tensor, y: Tensor, state: Any, aggregation: str = "mean",
              mode: str = "delta", cache: dict | None = None, chunk_elements: int | None = None,
              apply: bool = False, compiled: bool = False, normalise: bool = False) -> Tensor:
        """As :meth:`PopulationLayer.delta`; where the rule has a fast path for linear layers (low-rank factors or
        per-synapse coefficients, :class:`~evohebb.plasticity.rule.HebbianRule`) the update comes from it (one copy
        per synapse: the aggregation and mode do not apply), applied with the normalisation in one native loop
        where ``compiled`` (:mod:`~evohebb.plasticity.linear_update`)."""
        P = self.population
        x, y = x.reshape(P, -1), y.reshape(P, -1)
        low_rank = getattr(rule, "linear_factors", None)
        factors = None if low_rank is None else low_rank(x, y, state, cache)
        if factors is not None:
            return apply_low_rank_(self.weight, *factors, normalise, compiled) if apply else torch.bmm(*factors)
        per_synapse = getattr(rule, "synapse_coefficients", None)
        coefficients = None if per_synapse is None else per_synapse(state, tuple(self.weight.shape), cache)
        if coefficients is not None:
            return (apply_synapse_(self.weight, coefficients, x, y, normalise, compiled) if apply
                    else synapse_delta(coefficients, x, y))
        return super().delta(rule, x, y, state, aggregation, mode, cache, chunk_elements, apply, compiled, normalise)

    def extra_repr(self) -> str:
        return f"{self.geometry.in_channels}->{self.geometry.out_channels}, P={self.population}"
