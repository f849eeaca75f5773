"""Receptive fields of deeper layers: the input each channel prefers, found by projected gradient ascent.

A first-layer kernel is its own receptive field (it is a filter on pixels); a deeper channel's is not. Here
an input image, kept in ``[0, 1]``, is optimised to maximise the channel's weighted input (the output of the
block's last Hebbian layer, before the triangle activation, whose zeros would stop the gradient) at the
centre of the map (the network in eval mode, weights untouched); the result shows what the channel detects.
"""

from __future__ import annotations

import torch
from torch import nn


def preferred_inputs(model: nn.Module, block: int, channels: int = 16, steps: int = 50, lr: float = 0.05,
                     seed: int = 0) -> torch.Tensor:
    """``[channels, C, H, W]`` inputs in [0, 1] maximising the weighted input of channels ``0..channels-1`` of
    block ``block`` (0-based) at the centre position; ``model`` is a :class:`HebbianConvNet`."""
    n_blocks = len(model.blocks)
    if not 0 <= block < n_blocks:
        raise ValueError(f"block={block} is out of range; the model has blocks 0..{n_blocks - 1}")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    x = (0.45 + 0.1 * torch.rand(channels, *model.input_shape, generator=generator)).to(device)
    x.requires_grad_(True)
    optimizer = torch.optim.Adam([x], lr=lr)
    index = torch.arange(channels, device=device)
    layer = model.blocks[block].hebbian_layers()[-1]
    captured = {}
    hook = layer.register_forward_hook(lambda _module, _inputs, output: captured.update(out=output))
    try:
        for _ in range(steps):
            model.features(x, upto=block + 1)
            out = captured["out"]                          # [channels, K, h, w]
            if out.shape[1] < channels:
                raise ValueError(f"block {block} has {out.shape[1]} channels; asked for {channels}")
            centre = out[index, index, out.shape[2] // 2, out.shape[3] // 2]
            optimizer.zero_grad(set_to_none=True)
            (-centre.sum()).backward()
            optimizer.step()
            with torch.no_grad():
                x.clamp_(0.0, 1.0)                        # the projection: stay a valid image
    finally:
        hook.remove()
        model.train(was_training)
    return x.detach()
