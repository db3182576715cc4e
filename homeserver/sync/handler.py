"""/sync: what changed for a user between two tokens (Client-Server API, "Syncing").

The token holds one position per notifier stream. A sync first asks the notifier's change
memory which rooms and streams changed for this user since the token, and reads only those:
an incremental sync of a live client is answered from in-memory logs without a query. When
nothing changed it waits on the notifier for this user and their rooms, up to the timeout."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from homeserver.account_data import AccountData
from homeserver.filters import RoomEventFilter
from homeserver.ids import DeviceID, RoomID, UserID
from homeserver.lru import Lru
from homeserver.notifier import Notifier, Stream
from homeserver.push.unread import ZERO, main_and_threads
from homeserver.storage.account_data import AccountDataChange, AccountDataStore
from homeserver.storage.rooms import Membership
from homeserver.storage.sync import SyncStore
from homeserver.sync.request import SyncRequest
from homeserver.sync.rooms import RoomSections, empty_section
from homeserver.sync.sources import SyncSources
from homeserver.sync.tokens import SyncToken
from homeserver.sync.user_cache import PerUserCache

__all__ = ["Poll", "SyncHandler", "SyncRequest"]

MAX_TIMEOUT_MS = 5 * 60 * 1000
TO_DEVICE_LIMIT = 100
MAX_CACHED_ACCOUNT_DATA = 10_000  # users
MAX_EMPTY_INBOXES = 100_000  # devices
PUSH_RULES = "m.push_rules"


@dataclass(slots=True)
class _RoomView:
    """What the room sections of one response share."""

    req: SyncRequest
    since: SyncToken | None
    now: SyncToken
    ignored: frozenset[UserID]
    account_data: dict[RoomID, list[AccountDataChange]]
    ephemeral: dict[RoomID, list[dict[str, Any]]]
    newly_joined: set[RoomID]


@dataclass(frozen=True, slots=True)
class _UserRooms:
    """A user's memberships, with what every sync of theirs derives from them worked out
    once per change (a user may be in hundreds of rooms). Not to be changed: shared."""

    all: list[Membership]
    joined: list[Membership]
    joined_ids: list[RoomID]
    newest: int  # the highest stream position among their member events

    @classmethod
    def of(cls, memberships: list[Membership]) -> _UserRooms:
        joined = [m for m in memberships if m.membership == "join"]
        newest = max((m.stream_ordering for m in memberships), default=0)
        return cls(memberships, joined, [m.room_id for m in joined], newest)

    def moved_since(self, since: SyncToken | None) -> bool:
        """Whether a membership of theirs may have changed after the token (always for none)."""
        return since is None or self.newest > since.rooms


class Poll(NamedTuple):
    """One look at what changed for a user (`SyncHandler.poll`)."""

    response: dict[str, Any] | None  # None: nothing the user can see changed
    since: SyncToken  # the token to go on from: a response's next_batch
    seen: SyncToken  # the positions looked at: anything after them is news
    rooms: list[RoomID]  # the joined rooms to wait on, besides the user


class SyncHandler:
    def __init__(
        self,
        store: SyncStore,
        account_data: AccountDataStore,
        notifier: Notifier,
        sections: RoomSections,
        ignored: AccountData,
        sources: SyncSources,
    ) -> None:
        self._store = store
        self._account_data = account_data
        self._notifier = notifier
        self._sections = sections
        self._sources = sources
        self._rooms = PerUserCache(notifier, Stream.ROOMS, self._load_rooms)
        self._ignored_users = PerUserCache(notifier, Stream.ACCOUNT_DATA, ignored.ignored_users)
        # All of a user's account data, for initial syncs (a client that restarts, a socket
        # that reconnects without a token): kept while the notifier saw no change of theirs.
        self._all_account_data = PerUserCache(
            notifier,
            Stream.ACCOUNT_DATA,
            lambda user: account_data.changes_since(user, 0),
            MAX_CACHED_ACCOUNT_DATA,
        )
        # Per device: the last to-device position delivered and not yet acknowledged.
        self._to_device_unacked: dict[tuple[UserID, str], int] = {}
        # Per device: a position at which its inbox was empty (nothing to read while the
        # notifier saw no message for the user since).
        self._to_device_empty: Lru[tuple[UserID, str], int] = Lru(MAX_EMPTY_INBOXES)

    def current_token(self) -> SyncToken:
        return SyncToken.of(self._notifier.positions)

    async def sync(self, req: SyncRequest) -> dict[str, Any]:
        """Answer at once for an initial sync or if anything changed since `req.since`;
        otherwise wait up to the timeout for a change the user can see."""
        presence = self._sources.presence
        counted = presence.sync_started(req.user_id, req.set_presence)
        try:
            return await self._sync(req)
        finally:
            if counted:
                presence.sync_ended(req.user_id)

    async def _sync(self, req: SyncRequest) -> dict[str, Any]:
        deadline = time.monotonic() + min(max(req.timeout_ms, 0), MAX_TIMEOUT_MS) / 1000
        await self._sources.presence.user_active(req.user_id, req.set_presence)
        since = req.since
        while True:
            polled = await self.poll(req, since)
            if polled.response is not None:
                return polled.response
            since = polled.since
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not await self._notifier.wait_for(req.user_id, polled.rooms, remaining):
                counts = await self._sources.key_counts.counts(req.user_id, DeviceID(req.device_id))
                return _empty(since, *counts)

    async def poll(self, req: SyncRequest, since: SyncToken | None) -> Poll:
        """One look without waiting: the response if the user can see anything new since
        `since` (always, for an initial or full-state sync), else None and the token to go
        on from. `req.since` is not used; presence is the caller's."""
        # The rooms to wait on are read before the positions: a change after this point
        # is either in `seen` or wakes a waiter registered for these rooms.
        rooms = await self._rooms.get(req.user_id)
        seen = self.current_token()
        if since is None or req.full_state:
            response, next_token = await self._build(req, None, seen, rooms)
            return Poll(response, next_token, seen, rooms.joined_ids)
        if seen != since:
            response, next_token = await self._build(req, since, seen, rooms)
            if _has_content(response):
                return Poll(response, next_token, seen, rooms.joined_ids)
            since = next_token  # nothing up to here: look further on
        return Poll(None, since, seen, rooms.joined_ids)

    async def _load_rooms(self, user_id: UserID) -> _UserRooms:
        return _UserRooms.of(await self._store.memberships(user_id))

    async def _build(
        self, req: SyncRequest, since: SyncToken | None, now: SyncToken, rooms: _UserRooms
    ) -> tuple[dict[str, Any], SyncToken]:
        """The response for what changed in (since, now], and its next_batch token."""
        room_filter = req.filter.room
        if since is None and room_filter.include_leave:
            rooms = await self._load_rooms(req.user_id)  # fresh: forgotten rooms
        if room_filter.rooms is not None or room_filter.not_rooms:
            rooms = _UserRooms.of([m for m in rooms.all if room_filter.includes_room(m.room_id)])
        account_changes = await self._account_changes(req.user_id, since, now)
        room_account_data: dict[RoomID, list[AccountDataChange]] = {}
        for change in account_changes:
            if change.room_id is not None:
                room_account_data.setdefault(change.room_id, []).append(change)
        joined = rooms.joined
        # A room is new to the user unless they were joined throughout since the token: their
        # own member event moving (a profile change, a leave and rejoin) is checked.
        newly_joined = {
            m.room_id
            for m in (joined if rooms.moved_since(since) else ())
            if since is None
            or (m.stream_ordering > since.rooms and not await self._sections.stayed_joined(m, since.rooms))
        }
        if since is None:
            ephemeral = await self._ephemeral(req, rooms.joined_ids, None, now)
        else:  # rooms new to the user get everything current, as in an initial sync
            ongoing = rooms.joined_ids
            if newly_joined:
                ongoing = [r for r in ongoing if r not in newly_joined]
            ephemeral = await self._ephemeral(req, ongoing, since, now)
            if newly_joined:
                ephemeral.update(await self._ephemeral(req, list(newly_joined), None, now))
        ignored = await self._ignored_users.get(req.user_id)
        view = _RoomView(req, since, now, ignored, room_account_data, ephemeral, newly_joined)
        sections: dict[str, dict[str, Any]] = {"join": {}, "invite": {}, "leave": {}, "knock": {}}
        await self._joined_sections(view, joined, sections["join"])
        await self._unread_counts(req, sections["join"])
        if rooms.moved_since(since):
            await self._other_sections(view, rooms.all, sections)
        global_data = [c for c in account_changes if c.room_id is None]
        if since is None and not any(c.type == PUSH_RULES for c in global_data):
            # Never changed, so never stored (all stored data is in an initial sync's changes):
            # clients still read their rules here.
            rules = self._sources.push_rules.default_content(req.user_id)
            global_data.append(AccountDataChange(None, PUSH_RULES, rules, 0))
        to_device, to_device_position = await self._to_device(req, since, now)
        key_counts, fallback_types = await self._sources.key_counts.counts(
            req.user_id, DeviceID(req.device_id)
        )
        changed, left = await self._device_lists(req, since, now, rooms)
        next_token = now.with_to_device(to_device_position)
        response = {
            "next_batch": next_token.encode(),
            "rooms": sections,
            "account_data": {"events": _account_events(global_data, req.filter.account_data)},
            "presence": {"events": await self._presence(req, since, now, rooms.joined_ids)},
            "to_device": {"events": to_device},
            "device_lists": {"changed": changed, "left": left},
            "device_one_time_keys_count": key_counts,
            "device_unused_fallback_key_types": fallback_types,
        }
        return response, next_token

    async def _joined_sections(
        self, view: _RoomView, joined: Sequence[Membership], out: dict[str, Any]
    ) -> None:
        """The joined rooms with something new for the user (all of them when initial)."""
        req, since, now = view.req, view.since, view.now
        room_filter = req.filter.room
        initial = await self._sections.initial(req, joined, now.rooms, view.ignored) if since is None else {}
        changed: set[RoomID] = set()
        if since is not None:  # only the rooms with something new are looked at
            room_ids = (m.room_id for m in joined)
            changed.update(self._notifier.changed_among(Stream.ROOMS, room_ids, since.rooms))
            wanted = changed | view.newly_joined | view.account_data.keys() | view.ephemeral.keys()
            joined = [m for m in joined if m.room_id in wanted]
        for m in joined:
            moved = since is not None and m.stream_ordering > since.rooms
            newly = m.room_id in view.newly_joined
            has_events = newly or m.room_id in changed
            if m.room_id in initial:
                section = initial[m.room_id]
            elif has_events:
                start = None if newly or since is None else since.rooms
                section = await self._sections.section(
                    req, m, start, now.rooms, view.ignored, stayed_joined=not moved
                )
            else:
                section = empty_section()
            allowed = room_filter.ephemeral.allows_type
            section["ephemeral"] = {
                "events": [e for e in view.ephemeral.get(m.room_id, []) if allowed(e["type"])]
            }
            section["account_data"] = {
                "events": _account_events(view.account_data.get(m.room_id, []), room_filter.account_data)
            }
            if newly or _room_has_content(section):
                out[m.room_id] = section

    async def _unread_counts(self, req: SyncRequest, joined: dict[str, Any]) -> None:
        """Each joined room's unread notification counts (kept in memory: no query for a live
        client); per thread with the filter's `unread_thread_notifications`."""
        if not joined:
            return
        counts = await self._sources.unread.for_rooms(req.user_id, [RoomID(r) for r in joined])
        threaded = req.filter.room.timeline.unread_thread_notifications
        for room_id, section in joined.items():
            room = counts.get(RoomID(room_id))
            if not threaded:
                section["unread_notifications"] = (room.total() if room else ZERO).json()
                continue
            main, threads = main_and_threads(room)
            section["unread_notifications"] = main.json()
            if threads:
                section["unread_thread_notifications"] = {t: c.json() for t, c in threads.items()}

    async def _other_sections(
        self, view: _RoomView, memberships: Sequence[Membership], rooms: dict[str, dict[str, Any]]
    ) -> None:
        """Invites and knocks (stripped state) and rooms left, changed since the token."""
        req, since = view.req, view.since
        room_filter = req.filter.room
        for m in memberships:
            if m.membership == "join" or (since is not None and m.stream_ordering <= since.rooms):
                continue
            if m.membership in ("invite", "knock"):
                key = "invite_state" if m.membership == "invite" else "knock_state"
                rooms[m.membership][m.room_id] = {key: {"events": await self._sections.stripped_state(m)}}
            elif since is not None or room_filter.include_leave:
                section = await self._sections.section(
                    req, m, since.rooms if since else None, m.stream_ordering, view.ignored
                )
                section["account_data"] = {
                    "events": _account_events(view.account_data.get(m.room_id, []), room_filter.account_data)
                }
                rooms["leave"][m.room_id] = section

    async def _account_changes(
        self, user_id: UserID, since: SyncToken | None, now: SyncToken
    ) -> list[AccountDataChange]:
        if since is None:
            everything = await self._all_account_data.get(user_id)
            return [c for c in everything if c.stream_id <= now.account_data]
        start = since.account_data
        if not self._notifier.changed_since(Stream.ACCOUNT_DATA, user_id, start):
            return []
        return await self._account_data.changes_since(user_id, start, now.account_data)

    async def _ephemeral(
        self, req: SyncRequest, joined: Sequence[RoomID], since: SyncToken | None, now: SyncToken
    ) -> dict[RoomID, list[dict[str, Any]]]:
        """m.typing and m.receipt events per joined room."""
        out: dict[RoomID, list[dict[str, Any]]] = {}
        typing_since = since.typing if since else 0
        if since is None or typing_since != now.typing:
            for room_id, users in self._sources.typing.for_sync(joined, typing_since).items():
                out.setdefault(room_id, []).append({"type": "m.typing", "content": {"user_ids": users}})
        receipts_since = since.receipts if since else 0
        if since is None or self._notifier.changed_since(Stream.RECEIPTS, req.user_id, receipts_since):
            candidates = list(joined)
        else:
            candidates = self._notifier.changed_among(Stream.RECEIPTS, joined, receipts_since)
        if candidates:
            receipts = await self._sources.receipts.for_sync(
                req.user_id, candidates, receipts_since, now.receipts
            )
            for room_id, content in receipts.items():
                out.setdefault(room_id, []).append({"type": "m.receipt", "content": content})
        return out

    async def _presence(
        self, req: SyncRequest, since: SyncToken | None, now: SyncToken, joined: Sequence[RoomID]
    ) -> list[dict[str, Any]]:
        if req.filter.presence.limit == 0 or (since is not None and since.presence == now.presence):
            return []
        if since is not None:
            # A presence change is recorded under its user and the rooms they are in.
            if not self._notifier.changed_among(Stream.PRESENCE, (req.user_id, *joined), since.presence):
                return []
        events = await self._sources.presence.for_sync(
            req.user_id, since.presence if since else 0, now.presence
        )
        return [e for e in events if req.filter.presence.allows_type(e["type"])]

    async def _to_device(
        self, req: SyncRequest, since: SyncToken | None, now: SyncToken
    ) -> tuple[list[dict[str, Any]], int]:
        """Messages for this device, and the position delivered up to (the rest come next)."""
        start = since.to_device if since else 0
        device = (req.user_id, req.device_id)
        unacked = self._to_device_unacked.get(device)
        acknowledges = unacked is not None and start >= unacked
        changed = self._notifier.changed_since
        if since is not None and not acknowledges and not changed(Stream.TO_DEVICE, req.user_id, start):
            return [], now.to_device
        empty_at = self._to_device_empty.get(device) if unacked is None else None
        if empty_at is not None and not changed(Stream.TO_DEVICE, req.user_id, empty_at):
            return [], now.to_device
        messages, position = await self._sources.to_device.for_sync(
            req.user_id, req.device_id, start, now.to_device, TO_DEVICE_LIMIT
        )
        if messages:
            self._to_device_unacked[device] = position
        else:  # acknowledged up to `start`, nothing after it up to `position`: an empty inbox
            self._to_device_unacked.pop(device, None)
            self._to_device_empty.put(device, position)
        return messages, position

    async def _device_lists(
        self, req: SyncRequest, since: SyncToken | None, now: SyncToken, rooms: _UserRooms
    ) -> tuple[list[str], list[str]]:
        if since is None:
            return [], []  # spec: only for incremental syncs
        if since.device_lists == now.device_lists and not self._membership_moved(since, rooms):
            return [], []
        return await self._sources.device_lists.for_sync(
            req.user_id, since.device_lists, now.device_lists, since.rooms, now.rooms
        )

    def _membership_moved(self, since: SyncToken, rooms: _UserRooms) -> bool:
        """Whether the user's memberships, or the members of a room they are in, changed
        since the token (whose devices they track changes then)."""
        if rooms.moved_since(since):
            return True
        return bool(self._sections.members_changed_among(rooms.joined_ids, since.rooms))


def _account_events(
    changes: Sequence[AccountDataChange], event_filter: RoomEventFilter | None = None
) -> list[dict[str, Any]]:
    return [
        {"type": c.type, "content": c.content}
        for c in changes
        if event_filter is None or event_filter.allows_type(c.type)
    ]


def _room_has_content(section: dict[str, Any]) -> bool:
    return bool(
        section["timeline"]["events"]
        or section["state"]["events"]
        or section["ephemeral"]["events"]
        or section["account_data"]["events"]
    )


def _has_content(response: dict[str, Any]) -> bool:
    rooms = response["rooms"]
    return (
        any(rooms[k] for k in rooms)
        or bool(response["account_data"]["events"])
        or bool(response["presence"]["events"])
        or bool(response["to_device"]["events"])
        or bool(response["device_lists"]["changed"] or response["device_lists"]["left"])
    )


def _empty(token: SyncToken, key_counts: dict[str, int], fallback_types: list[str]) -> dict[str, Any]:
    """Nothing new: the token moves on; the device's key counts come with every response."""
    return {
        "next_batch": token.encode(),
        "rooms": {"join": {}, "invite": {}, "leave": {}, "knock": {}},
        "account_data": {"events": []},
        "presence": {"events": []},
        "to_device": {"events": []},
        "device_lists": {"changed": [], "left": []},
        "device_one_time_keys_count": key_counts,
        "device_unused_fallback_key_types": fallback_types,
    }
