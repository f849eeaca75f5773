"""Blocks of a SoftHebb network: ``BN(affine=False) -> Hebbian conv(s) -> triangle activation -> pool``.

Three conv parts share that frame: a plain Hebbian conv (:class:`SoftHebbBlock`), a depthwise-separable pair
(:class:`DepthwiseSeparableBlock`) and an inverted-bottleneck residual (:class:`ResidualBlock`:
1x1 -> depthwise -> 1x1 plus a Hebbian 1x1 shortcut). :class:`HebbianConvNet` stacks blocks and adds the
readout (Dropout + Linear).
"""

from __future__ import annotations

import torch
from torch import nn

from evohebb.nn.softhebb_conv import HebbianSettings, SoftHebbConv2d


class Triangle(nn.Module):
    """Triangle activation ``ReLU(u - mean_c u) ** power`` (mean over channels at each position)."""

    def __init__(self, power: float = 1.0):
        super().__init__()
        self.power = power

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        out = torch.relu(u - u.mean(dim=1, keepdim=True))
        return out if self.power == 1.0 else out.pow(self.power)

    def extra_repr(self) -> str:
        return f"power={self.power}"


class _Block(nn.Module):
    def __init__(self, in_channels: int, power: float, pool: nn.Module | None, batch_norm: bool):
        super().__init__()
        self.bn = nn.BatchNorm2d(in_channels, affine=False) if batch_norm else nn.Identity()
        self.activation = Triangle(power)
        self.pool = pool if pool is not None else nn.Identity()

    def conv(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.activation(self.conv(self.bn(x))))

    def hebbian_layers(self) -> list[SoftHebbConv2d]:
        return [m for m in self.modules() if isinstance(m, SoftHebbConv2d)]


class SoftHebbBlock(_Block):
    """BN -> one Hebbian conv -> triangle -> pool."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, padding: int,
                 settings: HebbianSettings, power: float = 1.0, pool: nn.Module | None = None,
                 batch_norm: bool = True, device: torch.device | str | None = None):
        super().__init__(in_channels, power, pool, batch_norm)
        self.layer = SoftHebbConv2d(in_channels, out_channels, kernel_size, padding=padding, settings=settings,
                                    device=device)

    def conv(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


class DepthwiseSeparableBlock(_Block):
    """BN -> Hebbian depthwise ``k x k`` conv -> Hebbian pointwise ``1 x 1`` conv -> triangle -> pool."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, padding: int,
                 settings: HebbianSettings, power: float = 1.0, pool: nn.Module | None = None,
                 batch_norm: bool = True, device: torch.device | str | None = None):
        super().__init__(in_channels, power, pool, batch_norm)
        self.depthwise = SoftHebbConv2d(in_channels, in_channels, kernel_size, padding=padding, groups=in_channels,
                                        settings=settings, device=device)
        self.pointwise = SoftHebbConv2d(in_channels, out_channels, 1, settings=settings, device=device)

    def conv(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class ResidualBlock(_Block):
    """BN -> (1x1 expand -> depthwise ``k x k`` -> 1x1 project) + Hebbian 1x1 shortcut -> triangle -> pool."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, padding: int,
                 settings: HebbianSettings, power: float = 1.0, pool: nn.Module | None = None,
                 batch_norm: bool = True, device: torch.device | str | None = None):
        super().__init__(in_channels, power, pool, batch_norm)
        self.expand = SoftHebbConv2d(in_channels, out_channels, 1, settings=settings, device=device)
        self.depthwise = SoftHebbConv2d(out_channels, out_channels, kernel_size, padding=padding,
                                        groups=out_channels, settings=settings, device=device)
        self.project = SoftHebbConv2d(out_channels, out_channels, 1, settings=settings, device=device)
        self.shortcut = SoftHebbConv2d(in_channels, out_channels, 1, settings=settings, device=device)

    def conv(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(self.depthwise(self.expand(x))) + self.shortcut(x)


class HebbianConvNet(nn.Module):
    """A stack of blocks (the Hebbian feature extractor) and a linear readout ``Dropout -> Linear``."""

    def __init__(self, blocks: list[nn.Module], input_shape: tuple[int, int, int], n_classes: int,
                 dropout: float = 0.5, device: torch.device | str | None = None):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.input_shape = tuple(input_shape)
        with torch.no_grad():
            was = [m.training for m in self.modules()]
            self.eval()
            probe = self.features(torch.zeros(1, *self.input_shape, device=device))
            for m, t in zip(self.modules(), was):
                m.training = t
        if probe.shape[1] == 0:
            raise ValueError(f"input shape {self.input_shape} leaves no features after the blocks; "
                             "use larger images or fewer pooling layers")
        self.feature_dim = probe.shape[1]
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(self.feature_dim, n_classes, device=device)

    def features(self, x: torch.Tensor, upto: int | None = None) -> torch.Tensor:
        """Flattened output of the first ``upto`` blocks (all by default)."""
        for block in self.blocks[:upto]:
            x = block(x)
        return x.flatten(1) if upto is None else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.features(x)))

    def hebbian_layers(self) -> list[SoftHebbConv2d]:
        return [m for m in self.blocks.modules() if isinstance(m, SoftHebbConv2d)]

    def hebbian_step(self, bp_lr: float = 0.0) -> None:
        """Apply every Hebbian layer's pending update (see :meth:`SoftHebbConv2d.hebbian_step`)."""
        for layer in self.hebbian_layers():
            layer.hebbian_step(bp_lr)

    def set_plastic(self, block_indices: set[int] | None) -> None:
        """Make the Hebbian layers of the given blocks plastic (None: all) and freeze the others."""
        for i, block in enumerate(self.blocks):
            for layer in block.modules():
                if isinstance(layer, SoftHebbConv2d):
                    layer.plastic = layer.settings.alpha > 0 and (block_indices is None or i in block_indices)

    def plasticity_state(self) -> dict:
        return {name: m.plasticity_state() for name, m in self.named_modules()
                if isinstance(m, SoftHebbConv2d) and m.plasticity_state()}

    def load_plasticity_state(self, state: dict) -> None:
        modules = dict(self.named_modules())
        for name, sub in state.items():
            modules[name].load_plasticity_state(sub)
