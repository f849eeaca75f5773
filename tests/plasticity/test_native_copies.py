"""The native max/min-of-products kernel: the eager values exactly, its build cache, and its fallbacks."""

import logging
import shutil

import pytest
import torch

from evohebb.plasticity import compiled_copies, native_copies
from evohebb.plasticity.abcd import NeuronCentricABCD, NeuronParams
from evohebb.plasticity.conv_geometry import ConvGeometry, unfold_patches
from evohebb.plasticity.weight_sharing import aggregate_copies, reduce_copies

needs_compiler = pytest.mark.skipif(not (shutil.which("c++") or shutil.which("g++")), reason="needs a C++ compiler")


@pytest.fixture
def fresh_build(tmp_path, monkeypatch):
    """A kernel built into an empty cache (and forgotten again afterwards)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(native_copies._native, "state", {})
    return tmp_path


# (Cin, Cout, k, stride, H, W): the thesis's two convs, a row shorter than a vector (scalar path), a row whose
# last vector overlaps the one before, a stride that does not divide the image
GEOMETRIES = [(3, 6, 3, 1, 64, 64), (6, 8, 5, 2, 31, 31), (2, 3, 3, 1, 6, 9), (2, 5, 3, 1, 12, 21),
              (3, 4, 3, 3, 14, 17)]


@needs_compiler
@pytest.mark.parametrize("aggregation", ["max", "min"])
@pytest.mark.parametrize("cin, cout, k, stride, H, W", GEOMETRIES)
def test_kernel_equals_the_eager_aggregate_exactly(aggregation, cin, cout, k, stride, H, W):
    g = torch.Generator().manual_seed(3)
    geom = ConvGeometry(cin, cout, k, stride, 0, H, W)
    P = 3
    x = torch.randn(P, cin, H, W, generator=g)
    x[x.abs() < 0.2] = 0.0                       # zero pixels: products of both signs of zero
    v = torch.randn(P, cout, geom.n_positions, generator=g)
    u = unfold_patches(x, geom)
    got = native_copies.product_extreme(x, v, geom, aggregation)
    assert got.shape == (P, cout, geom.entry_size)
    assert torch.equal(got, aggregate_copies(u.unsqueeze(1) * v.unsqueeze(2), aggregation))
    pre_only = native_copies.product_extreme(x, None, geom, aggregation)
    assert torch.equal(pre_only, aggregate_copies(u, aggregation).unsqueeze(1))


@needs_compiler
def test_a_channels_last_input_reads_the_same_values():
    geom = ConvGeometry(3, 6, 3, 1, 0, 16, 16)
    x = torch.rand(4, 16, 16, 3).permute(0, 3, 1, 2)          # an env observation batch's layout
    v = torch.randn(4, 6, geom.n_positions)
    assert torch.equal(native_copies.product_extreme(x, v, geom, "max"),
                       native_copies.product_extreme(x.contiguous(), v, geom, "max"))


def test_cases_it_does_not_cover_return_none():
    x, v = torch.rand(2, 3, 8, 8), torch.rand(2, 4, 36)
    padded = ConvGeometry(3, 4, 3, 1, 1, 8, 8)
    plain = ConvGeometry(3, 4, 3, 1, 0, 8, 8)
    assert native_copies.product_extreme(x, torch.rand(2, 4, 64), padded, "max") is None   # copies missing
    assert native_copies.product_extreme(x, v, plain, "median") is None
    assert native_copies.product_extreme(x.double(), v.double(), plain, "max") is None


@needs_compiler
def test_the_library_is_built_once_into_the_cache(fresh_build):
    assert native_copies.available()
    built = list((fresh_build / "evohebb").iterdir())
    assert len(built) == 1 and built[0].name.startswith("native_copies-") and built[0].suffix == ".so"
    stamp = built[0].stat().st_mtime_ns
    native_copies._native.state.clear()                 # a new process: finds the library, does not rebuild it
    assert native_copies.available()
    assert built[0].stat().st_mtime_ns == stamp
    assert list((fresh_build / "evohebb").iterdir()) == built      # no temporary file left behind


def test_without_a_compiler_the_update_falls_back_with_one_warning(fresh_build, monkeypatch, caplog):
    monkeypatch.setenv("CXX", str(fresh_build / "no-such-compiler"))
    monkeypatch.setattr(compiled_copies, "_unavailable", ["not compiled in this test"])   # eager, no compile time
    g = torch.Generator().manual_seed(1)
    P, cin, cout, k, H = 2, 2, 3, 3, 8
    geom = ConvGeometry(cin, cout, k, 1, 0, H, H)
    x = torch.randn(P, 1, cin, H, H, generator=g)
    y = torch.randn(P, 1, cout, geom.out_height, geom.out_width, generator=g)
    pre = NeuronParams(*(torch.randn(P, cin, H, H, generator=g) for _ in range(4)), torch.rand(P, cin, H, H))
    post = NeuronParams(*(torch.randn(P, cout, geom.out_height, geom.out_width, generator=g) for _ in range(4)),
                        torch.rand(P, cout, geom.out_height, geom.out_width))
    update = NeuronCentricABCD().copy_update(x, y, None, (pre, post))
    with caplog.at_level(logging.WARNING, logger="evohebb.plasticity.native_copies"):
        compiled = reduce_copies(update, geom, "max", "terms", compiled=True)
        reduce_copies(update, geom, "max", "terms", compiled=True)
    assert not native_copies.available()
    assert len([r for r in caplog.records if "native kernel" in r.message]) == 1
    assert "no-such-compiler" in native_copies._native.state["error"]
    assert not list((fresh_build / "evohebb").iterdir()), "a failed build leaves nothing in the cache"
    assert torch.equal(compiled, reduce_copies(update, geom, "max", "terms", chunk_elements=500))
