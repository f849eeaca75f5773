"""Per-row noise streams: reproducible, independent of the batch they are drawn in, and standard normal."""

import torch

from evohebb.nn.row_noise import row_normal


def test_a_row_does_not_depend_on_its_batch():
    full = row_normal(torch.tensor([5, 9, 11, 5]), step=3, n=10)
    alone = row_normal(torch.tensor([9]), step=3, n=10)
    torch.testing.assert_close(full[1:2], alone, rtol=0, atol=0)
    torch.testing.assert_close(full[0], full[3], rtol=0, atol=0)      # same seed, same stream
    assert not torch.equal(full[0], full[1])
    assert not torch.equal(row_normal(torch.tensor([9]), step=4, n=10), alone)


def test_moments_are_standard_normal():
    x = row_normal(torch.arange(2000), step=0, n=50, dtype=torch.float64)
    assert abs(float(x.mean())) < 0.01 and abs(float(x.std()) - 1.0) < 0.01
    assert abs(float((x > 1.96).double().mean()) - 0.025) < 0.003
