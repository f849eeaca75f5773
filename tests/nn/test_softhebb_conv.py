"""SoftHebbConv2d / SoftHebbLinear: convergence to cluster directions and each mechanism's invariant."""

import pytest
import torch
import torch.nn.functional as F

from evohebb.nn.softhebb_conv import MODES, HebbianSettings, SoftHebbConv2d, SoftHebbLinear


def test_soft_wta_learns_cluster_directions():
    torch.manual_seed(0)
    k, d = 5, 16
    directions = torch.linalg.qr(torch.randn(d, d))[0][:, :k].T  # K unit-norm cluster directions
    layer = SoftHebbLinear(d, 2 * k, mode="soft", t_inv=20.0, eta0=0.05, init_radius=3.0)
    for _ in range(500):
        x = directions[torch.randint(0, k, (32,))] + 0.1 * torch.randn(32, d)
        layer(x / x.norm(dim=1, keepdim=True))
        layer.hebbian_step()
    w = layer.weight.detach()
    cos = (w / w.norm(dim=1, keepdim=True)) @ directions.T  # [neurons, clusters]
    assert cos.max(dim=0).values.min() > 0.9, cos.max(dim=0).values
    matched = cos.argmax(dim=0)
    assert len(set(matched.tolist())) == k  # a different kernel per cluster
    assert ((w[matched].norm(dim=1) - 1).abs() < 0.05).all(), w[matched].norm(dim=1)


def test_hard_wta_layer_one_winner_per_position():
    layer = SoftHebbConv2d(3, 6, 3, padding=1, mode="hard")
    a = layer(torch.randn(2, 3, 8, 8))
    y = layer.postsynaptic(a)
    assert torch.equal(y.sum(dim=1), torch.ones(2, 8, 8))


def test_conv_update_matches_dense_oracle():
    torch.manual_seed(0)
    layer = SoftHebbConv2d(2, 3, 3, padding=1, padding_mode="zeros", t_inv=1.0, eta0=0.1, adaptive_lr=False)
    w0 = layer.weight.detach().clone()
    x = torch.randn(2, 2, 5, 5)
    layer(x)
    layer.hebbian_step()
    patches = F.unfold(x, 3, padding=1).transpose(1, 2).reshape(-1, 18)  # [B*L, D]
    u = patches @ w0.view(3, -1).T
    y = torch.softmax(u, dim=1)
    y = torch.where(F.one_hot(u.argmax(1), 3).bool(), y, -y)
    delta = y.T @ patches - (y * u).sum(0)[:, None] * w0.view(3, -1)
    expected = w0.view(3, -1) + 0.1 * delta / delta.abs().max()
    assert torch.allclose(layer.weight.view(3, -1), expected, atol=1e-4)


def test_dale_weights_stay_non_negative():
    torch.manual_seed(0)
    layer = SoftHebbConv2d(3, 8, 3, padding=1, dale=True, eta0=0.5)
    for _ in range(20):
        layer(torch.randn(4, 3, 8, 8) - 0.5)
        layer.hebbian_step()
        assert layer.weight.min() >= 0


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_runs_and_changes_weights(mode):
    torch.manual_seed(0)
    layer = SoftHebbConv2d(3, 6, 3, padding=1, mode=mode, t_inv=1.0)
    w0 = layer.weight.detach().clone()
    x = torch.randn(4, 3, 6, 6)
    for _ in range(3):
        out = layer(x)
        layer.hebbian_step()
    assert out.shape == (4, 6, 6, 6) and torch.isfinite(layer.weight).all()
    assert not torch.equal(layer.weight, w0)


def test_mechanism_switches_compose():
    layer = SoftHebbConv2d(3, 6, 5, padding=2, mode="bcm", cosine=True, lateral_inhibition=True,
                           presynaptic="softmax", homeostasis=True)
    a = layer(torch.rand(2, 3, 8, 8))
    layer.hebbian_step()
    assert a.shape == (2, 6, 8, 8) and torch.isfinite(layer.weight).all()
    assert set(layer.plasticity_state()) == {"bcm", "scaling"}


def test_cosine_activation_bounded():
    layer = SoftHebbConv2d(3, 6, 3, cosine=True)
    layer.eval()
    a = layer(torch.randn(2, 3, 7, 7))
    assert a.abs().max() <= 1.0 + 1e-4


def test_alpha_mixes_hebbian_and_backprop():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 6, 6)
    bp = SoftHebbConv2d(3, 4, 3, alpha=0.0)
    w0 = bp.weight.detach().clone()
    bp(x)
    bp.hebbian_step()
    assert torch.equal(bp.weight, w0) and bp.weight.requires_grad  # no Hebbian update at alpha 0
    mixed = SoftHebbConv2d(3, 4, 3, alpha=0.5, adaptive_lr=False, eta0=0.1)
    w0 = mixed.weight.detach().clone()
    mixed(x).pow(2).sum().backward()
    pending, grad = mixed._pending.clone(), mixed.weight.grad.clone()
    mixed.hebbian_step(bp_lr=0.01)
    assert torch.allclose(mixed.weight, w0 + 0.5 * pending - 0.5 * 0.01 * grad, atol=1e-6)


def test_unknown_setting_named():
    with pytest.raises(TypeError, match="t_invv"):
        SoftHebbConv2d(3, 4, 3, t_invv=1.0)
    with pytest.raises(ValueError, match="mode"):
        HebbianSettings(mode="nope")


def test_unrolled_sharing_mean_equals_conv_native_and_max_bounds():
    """Per-position SoftHebb on the unrolled layer: mean aggregation is the conv-native update / L (after the
    max-normalisation they are equal); max >= mean >= min entry-wise; median lies between."""
    torch.manual_seed(0)
    x = torch.randn(3, 2, 6, 6)
    deltas = {}
    for sharing in (None, "mean", "max", "min", "median"):
        layer = SoftHebbConv2d(2, 4, 3, padding=0, sharing=sharing, adaptive_lr=False, eta0=1.0)
        layer.weight.data = torch.linspace(-1, 1, 72).view(4, 2, 3, 3)
        layer(x)
        deltas[sharing] = layer._pending
    assert torch.allclose(deltas["mean"], deltas[None], atol=1e-5)
    # un-normalised per-copy aggregates: recompute to compare orderings
    from evohebb.plasticity.competition import soft_wta
    from evohebb.plasticity.conv_geometry import ConvGeometry
    from evohebb.plasticity.softhebb_rule import SoftHebbRule
    from evohebb.plasticity.weight_sharing import reduce_copies
    w = torch.linspace(-1, 1, 72).view(4, 2, 3, 3)
    u = F.conv2d(x, w)
    update = SoftHebbRule().copy_update(x[None], soft_wta(u, 1.0, dim=1)[None], w[None], u[None])
    agg = {a: reduce_copies(update, ConvGeometry(2, 4, 3, 1, 0, 6, 6), a) for a in ("max", "min", "median", "mean")}
    assert (agg["max"] >= agg["mean"] - 1e-6).all() and (agg["mean"] >= agg["min"] - 1e-6).all()
    assert (agg["median"] <= agg["max"]).all() and (agg["median"] >= agg["min"]).all()


def _per_copy_oracle(x, y, u, w, geom, aggregation):
    """Dense oracle: every synapse of the unrolled layer (conv_geometry.copy_index) gets its own SoftHebb
    update, then the copies of each kernel entry are aggregated (scatter_reduce; median by sorting)."""
    from evohebb.plasticity.conv_geometry import copy_index
    entry, pre, post = copy_index(geom)
    xf, yf = x.flatten(1), y.flatten(1)                      # [B, n_pre], [B, n_post]
    yu = (y * u).sum(0).flatten()                            # [n_post]
    values = (yf[:, post] * xf[:, pre]).sum(0) - yu[post] * w.flatten()[entry]
    n = w.numel()
    if aggregation == "median":
        return torch.stack([values[entry == e].median() for e in range(n)]).view_as(w)
    reduce = {"max": "amax", "min": "amin", "mean": "mean"}[aggregation]
    return torch.zeros(n).scatter_reduce(0, entry, values, reduce, include_self=False).view_as(w)


@pytest.mark.parametrize("aggregation", ["min", "max", "median", "mean"])
def test_unrolled_sharing_padding_copies_follow_the_padding_mode(aggregation):
    """zeros: the copies that would read padding do not exist (left out of the aggregate); reflect: every copy
    reads a real, mirrored pixel, so the unrolled layer is the conv on the reflect-padded input and every copy
    counts. Checked entry by entry against a dense per-synapse oracle."""
    from evohebb.plasticity.conv_geometry import ConvGeometry
    from evohebb.plasticity.softhebb_rule import normalise_update
    torch.manual_seed(2)
    x = torch.rand(2, 1, 5, 5) + 1.0      # positive inputs: padding zeros would change min / mean if they counted
    for mode in ("zeros", "reflect"):
        layer = SoftHebbConv2d(1, 2, 3, padding=1, padding_mode=mode, sharing=aggregation, adaptive_lr=False,
                               eta0=1.0)
        w = layer.weight.detach().clone()
        layer(x)
        xp = F.pad(x, (1, 1, 1, 1), mode="constant" if mode == "zeros" else mode)
        u = F.conv2d(xp, w)
        y = layer.postsynaptic(u)
        geom = ConvGeometry(1, 2, 3, 1, 1, 5, 5) if mode == "zeros" else ConvGeometry(1, 2, 3, 1, 0, 7, 7)
        oracle = _per_copy_oracle(x if mode == "zeros" else xp, y, u, w, geom, aggregation)
        torch.testing.assert_close(layer._pending, normalise_update(oracle), rtol=1e-5, atol=1e-6)
        if mode == "zeros":   # the same data with every padded copy counted gives a different update
            wrong = _per_copy_oracle(F.pad(x, (1, 1, 1, 1)), y, u, w, ConvGeometry(1, 2, 3, 1, 0, 7, 7),
                                     aggregation)
            assert not torch.allclose(normalise_update(wrong), layer._pending, atol=1e-4)


def test_oja_rule_without_competition_finds_the_first_principal_direction():
    """``rule: oja`` with ``mode: basic`` (no competition, y = a): the single neuron's weight converges to the
    unit-norm first principal direction of a 2-D Gaussian (Oja 1982), not to the second."""
    torch.manual_seed(0)
    angle = torch.tensor(0.6)
    first = torch.stack([angle.cos(), angle.sin()])
    second = torch.stack([-angle.sin(), angle.cos()])
    layer = SoftHebbLinear(2, 1, settings=HebbianSettings(mode="basic", rule="oja", eta0=0.02, adaptive_lr=False,
                                                          init_radius=1.0))
    w0 = layer.weight.detach().clone()
    for _ in range(400):
        z = torch.randn(256, 2) * torch.tensor([2.0, 0.5])   # std 2 along `first`, 0.5 along `second`
        layer(z[:, :1] * first + z[:, 1:] * second)
        layer.hebbian_step()
    w = layer.weight.detach()[0]
    assert abs(w @ first) / w.norm() > 0.995, (w0, w)
    assert abs(w @ second) / w.norm() < 0.1
    assert abs(w.norm() - 1.0) < 0.05, w.norm()


def test_a_competition_registered_later_is_selected_by_mode():
    """``mode`` is checked against the competition registry when the settings are built, so a competition
    registered by a plug-in (here, in this test) is allowed and used by the layer; an unknown one is refused
    naming the field, the value and the registered names."""
    from evohebb.config import ConfigError
    from evohebb.plasticity.competition import Competition
    from evohebb.plasticity.competition_registry import COMPETITIONS, register_competition

    class Runner(Competition):
        """Only the second-strongest neuron learns (runner-up)."""

        def signal(self, a, dim=1):
            second = a.topk(2, dim=dim).indices.narrow(dim, 1, 1)
            return torch.zeros_like(a).scatter_(dim, second, 1.0)

    with pytest.raises(ConfigError, match=r"mode: 'runner_up' is not a registered competition; allowed: 'soft', "
                                          r"'hard', 'topk', 'basic', 'bcm', 'temporal', 'threshold'$"):
        HebbianSettings(mode="runner_up")
    register_competition("runner_up")(Runner)
    try:
        layer = SoftHebbConv2d(3, 4, 3, padding=1, mode="runner_up")
        a = layer(torch.randn(2, 3, 5, 5))
        y = layer.postsynaptic(a)
        assert torch.equal(y.argmax(1), a.topk(2, dim=1).indices[:, 1]) and torch.equal(y.sum(1), torch.ones(2, 5, 5))
        assert layer.plasticity_state() == {}
    finally:
        COMPETITIONS.pop("runner_up")


@pytest.mark.parametrize(("mode", "keys"), [("soft", {}), ("bcm", {"bcm": {"theta"}}),
                                            ("temporal", {"temporal": {"history", "count"}})])
def test_plasticity_state_keeps_its_checkpoint_keys(mode, keys):
    """Checkpoints of earlier runs hold the competition's state under ``bcm`` / ``temporal``: the keys stay, a
    saved state restores the layer exactly, and a state of another mode is refused by name."""
    torch.manual_seed(0)
    x = torch.randn(3, 3, 6, 6)
    layer = SoftHebbConv2d(3, 4, 3, padding=1, mode=mode, temporal_window=4)
    layer(x)
    layer.hebbian_step()
    state = layer.plasticity_state()
    assert {name: set(sub) for name, sub in state.items()} == keys
    copy = SoftHebbConv2d(3, 4, 3, padding=1, mode=mode, temporal_window=4)
    copy.load_state_dict(layer.state_dict())
    copy.load_plasticity_state(state)
    a = torch.randn(3, 4, 6, 6)
    assert torch.equal(copy.postsynaptic(a), layer.postsynaptic(a))
    with pytest.raises(ValueError, match=r"plasticity state \['scaling'\] does not fit this layer"):
        copy.load_plasticity_state({"scaling": {"rate": torch.zeros(4)}})
