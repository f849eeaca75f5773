"""Competition statistics on a layer built to have one dominant and one dead unit, against counts by hand."""

import math

import torch
from torch import nn

from evohebb.nn.competition_stats import (
    DEAD_FRACTION,
    DOMINANT_CAP,
    DOMINANT_FACTOR,
    WinCounter,
    competition_stats,
    win_counts,
)
from evohebb.nn.softhebb_conv import SoftHebbConv2d

K = 16


def _layer(mode: str = "soft") -> SoftHebbConv2d:
    """1x1 conv, 16 inputs -> 16 neurons: neuron 0 prefers the all-ones input (0.25 each: 4 on it), neurons
    1..14 one input each (2 on e_k, 6 on 3 e_k), neuron 15 is negative everywhere (never wins on inputs >= 0)."""
    layer = SoftHebbConv2d(K, K, 1, padding=0, mode=mode)
    w = torch.zeros(K, K)
    w[0] = 0.25
    for k in range(1, K - 1):
        w[k, k] = 2.0
    w[K - 1] = -1.0
    with torch.no_grad():
        layer.weight.copy_(w.view(K, K, 1, 1))
    return layer.eval()


def _inputs(n: int = 64, seed: int = 0) -> torch.Tensor:
    """``[n, 16, 4, 4]``: 70 % of positions all ones (neuron 0 wins), the rest 3 e_k for k in 1..14."""
    g = torch.Generator().manual_seed(seed)
    x = torch.ones(n, K, 4, 4)
    spike = torch.rand(n, 1, 4, 4, generator=g) < 0.3
    which = torch.randint(1, K - 1, (n, 1, 4, 4), generator=g)
    one_hot = torch.zeros(n, K, 4, 4).scatter_(1, which, 3.0)
    return torch.where(spike, one_hot, x)


def test_win_counts_match_a_loop_over_positions():
    a = torch.randn(3, 5, 4, 2, generator=torch.Generator().manual_seed(1))
    expected = torch.zeros(5, dtype=torch.long)
    for b in range(3):
        for i in range(4):
            for j in range(2):
                expected[a[b, :, i, j].argmax()] += 1
    assert torch.equal(win_counts(a), expected)
    assert torch.equal(win_counts(a.movedim(1, -1), dim=-1), expected)


def test_one_dominant_and_one_dead_unit_are_flagged():
    layer = _layer()
    x = _inputs()
    counter = WinCounter(nn.Sequential(layer))
    with torch.no_grad():
        layer(x[:40])
        layer(x[40:])          # counts add up over batches
    counter.remove()
    with torch.no_grad():
        layer(x)               # removed: no longer counted
    stats = counter.stats()["0"]
    counts = counter.counts["0"]
    assert counts.sum() == 64 * 16
    p = counts.double() / counts.sum()
    assert 0.6 < p[0] < 0.8 and p[K - 1] == 0 and (p[1:K - 1] > 0).all()
    assert stats.dead.nonzero().flatten().tolist() == [K - 1]
    assert stats.dominant.nonzero().flatten().tolist() == [0]
    assert stats.dead_below == DEAD_FRACTION / K
    assert stats.dominant_above == min(DOMINANT_FACTOR / K, DOMINANT_CAP) == 0.5
    nonzero = p[p > 0]
    assert math.isclose(stats.entropy, -(nonzero * nonzero.log()).sum().item(), rel_tol=1e-6)
    assert math.isclose(stats.normalised_entropy, stats.entropy / math.log(K), rel_tol=1e-9)
    assert stats.dead_fraction == 1 / K and stats.dominant_fraction == 1 / K
    expected_norms = torch.tensor([1.0] + [2.0] * (K - 2) + [4.0])
    assert torch.allclose(stats.weight_norms, expected_norms)
    assert stats.bcm_theta is None
    assert set(stats.summary()) >= {"win_entropy", "dead_fraction", "dominant_fraction", "weight_norm_mean"}


def test_uniform_winners_have_full_entropy_and_no_flags():
    stats = competition_stats(torch.full((8,), 5), torch.randn(8, 3))
    assert math.isclose(stats.normalised_entropy, 1.0, rel_tol=1e-9)
    assert not stats.dead.any() and not stats.dominant.any()


def test_bcm_thresholds_are_reported():
    layer = _layer("bcm").train()
    layer(_inputs(8))                       # a training pass moves the sliding threshold
    layer.eval()
    counter = WinCounter(layer)
    with torch.no_grad():
        layer(_inputs(8, seed=1))
    theta = counter.stats()[""].bcm_theta
    assert theta is not None and torch.equal(theta, layer.competition.threshold.theta) and (theta > 0).any()


def test_a_single_winner_has_zero_entropy_is_dominant_and_every_other_unit_dead():
    stats = competition_stats(torch.tensor([0, 0, 7, 0]), torch.randn(4, 3))
    assert stats.entropy == 0.0 and str(stats.entropy) == "0.0" and stats.normalised_entropy == 0.0
    assert stats.dead.tolist() == [True, True, False, True] and stats.dominant.tolist() == [False, False, True, False]
