"""Name -> builder registries (architectures, network builders, output heads, search algorithms), like
torchvision's ``get_model``: a builder registers itself with a decorator; an unknown name gets one error that
lists the registered ones."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

__all__ = ["Registry"]


class Registry(dict[str, T], Generic[T]):
    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(entry: T) -> T:
            if name in self:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self[name] = entry
            return entry
        return decorator

    def lookup(self, name: str) -> T:
        if name not in self:
            raise ValueError(f"{self.kind} {name!r} is unknown; registered: {', '.join(sorted(self))}")
        return self[name]
