"""The native linear-layer updates + max|w| normalisation: torch's baddbmm (low-rank), the per-synapse expression
and normalise_max_abs_, to float rounding."""

import logging
import shutil

import pytest
import torch

from evohebb.plasticity import native_linear_update
from evohebb.plasticity.weight_normalisation import normalise_max_abs_

needs_compiler = pytest.mark.skipif(not (shutil.which("c++") or shutil.which("g++")), reason="needs a C++ compiler")


@needs_compiler
@pytest.mark.parametrize("normalise", [True, False])
@pytest.mark.parametrize("P, n_out, n_in, r", [(36, 128, 392, 8), (3, 5, 13, 8), (2, 4, 7, 3), (1, 3, 64, 1)])
def test_update_and_normalisation_equal_torch(P, n_out, n_in, r, normalise):
    g = torch.Generator().manual_seed(5)
    w = torch.randn(P, n_out, n_in, generator=g)
    w[0, -1, -1] = -40.0                       # the max |w| of individual 0 is a negative weight in a tail column
    V, U = torch.randn(P, n_out, r, generator=g), torch.randn(P, r, n_in, generator=g)
    expected = w.clone().baddbmm_(V, U)
    if normalise:
        normalise_max_abs_(expected)
    got = w.clone()
    assert native_linear_update.low_rank_update_(got, V, U, normalise)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    if normalise:
        assert torch.allclose(got.reshape(P, -1).abs().amax(1), torch.ones(P))


@needs_compiler
@pytest.mark.parametrize("normalise", [True, False])
@pytest.mark.parametrize("P, n_out, n_in", [(36, 128, 392), (3, 5, 13), (2, 3, 4)])
def test_synapse_update_and_normalisation_equal_torch(P, n_out, n_in, normalise):
    g = torch.Generator().manual_seed(8)
    w = torch.randn(P, n_out, n_in, generator=g)
    coefficients = tuple(torch.randn(P, n_out, n_in, generator=g) * 0.1 for _ in range(4))
    x, y = torch.randn(P, n_in, generator=g), torch.randn(P, n_out, generator=g)
    a, b, c, d = coefficients
    expected = w + a * y[:, :, None] * x[:, None, :] + b * x[:, None, :] + c * y[:, :, None] + d
    if normalise:
        normalise_max_abs_(expected)
    got = w.clone()
    assert native_linear_update.synapse_update_(got, coefficients, x, y, normalise)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_cases_it_does_not_cover_do_nothing():
    w, V, U = torch.zeros(2, 3, 4, dtype=torch.float64), torch.ones(2, 3, 1, dtype=torch.float64), \
        torch.ones(2, 1, 4, dtype=torch.float64)
    assert not native_linear_update.low_rank_update_(w, V, U, True)
    assert not torch.any(w)
    strided = torch.zeros(2, 4, 3).transpose(1, 2)
    assert not native_linear_update.low_rank_update_(strided, V.float(), U.float(), False)


def test_without_a_compiler_it_warns_once_and_leaves_the_weights(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))
    monkeypatch.setattr(native_linear_update._native, "state", {})
    w = torch.ones(2, 3, 4)
    with caplog.at_level(logging.WARNING, logger="evohebb.plasticity.native_linear_update"):
        for _ in range(2):
            assert not native_linear_update.low_rank_update_(w, torch.ones(2, 3, 1), torch.ones(2, 1, 4), True)
    assert torch.equal(w, torch.ones(2, 3, 4))
    assert len([r for r in caplog.records if "linear-layer update" in r.message]) == 1
    assert "no-such-compiler" in native_linear_update._native.state["error"]
