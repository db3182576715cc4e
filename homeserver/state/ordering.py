"""The two orderings of state resolution v2: the reverse topological power ordering (for power
events) and the mainline ordering (for the rest)."""

from __future__ import annotations

import heapq
from collections.abc import Collection, Iterable, Sequence
from collections.abc import Set as AbstractSet
from typing import Final

from homeserver.auth.power_levels import CREATE_KEY, POWER_LEVELS_KEY, PowerLevel, user_power_level
from homeserver.events.model import Event
from homeserver.ids import EventID
from homeserver.state.graph import EventCache

MEMBER: Final = "m.room.member"
# Mainline position of an event with no power levels event of the mainline behind it.
NOT_ON_MAINLINE: Final = 1 << 62


def is_power_event(event: Event) -> bool:
    """m.room.power_levels, m.room.join_rules, or a leave/ban of someone else."""
    pdu = event.pdu
    if "state_key" not in pdu:
        return False
    event_type = pdu.get("type")
    if event_type == "m.room.power_levels" or event_type == "m.room.join_rules":
        return True
    return (
        event_type == MEMBER
        and event.membership in ("leave", "ban")
        and pdu.get("sender") != pdu.get("state_key")
    )


async def sorted_power_events(
    cache: EventCache, full: AbstractSet[EventID], region: AbstractSet[EventID]
) -> list[Event]:
    """Step 1: the power events of the full conflicted set with the events of their auth
    chains that are in the full conflicted set, in reverse topological power ordering. Auth
    chains are followed through any event of `region` (which holds every auth path that can
    lead back into the full conflicted set), and the ordering follows them the same way."""
    power = {eid for eid in full if is_power_event(cache.events[eid])}
    behind = cache.reach_within(power, region)
    return await reverse_topological_power_order(cache, power | (behind & full), through=behind)


async def reverse_topological_power_order(
    cache: EventCache, event_ids: Collection[EventID], through: Collection[EventID] = ()
) -> list[Event]:
    """`event_ids` in reverse topological power ordering, earliest first: Kahn's algorithm
    taking at each step the smallest ready event (greatest sender power level according to
    its own auth events, then earliest origin_server_ts, then smallest event ID).

    An event is ready once every one of `event_ids` in its auth chain has been taken. Auth
    chains are followed through the events of `through` too (cached events that are not
    ordered themselves): they pass on readiness as soon as they have it."""
    events = [cache.events[eid] for eid in event_ids]
    await cache.fetch_auth_events(events)
    graph = set(event_ids) | set(through)
    waiting_on: dict[EventID, int] = {}
    needed_by: dict[EventID, list[EventID]] = {}
    for eid in graph:
        count = 0
        for auth_id in cache.auth_ids(eid):
            if auth_id in graph:
                count += 1
                needed_by.setdefault(auth_id, []).append(eid)
        waiting_on[eid] = count
    ready: list[tuple[PowerLevel, int, EventID]] = []

    def settle(newly_ready: list[EventID]) -> None:
        # Ordered events wait in `ready`; the others pass their readiness on at once.
        while newly_ready:
            eid = newly_ready.pop()
            if eid in event_ids:
                heapq.heappush(ready, _power_key(cache, cache.events[eid]))
            else:
                newly_ready.extend(_release(eid, needed_by, waiting_on))

    settle([eid for eid, count in waiting_on.items() if count == 0])
    ordered: list[Event] = []
    while ready:
        eid = heapq.heappop(ready)[2]
        ordered.append(cache.events[eid])
        settle(_release(eid, needed_by, waiting_on))
    # Events in an auth_events cycle (impossible with hash IDs) never become ready: left out.
    return ordered


def _release(
    eid: EventID, needed_by: dict[EventID, list[EventID]], waiting_on: dict[EventID, int]
) -> list[EventID]:
    """Mark `eid` as done; the events that become ready because of it."""
    released = []
    for dependent in needed_by.get(eid, ()):
        waiting_on[dependent] -= 1
        if waiting_on[dependent] == 0:
            released.append(dependent)
    return released


def _power_key(cache: EventCache, event: Event) -> tuple[PowerLevel, int, EventID]:
    return (-sender_power_level(cache, event), event.origin_server_ts, event.event_id)


def sender_power_level(cache: EventCache, event: Event) -> PowerLevel:
    """The sender's power level according to the event's own auth events."""
    own = cache.own_auth_events(event)
    return user_power_level(
        event.sender,
        create=own.get(CREATE_KEY),
        power_levels=own.get(POWER_LEVELS_KEY),
        version=cache.version,
    )


async def mainline_order(
    cache: EventCache, events: Sequence[Event], power_levels: Event | None
) -> list[Event]:
    """`events` in mainline ordering based on `power_levels`: greater mainline position first
    (older power levels), then earliest origin_server_ts, then smallest event ID."""
    if not events:
        return []
    parents = await _power_levels_parents(cache, events, power_levels)
    position: dict[EventID, int] = {}
    step = 0
    current = power_levels.event_id if power_levels is not None else None
    while current is not None and current not in position:
        position[current] = step
        step += 1
        current = parents.get(current)

    behind: dict[EventID, int] = {}  # power levels events off the mainline -> their answer
    walked_set: set[EventID] = set()  # guards against auth_events cycles

    def mainline_position(event_id: EventID) -> int:
        # The position of the first power levels event behind the event (itself excluded)
        # that is on the mainline.
        walked: list[EventID] = []
        current = parents.get(event_id)
        found = NOT_ON_MAINLINE
        while current is not None and current not in walked_set:
            if current in position:
                found = position[current]
                break
            if current in behind:
                found = behind[current]
                break
            walked.append(current)
            walked_set.add(current)
            current = parents.get(current)
        walked_set.clear()
        for pl_id in walked:  # they all lead to the same answer
            behind[pl_id] = found
        return found

    keyed = []
    for event in events:
        pos = mainline_position(event.event_id)
        keyed.append((-pos, event.origin_server_ts, event.event_id, event))
    keyed.sort(key=lambda k: k[:3])
    return [k[3] for k in keyed]


async def _power_levels_parents(
    cache: EventCache, events: Iterable[Event], power_levels: Event | None
) -> dict[EventID, EventID | None]:
    """For the events and every power levels event behind them (and behind `power_levels`):
    the power levels event each one lists in its auth_events. One batch per generation."""
    parents: dict[EventID, EventID | None] = {}
    auth, keys = cache.auth, cache.keys
    frontier = [e.event_id for e in events]
    if power_levels is not None:
        frontier.append(power_levels.event_id)
    while frontier:
        await cache.fetch(frontier)
        await cache.fetch(auth_id for eid in frontier for auth_id in auth[eid])
        found: list[EventID] = []
        for eid in frontier:
            parent = None
            for auth_id in auth.get(eid, ()):
                if keys.get(auth_id) == POWER_LEVELS_KEY:
                    parent = auth_id
                    break
            parents[eid] = parent
            if parent is not None and parent not in parents:
                parents[parent] = None  # placeholder until its own generation
                found.append(parent)
        frontier = found
    return parents
