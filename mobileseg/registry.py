"""One small generic registry, keyed by the names users type on the command line.

Registration happens by explicit imports in each subpackage ``__init__``, so a caller never has
to remember an import. Unknown names fail with the known names and the closest match.
"""

from __future__ import annotations

import difflib
from typing import Callable, Generic, Iterator, TypeVar

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

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)
