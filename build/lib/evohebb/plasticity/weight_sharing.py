"""The weight-sharing engine: any rule's per-copy update → the update of a layer's (shared) weights.

A rule returns its per-copy update in factored form (:class:`~evohebb.plasticity.rule.CopyUpdate`); this
module reduces it over the copies of every kernel entry:

* ``aggregation="sum"`` — a conv-native layer: the update is the sum over positions (the conv's gradient
  shape; for SoftHebb exactly ``torch.nn.grad.conv2d_weight``);
* ``"max"``, ``"min"``, ``"median"`` (lower median, as ``torch.median``) or ``"mean"`` — an unrolled conv
  layer whose copies are re-shared after each step (seed 002). Because all copies hold the same weight before
  the step, aggregating ``w + Δw_copy`` equals ``w + agg(Δw_copy)``, so the result is the shared ``Δw``;
* a linear layer has one copy per synapse (``L = 1``): every aggregation returns the update itself; when its
  terms are outer products with scalar coefficients (neuron-centric ABCD) it is one low-rank batched matmul,
  added to the weights in place when the caller asks (``add_to``).

Two modes (``mode=``):

* ``"delta"`` — the per-copy ``Δw`` is formed in full and aggregated, ``Δw_e = agg(Δw_copy)``;
* ``"terms"`` (the thesis's neuron-centric ABCD) — every term and the rate are aggregated separately, then
  combined: ``Δw_e = agg(rate) · Σ_t agg(term_t)``. Activity-free terms and the rate are cached per genome.

``sum`` and ``mean`` are linear, so they are computed in closed form (``einsum`` over unfolded patches, or
``conv2d_weight``); ``max``/``min``/``median`` build the per-copy tensor ``[p, c, K, L]`` in chunks of
``chunk_elements`` (a presynaptic-only term's max/min instead reduces the strided sub-grid of the input that each
kernel entry reads, nothing unfolded; with ``compiled``, both run in the native kernel of
:mod:`~evohebb.plasticity.native_copies`). In an unrolled conv the copies that would read zero padding do not exist
and are masked out (:func:`~evohebb.plasticity.conv_geometry.copy_valid_mask`); a conv-native layer applies every
entry at every position (zero padding reads zeros). No loop over neurons, synapses or positions.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
import torch.nn.grad
from torch import Tensor

from evohebb.plasticity import native_copies
from evohebb.plasticity.compiled_copies import outer_aggregate
from evohebb.plasticity.conv_geometry import ConvGeometry, copy_valid_mask, unfold_patches
from evohebb.plasticity.rule import SHARING_MODES, CopyUpdate, NeuronRate, Term

__all__ = ["AGGREGATIONS", "CONV_NATIVE", "SHARING_MODES", "aggregate_copies", "reduce_copies"]

AGGREGATIONS = ("max", "min", "median", "mean")
CONV_NATIVE = "sum"
_LINEAR = ("sum", "mean")

#: elements of one ``[p, c, K, L]`` chunk (float32: 4 bytes each)
DEFAULT_CHUNK_ELEMENTS = 1 << 20


def aggregate_copies(values: Tensor, aggregation: str, valid: Tensor | None = None, dim: int = -1) -> Tensor:
    """Aggregate ``values`` over the copies along ``dim``; ``valid`` (broadcastable bool) marks the copies that
    exist. Median is the lower median (``torch.median``)."""
    if valid is None:
        if aggregation == "max":
            return values.amax(dim)
        if aggregation == "min":
            return values.amin(dim)
        if aggregation == "mean":
            return values.mean(dim)
        if aggregation == "sum":
            return values.sum(dim)
        if aggregation == "median":
            return values.median(dim).values
        raise _unknown(aggregation)
    if aggregation == "max":
        return values.masked_fill(~valid, float("-inf")).amax(dim)
    if aggregation == "min":
        return values.masked_fill(~valid, float("inf")).amin(dim)
    if aggregation in _LINEAR:
        v = values.masked_fill(~valid, 0.0).sum(dim)
        return v if aggregation == "sum" else v / valid.expand(values.shape).sum(dim).clamp_min(1)
    if aggregation == "median":
        return values.masked_fill(~valid, float("nan")).nanmedian(dim).values
    raise _unknown(aggregation)


def _unknown(aggregation: str) -> ValueError:
    return ValueError(f"aggregation {aggregation!r} is not supported; use one of {(*AGGREGATIONS, CONV_NATIVE)}")


@functools.lru_cache(maxsize=64)
def _copy_masks(geom: ConvGeometry, device: torch.device, masked: bool) -> tuple[Tensor | None, Tensor]:
    """``[K, L]`` existing copies (None: all) and ``[K]`` copies per kernel entry; fixed per geometry."""
    valid = copy_valid_mask(geom, device) if masked else None
    valid = None if valid is None else valid.repeat(geom.in_channels, 1)
    count = (torch.full((geom.entry_size,), float(geom.n_positions), device=device) if valid is None
             else valid.sum(-1).float())
    return valid, count


class _Copies:
    """The copies of one layer: geometry, masks and the unfolded / flattened factors of an update."""

    def __init__(self, geom: ConvGeometry, population: int, device: torch.device, masked: bool):
        self.geom, self.P = geom, population
        self.L, self.K, self.C = geom.n_positions, geom.entry_size, geom.out_channels
        self.valid, self.count = _copy_masks(geom, device, masked)   # [K, L] (or None), [K]

    def pre(self, t: Tensor | None) -> Tensor | None:
        """``[P, R, Cin, H, W]`` → ``[P, R, K, L]`` (zero padding)."""
        if t is None:
            return None
        P, R = t.shape[:2]
        if self.L == 1 and self.geom.kernel_size == 1:      # a linear layer: nothing to unfold
            return t.reshape(P, R, self.K, 1)
        return unfold_patches(t.reshape(P * R, *t.shape[2:]), self.geom).view(P, R, self.K, self.L)

    @property
    def separable(self) -> bool:
        """An unrolled conv: a kernel entry's copies read a strided sub-grid of the input (see window_extreme)."""
        return self.L > 1 and self.geom.unrollable

    def window_extreme(self, t: Tensor, aggregation: str) -> Tensor:
        """``max``/``min`` over every kernel entry's copies of a presynaptic value ``t`` ``[P, Cin, H, W]`` →
        ``[P, K]``, without unfolding: entry ``(ci, ky, kx)`` reads the sub-grid ``t[ci, ky::s, kx::s]`` (Ho × Wo
        pixels), so the extreme is taken over columns for each ``kx``, then over rows for each ``ky`` (2k strided
        reductions instead of a ``[P, K, L]`` copy; padding, filled with ∓inf, never wins)."""
        g, reduce = self.geom, (torch.amax if aggregation == "max" else torch.amin)
        k, s, p = g.kernel_size, g.stride, g.padding
        if p:
            t = F.pad(t, (p, p, p, p), value=float("-inf") if aggregation == "max" else float("inf"))
        span_w, span_h = s * (g.out_width - 1) + 1, s * (g.out_height - 1) + 1
        cols = torch.stack([reduce(t[..., kx:kx + span_w:s], -1) for kx in range(k)], -1)        # [P, C, Hp, k]
        grid = torch.stack([reduce(cols[:, :, ky:ky + span_h:s], 2) for ky in range(k)], 2)      # [P, C, k, k]
        return grid.reshape(grid.shape[0], self.K)

    def post(self, t: Tensor | None) -> Tensor | None:
        """``[P, R, Cout, Ho, Wo]`` → ``[P, R, Cout, L]``."""
        return None if t is None else t.reshape(t.shape[0], t.shape[1], self.C, self.L)


# ---- public entry ------------------------------------------------------------------------------------
def reduce_copies(update: CopyUpdate, geom: ConvGeometry, aggregation: str = CONV_NATIVE, mode: str = "delta",
                  cache: dict | None = None, chunk_elements: int = DEFAULT_CHUNK_ELEMENTS,
                  add_to: Tensor | None = None, compiled: bool = False) -> Tensor:
    """The layer update ``[P, Cout, Cin/groups, k, k]`` of a rule's per-copy ``update`` (see the module doc).

    ``cache``: a dict kept by the caller per genome (cleared when the rule's parameters change); ``terms`` mode
    stores the aggregates of constant terms and of the rate in it. ``add_to`` (the layer's weights, contiguous):
    the update is added to it in place and it is returned; a low-rank update then never exists as a tensor.
    ``compiled``: ``terms`` mode forms a product term's max/min in one native loop
    (:mod:`~evohebb.plasticity.native_copies`; no zero padding) or one compiled loop
    (:mod:`~evohebb.plasticity.compiled_copies`) where this process can build them."""
    first = next(_tensors(update), None)
    if first is None:
        raise ValueError("a CopyUpdate needs at least one tensor")
    P, device = first.shape[0], first.device
    if not geom.unrollable and (aggregation != CONV_NATIVE or P > 1):
        raise ValueError(f"a conv with groups={geom.groups}, dilation={geom.dilation} supports only the conv-native "
                         f"{CONV_NATIVE!r} of one individual; got aggregation {aggregation!r} with P={P}")
    # conv-native: the conv applies every kernel entry at every position, zero padding reading zeros
    copies = _Copies(geom, P, device, masked=aggregation != CONV_NATIVE)
    single_copy = copies.L == 1
    factors = _low_rank_factors(update, copies) if single_copy else None
    if factors is not None:
        if add_to is not None:
            return add_to.view(P, copies.C, copies.K).baddbmm_(*factors).view_as(add_to)
        out = torch.bmm(*factors)
    elif mode == "terms" or single_copy:
        if aggregation == CONV_NATIVE and not single_copy:
            raise ValueError("mode 'terms' aggregates each term over a kernel entry's copies: it needs one of "
                             f"{AGGREGATIONS}, not the conv-native {CONV_NATIVE!r}")
        out = _reduce_terms(update, copies, "mean" if single_copy else aggregation, cache, chunk_elements, compiled)
    elif aggregation in _LINEAR:
        out = _reduce_linear(update, copies, aggregation)
    else:
        out = _reduce_materialised(update, copies, aggregation, chunk_elements)
    if add_to is not None:
        return add_to.add_(out.reshape(add_to.shape))
    return out.reshape(P, *geom.weight_shape)


def _tensors(update: CopyUpdate):
    for term in update.terms:
        yield from (t for t in (term.pre, term.post, term.coef) if t is not None)
    if update.rate is not None:
        yield update.rate.pre
    if update.decay is not None:
        yield update.decay


# ---- sum / mean: closed form ---------------------------------------------------------------------------
def _sum_term(term: Term, copies: _Copies) -> Tensor:
    """``Σ_copies`` of one term → broadcastable to ``[P, Cout, K]``."""
    g = copies.geom
    if term.pre is not None and term.post is not None and term.pre.shape[0] == 1 and copies.L > 1 \
            and (term.pre.shape[1] > 1 or not g.unrollable):
        # one individual, a batch of samples: the conv's weight gradient (handles groups and dilation; zero
        # padding adds nothing)
        pre, post = term.pre[0], term.post[0]
        out = torch.nn.grad.conv2d_weight(pre, g.weight_shape, post, stride=g.stride, padding=g.padding,
                                          dilation=g.dilation, groups=g.groups).reshape(1, copies.C, copies.K)
    else:
        u, v = copies.pre(term.pre), copies.post(term.post)
        if u is not None and copies.valid is not None:
            u = u.masked_fill(~copies.valid, 0.0)
        if u is not None and v is not None:
            out = _contract(u, v)
        elif u is not None:
            out = u.sum((1, 3)).unsqueeze(1)
        elif v is not None:
            vs = _sum_samples(v)
            out = (vs.sum(-1, keepdim=True) if copies.valid is None
                   else torch.einsum("pcl,kl->pck", vs, copies.valid.to(vs.dtype)))
        else:
            out = copies.count.view(1, 1, -1)
    return out if term.coef is None else out * term.coef


def _sum_samples(t: Tensor) -> Tensor:
    """``Σ_r t[:, r]``: a view when there is one sample (a copy of the whole unfolded tensor otherwise)."""
    return t[:, 0] if t.shape[1] == 1 else t.sum(1)


def _contract(u: Tensor, v: Tensor) -> Tensor:
    """``Σ_{r, l} u[p, r, k, l] · v[p, r, c, l]`` → ``[P, Cout, K]`` as one batched matmul."""
    P, R, K, L = u.shape
    if R == 1:
        return torch.bmm(v[:, 0], u[:, 0].transpose(1, 2))
    return torch.bmm(v.transpose(1, 2).reshape(P, v.shape[2], R * L), u.transpose(1, 2).reshape(P, K, R * L)
                     .transpose(1, 2))


def _rate_folded(update: CopyUpdate) -> list[Term]:
    """``rate · Σ_t term_t`` as terms: ``(η_pre + η_post)/2 · f g = ½ (η_pre f) g + ½ f (η_post g)``."""
    if update.rate is None:
        return list(update.terms)
    pre_eta, post_eta = update.rate.pre.unsqueeze(1), update.rate.post.unsqueeze(1)
    out = []
    for t in update.terms:
        half = 0.5 if t.coef is None else 0.5 * t.coef
        out.append(Term(pre_eta if t.pre is None else t.pre * pre_eta, t.post, _as_coef(half)))
        out.append(Term(t.pre, post_eta if t.post is None else t.post * post_eta, _as_coef(half)))
    return out


def _low_rank_factors(update: CopyUpdate, copies: _Copies) -> tuple[Tensor, Tensor] | None:
    """A single-copy layer (a linear one) whose terms are outer products with scalar coefficients and no decay
    (neuron-centric ABCD): ``Δw = Σ_t coef_t Σ_r post_t[r] ⊗ pre_t[r]``, the rate folded in (:func:`_rate_folded`),
    is ``V @ U`` with ``V [P, Cout, Σ_t R_t]`` and ``U [P, Σ_t R_t, K]``: one batched matmul that writes the
    update once. None where it does not apply."""
    if update.decay is not None or any(t.coef is not None and t.coef.dim() for t in update.terms):
        return None
    first = next(_tensors(update))
    P, C, K = copies.P, copies.C, copies.K
    posts, pres = [], []
    for term in _rate_folded(update):
        u, v = copies.pre(term.pre), copies.post(term.post)              # [P, R, K, 1], [P, R, C, 1]
        R = max(t.shape[1] for t in (u, v) if t is not None) if u is not None or v is not None else 1
        u = first.new_ones(1, 1, 1).expand(P, R, K) if u is None else u[..., 0].expand(P, R, K)
        v = first.new_ones(1, 1, 1).expand(P, R, C) if v is None else v[..., 0].expand(P, R, C)
        if term.coef is not None:
            v = v * term.coef
        posts.append(v)
        pres.append(u)
    return torch.cat(posts, 1).transpose(1, 2), torch.cat(pres, 1)


def _as_coef(value) -> Tensor | None:
    return value if isinstance(value, Tensor) else torch.tensor(float(value))


def _sum_decay(update: CopyUpdate, copies: _Copies) -> Tensor:
    """``Σ_copies decay[c, l] · w[c, k]`` → ``[P, Cout, K]``."""
    d = update.decay.reshape(update.decay.shape[0], copies.C, copies.L)
    d = (d.sum(-1, keepdim=True) if copies.valid is None
         else torch.einsum("pcl,kl->pck", d, copies.valid.to(d.dtype)))
    return d * update.weight.reshape(update.weight.shape[0], copies.C, copies.K)


def _reduce_linear(update: CopyUpdate, copies: _Copies, aggregation: str) -> Tensor:
    out = 0
    for term in _rate_folded(update):
        out = out + _sum_term(term, copies)
    if update.decay is not None:
        out = out - _sum_decay(update, copies)
    out = torch.as_tensor(out).expand(copies.P, copies.C, copies.K)
    return out / copies.count if aggregation == "mean" else out


# ---- max / min / median: the per-copy tensor in chunks ------------------------------------------------------
def _chunks(copies: _Copies, chunk_elements: int):
    """``(population slice, channel slice)`` blocks whose ``[p, c, K, L]`` tensor fits ``chunk_elements``."""
    per_channel = copies.K * copies.L
    channels = max(1, min(copies.C, chunk_elements // max(1, per_channel)))
    individuals = max(1, chunk_elements // max(1, channels * per_channel)) if channels == copies.C else 1
    for p0 in range(0, copies.P, individuals):
        for c0 in range(0, copies.C, channels):
            yield slice(p0, p0 + individuals), slice(c0, c0 + channels)


def _term_block(term: Term, u: Tensor | None, v: Tensor | None, ps: slice, cs: slice, copies: _Copies) -> Tensor:
    """Per-copy values of one term on a block: ``[p, c, K, L]`` (broadcastable)."""
    if u is not None and v is not None:
        block = (u[ps, 0].unsqueeze(1) * v[ps, 0, cs].unsqueeze(2) if u.shape[1] == 1
                 else torch.einsum("prkl,prcl->pckl", u[ps], v[ps, :, cs]))
    elif u is not None:
        block = _sum_samples(u[ps]).unsqueeze(1)
    elif v is not None:
        block = _sum_samples(v[ps, :, cs]).unsqueeze(2)
    else:
        block = torch.ones(1, 1, 1, 1, device=copies.count.device)
    if term.coef is not None:
        coef = term.coef if term.coef.dim() == 0 else term.coef.expand(copies.P, copies.C, copies.K)[ps, cs]
        block = block * (coef.unsqueeze(-1) if coef.dim() else coef)
    return block


def _rate_block(rate: NeuronRate, eta_u: Tensor, eta_v: Tensor, ps: slice, cs: slice) -> Tensor:
    return (eta_u[ps].unsqueeze(1) + eta_v[ps, cs].unsqueeze(2)).mul_(0.5)


def _reduce_materialised(update: CopyUpdate, copies: _Copies, aggregation: str, chunk_elements: int) -> Tensor:
    factors = [(t, copies.pre(t.pre), copies.post(t.post)) for t in update.terms]
    eta_u = eta_v = None
    if update.rate is not None:
        eta_u = copies.pre(update.rate.pre.unsqueeze(1))[:, 0]
        eta_v = copies.post(update.rate.post.unsqueeze(1))[:, 0]
    decay = None if update.decay is None else copies.post(update.decay.unsqueeze(1))[:, 0]
    weight = None if update.weight is None else update.weight.reshape(-1, copies.C, copies.K)
    out = torch.empty(copies.P, copies.C, copies.K, device=copies.count.device,
                      dtype=next(iter(_tensors(update))).dtype)
    for ps, cs in _chunks(copies, chunk_elements):
        block = 0
        for term, u, v in factors:
            block = block + _term_block(term, u, v, ps, cs, copies)
        if eta_u is not None:
            block = block * _rate_block(update.rate, eta_u, eta_v, ps, cs)
        if decay is not None:
            block = block - decay[ps, cs].unsqueeze(2) * weight[ps, cs].unsqueeze(-1)
        p = len(range(*ps.indices(copies.P)))
        c = len(range(*cs.indices(copies.C)))
        block = torch.as_tensor(block).expand(p, c, copies.K, copies.L)
        out[ps, cs] = aggregate_copies(block, aggregation, copies.valid)
    return out


# ---- terms mode: aggregate every term and the rate separately ----------------------------------------------
def _aggregate_term(term: Term, copies: _Copies, aggregation: str, chunk_elements: int,
                    compiled: bool = False) -> Tensor:
    """``agg_copies(term)`` → broadcastable to ``[P, Cout, K]``."""
    if aggregation in _LINEAR:
        s = _sum_term(term, copies)
        return s / copies.count if aggregation == "mean" else s
    if aggregation in ("max", "min") and copies.separable and term.coef is None and term.pre is not None:
        if compiled and (term.post is None or term.pre.shape[1] == term.post.shape[1] == 1):
            # the native kernel: a product term, or a presynaptic-only one (its product with ones)
            post = None if term.post is None else copies.post(term.post)[:, 0]
            out = native_copies.product_extreme(_sum_samples(term.pre), post, copies.geom, aggregation)
            if out is not None:
                return out
        if term.post is None:
            return copies.window_extreme(_sum_samples(term.pre), aggregation).unsqueeze(1)
    u, v = copies.pre(term.pre), copies.post(term.post)
    if compiled and term.coef is None and u is not None and v is not None and u.shape[1] == v.shape[1] == 1:
        out = outer_aggregate(u[:, 0], v[:, 0], aggregation, copies.valid, aggregate_copies)
        if out is not None:
            return out
    if term.coef is None and v is None and u is not None:       # pre-only: no channel axis to build
        return aggregate_copies(_sum_samples(u), aggregation, copies.valid).unsqueeze(1)
    if term.coef is None and u is None and v is not None:       # post-only: per kernel offset, then tiled
        vs = _sum_samples(v)
        if copies.valid is None:
            return aggregate_copies(vs, aggregation).unsqueeze(-1)
        k2 = copies.geom.kernel_size ** 2
        per_offset = aggregate_copies(vs.unsqueeze(2), aggregation, copies.valid[:k2])   # [P, C, k²]
        return per_offset.repeat(1, 1, copies.geom.in_channels)
    dtype = next(t for t in (u, v, term.coef) if t is not None).dtype
    out = torch.empty(copies.P, copies.C, copies.K, device=copies.count.device, dtype=dtype)
    for ps, cs in _chunks(copies, chunk_elements):
        block = _term_block(term, u, v, ps, cs, copies)
        p, c = len(range(*ps.indices(copies.P))), len(range(*cs.indices(copies.C)))
        out[ps, cs] = aggregate_copies(block.expand(p, c, copies.K, copies.L), aggregation, copies.valid)
    return out


def _aggregate_rate(rate: NeuronRate, copies: _Copies, aggregation: str, chunk_elements: int) -> Tensor:
    if aggregation in _LINEAR:
        pre = _aggregate_term(Term(pre=rate.pre.unsqueeze(1)), copies, aggregation, chunk_elements)
        post = _aggregate_term(Term(post=rate.post.unsqueeze(1)), copies, aggregation, chunk_elements)
        return (pre + post) * 0.5
    eta_u = copies.pre(rate.pre.unsqueeze(1))[:, 0]
    eta_v = copies.post(rate.post.unsqueeze(1))[:, 0]
    out = torch.empty(copies.P, copies.C, copies.K, device=copies.count.device, dtype=rate.pre.dtype)
    for ps, cs in _chunks(copies, chunk_elements):
        out[ps, cs] = aggregate_copies(_rate_block(rate, eta_u, eta_v, ps, cs), aggregation, copies.valid)
    return out


def _reduce_terms(update: CopyUpdate, copies: _Copies, aggregation: str, cache: dict | None,
                  chunk_elements: int, compiled: bool = False) -> Tensor:
    if update.decay is not None and copies.L > 1:
        raise ValueError("mode 'terms' is defined for rules without a weight-decay term; use mode 'delta'")

    def cached(key: str, compute):
        if cache is None:
            return compute()
        if key not in cache:
            cache[key] = compute()
        return cache[key]

    total = 0
    for i, term in enumerate(update.terms):
        def compute(term=term):
            return _aggregate_term(term, copies, aggregation, chunk_elements, compiled)
        total = total + (cached(f"term{i}:{term.name}", compute) if term.constant else compute())
    if update.rate is not None:
        total = total * cached("rate", lambda: _aggregate_rate(update.rate, copies, aggregation, chunk_elements))
    out = torch.as_tensor(total).expand(copies.P, copies.C, copies.K)
    if update.decay is not None:       # one copy per synapse
        out = out - _sum_decay(update, copies)
    return out

