"""Frame batches for the population's first layer: the same values in either memory order, and a network that
reads [P, C, H, W] order asks for it."""

import numpy as np
import torch

from evohebb.es.rollout import observation_batch
from evohebb.nn.network_builders import carracing_policy


def test_both_layouts_hold_the_frames_scaled_to_unit_range():
    frames = np.random.default_rng(0).integers(0, 256, (5, 8, 6, 3), dtype=np.uint8)
    expected = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255.0
    grouped = observation_batch(frames, "cpu")
    ordered = observation_batch(frames, "cpu", contiguous=True)
    assert torch.equal(grouped, expected) and torch.equal(ordered, expected)
    assert ordered.is_contiguous()
    assert grouped.permute(2, 3, 0, 1).is_contiguous()           # [H, W, N, C] in memory: the grouped conv's
    gray = observation_batch(frames[..., 0], "cpu", contiguous=True)
    assert gray.shape == (5, 1, 8, 6) and torch.equal(gray[:, 0], expected[:, 0])


def test_only_a_first_conv_under_compile_copies_wants_ordered_frames():
    assert carracing_policy(compile_copies=True).contiguous_input
    assert carracing_policy(compile_copies=True, plastic=False).contiguous_input
    assert not carracing_policy().contiguous_input
