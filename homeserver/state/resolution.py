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

Rejected events (`Event.rejected_reason` set) never enter the state during the iterative auth
checks and never serve as auth events, as in the reference implementation: this server does
not record whether an event was rejected against its auth chain or against the state before
it, and `check_auth_rules` fails any event whose auth events include a rejected one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from homeserver.auth.power_levels import CREATE_KEY, POWER_LEVELS_KEY
from homeserver.auth.rules import AuthError, auth_types_for_event, check_auth_rules
from homeserver.events.model import Event, StateKey
from homeserver.ids import EventID
from homeserver.room_versions import RoomVersion, StateResAlgorithm
from homeserver.state.graph import EventCache, conflicted_sets, separate
from homeserver.state.ordering import mainline_order, sorted_power_events
from homeserver.state.source import EventSource

__all__ = ["StateResolutionError", "UnsupportedStateResolution", "resolve_state"]


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
    conflicted_ids = set[EventID]().union(*conflicted.values())
    cache = EventCache(source, room_version)
    sets = await conflicted_sets(cache, state_sets, unconflicted, conflicted_ids)
    full = [cache.events[eid] for eid in sets.full]
    await cache.fetch_auth_events(full)
    checker = _AuthChecker(cache)

    power_order = await sorted_power_events(cache, sets.full, sets.region)
    power_ids = {event.event_id for event in power_order}

    state: dict[StateKey, Event] = {}
    if room_version.state_res is StateResAlgorithm.V2:
        state = await _base_state(cache, checker, full, unconflicted)
    checker.apply(power_order, state)

    others = [e for e in full if e.event_id not in power_ids]
    others = await mainline_order(cache, others, state.get(POWER_LEVELS_KEY))
    checker.apply(others, state)

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
        self._types: dict[EventID, tuple[StateKey, ...]] = {}

    def auth_types(self, event: Event) -> tuple[StateKey, ...]:
        """The state keys the auth rules read for this event (with the create event's)."""
        types = self._types.get(event.event_id)
        if types is None:
            selected = auth_types_for_event(
                event.type, event.sender, event.state_key, event.content, self._cache.version
            )
            selected.add(CREATE_KEY)
            types = tuple(selected)
            self._types[event.event_id] = types
        return types

    def apply(self, events: Iterable[Event], state: dict[StateKey, Event]) -> None:
        """Apply each event to `state` if it passes the auth rules, in order. An auth event
        comes from `state`, or from the event's own auth_events when `state` has none for
        that key (never a rejected one)."""
        for event in events:
            if event.rejected_reason is not None or not event.is_state:
                continue
            auth_events: dict[StateKey, Event] = {}
            own: dict[StateKey, Event] | None = None
            for key in self.auth_types(event):
                chosen = state.get(key)
                if chosen is None or chosen.rejected_reason is not None:
                    if own is None:
                        own = self._cache.own_auth_events(event)
                    chosen = own.get(key)
                if chosen is not None:
                    auth_events[key] = chosen
            try:
                check_auth_rules(event, auth_events)
            except AuthError:
                continue
            state[event.key] = event
