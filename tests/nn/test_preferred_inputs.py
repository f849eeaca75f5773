"""Deeper-layer receptive fields: the gradient-ascent input drives its own channel harder than plain images."""

import pytest
import torch

from evohebb.nn.architectures import get_model
from evohebb.nn.preferred_inputs import preferred_inputs


def _centre(model, x, block):
    """The block's weighted input (its Hebbian conv's output) at the centre position."""
    captured = {}
    hook = model.blocks[block].hebbian_layers()[-1].register_forward_hook(
        lambda _m, _i, output: captured.update(out=output))
    model.features(x, upto=block + 1)
    hook.remove()
    out = captured["out"]
    return out[:, :, out.shape[2] // 2, out.shape[3] // 2]


def test_preferred_input_excites_its_channel_and_stays_an_image():
    torch.manual_seed(0)
    model = get_model("softhebb", input_shape=(1, 28, 28), channels=[8, 16, 32])
    model.eval()
    images = preferred_inputs(model, block=1, channels=6, steps=40)
    assert images.shape == (6, 1, 28, 28) and images.min() >= 0 and images.max() <= 1
    with torch.no_grad():
        own = _centre(model, images, 1)[torch.arange(6), torch.arange(6)]
        plain = _centre(model, torch.rand(64, 1, 28, 28), 1)[:, :6].max(dim=0).values
    assert (own > plain).all(), (own, plain)   # better than the best of 64 random images, channel by channel


def test_preferred_inputs_leave_the_model_untouched_and_check_the_block():
    model = get_model("softhebb", input_shape=(1, 28, 28), channels=[8, 16, 32])
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    preferred_inputs(model, block=2, channels=4, steps=3)
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    with pytest.raises(ValueError, match="block=3 is out of range"):
        preferred_inputs(model, block=3)
