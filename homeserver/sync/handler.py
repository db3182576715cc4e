"""/sync: what changed for a user between two tokens (Client-Server API, "Syncing").

A room's section is either "initial" (first sync, full_state, or a room the user just joined:
the newest events and the state at the start of that timeline) or "incremental" (the events
since the token; when more than the limit, `limited` and the state that changed in the gap)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from homeserver.events.client_format import client_event
from homeserver.events.model import Event, StateKey
from homeserver.filters import RoomEventFilter, SyncFilter
from homeserver.ids import EventID, RoomID, UserID
from homeserver.notifier import Notifier
from homeserver.rooms.relations import Aggregator, IgnoredUsers
from homeserver.rooms.visibility import Visibility
from homeserver.storage.account_data import AccountDataChange, AccountDataStore
from homeserver.storage.events import EventStore
from homeserver.storage.rooms import Membership
from homeserver.storage.sync import StreamEvent, SyncStore
from homeserver.sync.tokens import SyncToken

DEFAULT_TIMELINE_LIMIT = 10
MAX_TIMELINE_LIMIT = 100
MAX_TIMEOUT_MS = 5 * 60 * 1000
STRIPPED_STATE = (
    ("m.room.create", ""),
    ("m.room.join_rules", ""),
    ("m.room.name", ""),
    ("m.room.avatar", ""),
    ("m.room.canonical_alias", ""),
    ("m.room.encryption", ""),
    ("m.room.topic", ""),
)


@dataclass(frozen=True)
class SyncRequest:
    user_id: UserID
    device_id: str
    since: SyncToken | None
    filter: SyncFilter
    full_state: bool
    timeout_ms: int


class SyncHandler:
    def __init__(
        self,
        events: EventStore,
        store: SyncStore,
        account_data: AccountDataStore,
        visibility: Visibility,
        notifier: Notifier,
        aggregator: Aggregator,
        ignored: IgnoredUsers,
    ) -> None:
        self._events = events
        self._store = store
        self._account_data = account_data
        self._visibility = visibility
        self._notifier = notifier
        self._aggregator = aggregator
        self._ignored = ignored

    def current_token(self) -> SyncToken:
        return SyncToken.of(self._notifier.positions)

    async def sync(self, req: SyncRequest) -> dict[str, Any]:
        """Answer at once for an initial sync or if anything changed since `req.since`;
        otherwise wait up to the timeout for a change the user can see."""
        deadline = time.monotonic() + min(max(req.timeout_ms, 0), MAX_TIMEOUT_MS) / 1000
        since = req.since
        while True:
            # The rooms to wait on are read before the positions: a change after this point
            # is either in `now` or wakes the waiter.
            rooms = await self._store.joined_room_ids(req.user_id)
            now = self.current_token()
            if since is None or req.full_state:
                return await self._build(req, None, now)
            if now != since:
                response = await self._build(req, since, now)
                if _has_content(response):
                    return response
                since = now  # nothing for this user up to here: only look further on
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not await self._notifier.wait_for(req.user_id, rooms, remaining):
                return _empty(since)

    async def _build(self, req: SyncRequest, since: SyncToken | None, now: SyncToken) -> dict[str, Any]:
        memberships = await self._store.memberships(req.user_id)
        room_filter = req.filter.room
        rooms: dict[str, dict[str, Any]] = {"join": {}, "invite": {}, "leave": {}, "knock": {}}
        account_changes = await self._account_data.changes_since(
            req.user_id, since.account_data if since else 0, now.account_data
        )
        room_account_data: dict[RoomID, list[AccountDataChange]] = {}
        for change in account_changes:
            if change.room_id is not None:
                room_account_data.setdefault(change.room_id, []).append(change)
        joined = [m for m in memberships if m.membership == "join" and room_filter.includes_room(m.room_id)]
        changed_rooms: set[RoomID] = set()
        if since is not None and joined:
            changed_rooms = await self._store.rooms_with_events(
                [m.room_id for m in joined], since.rooms, now.rooms
            )
        for m in joined:
            newly = since is None or m.stream_ordering > since.rooms
            if not newly and m.room_id not in changed_rooms and m.room_id not in room_account_data:
                continue
            section = await self._room(req, m, None if newly else since, now.rooms)
            section["account_data"] = {"events": _account_events(room_account_data.get(m.room_id, []))}
            rooms["join"][m.room_id] = section
        for m in memberships:
            if not room_filter.includes_room(m.room_id) or m.membership == "join":
                continue
            if since is not None and m.stream_ordering <= since.rooms:
                continue
            if m.membership in ("invite", "knock"):
                key = "invite_state" if m.membership == "invite" else "knock_state"
                rooms[m.membership][m.room_id] = {key: {"events": await self._stripped_state(m)}}
            elif since is not None or room_filter.include_leave:
                section = await self._room(req, m, since, m.stream_ordering)
                section["account_data"] = {"events": _account_events(room_account_data.get(m.room_id, []))}
                rooms["leave"][m.room_id] = section
        global_data = [c for c in account_changes if c.room_id is None]
        return {
            "next_batch": now.encode(),
            "rooms": rooms,
            "account_data": {"events": _account_events(global_data, req.filter.account_data)},
            "presence": {"events": []},
            "to_device": {"events": []},
            "device_lists": {"changed": [], "left": []},
            "device_one_time_keys_count": {},
            "device_unused_fallback_key_types": [],
        }

    async def _room(
        self, req: SyncRequest, m: Membership, since: SyncToken | None, until: int
    ) -> dict[str, Any]:
        timeline_filter = req.filter.room.timeline
        limit = min(
            timeline_filter.limit if timeline_filter.limit is not None else DEFAULT_TIMELINE_LIMIT,
            MAX_TIMELINE_LIMIT,
        )
        rows = await self._store.recent_events(m.room_id, since.rooms if since else None, until, limit + 1)
        limited = len(rows) > limit
        rows = rows[-limit:] if limit else []
        timeline = await self._visible(req.user_id, m.room_id, rows, timeline_filter)
        first_stream = rows[0].stream if rows else until + 1
        if since is None:
            state_ids = await self._state_at(m.room_id, first_stream - 1)
        elif limited:
            before = await self._state_at(m.room_id, first_stream - 1)
            at_since = await self._state_at(m.room_id, since.rooms)
            state_ids = {k: v for k, v in before.items() if at_since.get(k) != v}
        else:
            state_ids = {}
        state = await self._state_events(req, state_ids, timeline)
        ignored = await self._ignored.ignored_users(req.user_id)
        if ignored:  # spec: "Ignoring Users": their events are not sent, state excepted
            timeline = [e for e in timeline if e.sender not in ignored or e.is_state]
        txns = await self._store.transaction_ids(
            req.user_id, req.device_id, [e.event_id for e in timeline if e.sender == req.user_id]
        )
        bundles = await self._aggregator.bundles(req.user_id, timeline)
        section: dict[str, Any] = {
            "timeline": {
                "events": [_client(e, txns, bundles.get(e.event_id)) for e in timeline],
                "limited": limited,
            },
            "state": {"events": [_client(e, {}, None) for e in state]},
            "ephemeral": {"events": []},
        }
        if rows:
            first = timeline[0] if timeline else None
            depth = first.depth if first else 0
            section["timeline"]["prev_batch"] = f"t{depth}_{rows[0].stream}"
        if since is None or any(e.type == "m.room.member" for e in timeline):
            section["summary"] = await self._summary(m.room_id, req.user_id)
        return section

    async def _visible(
        self, user_id: UserID, room_id: RoomID, rows: Sequence[StreamEvent], event_filter: RoomEventFilter
    ) -> list[Event]:
        fetched = await self._events.get_events([r.event_id for r in rows])
        events = [fetched[r.event_id] for r in rows if r.event_id in fetched]
        return await self._visibility.filter(user_id, room_id, [e for e in events if event_filter.matches(e)])

    async def _state_at(self, room_id: RoomID, stream: int) -> dict[StateKey, EventID]:
        group = await self._store.state_group_at(room_id, stream)
        return await self._events.state_ids_at_group(group) if group is not None else {}

    async def _state_events(
        self, req: SyncRequest, state_ids: dict[StateKey, EventID], timeline: Sequence[Event]
    ) -> list[Event]:
        state_filter = req.filter.room.state
        if state_filter.lazy_load_members:
            wanted = {e.sender for e in timeline} | {req.user_id}
            state_ids = {k: v for k, v in state_ids.items() if k[0] != "m.room.member" or k[1] in wanted}
        in_timeline = {e.event_id for e in timeline}
        ids = [eid for eid in state_ids.values() if eid not in in_timeline]
        found = await self._events.get_events(ids)
        return [found[eid] for eid in ids if eid in found and state_filter.matches(found[eid])]

    async def _summary(self, room_id: RoomID, user_id: UserID) -> dict[str, Any]:
        counts = (await self._store.member_counts([room_id])).get(room_id, {})
        return {
            "m.heroes": await self._store.heroes(room_id, user_id),
            "m.joined_member_count": counts.get("join", 0),
            "m.invited_member_count": counts.get("invite", 0),
        }

    async def _stripped_state(self, m: Membership) -> list[dict[str, Any]]:
        """The stripped state an invitee or knocker sees (spec: "Stripped state")."""
        keys = [*STRIPPED_STATE, ("m.room.member", m.user_id)]
        ids = await self._events.current_state_ids(m.room_id, keys)
        found = await self._events.get_events(list(ids.values()))
        return [
            {"type": e.type, "state_key": e.state_key, "content": e.content, "sender": e.sender}
            for e in found.values()
        ]


def _client(event: Event, txns: dict[EventID, str], bundle: Mapping[str, Any] | None) -> dict[str, Any]:
    unsigned = dict(bundle or {})
    if event.event_id in txns:
        unsigned["transaction_id"] = txns[event.event_id]
    return client_event(event, unsigned=unsigned, include_room_id=False)


def _account_events(
    changes: Sequence[AccountDataChange], event_filter: RoomEventFilter | None = None
) -> list[dict[str, Any]]:
    return [
        {"type": c.type, "content": c.content}
        for c in changes
        if event_filter is None or event_filter.allows_type(c.type)
    ]


def _has_content(response: dict[str, Any]) -> bool:
    rooms = response["rooms"]
    return any(rooms[k] for k in rooms) or bool(response["account_data"]["events"])


def _empty(token: SyncToken) -> dict[str, Any]:
    return {
        "next_batch": token.encode(),
        "rooms": {"join": {}, "invite": {}, "leave": {}, "knock": {}},
        "account_data": {"events": []},
        "presence": {"events": []},
        "to_device": {"events": []},
        "device_lists": {"changed": [], "left": []},
        "device_one_time_keys_count": {},
        "device_unused_fallback_key_types": [],
    }
