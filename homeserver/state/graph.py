"""The auth graph as state resolution sees it: a cache of fetched events, batched walks over
`auth_events`, and the sets the algorithm is defined with (conflicted state, auth difference,
conflicted state subgraph, full conflicted set).

An auth chain here follows the `auth_events` an event lists, nothing else: from room v12 the
create event is implied by the room ID and is not part of the graph (the auth checks still get
it, see `EventCache.own_auth_events`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from homeserver.events.model import Event, StateKey
from homeserver.ids import EventID
from homeserver.room_versions import RoomVersion, StateResAlgorithm
from homeserver.state.source import EventSource, listed_auth_ids


class EventCache:
    """Events fetched from an `EventSource`, each at most once, always in batches. `auth` and
    `keys` index every ID looked up (a missing event lists nothing and has no key)."""

    def __init__(self, source: EventSource, version: RoomVersion) -> None:
        self.source = source
        self.version = version
        self.events: dict[EventID, Event] = {}
        self.auth: dict[EventID, Sequence[EventID]] = {}  # the auth_events each one lists
        self.keys: dict[EventID, StateKey | None] = {}  # (type, state_key); None if not state
        self._own_auth: dict[EventID, dict[StateKey, Event]] = {}
        self._create_ids: dict[str, EventID] = {}

    async def fetch(self, event_ids: Iterable[EventID]) -> None:
        """Make sure these events are cached (or known to be missing): one batch at most."""
        known = self.auth
        wanted = {eid for eid in event_ids if eid not in known}
        if not wanted:
            return
        found = await self.source.get_events(wanted)
        events, keys = self.events, self.keys
        for eid in wanted:
            event = found.get(eid)
            if event is None:
                known[eid], keys[eid] = (), None
            else:
                events[eid] = event
                known[eid] = listed_auth_ids(event)
                keys[eid] = event.key if "state_key" in event.pdu else None

    def auth_ids(self, event_id: EventID) -> Sequence[EventID]:
        """The auth_events a cached event lists (empty for an event that is not cached)."""
        return self.auth.get(event_id, ())

    def implied_create_id(self, event: Event) -> EventID | None:
        """From v12, the create event the room ID names (not listed in auth_events)."""
        if not self.version.create_event_not_in_auth_events:
            return None
        pdu = event.pdu
        room_id = pdu.get("room_id")
        if not isinstance(room_id, str) or pdu.get("type") == "m.room.create":
            return None
        create_id = self._create_ids.get(room_id)
        if create_id is None:
            if not room_id.startswith("!"):
                return None
            create_id = self._create_ids[room_id] = EventID("$" + room_id[1:])
        return create_id

    async def fetch_auth_events(self, events: Iterable[Event]) -> None:
        """Cache the listed (and, from v12, implied) auth events of these events: one batch."""
        wanted: set[EventID] = set()
        for event in events:
            wanted.update(self.auth_ids(event.event_id))
            create_id = self.implied_create_id(event)
            if create_id is not None:
                wanted.add(create_id)
        await self.fetch(wanted)

    def own_auth_events(self, event: Event) -> dict[StateKey, Event]:
        """An event's own auth events by (type, state_key), rejected ones left out; from v12
        with the implied create event. Call `fetch_auth_events` first."""
        own = self._own_auth.get(event.event_id)
        if own is None:
            own = {}
            keys, events = self.keys, self.events
            create_id = self.implied_create_id(event)
            ids = self.auth_ids(event.event_id)
            for auth_id in (*ids, create_id) if create_id is not None else ids:
                key = keys.get(auth_id)
                if key is not None and key not in own:
                    auth_event = events[auth_id]
                    if auth_event.rejected_reason is None:
                        own[key] = auth_event
            self._own_auth[event.event_id] = own
        return own

    async def walk(self, start: Iterable[EventID], stop: AbstractSet[EventID] = frozenset()) -> set[EventID]:
        """The auth chain of `start` without the events in `stop` and what lies only behind
        them. `stop` must be closed under auth chains (an auth chain itself) for the result to
        be exactly chain(start) - stop. One `get_events` batch per generation."""
        chain: set[EventID] = set()
        frontier = set(start)
        auth = self.auth
        while frontier:
            await self.fetch(frontier)
            found: set[EventID] = set()
            for eid in frontier:
                found.update(auth[eid])
            # set - set walks the left operand: keep the big sets on the right.
            frontier = found - chain
            if stop:
                frontier = frontier - stop
            chain |= frontier
        return chain

    def reach_within(self, start: Iterable[EventID], region: Collection[EventID]) -> set[EventID]:
        """The events of `region` reachable from `start` through auth_events links that stay
        inside `region` (the starts are included only if reached). Cached events only."""
        auth = self.auth
        seen: set[EventID] = set()
        stack = list(start)
        while stack:
            for auth_id in auth.get(stack.pop(), ()):
                if auth_id not in seen and auth_id in region:
                    seen.add(auth_id)
                    stack.append(auth_id)
        return seen


def separate(
    state_sets: Sequence[Mapping[StateKey, EventID]],
) -> tuple[dict[StateKey, EventID], dict[StateKey, set[EventID]]]:
    """The unconflicted state map, and the conflicted state set grouped by key. A key missing
    from one of the state sets is conflicted."""
    unconflicted = dict(state_sets[0])
    for state_set in state_sets[1:]:
        unconflicted = {key: eid for key, eid in unconflicted.items() if state_set.get(key) == eid}
    conflicted: dict[StateKey, set[EventID]] = {}
    for state_set in state_sets:
        for key in state_set.keys() - unconflicted.keys():
            conflicted.setdefault(key, set()).add(state_set[key])
    return unconflicted, conflicted


@dataclass(frozen=True, slots=True)
class ConflictedSets:
    full: set[EventID]  # the full conflicted set (fetched events only)
    auth_difference: set[EventID]
    subgraph: set[EventID]  # the conflicted state subgraph; empty before v2.1
    # Where every event of `full` and every auth link between two of them lies; walks that
    # stay inside it see exactly what walks over the whole auth graph would (see below).
    region: set[EventID]


async def conflicted_sets(
    cache: EventCache,
    state_sets: Sequence[Mapping[StateKey, EventID]],
    unconflicted: Mapping[StateKey, EventID],
    conflicted: Mapping[StateKey, Collection[EventID]],
) -> ConflictedSets:
    """The auth difference, the conflicted state subgraph (v2.1) and the full conflicted set.

    Every state set holds the unconflicted events, so every full auth chain C_i contains
    U = chain(unconflicted events) and the auth difference is (∪Y_i − ∩Y_i) − U with
    Y_i = chain(S_i's conflicted events). U is closed under auth chains, so as long as no
    conflicted event lies in U nothing in U reaches the full conflicted set, and every walk
    can stop at U: the work then grows with the forks, not with the room's history.
    """
    version = cache.version
    conflicted_ids = set[EventID]().union(*conflicted.values())
    unconflicted_chain = await cache.source.get_auth_chain_ids(list(unconflicted.values()))
    stop: AbstractSet[EventID] = unconflicted_chain
    if not conflicted_ids.isdisjoint(unconflicted_chain):
        stop = frozenset()  # a conflicted event behind the unconflicted state: walk everything
    region_chain = await cache.walk(conflicted_ids, stop)
    region = region_chain | conflicted_ids
    chains = [cache.reach_within([s[k] for k in conflicted if k in s], region) for s in state_sets]
    in_every_chain = chains[0].intersection(*chains[1:])
    difference = chains[0].union(*chains[1:]) - in_every_chain - unconflicted_chain
    subgraph: set[EventID] = set()
    if version.state_res is StateResAlgorithm.V2_1:
        subgraph = _conflicted_subgraph(cache, conflicted_ids, region)
    await cache.fetch(conflicted_ids)
    full = {eid for eid in conflicted_ids | difference | subgraph if eid in cache.events}
    return ConflictedSets(full=full, auth_difference=difference, subgraph=subgraph, region=region)


def _conflicted_subgraph(
    cache: EventCache, conflicted_ids: set[EventID], region: set[EventID]
) -> set[EventID]:
    """Every event on an auth_events path between two conflicted events, endpoints included:
    the events of `region` (all reachable from a conflicted event) that reach one."""
    children: dict[EventID, list[EventID]] = {}
    auth = cache.auth
    for eid in region:
        for auth_id in auth.get(eid, ()):
            if auth_id in region:
                children.setdefault(auth_id, []).append(eid)
    subgraph = set(conflicted_ids)
    stack = list(conflicted_ids)
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in subgraph:
                subgraph.add(child)
                stack.append(child)
    return subgraph
