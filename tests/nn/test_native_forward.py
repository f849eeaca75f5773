"""The native forward kernels: each individual's conv to float rounding, torch's tanh to ~3e-7, the map in the
rule's order; each individual's linear layer; 2×2 max-pooling; and a network that uses them learning what the
torch path learns."""

import logging
import shutil
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from evohebb.nn import native_forward
from evohebb.nn.layer_specs import ConvSpec, LinearSpec, PoolSpec
from evohebb.nn.network_settings import PlasticNetworkSettings
from evohebb.nn.unrolled import population_max_pool2d
from evohebb.nn.unrolled_plastic_network import UnrolledPlasticNetwork
from evohebb.plasticity.conv_geometry import ConvGeometry

needs_compiler = pytest.mark.skipif(not (shutil.which("c++") or shutil.which("g++")), reason="needs a C++ compiler")

# (Cin, Cout, k, stride, H, W): the thesis's two convs; rows shorter than a vector (scalar path), between one and
# two vectors, and whose last block overlaps the one before; 5 output channels (a 4-block and a 1-block); a stride
# that does not divide the image
GEOMETRIES = [(3, 6, 3, 1, 64, 64), (6, 8, 5, 2, 31, 31), (2, 3, 3, 1, 6, 9), (2, 5, 3, 1, 12, 21),
              (3, 4, 3, 3, 14, 17), (1, 7, 2, 1, 30, 37)]


@needs_compiler
@pytest.mark.parametrize("cin, cout, k, stride, H, W", GEOMETRIES)
def test_each_individuals_conv_and_tanh(cin, cout, k, stride, H, W):
    g = torch.Generator().manual_seed(4)
    geom = ConvGeometry(cin, cout, k, stride, 0, H, W)
    P = 3
    x = torch.rand(P, cin, H, W, generator=g)
    w = torch.randn(P, cout, cin, k, k, generator=g) * 2 / (cin * k * k) ** 0.5
    expected = torch.stack([F.conv2d(x[p:p + 1], w[p], stride=stride)[0] for p in range(P)])
    z = native_forward.conv_tanh(x, w, geom, tanh=False)
    h = native_forward.conv_tanh(x, w, geom)
    assert z.shape == h.shape == expected.shape and h.is_contiguous()
    torch.testing.assert_close(z, expected, rtol=0, atol=2e-5)
    assert (h - torch.tanh(z)).abs().max() < 3e-7
    channels_last = x.permute(2, 3, 0, 1).contiguous().permute(2, 3, 0, 1)      # an env batch's layout
    assert torch.equal(native_forward.conv_tanh(channels_last, w, geom), h)


@needs_compiler
def test_tanh_over_the_whole_float_range():
    """A 1×1 conv with weight 1 is the identity: what comes out is the kernel's tanh of every input."""
    z = torch.cat([torch.linspace(-12, 12, 20001), torch.tensor([0.0, -0.0, 1e-30, -1e-30, 1e-8, 44.0, 89.0, 1e30,
                                                                 -1e30, float("inf"), float("-inf"), float("nan")])])
    n = z.numel()
    got = native_forward.conv_tanh(z.view(1, 1, 1, n), torch.ones(1, 1, 1, 1, 1), ConvGeometry(1, 1, 1, 1, 0, 1, n))
    got = got.view(-1)
    finite = ~torch.isnan(z)
    assert (got[finite] - torch.tanh(z[finite])).abs().max() < 3e-7
    assert torch.isnan(got[-1])
    assert got[-3] == 1.0 and got[-2] == -1.0


@needs_compiler
@pytest.mark.parametrize("P, n_out, n_in", [(36, 128, 392), (3, 5, 7), (2, 64, 128), (1, 3, 33)])
def test_each_individuals_linear_layer(P, n_out, n_in):
    g = torch.Generator().manual_seed(6)
    x, w = torch.randn(P, n_in, generator=g), torch.randn(P, n_out, n_in, generator=g)
    got = native_forward.linear(x, w)
    torch.testing.assert_close(got, torch.stack([w[p] @ x[p] for p in range(P)]), rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(native_forward.linear(x[:, :n_in], w.transpose(1, 2).contiguous().transpose(1, 2)),
                               got, rtol=0, atol=0)                              # any layout: the same sums


@needs_compiler
@pytest.mark.parametrize("shape", [(36, 6, 62, 62), (36, 8, 14, 14), (2, 3, 7, 9), (1, 2, 33, 35)])
def test_max_pool_equals_torch_exactly_and_its_tanh(shape):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(7))
    expected = population_max_pool2d(x, 2)
    assert torch.equal(native_forward.max_pool2_tanh(x), expected)
    assert (native_forward.max_pool2_tanh(x, tanh=True) - torch.tanh(expected)).abs().max() < 3e-7
    strided = x.permute(2, 3, 0, 1).contiguous().permute(2, 3, 0, 1)
    assert torch.equal(native_forward.max_pool2_tanh(strided), expected)


def test_cases_it_does_not_cover_return_none():
    x, w = torch.rand(2, 3, 8, 8), torch.rand(2, 4, 3, 3, 3)
    assert native_forward.conv_tanh(x, w, ConvGeometry(3, 4, 3, 1, 1, 8, 8)) is None          # zero padding
    assert native_forward.conv_tanh(x.double(), w.double(), ConvGeometry(3, 4, 3, 1, 0, 8, 8)) is None
    assert native_forward.linear(torch.rand(2, 3, dtype=torch.float64), torch.rand(2, 4, 3, dtype=torch.float64)) \
        is None


def _thesis_like(native: bool, **kw) -> UnrolledPlasticNetwork:
    """The thesis's layer kinds at a small size: a stride-1 and a stride-2 conv (learning, or static and pooled
    before their tanh), min sharing, max|w| normalisation (the linear layers' native update)."""
    layers = [ConvSpec(6, 3), PoolSpec(2), ConvSpec(8, 3, 2), PoolSpec(2), LinearSpec(16), LinearSpec(3)]
    settings = replace(PlasticNetworkSettings(), aggregation="min", compile_copies=native, weight_norm=True, **kw)
    return UnrolledPlasticNetwork((3, 24, 24), layers, "tanh", settings)


@needs_compiler
@pytest.mark.parametrize("kw", [{}, {"plastic_layers": ["fc1", "out"], "evolve_weights": ["conv1", "conv2"]}],
                         ids=["every-layer-learns", "evolved-static-convs"])
def test_a_network_with_the_native_kernels_learns_what_the_torch_path_learns(kw):
    g = torch.Generator().manual_seed(0)
    nets = [_thesis_like(native, **kw) for native in (False, True)]
    genomes = nets[0].genome_init(g).unsqueeze(0) + 0.1 * torch.randn(4, nets[0].genome_size(), generator=g)
    for net in nets:
        net.load_genomes(genomes)
        net.reset(0)
    for _ in range(5):
        obs = torch.rand(4, 3, 24, 24, generator=g)
        outs = [net(obs) for net in nets]
        torch.testing.assert_close(outs[1], outs[0], rtol=0, atol=1e-5)
        for net in nets:
            net.update()
    start = _thesis_like(False, **kw)
    start.load_genomes(genomes)
    start.reset(0)
    for i, (w0, w_torch, w_native) in enumerate(zip(start.weights(), nets[0].weights(), nets[1].weights())):
        assert ((w_torch - w0).abs().max() > 1e-3) == nets[0]._learning[i]        # what learns, learnt
        torch.testing.assert_close(w_native, w_torch, rtol=0, atol=1e-5)


def test_without_a_compiler_the_network_falls_back_with_one_warning(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))
    monkeypatch.setattr(native_forward._native, "state", {})
    g = torch.Generator().manual_seed(1)
    geom = ConvGeometry(3, 4, 3, 1, 0, 10, 10)
    x, w = torch.rand(2, 3, 10, 10, generator=g), torch.randn(2, 4, 3, 3, 3, generator=g)
    with caplog.at_level(logging.WARNING, logger="evohebb.nn.native_forward"):
        assert native_forward.conv_tanh(x, w, geom) is None
        assert native_forward.conv_tanh(x, w, geom) is None
    assert not native_forward.available()
    assert len([r for r in caplog.records if "native forward" in r.message]) == 1
    assert "no-such-compiler" in native_forward._native.state["error"]
