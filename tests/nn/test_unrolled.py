"""Unrolled conv == conv (dense oracle), index maps, counts, population forward."""

import itertools

import pytest
import torch
import torch.nn.functional as F

from evohebb.nn.unrolled import (
    UnrolledConv2d,
    population_conv2d,
    population_linear,
    population_max_pool2d,
    population_tanh,
)
from evohebb.plasticity.weight_sharing import ConvGeometry, unfold_patches

# (Cin, Cout, k, stride, padding, H, W)
SHAPES = [
    (1, 1, 3, 1, 0, 5, 5),
    (2, 3, 3, 1, 1, 6, 5),
    (3, 2, 3, 2, 0, 7, 7),
    (2, 2, 5, 2, 2, 9, 8),
    (3, 4, 2, 2, 1, 6, 6),
    (1, 2, 4, 3, 1, 10, 9),
]


@pytest.mark.parametrize("shape", SHAPES)
def test_dense_unrolled_matrix_equals_conv(shape):
    cin, cout, k, s, p, H, W = shape
    g = torch.Generator().manual_seed(0)
    layer = UnrolledConv2d(cin, cout, k, (H, W), stride=s, padding=p, population=2)
    layer.weight.copy_(torch.randn(layer.weight.shape, generator=g))
    x = torch.randn(2, cin, H, W, generator=g)
    dense = layer.to_dense()  # [P, n_post, n_pre]
    assert dense.shape == (2, layer.n_post, layer.n_pre)
    via_dense = torch.bmm(dense, x.reshape(2, -1, 1)).reshape(2, *layer.out_shape)
    for q in range(2):
        ref = F.conv2d(x[q : q + 1], layer.weight[q], stride=s, padding=p)[0]
        torch.testing.assert_close(via_dense[q], ref, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(layer(x)[q], ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape", SHAPES)
def test_copy_index_and_counts(shape):
    cin, cout, k, s, p, H, W = shape
    layer = UnrolledConv2d(cin, cout, k, (H, W), stride=s, padding=p)
    entry, pre, post = layer.copy_index()
    # every edge is a distinct (pre, post) pair; every kernel entry has at least one copy
    assert len(set(zip(pre.tolist(), post.tolist()))) == len(entry) == layer.n_edges
    assert torch.bincount(entry, minlength=layer.n_conv_parameters).min() > 0
    counts = layer.parameter_counts()
    assert counts["conv"] == cout * cin * k * k
    # the dense matrix of generic (nonzero) weights has exactly n_edges nonzeros
    layer.weight.fill_(1.0)
    assert int((layer.to_dense() != 0).sum()) == counts["unrolled"]
    if p == 0:  # no padding: every kernel entry is copied at every output position
        assert counts["unrolled"] == cout * cin * k * k * layer.geometry.n_positions


def test_copies_of_one_entry_match_conv_arithmetic():
    layer = UnrolledConv2d(2, 1, 3, (5, 5), stride=2, padding=1)
    pairs = layer.copies(co=0, ci=1, ky=0, kx=0)
    # offset (0,0) with padding 1 and stride 2: outputs (oy,ox) with oy,ox>=1 hit input (2oy-1, 2ox-1)
    expected = {(25 + (2 * oy - 1) * 5 + (2 * ox - 1), oy * 3 + ox) for oy in (1, 2) for ox in (1, 2)}
    assert set(map(tuple, pairs.tolist())) == expected


@pytest.mark.parametrize("shape", SHAPES)
def test_unfold_patches_equals_torch_unfold(shape):
    cin, cout, k, s, p, H, W = shape
    x = torch.randn(3, cin, H, W)
    geom = ConvGeometry(cin, cout, k, s, p, H, W)
    torch.testing.assert_close(unfold_patches(x, geom), F.unfold(x, k, padding=p, stride=s), rtol=0, atol=0)


def test_population_conv_and_pool_equal_torch():
    x = torch.randn(4, 3, 13, 12)
    w = torch.randn(4, 5, 3, 3, 3)
    out = population_conv2d(x, w, stride=2, padding=1)
    for q in range(4):
        torch.testing.assert_close(
            out[q], F.conv2d(x[q : q + 1], w[q], stride=2, padding=1)[0], rtol=1e-5, atol=1e-5
        )
    for k in (2, 3):
        torch.testing.assert_close(population_max_pool2d(x, k), F.max_pool2d(x, k), rtol=0, atol=0)


@pytest.mark.parametrize("P", [1, 5])
def test_population_linear_equals_each_individual_alone(P):
    x, w = torch.randn(P, 392), torch.randn(P, 128, 392)
    out = population_linear(x, w)
    assert out.shape == (P, 128)
    for q in range(P):
        torch.testing.assert_close(out[q], F.linear(x[q], w[q]), rtol=1e-5, atol=1e-5)


def test_population_tanh_is_tanh_and_reorders_a_conv_map_into_contiguous_memory():
    z = 4 * torch.randn(62, 62, 5, 6).permute(2, 3, 0, 1)          # a conv map laid out [H, W, P, C]
    for contiguous in (False, True):
        h = population_tanh(z, contiguous=contiguous)
        assert h.shape == z.shape and h.is_contiguous() == contiguous
        torch.testing.assert_close(h, torch.tanh(z), rtol=0, atol=2.5e-7)
    assert population_tanh(torch.tensor([-100.0, 0.0, 100.0])).tolist() == [-1.0, 0.0, 1.0]   # saturates, no nan


def test_thesis_layer_counts():
    first = UnrolledConv2d(3, 6, 3, (64, 64))
    second = UnrolledConv2d(6, 8, 5, (31, 31), stride=2)
    assert first.out_shape == (6, 62, 62) and second.out_shape == (8, 14, 14)
    assert first.n_conv_parameters == 162 and first.n_edges == 162 * 62 * 62
    assert second.n_conv_parameters == 1200 and second.n_edges == 1200 * 14 * 14
    assert list(itertools.islice(first.parameter_counts().values(), 2)) == [162, 622728]
