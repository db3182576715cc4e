"""What state resolution needs from storage: events by ID, in batches.

`EventSource` is the protocol the resolver reads through. `get_auth_chain_ids` is an optional
optimisation: a class that subclasses `EventSource` inherits a default that walks
`auth_events` one batch per generation (`walk_auth_chain`); a store with an auth chain index
can answer it in one query instead. `InMemoryEventSource` serves events from a dict (tests,
benchmarks, events that are in flight and not yet persisted).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Protocol, cast

from homeserver.events.model import Event
from homeserver.ids import EventID
from homeserver.room_versions import EventFormat


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
            found.update(listed_auth_ids(event))
        frontier = found - chain
        chain |= frontier
    return chain


def listed_auth_ids(event: Event) -> Sequence[EventID]:
    """The IDs in the event's auth_events (`Event.auth_event_ids` without the copy)."""
    refs = event.pdu.get("auth_events") or ()
    if event.room_version.event_format is EventFormat.V1:
        return [EventID(ref[0]) for ref in refs]
    return cast(Sequence[EventID], refs)


class InMemoryEventSource(EventSource):
    """An `EventSource` over a dict of events, with an index of their auth_events links (as a
    store keeps an event_auth table) that `get_auth_chain_ids` walks."""

    def __init__(self, events: Mapping[EventID, Event] | Iterable[Event] = ()) -> None:
        self._events: dict[EventID, Event] = {}
        self._auth_links: dict[EventID, Sequence[EventID]] = {}
        self.get_events_calls = 0  # batches served, for tests that count queries
        for event in events.values() if isinstance(events, Mapping) else events:
            self.add(event)

    def add(self, event: Event) -> None:
        self._events[event.event_id] = event
        self._auth_links[event.event_id] = listed_auth_ids(event)

    async def get_events(self, event_ids: Collection[EventID]) -> dict[EventID, Event]:
        self.get_events_calls += 1
        events = self._events
        return {eid: events[eid] for eid in event_ids if eid in events}

    async def get_auth_chain_ids(self, event_ids: Collection[EventID]) -> set[EventID]:
        links = self._auth_links
        chain: set[EventID] = set()
        frontier = set(event_ids)
        while frontier:
            found: set[EventID] = set()
            for eid in frontier:
                found.update(links.get(eid, ()))
            frontier = found - chain
            chain |= frontier
        return chain
