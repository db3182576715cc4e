"""One room's part of a /sync response: timeline, state, summary (spec: "Syncing").

A section is either "initial" (first sync, full_state, or a room the user just joined: the
newest events and the state at the start of that timeline) or "incremental" (the events
since the token; when more than the limit, `limited` and the state that changed in the gap).

An incremental section of a room the user stayed joined in is answered from the recent-events
log when it can be (the common case of a live client: a few new events, no gap): the events
come from the event cache, and the user saw all of them as a member, so no visibility, state
or transaction-ID query is needed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from homeserver.clock import now_ms
from homeserver.events.client_format import client_event
from homeserver.events.model import Event, StateKey
from homeserver.filters import RoomEventFilter
from homeserver.ids import EventID, RoomID, UserID
from homeserver.lru import Lru
from homeserver.notifier import Notifier, Stream
from homeserver.rooms.relations import Aggregator
from homeserver.rooms.visibility import Viewer, Visibility
from homeserver.storage.events import EventStore
from homeserver.storage.rooms import Membership
from homeserver.storage.sync import StreamEvent, SyncStore
from homeserver.sync.encoded import EncodedEvents
from homeserver.sync.event_format import EventShape, event_shape
from homeserver.sync.recent import RecentEvent, RecentEvents
from homeserver.sync.request import SyncRequest
from homeserver.sync.summaries import RoomSummaries

DEFAULT_TIMELINE_LIMIT = 10
MAX_TIMELINE_LIMIT = 100
MAX_MEMBER_WALK = 20
MAX_CACHED_LATEST = 10_000  # (room, timeline limit) entries, each up to MAX_TIMELINE_LIMIT + 1 rows
MAX_SHARED_TIMELINES = 1024  # (room, range, filter) entries: the ranges being answered right now
STRIPPED_STATE = (
    ("m.room.create", ""),
    ("m.room.join_rules", ""),
    ("m.room.name", ""),
    ("m.room.avatar", ""),
    ("m.room.canonical_alias", ""),
    ("m.room.encryption", ""),
    ("m.room.topic", ""),
)


# The room position a room's newest events were read up to, and those events.
_LatestEntry = tuple[int, list[StreamEvent]]


class RoomSections:
    def __init__(
        self,
        events: EventStore,
        store: SyncStore,
        visibility: Visibility,
        aggregator: Aggregator,
        recent: RecentEvents,
        notifier: Notifier,
    ) -> None:
        self._events = events
        self._store = store
        self._visibility = visibility
        self._aggregator = aggregator
        self._recent = recent
        self._notifier = notifier
        self._summaries = RoomSummaries(store, notifier)
        self._encoded = EncodedEvents()
        self._latest_cache: Lru[tuple[RoomID, int], _LatestEntry] = Lru(MAX_CACHED_LATEST)
        self._shared: Lru[tuple[RoomID, int, int, RoomEventFilter], _SharedTimeline] = Lru(
            MAX_SHARED_TIMELINES
        )
        notifier.add_listener(recent.on_event)

    async def section(
        self,
        req: SyncRequest,
        m: Membership,
        since: int | None,
        until: int,
        ignored: frozenset[UserID],
        *,
        stayed_joined: bool = False,
    ) -> dict[str, Any]:
        """The room's section for events in (since, until]; `since` None for an initial one.
        `stayed_joined`: the user was joined throughout (since, until]."""
        limit = timeline_limit(req.filter.room.timeline)
        if stayed_joined and since is not None:
            recent = self._recent.between(m.room_id, since, until)
            if recent is not None and len(recent) <= limit:
                shared = await self._shared_timeline(
                    m.room_id, since, until, recent, req.filter.room.timeline
                )
                return await self._from_recent(req, m.room_id, recent, shared, ignored)
        throughout = stayed_joined and since is not None and m.membership == "join"
        return await self._from_store(req, m, since, until, limit, ignored, joined_throughout=throughout)

    async def initial(
        self, req: SyncRequest, joined: Sequence[Membership], until: int, ignored: frozenset[UserID]
    ) -> dict[RoomID, dict[str, Any]]:
        """Initial sections of the rooms the user is joined to, with a fixed number of
        queries however many rooms: the newest events of all rooms in one statement, the
        state before each timeline from the event just before it (fetched with it), then
        events, transaction IDs, bundles and summaries each in one batch."""
        limit = timeline_limit(req.filter.room.timeline)
        room_ids = [m.room_id for m in joined]
        latest = await self._latest_events(room_ids, until, limit + 1)
        fetched = await self._events.get_events([r.event_id for rows in latest.values() for r in rows])
        groups = await self._events.state_ids_at_groups(
            {g for rows in latest.values() if len(rows) > limit and (g := rows[0].state_group) is not None}
        )
        timelines: dict[RoomID, list[Event]] = {}
        states: dict[RoomID, dict[StateKey, EventID]] = {}
        limited_rooms: set[RoomID] = set()
        to_check: list[tuple[Viewer, Sequence[Event]]] = []
        for m in joined:
            rows = latest[m.room_id]
            limited = len(rows) > limit
            if limited:
                limited_rooms.add(m.room_id)
            before = rows[0] if limited else None
            rows = rows[-limit:] if limit else []
            events = [e for r in rows if (e := fetched.get(r.event_id)) is not None]
            events = [e for e in events if req.filter.room.timeline.matches(e)]
            if rows and rows[0].stream < m.stream_ordering:  # history from before they joined
                to_check.append((self._visibility.joined_viewer(m), events))
            timelines[m.room_id] = events
            if before is None:
                states[m.room_id] = {}  # the timeline starts with the room
            elif before.state_group is not None:
                states[m.room_id] = groups[before.state_group]
            else:
                states[m.room_id] = await self._state_at(m.room_id, before.stream)
            latest[m.room_id] = rows
        for (viewer, _), visible in zip(to_check, await self._visibility.filter_many(to_check), strict=True):
            timelines[viewer.room_id] = visible
        state_events = await self._state_events_many(req, states, timelines)
        known = self._known_from_recent(req, latest, until)
        own = [
            e.event_id
            for t in timelines.values()
            for e in t
            if e.sender == req.user_id and e.event_id not in known.covered
        ]
        txns = known.txns | await self._store.transaction_ids(req.user_id, req.device_id, own)
        maybe_related = [  # state events too: their prev_content comes with the bundles
            e
            for t in timelines.values()
            for e in t
            if e.event_id not in known.covered or e.event_id in known.related or e.replaces_state is not None
        ]
        bundles = await self._aggregator.bundles(req.user_id, maybe_related)
        summaries = await self._summaries.for_rooms(room_ids, req.user_id)
        shape = event_shape(req.filter)
        out: dict[RoomID, dict[str, Any]] = {}
        for m in joined:
            rows, timeline = latest[m.room_id], timelines[m.room_id]
            if ignored:
                timeline = [e for e in timeline if e.sender not in ignored or e.is_state]
            limited = m.room_id in limited_rooms
            section = self._section(
                timeline, state_events[m.room_id], txns, bundles, limited=limited, shape=shape
            )
            if rows:
                section["timeline"]["prev_batch"] = _prev_batch(timeline, rows[0].stream)
            section["summary"] = summaries[m.room_id]
            out[m.room_id] = section
        return out

    async def _latest_events(
        self, room_ids: Sequence[RoomID], until: int, count: int
    ) -> dict[RoomID, list[StreamEvent]]:
        """Each room's newest `count` events up to `until` (SyncStore.latest_events): those of
        a room with no event since they were read (every event is notified) come from memory."""
        out: dict[RoomID, list[StreamEvent]] = {}
        stale: list[RoomID] = []
        for room_id in room_ids:
            hit = self._latest_cache.get((room_id, count))
            if hit is None or hit[0] > until or self._notifier.changed_since(Stream.ROOMS, room_id, hit[0]):
                stale.append(room_id)
            else:
                out[room_id] = hit[1]
        if stale:
            read = await self._store.latest_events(stale, until, count)
            for room_id, rows in read.items():
                self._latest_cache.put((room_id, count), (until, rows))
            out.update(read)
        return out

    def _known_from_recent(
        self, req: SyncRequest, latest: dict[RoomID, list[StreamEvent]], until: int
    ) -> _Known:
        """What the recent-events log already tells about the timelines of an initial sync:
        for a room whose log holds its whole timeline, the device's transaction IDs and which
        events may have relations. Only the other rooms need those two queries."""
        known = _Known(set(), {}, set())
        for room_id, rows in latest.items():
            recent = self._recent.between(room_id, rows[0].stream - 1, until) if rows else None
            if recent is None:
                continue
            ids = [r.event_id for r in recent]
            known.covered.update(ids)
            known.related.update(self._recent.related(room_id, ids))
            known.txns.update(_own_txns(recent, req))
        return known

    async def _shared_timeline(
        self,
        room_id: RoomID,
        since: int,
        until: int,
        recent: Sequence[RecentEvent],
        event_filter: RoomEventFilter,
    ) -> _SharedTimeline:
        """The events of (since, until] from the recent log through `event_filter`: the same
        for every member who stayed joined, so the room's listeners woken by one commit share
        one fetch. Kept while the room has no later event (a relation or a redaction would
        change what the range shows)."""
        key = (room_id, since, until, event_filter)
        hit = self._shared.get(key)
        if hit is not None and not self._notifier.changed_since(Stream.ROOMS, room_id, until):
            return hit
        fetched = await self._events.get_events([r.event_id for r in recent])
        events = [e for r in recent if (e := fetched.get(r.event_id)) is not None and event_filter.matches(e)]
        related = set(self._recent.related(room_id, [e.event_id for e in events]))
        shared = _SharedTimeline(
            events,
            [e for e in events if e.event_id in related or e.replaces_state is not None],
            any(e.type == "m.room.member" for e in events),
        )
        self._shared.put(key, shared)
        return shared

    async def _from_recent(
        self,
        req: SyncRequest,
        room_id: RoomID,
        recent: Sequence[RecentEvent],
        shared: _SharedTimeline,
        ignored: frozenset[UserID],
    ) -> dict[str, Any]:
        timeline = shared.events
        if ignored:
            timeline = [e for e in timeline if e.sender not in ignored or e.is_state]
        txns = _own_txns(recent, req)
        bundles = await self._aggregator.bundles(req.user_id, shared.bundled) if shared.bundled else {}
        section = self._section(timeline, [], txns, bundles, limited=False, shape=event_shape(req.filter))
        if recent:
            section["timeline"]["prev_batch"] = _prev_batch(timeline, recent[0].stream)
        if shared.has_members:
            section["summary"] = await self._summaries.for_room(room_id, req.user_id)
        return section

    async def _from_store(
        self,
        req: SyncRequest,
        m: Membership,
        since: int | None,
        until: int,
        limit: int,
        ignored: frozenset[UserID],
        *,
        joined_throughout: bool = False,
    ) -> dict[str, Any]:
        """`joined_throughout`: the user was joined at every event in (since, until], so all
        of them are visible to them (spec: "History visibility": a member sees what was sent
        while joined) and no state is read to check it. A socket that fell behind by more
        than the recent-events log holds comes this way for each frame it catches up with."""
        timeline_filter = req.filter.room.timeline
        rows = await self._store.recent_events(m.room_id, since, until, limit + 1)
        limited = len(rows) > limit
        rows = rows[-limit:] if limit else []
        timeline = await self._visible(req.user_id, m.room_id, rows, timeline_filter, joined_throughout)
        first_stream = rows[0].stream if rows else until + 1
        if since is None:
            state_ids = await self._state_at(m.room_id, first_stream - 1)
        elif limited:
            before = await self._state_at(m.room_id, first_stream - 1)
            at_since = await self._state_at(m.room_id, since)
            state_ids = {k: v for k, v in before.items() if at_since.get(k) != v}
        else:
            state_ids = {}
        state = await self._state_events(req, state_ids, timeline)
        if ignored:  # spec: "Ignoring Users": their events are not sent, state excepted
            timeline = [e for e in timeline if e.sender not in ignored or e.is_state]
        txns = await self._store.transaction_ids(
            req.user_id, req.device_id, [e.event_id for e in timeline if e.sender == req.user_id]
        )
        bundles = await self._aggregator.bundles(req.user_id, timeline)
        section = self._section(
            timeline, state, txns, bundles, limited=limited, shape=event_shape(req.filter)
        )
        if rows:
            section["timeline"]["prev_batch"] = _prev_batch(timeline, rows[0].stream)
        if since is None or any(e.type == "m.room.member" for e in timeline):
            section["summary"] = await self._summaries.for_room(m.room_id, req.user_id)
        return section

    def _section(
        self,
        timeline: Sequence[Event],
        state: Sequence[Event],
        txns: Mapping[EventID, str],
        bundles: Mapping[EventID, Mapping[str, Any]],
        *,
        limited: bool,
        shape: EventShape | None,
    ) -> dict[str, Any]:
        now = now_ms()
        return {
            "timeline": {
                "events": [
                    self._render(e, txns.get(e.event_id), bundles.get(e.event_id), shape, now)
                    for e in timeline
                ],
                "limited": limited,
            },
            "state": {"events": [self._render(e, None, None, shape, now) for e in state]},
            "ephemeral": {"events": []},
        }

    def _render(
        self,
        event: Event,
        txn_id: str | None,
        bundle: Mapping[str, Any] | None,
        shape: EventShape | None,
        now: int,
    ) -> Any:
        """An event as this response sends it: the encoding shared by every response unless
        it carries relations or the filter reshapes it."""
        if bundle or shape is not None:
            return _client(event, txn_id, bundle, shape)
        return self._encoded.fragment(event, now, txn_id)

    async def stayed_joined(self, m: Membership, position: int) -> bool:
        """Whether the user has been joined without a break since stream `position`: their
        member events after it (walked back from the current one) are all joins, and so is
        the one in force at it. A leave and rejoin in between makes the room new again."""
        event_id: EventID | None = m.event_id
        for _ in range(MAX_MEMBER_WALK):
            if event_id is None:
                return False
            meta = (await self._events.get_meta([event_id])).get(event_id)
            event = await self._events.get_event(event_id)
            if meta is None or event is None or event.membership != "join":
                return False
            if meta.stream_ordering <= position:
                return True
            event_id = meta.replaces_state
        return False  # many changes since: answer as for a new room

    async def _visible(
        self,
        user_id: UserID,
        room_id: RoomID,
        rows: Sequence[StreamEvent],
        event_filter: RoomEventFilter,
        joined_throughout: bool = False,
    ) -> list[Event]:
        fetched = await self._events.get_events([r.event_id for r in rows])
        events = [e for r in rows if (e := fetched.get(r.event_id)) is not None and event_filter.matches(e)]
        if joined_throughout:
            return events
        return await self._visibility.filter(user_id, room_id, events)

    async def _state_at(self, room_id: RoomID, stream: int) -> dict[StateKey, EventID]:
        group = await self._store.state_group_at(room_id, stream)
        return await self._events.state_ids_at_group(group) if group is not None else {}

    async def _state_events(
        self, req: SyncRequest, state_ids: dict[StateKey, EventID], timeline: Sequence[Event]
    ) -> list[Event]:
        key = RoomID("")
        return (await self._state_events_many(req, {key: state_ids}, {key: list(timeline)}))[key]

    async def _state_events_many(
        self,
        req: SyncRequest,
        states: Mapping[RoomID, dict[StateKey, EventID]],
        timelines: Mapping[RoomID, Sequence[Event]],
    ) -> dict[RoomID, list[Event]]:
        """The state events to send with each room's timeline (one fetch for all rooms): the
        filter applied, lazy-loaded members cut to the timeline's senders, and nothing that
        the timeline already carries."""
        state_filter = req.filter.room.state
        wanted_ids: dict[RoomID, list[EventID]] = {}
        for room_id, state_ids in states.items():
            timeline = timelines[room_id]
            if state_filter.lazy_load_members:
                wanted = {e.sender for e in timeline} | {req.user_id}
                state_ids = {k: v for k, v in state_ids.items() if k[0] != "m.room.member" or k[1] in wanted}
            in_timeline = {e.event_id for e in timeline}
            wanted_ids[room_id] = [eid for eid in state_ids.values() if eid not in in_timeline]
        found = await self._events.get_events([eid for ids in wanted_ids.values() for eid in ids])
        return {
            room_id: [found[eid] for eid in ids if eid in found and state_filter.matches(found[eid])]
            for room_id, ids in wanted_ids.items()
        }

    def members_changed_among(self, room_ids: Sequence[RoomID], position: int) -> list[RoomID]:
        return self._summaries.members_changed_among(room_ids, position)

    async def stripped_state(self, m: Membership) -> list[dict[str, Any]]:
        """The stripped state an invitee or knocker sees (spec: "Stripped state"), with the
        inviter's own member event, as Synapse sends it: clients name a DM invite after them."""
        keys: list[StateKey] = [*STRIPPED_STATE, ("m.room.member", m.user_id)]
        own = await self._events.get_event(m.event_id)
        if own is not None and own.sender != m.user_id:
            keys.append(("m.room.member", own.sender))
        ids = await self._events.current_state_ids(m.room_id, keys)
        found = await self._events.get_events(list(ids.values()))
        return [
            {"type": e.type, "state_key": e.state_key, "content": e.content, "sender": e.sender}
            for e in found.values()
        ]


@dataclass(frozen=True, slots=True)
class _SharedTimeline:
    events: list[Event]  # fetched, through the timeline filter
    bundled: list[Event]  # those that may carry bundles: relation targets, replaced state
    has_members: bool  # a member event among them: the summary comes along


@dataclass(frozen=True, slots=True)
class _Known:
    covered: set[EventID]  # events the recent log holds
    txns: dict[EventID, str]  # the device's transaction IDs among them
    related: set[EventID]  # those of them that may have relations


def _own_txns(recent: Sequence[RecentEvent], req: SyncRequest) -> dict[EventID, str]:
    """The transaction IDs of the requesting device's own events among `recent`."""
    return {
        r.event_id: r.txn.txn_id
        for r in recent
        if r.txn is not None
        and r.txn.txn_id is not None
        and r.txn.user_id == req.user_id
        and r.txn.device_id == req.device_id
    }


def timeline_limit(timeline_filter: RoomEventFilter) -> int:
    wanted = timeline_filter.limit if timeline_filter.limit is not None else DEFAULT_TIMELINE_LIMIT
    return min(wanted, MAX_TIMELINE_LIMIT)


def empty_section() -> dict[str, Any]:
    """A joined room with nothing new in its timeline (only ephemeral or account data)."""
    return {
        "timeline": {"events": [], "limited": False},
        "state": {"events": []},
        "ephemeral": {"events": []},
    }


def _prev_batch(timeline: Sequence[Event], first_stream: int) -> str:
    depth = timeline[0].depth if timeline else 0
    return f"t{depth}_{first_stream}"


def _client(
    event: Event, txn_id: str | None, bundle: Mapping[str, Any] | None, shape: EventShape | None
) -> dict[str, Any]:
    unsigned = dict(bundle or {})
    if txn_id is not None:
        unsigned["transaction_id"] = txn_id
    if shape is not None:
        return shape.render(event, unsigned)
    return client_event(event, unsigned=unsigned, include_room_id=False)
