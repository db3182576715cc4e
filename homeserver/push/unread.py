"""Unread notification counts per user, room and thread, for /sync (spec: "Receiving
notifications"): the notifications after the user's read positions (storage/push.py).

A user's counts are read once (one query, all rooms) and then kept in memory: each committed
event adds the notifications of its plan, so a live client's incremental sync costs no query.
A receipt moves the read position in the database; a receipt the user wrote since the counts
were read (the notifier remembers each receipt under its writer) makes the next sync read them
again, and so does a redaction in one of their rooms with counts. Leaving a room drops its
counts.

While counts are being read, new notifications are held back and added afterwards unless the
read already saw them (in a room, events commit in stream order: the read saw exactly those
at or below the highest row it could see there, so a notification a receipt covered before
its writer reported it is not counted either)."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Final

from homeserver.ids import RoomID, UserID
from homeserver.lru import Lru
from homeserver.notifier import Notifier, Stream
from homeserver.storage.events import EventToPersist
from homeserver.storage.push import MAIN_THREAD, UNTHREADED, PushActionStore, UnreadRow

USERS_CACHED: Final = 50_000


@dataclass(frozen=True)
class Counts:
    notifications: int
    highlights: int

    def json(self) -> dict[str, int]:
        return {"notification_count": self.notifications, "highlight_count": self.highlights}


ZERO: Final = Counts(0, 0)


@dataclass
class RoomCounts:
    threads: dict[str, list[int]] = field(default_factory=dict)  # thread -> [notifs, highlights]
    upto: int = 0  # the highest stream ordering counted

    def add(self, thread_id: str, stream: int, highlight: bool) -> None:
        if stream <= self.upto:
            return  # already counted by the read
        self.upto = stream
        counts = self.threads.setdefault(thread_id, [0, 0])
        counts[0] += 1
        counts[1] += int(highlight)

    def total(self) -> Counts:
        return Counts(sum(c[0] for c in self.threads.values()), sum(c[1] for c in self.threads.values()))

    def thread(self, thread_id: str) -> Counts:
        counts = self.threads.get(thread_id)
        return Counts(counts[0], counts[1]) if counts else ZERO


@dataclass
class _Entry:
    receipts_position: int
    seq: int  # UnreadCounts' change counter when the read began
    rooms: dict[RoomID, RoomCounts] = field(default_factory=dict)
    loading: asyncio.Future[None] | None = None
    held: list[tuple[RoomID, str, int, bool]] = field(default_factory=list)

    def add(self, room_id: RoomID, thread_id: str, stream: int, highlight: bool) -> None:
        if self.loading is not None:
            self.held.append((room_id, thread_id, stream, highlight))
        else:
            self.rooms.setdefault(room_id, RoomCounts()).add(thread_id, stream, highlight)

    def fill(self, rows: Sequence[UnreadRow]) -> None:
        for row in rows:
            room = self.rooms.setdefault(row.room_id, RoomCounts())
            if row.thread_id != UNTHREADED:  # else only how far the read saw read rows
                room.threads[row.thread_id] = [row.notifications, row.highlights]
            room.upto = max(room.upto, row.max_stream)
        held, self.held, self.loading = self.held, [], None
        for room_id, thread_id, stream, highlight in held:
            self.add(room_id, thread_id, stream, highlight)


class UnreadCounts:
    def __init__(self, store: PushActionStore, notifier: Notifier) -> None:
        self._store = store
        self._notifier = notifier
        self._cache: Lru[UserID, _Entry] = Lru(USERS_CACHED)
        self._seq = 0  # counts reads begun and rooms changed, in order
        self._redacted: dict[RoomID, int] = {}  # room -> seq of its last redaction
        self._all_redacted = 0  # seq when `_redacted` was last emptied
        self._last_redacted = 0  # seq of the latest redaction anywhere

    def on_committed(self, items: Sequence[EventToPersist]) -> None:
        """Push planner listener: count the new push actions of users whose counts are held;
        a redaction makes counts with its room read again (its target's rows are gone); a
        user leaving a room drops the room (its rows are marked read)."""
        cache = self._cache
        for item in items:
            event = item.event
            if item.push is not None:
                thread_id = item.push.thread_id
                for user_id, outcome in item.push.notified():
                    entry = cache.peek(user_id)
                    if entry is not None:
                        entry.add(event.room_id, thread_id, item.stream_ordering, outcome.highlight)
            if item.prune is not None:
                self._room_redacted(event.room_id)
            if event.type == "m.room.member" and event.membership in ("leave", "ban"):
                self._left(UserID(event.state_key or ""), event.room_id)

    def _room_redacted(self, room_id: RoomID) -> None:
        self._seq += 1
        if len(self._redacted) >= USERS_CACHED:  # bounded: forget rooms, read everyone again
            self._redacted.clear()
            self._all_redacted = self._seq
        self._redacted[room_id] = self._last_redacted = self._seq

    def _left(self, user_id: UserID, room_id: RoomID) -> None:
        entry = self._cache.get(user_id)
        if entry is None:
            return
        if entry.loading is not None:  # the read may predate the leave: read again next time
            self._cache.pop(user_id)
        else:
            entry.rooms.pop(room_id, None)

    async def for_rooms(self, user_id: UserID, room_ids: Collection[RoomID]) -> dict[RoomID, RoomCounts]:
        """The counts of these rooms (rooms without notifications are left out)."""
        entry = await self._fresh(user_id)
        return {room_id: entry.rooms[room_id] for room_id in room_ids if room_id in entry.rooms}

    async def total(self, user_id: UserID) -> int:
        """Unread notifications in all the user's rooms (a pusher's badge)."""
        entry = await self._fresh(user_id)
        return sum(room.total().notifications for room in entry.rooms.values())

    async def _fresh(self, user_id: UserID) -> _Entry:
        entry = self._cache.get(user_id)
        if entry is not None and entry.loading is not None:
            await asyncio.shield(entry.loading)
        if entry is None or self._cache.get(user_id) is not entry or self._stale(entry, user_id):
            entry = await self._load(user_id)
        return entry

    def _stale(self, entry: _Entry, user_id: UserID) -> bool:
        """A receipt of the user's may have moved since the counts were read (the notifier
        remembers every receipt under its writer), or an event in one of their rooms with
        counts was redacted."""
        if self._notifier.changed_since(Stream.RECEIPTS, user_id, entry.receipts_position):
            return True
        if self._last_redacted <= entry.seq:
            return False
        if self._all_redacted > entry.seq:
            return True
        return any(self._redacted.get(room_id, 0) > entry.seq for room_id in entry.rooms)

    async def _load(self, user_id: UserID) -> _Entry:
        self._seq += 1
        entry = _Entry(self._notifier.positions[Stream.RECEIPTS], self._seq)
        loading = entry.loading = asyncio.get_running_loop().create_future()
        self._cache.put(user_id, entry)
        try:
            rows = await self._store.unread(user_id)
        except BaseException:
            if self._cache.get(user_id) is entry:
                self._cache.pop(user_id)
            raise
        finally:
            if not loading.done():
                loading.set_result(None)
        entry.fill(rows)
        return entry


def main_and_threads(room: RoomCounts | None) -> tuple[Counts, dict[str, Counts]]:
    """The main timeline's counts and those of each thread with notifications."""
    if room is None:
        return ZERO, {}
    threads = {t: room.thread(t) for t, c in room.threads.items() if t != MAIN_THREAD and c[0] > 0}
    return room.thread(MAIN_THREAD), threads
