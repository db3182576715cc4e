"""A bounded map that forgets its least recently used entries: the in-memory caches of the
server (token claims, filters, presence rows, encoded events, key counts...) are all this."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
_MISSING = object()


class Lru(Generic[K, V]):
    __slots__ = ("_items", "_size")

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        """The value (now the most recently used), or None if absent."""
        value = self._items.get(key, _MISSING)
        if value is _MISSING:
            return None
        self._items.move_to_end(key)
        return value  # type: ignore[return-value]

    def peek(self, key: K) -> V | None:
        """The value without making it the most recently used (for hot loops over many keys)."""
        return self._items.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def put(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        if len(self._items) > self._size:
            self._items.popitem(last=False)

    def pop(self, key: K) -> None:
        self._items.pop(key, None)

    def clear(self) -> None:
        self._items.clear()
