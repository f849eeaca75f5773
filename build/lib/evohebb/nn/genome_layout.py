"""The genome layout: one flat vector per individual <-> the named parameter slices a plastic network declares.

The network builds its layout (``network.genome_layout``) and reads its parameters through it; the ES layer
uses the same object to report and store genomes by name without knowing which rule is inside.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class GenomeLayout:
    """Ordered named slices of a flat genome vector."""

    shapes: tuple[tuple[str, tuple[int, ...]], ...]

    @classmethod
    def from_spec(cls, spec: dict[str, tuple[int, ...]]) -> GenomeLayout:
        return cls(tuple((name, tuple(shape)) for name, shape in spec.items()))

    @property
    def slices(self) -> dict[str, slice]:
        out, start = {}, 0
        for name, shape in self.shapes:
            size = math.prod(shape)
            out[name] = slice(start, start + size)
            start += size
        return out

    @property
    def size(self) -> int:
        return sum(math.prod(shape) for _, shape in self.shapes)

    def split(self, genome: torch.Tensor) -> dict[str, torch.Tensor]:
        """``[..., G]`` -> name -> ``[..., *shape]``."""
        if genome.shape[-1] != self.size:
            raise ValueError(f"genome has {genome.shape[-1]} values, the layout needs {self.size}")
        lead = genome.shape[:-1]
        return {name: genome[..., self.slices[name]].reshape(*lead, *shape) for name, shape in self.shapes}

    def names(self) -> list[str]:
        return [name for name, _ in self.shapes]

    def shape(self, name: str) -> tuple[int, ...]:
        return dict(self.shapes)[name]

    def summary(self, genome: torch.Tensor) -> dict[str, dict[str, float]]:
        """Per-slice mean / std / min / max of one genome (for results.json and logs)."""
        parts = self.split(genome.detach().float().cpu())
        return {name: {"mean": float(t.mean()), "std": float(t.std(unbiased=False)),
                       "min": float(t.min()), "max": float(t.max()), "size": t.numel()}
                for name, t in parts.items()}
