"""What state resolution needs from storage: events by ID, in batches.

`EventSource` is the protocol the resolver reads through. `get_auth_chain_ids` is an optional
optimisation: a class that subclasses `EventSource` inherits a default that walks
`auth_events` one batch per generation (`walk_auth_chain`); a store with an auth chain index
can answer it in one query instead. `InMemoryEventSource` serves events from a dict (tests,
benchmarks, events that are in flight and not yet persisted).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Protocol

from homeserver.events.model import Event
from homeserver.ids import EventID


class EventSource(Protocol):
    async def get_events(self, event_ids: Collection[EventID]) -> dict[EventID, Event]:
        """The events with these IDs, rejected ones included; unknown IDs are left out.
        Called with whole batches: implementations must not issue one query per event."""
        ...

    async def get_auth_chain_ids(self, event_ids: Collection[EventID]) -> set[EventID]:
        """The union of the auth chains of these events: every event reachable through
        `auth_events` links. A start event is in the result only if another start event
        reaches it. Unknown events end the walk where they are met."""
        return await walk_auth_chain(self, event_ids)


async def walk_auth_chain(source: EventSource, event_ids: Iterable[EventID]) -> set[EventID]:
    """The default `get_auth_chain_ids`: a breadth-first walk, one `get_events` per generation."""
    chain: set[EventID] = set()
    frontier = set(event_ids)
    while frontier:
        events = await source.get_events(frontier)
        found: set[EventID] = set()
        for event in events.values():
            for auth_id in event.auth_event_ids:
                if auth_id not in chain:
                    chain.add(auth_id)
                    found.add(auth_id)
        frontier = found
    return chain


class InMemoryEventSource(EventSource):
    """An `EventSource` over a dict of events."""

    def __init__(self, events: Mapping[EventID, Event] | Iterable[Event] = ()) -> None:
        self._events: dict[EventID, Event] = (
            dict(events) if isinstance(events, Mapping) else {e.event_id: e for e in events}
        )
        self.get_events_calls = 0  # batches served, for tests that count queries

    def add(self, event: Event) -> None:
        self._events[event.event_id] = event

    async def get_events(self, event_ids: Collection[EventID]) -> dict[EventID, Event]:
        self.get_events_calls += 1
        events = self._events
        return {eid: events[eid] for eid in event_ids if eid in events}
