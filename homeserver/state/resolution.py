"""State resolution v2 (room versions 2-11) and v2.1 (room version 12).

Spec: rooms/fragments/v2-state-res.md and rooms/v12.md, "State resolution". `resolve_state`
is a pure function of the state sets and the events behind them: the result does not depend
on the order of the state sets, and events are read through an `EventSource` in batches.

1. Split the state sets into the unconflicted state map and the conflicted state set; the
   full conflicted set adds the auth difference (and from v2.1 the conflicted state subgraph).
2. Power events in the full conflicted set, with the parts of their auth chains in it, go
   through the iterative auth checks in reverse topological power ordering, starting from
   the unconflicted state map (v2) or from an empty state (v2.1).
3. The other events go through the iterative auth checks in mainline ordering, based on the
   power levels event the first pass ended with.
4. The unconflicted state map is applied over the result.

Readings of the spec where implementations differ (Synapse's choice in brackets):
- An auth chain holds what an event's auth_events reach, not the event itself, so an
  unconflicted event cited by only some forks is in the auth difference [Synapse counts each
  state set's own events in its chain]. From v12 the implied create event is no auth link.
- Power events are exactly the spec's: m.room.power_levels, m.room.join_rules, and leaves and
  bans of others [Synapse adds m.room.create].
- Step 2 takes "the events in the auth chain of P which also belong to the full conflicted
  set" whatever the path to them, and orders everything by auth ancestry, also through
  events outside the set [Synapse follows only links inside the full conflicted set; from
  v2.1, whose conflicted state subgraph fills those gaps, the two readings agree].
- Rejected events (`Event.rejected_reason` set) never enter the state during the iterative
  auth checks and never serve as auth events [as Synapse]: this server does not record
  whether an event was rejected against its auth chain or against the state before it, and
  `check_auth_rules` fails any event whose auth events include a rejected one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import cast

from homeserver.auth.power_levels import CREATE_KEY, POWER_LEVELS_KEY
from homeserver.auth.rules import AuthError, auth_types_for_event, check_auth_rules
from homeserver.events.model import Event, StateKey
from homeserver.ids import EventID
from homeserver.room_versions import RoomVersion, StateResAlgorithm
from homeserver.state.graph import EventCache, conflicted_sets, separate
from homeserver.state.ordering import mainline_order, sorted_power_events
from homeserver.state.source import EventSource

__all__ = ["StateResolutionError", "UnsupportedStateResolution", "resolve_state"]


_YIELD_EVERY = 200  # auth checks between two yields to the event loop


class StateResolutionError(Exception):
    """State could not be resolved."""


class UnsupportedStateResolution(StateResolutionError, NotImplementedError):
    """The room version's state resolution algorithm is not implemented (v1, room version 1)."""


async def resolve_state(
    room_version: RoomVersion,
    state_sets: Sequence[Mapping[StateKey, EventID]],
    source: EventSource,
) -> dict[StateKey, EventID]:
    """The resolution of `state_sets` ((type, state_key) -> event ID) for this room version.

    Events the source does not have are left out of the conflicted events (and an auth
    event it does not have counts as absent). Raises UnsupportedStateResolution for state
    sets that conflict in a room version that uses state resolution v1 (room version 1)."""
    if not state_sets:
        return {}
    unconflicted, conflicted = separate(state_sets)
    if not conflicted:
        return unconflicted  # every algorithm agrees when the state sets do
    if room_version.state_res is StateResAlgorithm.V1:
        raise UnsupportedStateResolution(
            f"state resolution v1 (room version {room_version.identifier}) is not implemented"
        )
    cache = EventCache(source, room_version)
    sets = await conflicted_sets(cache, state_sets, unconflicted, conflicted)
    full = [cache.events[eid] for eid in sets.full]
    await cache.fetch_auth_events(full)
    checker = _AuthChecker(cache)

    power_order = await sorted_power_events(cache, sets.full, sets.region)
    power_ids = {event.event_id for event in power_order}

    state: dict[StateKey, Event] = {}
    if room_version.state_res is StateResAlgorithm.V2:
        state = await _base_state(cache, checker, full, unconflicted)
    await checker.apply(power_order, state)

    others = [e for e in full if e.event_id not in power_ids]
    others = await mainline_order(cache, others, state.get(POWER_LEVELS_KEY))
    await checker.apply(others, state)

    resolved = {key: event.event_id for key, event in state.items()}
    resolved.update(unconflicted)
    return resolved


async def _base_state(
    cache: EventCache, checker: _AuthChecker, full: Iterable[Event], unconflicted: Mapping[StateKey, EventID]
) -> dict[StateKey, Event]:
    """The unconflicted state map as events, v2's starting point. Only the keys the auth checks
    or the mainline can read are fetched: the rest is applied over the result at the end."""
    keys = {POWER_LEVELS_KEY, CREATE_KEY}
    for event in full:
        keys.update(checker.auth_types(event))
    wanted = {key: unconflicted[key] for key in keys if key in unconflicted}
    await cache.fetch(wanted.values())
    return {key: cache.events[eid] for key, eid in wanted.items() if eid in cache.events}


class _AuthChecker:
    """The iterative auth checks algorithm."""

    def __init__(self, cache: EventCache) -> None:
        self._cache = cache

    def auth_types(self, event: Event) -> set[StateKey]:
        """The state keys the auth rules read for this event (with the create event's)."""
        selected = auth_types_for_event(
            event.type, event.sender, event.state_key, event.content, self._cache.version
        )
        selected.add(CREATE_KEY)
        return selected

    async def apply(self, events: Iterable[Event], state: dict[StateKey, Event]) -> None:
        """Apply each event to `state` if it passes the auth rules, in order. An auth event
        comes from `state`, or from the event's own auth_events when `state` has none for
        that key (never a rejected one). Yields to the event loop now and then: thousands of
        checks take a while."""
        own_auth_events = self._cache.own_auth_events
        for count, event in enumerate(events, 1):
            if count % _YIELD_EVERY == 0:
                await asyncio.sleep(0)
            if event.rejected_reason is not None or not event.is_state:
                continue
            try:
                check_auth_rules(event, _AuthEvents(state, event, own_auth_events))
            except AuthError:
                continue
            state[event.key] = event


class _AuthEvents(Mapping[StateKey, Event]):
    """The auth events of one event during the iterative auth checks, looked up key by key
    (the auth rules read only the keys they select): the partially resolved state's entry,
    else the event's own auth event for that key; never a rejected one."""

    __slots__ = ("_event", "_last_event", "_last_key", "_own", "_own_auth_events", "_state")

    def __init__(
        self,
        state: Mapping[StateKey, Event],
        event: Event,
        own_auth_events: Callable[[Event], Mapping[StateKey, Event]],
    ) -> None:
        self._state = state
        self._event = event
        self._own_auth_events = own_auth_events
        self._own: Mapping[StateKey, Event] | None = None
        # `key in m` is usually followed by `m[key]`: remember the last answer.
        self._last_key: object = None
        self._last_event: Event | None = None

    def _lookup(self, key: object) -> Event | None:
        if key is self._last_key:
            return self._last_event
        state_key = cast(StateKey, key)
        chosen = self._state.get(state_key)
        if chosen is None or chosen.rejected_reason is not None:
            own = self._own
            if own is None:
                own = self._own = self._own_auth_events(self._event)
            chosen = own.get(state_key)
        self._last_key, self._last_event = key, chosen
        return chosen

    def __getitem__(self, key: StateKey) -> Event:
        chosen = self._lookup(key)
        if chosen is None:
            raise KeyError(key)
        return chosen

    def __contains__(self, key: object) -> bool:
        return self._lookup(key) is not None

    def __iter__(self) -> Iterator[StateKey]:
        if self._own is None:
            self._own = self._own_auth_events(self._event)
        keys = {key for key, event in self._state.items() if event.rejected_reason is None}
        return iter(keys | self._own.keys())

    def __len__(self) -> int:
        return sum(1 for _ in self)
