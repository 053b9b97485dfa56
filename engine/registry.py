"""A named, ordered registry of plug-ins: automated-step handlers and prefill providers.

Registration order is kept (prefill providers run in priority order) and a name registered
twice is an error, which catches a copy-pasted decorator.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Plug-ins of one kind by name, in registration order; names are unique."""

    kind = "plug-in"
    """What the registry holds, for the duplicate-name error."""

    def __init__(self) -> None:
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """A decorator that registers its function under ``name``."""

        def decorator(entry: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._entries[name] = entry
            return entry

        return decorator

    def __getitem__(self, name: str) -> T:
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def names(self) -> Iterator[str]:
        """The registered names, in registration order."""
        return iter(self._entries)

    def items(self) -> Iterator[tuple[str, T]]:
        """``(name, entry)`` pairs, in registration order."""
        return iter(self._entries.items())
