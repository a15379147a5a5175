"""One small generic registry, keyed by the names users type on the command line.

Registration happens by explicit imports in each subpackage ``__init__``, so a caller never has
to remember an import. Unknown names fail with the known names and the closest match. A name
registered at run time (a plug-in, a test's example) can be removed again with ``unregister``.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from mobileseg.errors import UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """A named table of builders (models, distillers, export formats, runtimes, ...)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: ``@MODELS.register("name")`` stores the decorated object under ``name``."""

        def add(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = obj
            return obj

        return add

    def get(self, name: str) -> T:
        if name not in self._items:
            known = sorted(self._items)
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}. Known {self.kind}s: {', '.join(known) or '(none)'}.{hint}"
            )
        return self._items[name]

    def unregister(self, name: str) -> T:
        """Remove ``name`` and return what it held (a test that registered an example cleans up after itself)."""
        self.get(name)  # an unknown name fails as a lookup does
        return self._items.pop(name)

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._items)

    def in_order(self) -> list[str]:
        """The registered names in the order they were registered (the order of the imports)."""
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)
