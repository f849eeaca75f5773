"""A pipeline's typed state that goes into weights-only checkpoints as a plain dict and comes back."""

from __future__ import annotations

import typing
from dataclasses import fields
from typing import Any, TypeVar

T = TypeVar("T", bound="PlainState")

__all__ = ["PlainState"]


class PlainState:
    """Mixin for a dataclass whose fields hold tensors, plain containers or other ``PlainState`` s."""

    def to_checkpoint(self) -> dict[str, Any]:
        """Plain containers only (loadable with ``torch.load(weights_only=True)``)."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.to_checkpoint() if isinstance(value, PlainState) else value
        return out

    @classmethod
    def from_checkpoint(cls: type[T], saved: dict[str, Any]) -> T:
        """Fields absent from ``saved`` (an older checkpoint) keep their defaults."""
        hints = typing.get_type_hints(cls)
        values = {}
        for f in fields(cls):
            if f.name in saved:
                kind = hints.get(f.name)
                nested = isinstance(kind, type) and issubclass(kind, PlainState)
                values[f.name] = kind.from_checkpoint(saved[f.name]) if nested else saved[f.name]
        return cls(**values)
