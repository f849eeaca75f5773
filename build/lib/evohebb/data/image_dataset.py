"""An in-memory labelled image data set: uint8 images, int64 labels, class names."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch


@dataclass
class ImageDataset:
    """Images ``uint8 [N, C, H, W]`` with labels ``int64 [N]``; ``classes[label]`` is the label's name."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    name: str

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(
                f"ImageDataset.images must be a uint8 tensor [N, C, H, W], got dtype {self.images.dtype} "
                f"and shape {tuple(self.images.shape)}"
            )
        if self.labels.dtype != torch.int64 or self.labels.dim() != 1:
            raise ValueError(
                f"ImageDataset.labels must be an int64 tensor [N], got dtype {self.labels.dtype} "
                f"and shape {tuple(self.labels.shape)}"
            )
        if len(self.labels) != len(self.images):
            raise ValueError(
                f"ImageDataset has {len(self.images)} images but {len(self.labels)} labels; they must match"
            )
        if len(self.labels) and (int(self.labels.min()) < 0 or int(self.labels.max()) >= len(self.classes)):
            raise ValueError(
                f"ImageDataset labels must lie in [0, {len(self.classes)}) (one per class name), "
                f"got range [{int(self.labels.min())}, {int(self.labels.max())}]"
            )

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def n_classes(self) -> int:
        """Number of class names (labels lie in ``[0, n_classes)``)."""
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one image."""
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def to_float(
        self,
        mean: float | Sequence[float] | torch.Tensor | None = None,
        std: float | Sequence[float] | torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Images as float32 ``[N, C, H, W]`` in ``[0, 1]``; with ``mean``/``std`` (scalar or one per channel),
        normalised as ``(x - mean) / std``."""
        images = self.images.to(torch.float32).div_(255.0)
        if mean is None and std is None:
            return images
        mean_t = _per_channel(mean if mean is not None else 0.0, self.images.shape[1], "mean")
        std_t = _per_channel(std if std is not None else 1.0, self.images.shape[1], "std")
        if bool((std_t <= 0).any()):
            raise ValueError(f"to_float: std must be > 0, got {std_t.tolist()}")
        return images.sub_(mean_t).div_(std_t)

    def subset(self, indices: torch.Tensor | Sequence[int]) -> ImageDataset:
        """The samples at ``indices`` (int indices or a boolean mask), same classes and name."""
        index = torch.as_tensor(indices)
        if index.dtype != torch.bool:
            index = index.to(torch.int64)
        return ImageDataset(self.images[index], self.labels[index], list(self.classes), self.name)


def _per_channel(value: float | Sequence[float] | torch.Tensor, channels: int, what: str) -> torch.Tensor:
    tensor = torch.as_tensor(value, dtype=torch.float32).flatten()
    if tensor.numel() == 1:
        tensor = tensor.expand(channels)
    if tensor.numel() != channels:
        raise ValueError(
            f"to_float: {what} needs 1 or {channels} values (one per channel), got {tensor.numel()}"
        )
    return tensor.view(1, channels, 1, 1)
