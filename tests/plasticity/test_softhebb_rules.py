"""Properties of the competition functions, the BCM threshold and the SoftHebb update."""

import torch
import torch.nn.functional as F

from evohebb.plasticity.bcm import BCMThreshold
from evohebb.plasticity.competition import (
    TemporalCompetition,
    difference_of_gaussians,
    hard_wta,
    presynaptic_competition,
    soft_wta,
    threshold_competition,
    top_k_wta,
)
from evohebb.plasticity.conv_geometry import ConvGeometry, linear_geometry
from evohebb.plasticity.softhebb_rule import SoftHebbRule, adaptive_rate, normalise_update
from evohebb.plasticity.weight_sharing import reduce_copies


def test_hard_wta_one_winner_per_position():
    u = torch.randn(3, 7, 5, 6)
    y = hard_wta(u, dim=1)
    assert torch.equal(y.sum(dim=1), torch.ones(3, 5, 6))
    assert torch.equal(y.argmax(dim=1), u.argmax(dim=1))
    assert set(y.unique().tolist()) <= {0.0, 1.0}


def test_soft_wta_sign_and_magnitude():
    u = torch.randn(4, 6, 3, 3)
    y = soft_wta(u, t_inv=2.0, dim=1)
    assert torch.equal((y > 0).sum(dim=1), torch.ones(4, 3, 3, dtype=torch.long))  # only the winner is Hebbian
    assert torch.allclose(y.abs(), torch.softmax(2.0 * u, dim=1))
    assert torch.equal((y > 0).float().argmax(dim=1), u.argmax(dim=1))


def test_top_k_and_threshold():
    u = torch.randn(5, 9)
    assert torch.equal(top_k_wta(u, 3).sum(1), torch.full((5,), 3.0))
    u = torch.zeros(2, 10)
    u[:, 4] = 10.0
    y = threshold_competition(u, k=2.0)
    assert y[:, 4].eq(1).all() and y.sum() == 2


def test_bcm_threshold_tracks_mean_square():
    torch.manual_seed(0)
    bcm = BCMThreshold(3, decay=0.5)
    scale = torch.tensor([0.5, 1.0, 2.0])
    for _ in range(200):
        y = torch.randn(64, 3, 4, 4) * scale.view(1, 3, 1, 1)
        bcm.update(y)
    assert torch.allclose(bcm.theta, scale ** 2, rtol=0.1)
    for _ in range(30):  # the threshold follows a change of activity statistics
        bcm.update(torch.full((8, 3), 3.0))
    assert torch.allclose(bcm.theta, torch.full((3,), 9.0), rtol=1e-4)
    mod = bcm.modulate(torch.tensor([[1.0, 9.0, 10.0]]))  # below, at, above theta = 9
    assert mod[0, 0] < 0 and mod[0, 1].abs() < 1e-3 and mod[0, 2] > 0


def test_temporal_competition_median_history():
    comp = TemporalCompetition(2, window=4)
    for v in (1.0, 2.0, 3.0, 4.0, 5.0):  # ring buffer keeps 2, 3, 4, 5 -> median (lower) 3
        comp.push(torch.tensor([[v, -v]]))
    y = comp(torch.tensor([[3.5, -3.5], [2.5, -4.5]]))  # channel 2: median of -5..-2 is -4
    assert y.tolist() == [[1.0, 1.0], [0.0, 0.0]]


def test_presynaptic_competition():
    x = torch.randn(2, 5, 3, 3)
    assert torch.allclose(presynaptic_competition(x, "softmax").sum(1), torch.ones(2, 3, 3))
    assert torch.allclose(presynaptic_competition(x, "lp_norm", p=2).norm(dim=1), torch.ones(2, 3, 3), atol=1e-5)


def test_difference_of_gaussians_center_surround():
    k = difference_of_gaussians(5, 1.2, 1.4)
    assert k.shape == (5, 5) and abs(k.sum().item()) < 1e-6
    assert k[2, 2] > 0 and k[0, 0] < 0


def test_conv_native_softhebb_update_matches_unfold_oracle():
    """The rule reduced conv-natively (summed over positions) is the correlation of y with the input patches
    minus the decay (Σ y·u) W, here with stride 2."""
    torch.manual_seed(1)
    x = torch.randn(2, 3, 9, 9)
    y = torch.randn(2, 4, 4, 4)
    u = torch.randn(2, 4, 4, 4)
    w = torch.randn(4, 3, 3, 3)
    update = SoftHebbRule().copy_update(x[None], y[None], w[None], u[None])
    dw = reduce_copies(update, ConvGeometry(3, 4, 3, 2, 0, 9, 9))[0]
    patches = F.unfold(x, 3, stride=2)  # [B, C*k*k, L]
    oracle = torch.einsum("bkl,bdl->kd", y.flatten(2), patches).view(4, 3, 3, 3)
    oracle -= (y * u).sum((0, 2, 3)).view(4, 1, 1, 1) * w
    assert torch.allclose(dw, oracle, atol=1e-4)


def test_softhebb_linear_update_normalised_and_adaptive_rate():
    w = torch.randn(4, 6)
    x = torch.randn(10, 6)
    u = x @ w.T
    y = soft_wta(u)
    as_map = lambda t: t[None, :, :, None, None]  # noqa: E731  [B, n] -> [1, B, n, 1, 1]
    update = SoftHebbRule().copy_update(as_map(x), as_map(y), w[None], as_map(u))
    delta = normalise_update(reduce_copies(update, linear_geometry(6, 4))[0].view(4, 6))
    oracle = y.T @ x - (y * u).sum(0)[:, None] * w
    assert torch.allclose(delta, oracle / oracle.abs().max(), atol=1e-6)
    assert abs(delta.abs().max().item() - 1.0) < 1e-6
    w = torch.stack([torch.ones(4) * 0.5, torch.ones(4) * 2.0])  # norms 1 and 4
    assert torch.allclose(adaptive_rate(w, 0.1, 0.5), torch.tensor([0.1 * 1e-5, 0.1 * 3 ** 0.5]), rtol=1e-3)
