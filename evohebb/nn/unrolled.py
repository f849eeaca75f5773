"""Unrolled convolution: a conv layer as its exact linear equivalent.

Neurons are input pixel×channel (``n_pre = Cin·H·W``, index ``ci·H·W + y·W + x``)
and output pixel×channel (``n_post = Cout·Ho·Wo``, index ``co·Ho·Wo + l``).
An edge connects input neuron ``(ci, oy·s+ky−p, ox·s+kx−p)`` to output neuron
``(co, oy, ox)`` for every kernel entry ``(co, ci, ky, kx)`` whose input pixel is
inside the image; the entry is realised by that set of ``(pre, post)`` copies.

The hot path never builds the dense ``n_post × n_pre`` matrix: weights are kept
as shared kernels ``[P, Cout, Cin, k, k]`` (a population of ``P`` layers) and the
forward is a grouped conv. :meth:`UnrolledConv2d.to_dense` and
:meth:`UnrolledConv2d.copy_index` are the exact references used as test oracles.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from evohebb.plasticity.weight_sharing import ConvGeometry, copy_valid_mask, unfold_patches

__all__ = ["UnrolledConv2d", "population_conv2d", "population_linear", "population_max_pool2d"]


def population_conv2d(x: Tensor, weight: Tensor, stride: int = 1, padding: int = 0) -> Tensor:
    """``P`` independent convs in one call: ``x [P, Cin, H, W]``, ``weight [P, Cout, Cin, k, k]``
    → ``[P, Cout, Ho, Wo]``.

    Computed as unfolded patches × kernels (one ``bmm``); on CPU this is ~2.5× faster
    than the equivalent grouped conv (``groups=P``), and exact (tested against ``F.conv2d``)."""
    P, Cout, Cin, k, _ = weight.shape
    geom = ConvGeometry(Cin, Cout, k, stride, padding, x.shape[2], x.shape[3])
    cols = unfold_patches(x, geom)  # [P, Cin*k*k, L]
    out = torch.bmm(weight.reshape(P, Cout, -1), cols)
    return out.view(P, Cout, geom.out_height, geom.out_width)


def population_max_pool2d(x: Tensor, kernel_size: int) -> Tensor:
    """Max-pooling (stride = kernel) of ``[P, C, H, W]``; for ``k=2`` via strided maxima
    (~15× faster than ``F.max_pool2d`` on CPU, identical result)."""
    if kernel_size != 2:
        return F.max_pool2d(x, kernel_size)
    H, W = (x.shape[2] // 2) * 2, (x.shape[3] // 2) * 2
    x = x[:, :, :H, :W]
    rows = torch.maximum(x[:, :, 0::2], x[:, :, 1::2])
    return torch.maximum(rows[..., 0::2], rows[..., 1::2])


def population_linear(x: Tensor, weight: Tensor) -> Tensor:
    """``x [P, n_in]``, ``weight [P, n_out, n_in]`` → ``[P, n_out]``."""
    return torch.bmm(weight, x.unsqueeze(-1)).squeeze(-1)


class UnrolledConv2d(nn.Module):
    """A population of ``P`` unrolled conv layers without bias (weights shared per kernel entry)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        in_size: tuple[int, int],
        stride: int = 1,
        padding: int = 0,
        population: int = 1,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        self.geometry = ConvGeometry(
            in_channels, out_channels, kernel_size, stride, padding, in_size[0], in_size[1]
        )
        if self.geometry.out_height < 1 or self.geometry.out_width < 1:
            raise ValueError(
                f"kernel {kernel_size} (stride {stride}, padding {padding}) does not fit input {in_size}"
            )
        self.register_buffer(
            "weight",
            torch.zeros(
                population, out_channels, in_channels, kernel_size, kernel_size, device=device, dtype=dtype
            ),
        )

    # ---- shapes and counts -------------------------------------------------
    @property
    def population(self) -> int:
        return self.weight.shape[0]

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
        g = self.geometry
        return g.in_channels * g.in_height * g.in_width

    @property
    def n_post(self) -> int:
        g = self.geometry
        return g.out_channels * g.n_positions

    @property
    def n_conv_parameters(self) -> int:
        """Weights of the conv (= number of kernel entries)."""
        g = self.geometry
        return g.out_channels * g.in_channels * g.kernel_size**2

    @property
    def n_edges(self) -> int:
        """Synapses of the unrolled layer (one unshared weight each)."""
        g = self.geometry
        valid = copy_valid_mask(g)
        per_entry_total = g.kernel_size**2 * g.n_positions if valid is None else int(valid.sum())
        return g.out_channels * g.in_channels * per_entry_total

    def parameter_counts(self) -> dict[str, int]:
        return {"conv": self.n_conv_parameters, "unrolled": self.n_edges, "dense": self.n_pre * self.n_post}

    # ---- index maps ----------------------------------------------------------
    def copy_index(self) -> tuple[Tensor, Tensor, Tensor]:
        """Every edge as ``(entry, pre, post)`` int64 tensors ``[E]``.

        ``entry`` is the flat kernel index ``((co·Cin + ci)·k + ky)·k + kx``; the
        copies of one kernel entry are the edges with that ``entry``."""
        g = self.geometry
        k, s, p = g.kernel_size, g.stride, g.padding
        co, ci, ky, kx, oy, ox = torch.meshgrid(
            torch.arange(g.out_channels),
            torch.arange(g.in_channels),
            torch.arange(k),
            torch.arange(k),
            torch.arange(g.out_height),
            torch.arange(g.out_width),
            indexing="ij",
        )
        iy, ix = oy * s + ky - p, ox * s + kx - p
        ok = (iy >= 0) & (iy < g.in_height) & (ix >= 0) & (ix < g.in_width)
        entry = ((co * g.in_channels + ci) * k + ky) * k + kx
        pre = (ci * g.in_height + iy) * g.in_width + ix
        post = (co * g.out_height + oy) * g.out_width + ox
        return entry[ok], pre[ok], post[ok]

    def copies(self, co: int, ci: int, ky: int, kx: int) -> Tensor:
        """``[n, 2]`` (pre, post) pairs realising one kernel entry."""
        k = self.geometry.kernel_size
        entry, pre, post = self.copy_index()
        sel = entry == ((co * self.geometry.in_channels + ci) * k + ky) * k + kx
        return torch.stack([pre[sel], post[sel]], dim=1)

    def to_dense(self, weight: Tensor | None = None) -> Tensor:
        """Dense ``[P, n_post, n_pre]`` matrix of the unrolled layer (small layers only)."""
        w = self.weight if weight is None else weight
        squeeze = w.dim() == 4
        if squeeze:
            w = w.unsqueeze(0)
        entry, pre, post = self.copy_index()
        entry, pre, post = entry.to(w.device), pre.to(w.device), post.to(w.device)
        dense = w.new_zeros(w.shape[0], self.n_post, self.n_pre)
        dense[:, post, pre] = w.reshape(w.shape[0], -1)[:, entry]
        return dense[0] if squeeze else dense

    # ---- compute -------------------------------------------------------------
    def set_population(self, population: int) -> None:
        if population != self.population:
            self.weight = self.weight.new_zeros(population, *self.weight.shape[1:])

    def forward(self, x: Tensor) -> Tensor:
        """``[P, Cin, H, W]`` → pre-activation ``[P, Cout, Ho, Wo]``."""
        g = self.geometry
        return population_conv2d(x, self.weight, g.stride, g.padding)

    def extra_repr(self) -> str:
        g = self.geometry
        return (
            f"{g.in_channels}->{g.out_channels}, k={g.kernel_size}, stride={g.stride}, padding={g.padding}, "
            f"in={g.in_height}x{g.in_width}, P={self.population}"
        )
