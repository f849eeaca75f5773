"""One rule object serves a conv-native layer, an unrolled layer and a population of each (the core contract)."""

import torch
import torch.nn.functional as F

from evohebb.nn.softhebb_conv import SoftHebbConv2d
from evohebb.nn.unrolled import PopulationLinear, UnrolledConv2d
from evohebb.plasticity.abcd import SynapseCentricABCD, SynapseParams, synapse_centric_abcd
from evohebb.plasticity.competition import soft_wta
from evohebb.plasticity.conv_geometry import ConvGeometry
from evohebb.plasticity.softhebb_rule import SoftHebbRule
from evohebb.plasticity.weight_sharing import reduce_copies


def test_one_softhebb_rule_serves_conv_native_unrolled_and_populations():
    torch.manual_seed(0)
    rule = SoftHebbRule()
    native = SoftHebbConv2d(2, 4, 3, padding=1, adaptive_lr=False, eta0=1.0)           # reflect padding
    unrolled = SoftHebbConv2d(2, 4, 3, padding=1, sharing="mean", adaptive_lr=False, eta0=1.0)
    unrolled.weight.data.copy_(native.weight.data)
    native.rule = unrolled.rule = rule
    x = torch.randn(5, 2, 7, 7)
    native(x)
    unrolled(x)
    # mean over the L copies = the conv-native sum / L: equal after SoftHebb's max-normalisation
    torch.testing.assert_close(unrolled._pending, native._pending, rtol=1e-5, atol=1e-6)

    # a population of 3 layers: one call, each individual as if alone (P > 1 takes the einsum path, P = 1 the
    # conv weight-gradient path, so this also checks the two against each other)
    P, geom = 3, ConvGeometry(2, 4, 3, 1, 0, 9, 9)
    xs = torch.randn(P, 5, 2, 9, 9)
    ws = torch.randn(P, 4, 2, 3, 3)
    us = torch.stack([F.conv2d(xs[p], ws[p]) for p in range(P)])
    ys = soft_wta(us, 2.0, dim=2)
    together = {agg: reduce_copies(rule.copy_update(xs, ys, ws, us), geom, agg) for agg in ("sum", "mean", "max")}
    for p in range(P):
        for agg, batch in together.items():
            alone = reduce_copies(rule.copy_update(xs[p:p + 1], ys[p:p + 1], ws[p:p + 1], us[p:p + 1]), geom, agg)
            torch.testing.assert_close(batch[p], alone[0], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(together["mean"] * geom.n_positions, together["sum"], rtol=1e-4, atol=1e-3)


def test_one_synapse_centric_rule_serves_linear_and_unrolled_population_layers():
    torch.manual_seed(1)
    rule = SynapseCentricABCD()
    P = 3
    linear = PopulationLinear(6, 4, population=P)
    x, y = torch.randn(P, 6), torch.randn(P, 4)
    params = SynapseParams(*(torch.randn(P, 4, 6) for _ in range(5)))
    torch.testing.assert_close(linear.delta(rule, x, y, params), synapse_centric_abcd(x, y, *params))

    conv = UnrolledConv2d(2, 3, 3, (6, 6), population=P)
    x, y = torch.randn(P, 2, 6, 6), torch.randn(P, 3, 4, 4)
    params = SynapseParams(*(torch.randn(P, 3, 18) for _ in range(5)))
    mean = conv.delta(rule, x, y, params, aggregation="mean")
    native = conv.delta(rule, x, y, params, aggregation="sum")
    torch.testing.assert_close(mean * 16, native, rtol=1e-5, atol=1e-4)
    for p in range(P):   # individual p's kernel-entry update, written out by hand over its 16 copies
        patches = F.unfold(x[p:p + 1], 3)[0]                       # [18, 16]
        yp = y[p].reshape(3, 16)
        A, B, C, D, eta = params.A[p], params.B[p], params.C[p], params.D[p], params.eta[p]
        by_hand = eta * (A * (yp @ patches.T) + B * patches.sum(1) + C * yp.sum(1, keepdim=True) + 16 * D)
        torch.testing.assert_close(native[p].reshape(3, 18), by_hand, rtol=1e-5, atol=1e-4)
