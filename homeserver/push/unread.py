"""Unread notification counts per user, room and thread, for /sync (spec: "Receiving
notifications"): the notifications after the user's read positions (storage/push.py).

A user's counts are read once (one query, all rooms) and then kept in memory, so a live
client's incremental sync costs no query. A committed event's row for the common outcome is
logged once in its room with the set of members it notifies (`RoomLog`), and each user counts
the rows logged since they last looked when they look; a user's own row is added to their
counts when committed. An event thus costs the same however many members the room has, and a
look costs the rows since the last one. A user who has not looked at rows the log no longer
keeps (or whose room's log was dropped) has their counts read again. A user whose counts have
no room (it had no rows when read, or they joined since) gets the room's at the first logged
row that notifies them (`_register`: once per member set, not per event).

A receipt moves the read position in the database; a receipt the user wrote since the counts
were read (the notifier remembers each receipt under its writer) makes the next sync read them
again, and so does a redaction in one of their rooms with counts. Leaving a room drops its
counts.

While counts are being read, new own rows are held back and added afterwards, and rows
logged meanwhile are counted, unless the read already saw them (in a room, events commit in
stream order: the read saw exactly those at or below the highest row it could see there, so
a notification a receipt covered before its writer reported it is not counted either)."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

from homeserver.ids import RoomID, UserID
from homeserver.lru import Lru
from homeserver.notifier import Notifier, Stream
from homeserver.storage.events import EventToPersist
from homeserver.storage.push import MAIN_THREAD, UNTHREADED, Outcome, PushActionStore, UnreadRow

USERS_CACHED: Final = 50_000
ROOMS_LOGGED: Final = 10_000
LOG_KEPT: Final = 1_000  # event rows per room (up to twice as many between trims)
MEMBER_SETS_KEPT: Final = 4_096


@dataclass(frozen=True)
class Counts:
    notifications: int
    highlights: int

    def json(self) -> dict[str, int]:
        return {"notification_count": self.notifications, "highlight_count": self.highlights}


ZERO: Final = Counts(0, 0)


class RoomLog:
    """A room's committed notifications of the common outcome (its event rows), in commit
    order, each with the set of members it notifies; `base` is the index (counted since the log
    began) of the oldest one kept. Users holding counts of the room are `registered`."""

    __slots__ = ("base", "checked", "checked_seq", "end", "entries", "registered")

    def __init__(self) -> None:
        self.entries: list[tuple[int, str, bool, frozenset[UserID]]] = []  # stream, thread, highlight
        self.base = 0
        self.end = 0  # base + len(entries): the index the next entry gets
        self.registered: dict[UserID, _Entry] = {}  # user -> the counts holding this room's
        self.checked: dict[int, frozenset[UserID]] = {}  # member sets whose users are registered
        self.checked_seq = 0  # UnreadCounts' registration counter when `checked` was filled

    def append(self, stream: int, thread_id: str, highlight: bool, members: frozenset[UserID]) -> None:
        self.entries.append((stream, thread_id, highlight, members))
        self.end += 1

    def trim(self, base: int) -> None:
        """Forget the entries before `base`."""
        del self.entries[: base - self.base]
        self.base = base


class RoomCounts:
    """A user's unread notifications in one room, per thread. The room's event rows are
    counted when the counts are looked at (`RoomLog`), the user's own rows when committed."""

    __slots__ = ("log", "next", "threads", "upto", "user_id")

    def __init__(self, user_id: UserID, log: RoomLog, next_entry: int) -> None:
        self.user_id = user_id
        self.log: RoomLog | None = log  # None once dropped (the user's counts are read again)
        self.next = next_entry  # the first entry of the log not looked at yet
        self.threads: dict[str, list[int]] = {}  # thread -> [notifications, highlights]
        self.upto = 0  # the highest stream ordering counted (or seen by the read)

    def add(self, thread_id: str, stream: int, highlight: bool) -> None:
        self.catch_up()
        if stream <= self.upto:
            return  # already counted by the read
        self.upto = stream
        _count(self.threads, thread_id, highlight)

    def catch_up(self) -> None:
        """Count the room's event rows logged since last time that notify the user."""
        log = self.log
        if log is None or self.next >= log.end:
            return
        user_id, upto, threads = self.user_id, self.upto, self.threads
        stream = upto
        for stream, thread_id, highlight, members in log.entries[max(self.next - log.base, 0) :]:
            if stream > upto and user_id in members:
                _count(threads, thread_id, highlight)
        self.upto = max(upto, stream)
        self.next = log.end

    def total(self) -> Counts:
        self.catch_up()
        return Counts(sum(c[0] for c in self.threads.values()), sum(c[1] for c in self.threads.values()))

    def thread(self, thread_id: str) -> Counts:
        self.catch_up()
        counts = self.threads.get(thread_id)
        return Counts(counts[0], counts[1]) if counts else ZERO


def _count(threads: dict[str, list[int]], thread_id: str, highlight: bool) -> None:
    counts = threads.get(thread_id)
    if counts is None:
        counts = threads[thread_id] = [0, 0]
    counts[0] += 1
    counts[1] += highlight


@dataclass
class _Entry:
    receipts_position: int
    seq: int  # UnreadCounts' change counter when the read began
    rooms: dict[RoomID, RoomCounts] = field(default_factory=dict)
    loading: asyncio.Future[None] | None = None
    held: list[tuple[RoomID, str, int, bool]] = field(default_factory=list)  # own rows during the read


class UnreadCounts:
    def __init__(self, store: PushActionStore, notifier: Notifier) -> None:
        self._store = store
        self._notifier = notifier
        self._cache: Lru[UserID, _Entry] = Lru(USERS_CACHED)
        self._logs: OrderedDict[RoomID, RoomLog] = OrderedDict()  # least recently written first
        self._sets: dict[int, tuple[tuple[UserID, ...], frozenset[UserID]]] = {}  # id(tuple) -> set
        self._seq = 0  # counts reads begun and rooms changed, in order
        self._registration = 0  # moves when counts are read or a room's counts dropped
        self._redacted: dict[RoomID, int] = {}  # room -> seq of its last redaction
        self._all_redacted = 0  # seq when `_redacted` was last emptied
        self._last_redacted = 0  # seq of the latest redaction anywhere

    def on_committed(self, items: Sequence[EventToPersist]) -> None:
        """Push planner listener: log each event row once, count the users' own rows for those
        whose counts are held; a redaction makes counts with its room read again (its
        target's rows are gone); a user leaving a room drops the room (its rows are marked
        read)."""
        for item in items:
            event, plan, stream = item.event, item.push, item.stream_ordering
            if plan is not None:
                for user in plan.own:
                    if user.outcome is not None:
                        self._add_own(user.user_id, event.room_id, plan.thread_id, stream, user.outcome)
                if plan.common is not None and plan.members:
                    self._log_row(event.room_id, plan.thread_id, stream, plan.common, plan.members)
            if item.prune is not None:
                self._room_redacted(event.room_id)
            if event.type == "m.room.member" and event.membership in ("leave", "ban"):
                self._left(UserID(event.state_key or ""), event.room_id)

    def _add_own(
        self, user_id: UserID, room_id: RoomID, thread_id: str, stream: int, outcome: Outcome
    ) -> None:
        entry = self._cache.peek(user_id)
        if entry is None:
            return
        if entry.loading is not None:
            entry.held.append((room_id, thread_id, stream, outcome.highlight))
        else:
            self._room_counts(user_id, entry, room_id).add(thread_id, stream, outcome.highlight)

    def _room_counts(self, user_id: UserID, entry: _Entry, room_id: RoomID) -> RoomCounts:
        """The user's counts of the room; new ones look at the room's rows logged from now on."""
        room = entry.rooms.get(room_id)
        if room is None:
            log = self._log(room_id)
            room = entry.rooms[room_id] = RoomCounts(user_id, log, log.end)
            log.registered[user_id] = entry
        return room

    def _log(self, room_id: RoomID) -> RoomLog:
        log = self._logs.get(room_id)
        if log is not None:
            self._logs.move_to_end(room_id)
            return log
        log = self._logs[room_id] = RoomLog()
        if len(self._logs) > ROOMS_LOGGED:
            self._forget(*self._logs.popitem(last=False))
        return log

    def _forget(self, room_id: RoomID, log: RoomLog) -> None:
        """A room's log is dropped: the counts looking at it are read again when next asked."""
        for user_id, entry in log.registered.items():
            room = entry.rooms.get(room_id)
            if room is not None and room.log is log:
                room.log = None
                if self._cache.peek(user_id) is entry:
                    self._cache.pop(user_id)

    def _log_row(
        self, room_id: RoomID, thread_id: str, stream: int, outcome: Outcome, members: tuple[UserID, ...]
    ) -> None:
        """An event row, logged once: each user counts it when they look."""
        known = self._sets.get(id(members))
        if known is not None and known[0] is members:
            users = known[1]
        else:  # the planner hands the same tuple to events of the same sender and outcome
            if len(self._sets) >= MEMBER_SETS_KEPT:
                self._sets.clear()
            users = frozenset(members)
            self._sets[id(members)] = (members, users)
        log = self._log(room_id)
        log.append(stream, thread_id, outcome.highlight, users)
        self._register(room_id, log, users)
        if len(log.entries) >= 2 * LOG_KEPT:
            self._trim(room_id, log)

    def _register(self, room_id: RoomID, log: RoomLog, users: frozenset[UserID]) -> None:
        """Every user of `users` whose counts are held gets counts of the room if they had none,
        looking at the rows from the one just logged on (a member with counts of a room has
        them from the read or from an earlier row). Nothing to do for a set already seen
        since the last read began or room was dropped."""
        candidates: Iterable[UserID]
        if log.checked_seq != self._registration:  # counts read since: their entries are new
            log.checked.clear()
            log.checked_seq = self._registration
            candidates = users
        elif id(users) in log.checked:
            return
        else:
            candidates = users - log.registered.keys()
        index = log.end - 1
        for user_id in candidates:
            entry = self._cache.peek(user_id)
            if entry is None or log.registered.get(user_id) is entry:
                continue
            room = entry.rooms.get(room_id)
            if room is None:
                entry.rooms[room_id] = RoomCounts(user_id, log, index)
            elif room.log is not log:  # counted against a dropped log: read again
                self._cache.pop(user_id)
                continue
            log.registered[user_id] = entry
        if len(log.checked) >= MEMBER_SETS_KEPT:
            log.checked.clear()
        log.checked[id(users)] = users

    def _trim(self, room_id: RoomID, log: RoomLog) -> None:
        """Keep the newest LOG_KEPT rows; users who have not looked at the older ones have
        their counts read again when next asked."""
        base = log.end - LOG_KEPT
        for user_id, entry in list(log.registered.items()):
            room = entry.rooms.get(room_id)
            if room is not None and room.log is log and room.next < base:
                room.log = None
                del log.registered[user_id]
                if self._cache.peek(user_id) is entry:
                    self._cache.pop(user_id)
        log.trim(base)

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
            return
        room = entry.rooms.pop(room_id, None)
        if room is not None and room.log is not None:
            room.log.registered.pop(user_id, None)  # counted again from a rejoin's first row
        self._registration += 1

    async def for_rooms(self, user_id: UserID, room_ids: Collection[RoomID]) -> dict[RoomID, RoomCounts]:
        """The counts of these rooms (rooms without notifications are left out)."""
        entry = await self._fresh(user_id)
        found = {room_id: entry.rooms[room_id] for room_id in room_ids if room_id in entry.rooms}
        for room in found.values():
            room.catch_up()  # looked at: the log may move on past these rows
        return found

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
        self._registration += 1
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
        self._fill(user_id, entry, rows)
        return entry

    def _fill(self, user_id: UserID, entry: _Entry, rows: Sequence[UnreadRow]) -> None:
        """The counts read, then the own rows held back during the read (event rows committed
        meanwhile are in the rooms' logs; those the read saw are at or below `upto`)."""
        for row in rows:
            room = self._room_counts(user_id, entry, row.room_id)
            if row.thread_id != UNTHREADED:  # else only how far the read saw rows
                room.threads[row.thread_id] = [row.notifications, row.highlights]
            room.upto = max(room.upto, row.max_stream)
        held, entry.held, entry.loading = entry.held, [], None
        for room_id, thread_id, stream, highlight in held:
            self._room_counts(user_id, entry, room_id).add(thread_id, stream, highlight)


def main_and_threads(room: RoomCounts | None) -> tuple[Counts, dict[str, Counts]]:
    """The main timeline's counts and those of each thread with notifications."""
    if room is None:
        return ZERO, {}
    room.catch_up()
    threads = {t: room.thread(t) for t, c in room.threads.items() if t != MAIN_THREAD and c[0] > 0}
    return room.thread(MAIN_THREAD), threads
