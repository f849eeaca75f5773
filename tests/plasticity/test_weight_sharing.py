"""The fast shared update (unfold + broadcast) equals a dense oracle for every aggregation."""

import shutil

import pytest
import torch

from evohebb.nn.unrolled import UnrolledConv2d
from evohebb.plasticity import compiled_copies
from evohebb.plasticity.abcd import NeuronCentricABCD, NeuronParams, neuron_centric_abcd
from evohebb.plasticity.conv_geometry import ConvGeometry
from evohebb.plasticity.weight_sharing import AGGREGATIONS, aggregate_copies, reduce_copies

SHAPES = [  # (Cin, Cout, k, stride, padding, H, W)
    (2, 3, 3, 1, 0, 6, 6),
    (2, 2, 3, 1, 1, 5, 6),
    (3, 2, 3, 2, 1, 7, 7),
    (1, 2, 4, 2, 0, 9, 8),
]


def shared_abcd(x, y, pre, post, geom, aggregation, mode="terms", cache=None, chunk_elements=1 << 20):
    """The neuron-centric rule on an unrolled conv through the sharing engine."""
    update = NeuronCentricABCD().copy_update(x.unsqueeze(1), y.unsqueeze(1), None, (pre, post))
    return reduce_copies(update, geom, aggregation, mode, cache, chunk_elements)


def _params(shape, g, P):
    def r(*s):
        return torch.randn(P, *s, generator=g)

    return NeuronParams(r(*shape), r(*shape), r(*shape), r(*shape), r(*shape).abs())


def _reduce(vals, aggregation):
    if aggregation == "median":
        return vals.median()
    return getattr(vals, {"max": "max", "min": "min", "mean": "mean"}[aggregation])()


def dense_oracle(x, y, pre, post, layer, aggregation, mode):
    """Dense per-synapse matrices masked by the adjacency, aggregated per kernel entry."""
    P = x.shape[0]
    entry, pre_i, post_j = layer.copy_index()
    fx, fy = x.reshape(P, -1), y.reshape(P, -1)
    fp = NeuronParams(*(t.reshape(P, -1) for t in pre))
    fq = NeuronParams(*(t.reshape(P, -1) for t in post))
    out = torch.zeros(P, layer.n_conv_parameters)
    if mode == "delta":
        dense = {"dw": neuron_centric_abcd(fx, fy, fp, fq)}  # [P, n_post, n_pre], the dense rule
    else:
        xi, yj = fx[:, None, :], fy[:, :, None]
        dense = {
            "eta": (fp.eta[:, None, :] + fq.eta[:, :, None]) / 2,
            "a": (fp.A * fx)[:, None, :].expand(-1, fy.shape[1], -1),
            "b": (fq.B * fy)[:, :, None].expand(-1, -1, fx.shape[1]),
            "c": fp.C[:, None, :] * fq.C[:, :, None] * xi * yj,
            "d": fp.D[:, None, :] * fq.D[:, :, None],
        }
    for q in range(P):
        for e in range(layer.n_conv_parameters):
            sel = entry == e
            agg = {k: _reduce(m[q][post_j[sel], pre_i[sel]], aggregation) for k, m in dense.items()}
            out[q, e] = (
                agg["dw"] if mode == "delta" else agg["eta"] * (agg["a"] + agg["b"] + agg["c"] + agg["d"])
            )
    return out.view_as(layer.weight)


@pytest.mark.parametrize("aggregation", AGGREGATIONS)
@pytest.mark.parametrize("mode", ["terms", "delta"])
@pytest.mark.parametrize("shape", SHAPES)
def test_fast_shared_update_equals_dense_oracle(shape, mode, aggregation):
    cin, cout, k, s, p, H, W = shape
    P = 2
    g = torch.Generator().manual_seed(SHAPES.index(shape) * 100 + 10 * AGGREGATIONS.index(aggregation)
                                      + ("terms", "delta").index(mode))
    layer = UnrolledConv2d(cin, cout, k, (H, W), stride=s, padding=p, population=P)
    geom = layer.geometry
    x = torch.randn(P, cin, H, W, generator=g)
    y = torch.tanh(torch.randn(P, *layer.out_shape, generator=g))
    pre, post = _params((cin, H, W), g, P), _params(layer.out_shape, g, P)
    fast = shared_abcd(x, y, pre, post, geom, aggregation, mode, chunk_elements=64)
    ref = dense_oracle(x, y, pre, post, layer, aggregation, mode)
    torch.testing.assert_close(fast, ref, rtol=1e-5, atol=1e-5)
    if mode == "terms":  # cached constant aggregates give the same result on the next step
        cache = {}
        shared_abcd(x, y, pre, post, geom, aggregation, mode, cache)
        assert set(cache) == {"term3:D", "rate"}
        again = shared_abcd(x, y, pre, post, geom, aggregation, mode, cache)
        torch.testing.assert_close(again, fast, rtol=1e-5, atol=1e-6)


def test_aggregate_copies_ignores_missing_copies():
    v = torch.tensor([[1.0, 5.0, -3.0, 2.0]])
    valid = torch.tensor([[True, False, True, True]])
    assert aggregate_copies(v, "max", valid).item() == 2.0
    assert aggregate_copies(v, "min", valid).item() == -3.0
    assert aggregate_copies(v, "mean", valid).item() == 0.0
    assert aggregate_copies(v, "median", valid).item() == 1.0
    assert aggregate_copies(v, "sum", valid).item() == 0.0      # the conv-native reduction
    with pytest.raises(ValueError, match="aggregation 'average' is not supported"):
        aggregate_copies(v, "average")


def test_thesis_first_layer_shapes():
    geom = ConvGeometry(3, 6, 3, 1, 0, 64, 64)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 64, 64, generator=g)
    y = torch.rand(2, 6, 62, 62, generator=g)
    dw = shared_abcd(x, y, _params((3, 64, 64), g, 2), _params((6, 62, 62), g, 2), geom, "max")
    assert dw.shape == (2, 6, 3, 3, 3) and torch.isfinite(dw).all()


@pytest.mark.parametrize("samples", [1, 3])
def test_linear_low_rank_update_equals_per_synapse_sum_and_adds_in_place(samples):
    """A linear layer's neuron-centric update runs as one batched matmul of low rank (the rate folded into the
    terms): it equals the per-synapse formula, its activity terms summed over the samples and the constant D term
    counted once (a term sums over its own samples), and ``add_to`` adds exactly that in place."""
    g = torch.Generator().manual_seed(3)
    P, n_in, n_out = 4, 7, 5
    x, y = torch.randn(P, samples, n_in, generator=g), torch.randn(P, samples, n_out, generator=g)

    def params(n):
        return NeuronParams(*(torch.randn(P, n, generator=g) for _ in range(4)), torch.rand(P, n, generator=g))

    p, q = params(n_in), params(n_out)
    per_sample = (p.A[:, None, None, :] * x[:, :, None, :] + q.B[:, None, :, None] * y[:, :, :, None]
                  + (p.C[:, None, None, :] * x[:, :, None, :]) * (q.C[:, None, :, None] * y[:, :, :, None]))
    expected = ((p.eta[:, None, :] + q.eta[:, :, None]) / 2) * (per_sample.sum(1) + p.D[:, None, :] * q.D[:, :, None])

    layer_state = (NeuronParams(*(t.reshape(P, n_in, 1, 1) for t in p)),
                   NeuronParams(*(t.reshape(P, n_out, 1, 1) for t in q)))
    update = NeuronCentricABCD().copy_update(x.reshape(P, samples, n_in, 1, 1), y.reshape(P, samples, n_out, 1, 1),
                                             None, layer_state)
    geom = ConvGeometry(n_in, n_out, 1, 1, 0, 1, 1)
    delta = reduce_copies(update, geom, "mean", "terms").reshape(P, n_out, n_in)
    torch.testing.assert_close(delta, expected, rtol=1e-5, atol=1e-5)
    weight = torch.randn(P, n_out, n_in, 1, 1, generator=g)
    before = weight.clone()
    out = reduce_copies(update, geom, "mean", "terms", add_to=weight)
    assert out.data_ptr() == weight.data_ptr()
    torch.testing.assert_close(weight - before, delta.reshape_as(weight), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("aggregation, padding", [("min", 0), ("max", 1)])
def test_compiled_copies_equal_the_eager_terms_update_bitwise(aggregation, padding):
    """``network.compile_copies``: the C term's max/min over the copies as one compiled loop gives the eager
    chunked values exactly (a product and a min/max round alike), with and without missing (padded) copies."""
    g = torch.Generator().manual_seed(5)
    P, cin, cout, k, H = 3, 2, 4, 3, 9
    geom = ConvGeometry(cin, cout, k, 1, padding, H, H)
    x = torch.randn(P, 1, cin, H, H, generator=g)
    y = torch.randn(P, 1, cout, geom.out_height, geom.out_width, generator=g)
    pre = NeuronParams(*(torch.randn(P, cin, H, H, generator=g) for _ in range(4)),
                       torch.rand(P, cin, H, H, generator=g))
    post = NeuronParams(*(torch.randn(P, cout, geom.out_height, geom.out_width, generator=g) for _ in range(4)),
                        torch.rand(P, cout, geom.out_height, geom.out_width, generator=g))
    update = NeuronCentricABCD().copy_update(x, y, None, (pre, post))
    eager = reduce_copies(update, geom, aggregation, "terms", chunk_elements=1000)
    compiled = reduce_copies(update, geom, aggregation, "terms", compiled=True)
    assert torch.equal(compiled, eager)
    if shutil.which("g++") or shutil.which("c++"):
        assert not compiled_copies._unavailable, "compiled here, not the eager fallback"
