"""Stream positions: allocated in order, visible only once every lower one is persisted.

Writers to different rooms commit in any order; a reader must never see position N while
N-1 is still in flight, or a /sync could step past an event that lands later. `current` is
the highest position below which nothing is in flight.

In-process: one homeserver process writes events (several processes would take positions
from a PostgreSQL sequence and track each writer's progress; see DESIGN.md, "Scale")."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


class StreamIdGenerator:
    def __init__(self, last_persisted: int) -> None:
        self._last_allocated = last_persisted
        self._current = last_persisted
        self._in_flight: set[int] = set()

    @property
    def current(self) -> int:
        return self._current

    @contextlib.contextmanager
    def allocate(self) -> Iterator[int]:
        """A new position, held in flight until the `with` block ends (committed or not)."""
        self._last_allocated += 1
        position = self._last_allocated
        self._in_flight.add(position)
        try:
            yield position
        finally:
            self._in_flight.discard(position)
            self._current = min(self._in_flight) - 1 if self._in_flight else self._last_allocated

    @contextlib.contextmanager
    def allocate_many(self, count: int) -> Iterator[range]:
        """`count` consecutive new positions (one per row of a batch), held in flight together
        until the `with` block ends; cheaper than `count` nested `allocate()` blocks."""
        positions = range(self._last_allocated + 1, self._last_allocated + 1 + max(count, 0))
        self._last_allocated += len(positions)
        self._in_flight.update(positions)
        try:
            yield positions
        finally:
            self._in_flight.difference_update(positions)
            self._current = min(self._in_flight) - 1 if self._in_flight else self._last_allocated


class Counter:
    """Plain unique IDs (state groups): no ordering promise to readers."""

    def __init__(self, last: int) -> None:
        self._last = last

    def next(self) -> int:
        self._last += 1
        return self._last
