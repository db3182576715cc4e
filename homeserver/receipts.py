"""Receipts and read markers (spec modules "Receipts", "Fully read markers").

A receipt is an "up to" marker per (room, receipt type, user, thread) that only moves
forward. `m.read` is shown to the room; `m.read.private` only to its sender. The fully read
marker, `m.fully_read`, is not a receipt but room account data written for the user.
Sync reads what changed between two receipts stream positions with `for_sync`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Collection
from typing import Any

from homeserver.account_data import AccountData
from homeserver.clock import now_ms
from homeserver.errors import Forbidden, InvalidParam, NotFound
from homeserver.ids import MAX_ID_BYTES, EventID, RoomID, UserID
from homeserver.notifier import Notifier, Stream
from homeserver.storage.receipts import UNTHREADED, Receipt, ReceiptStore
from homeserver.storage.rooms import RoomStore
from homeserver.storage.streams import StreamIdGenerator

READ = "m.read"
READ_PRIVATE = "m.read.private"
FULLY_READ = "m.fully_read"
RECEIPT_TYPES = frozenset({READ, READ_PRIVATE, FULLY_READ})
MAIN_THREAD = "main"


def is_event_id(value: str) -> bool:
    """The grammar common to every room version: `$` and an opaque part, at most 255 bytes."""
    return (
        len(value) > 1
        and value.startswith("$")
        and "\x00" not in value
        and len(value.encode("utf-8", "surrogatepass")) <= MAX_ID_BYTES
    )


def check_event_id(value: str, name: str = "event_id") -> EventID:
    if not is_event_id(value):
        raise InvalidParam(f"{name} is not a valid event ID")
    return EventID(value)


class Receipts:
    def __init__(
        self,
        store: ReceiptStore,
        rooms: RoomStore,
        account_data: AccountData,
        notifier: Notifier,
        streams: StreamIdGenerator,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self._store = store
        self._rooms = rooms
        self._account_data = account_data
        self._notifier = notifier
        self._streams = streams
        self._clock = clock
        self._marker_locks: dict[tuple[UserID, RoomID], _CountedLock] = {}

    @property
    def position(self) -> int:
        """The receipts stream position: every receipt at or below it is readable."""
        return self._streams.current

    async def post(
        self,
        user_id: UserID,
        room_id: RoomID,
        receipt_type: str,
        event_id: EventID,
        thread_id: str | None,
    ) -> None:
        """POST /rooms/{roomId}/receipt/{receiptType}/{eventId}. A receipt older than the
        user's current one is accepted and ignored."""
        if receipt_type not in RECEIPT_TYPES:
            raise InvalidParam(f"Unknown receipt type {receipt_type!r}")
        check_event_id(event_id)
        if receipt_type == FULLY_READ:
            if thread_id is not None:
                raise InvalidParam("thread_id cannot be given for m.fully_read")
            await self.read_markers(user_id, room_id, event_id, None, None)
            return
        thread = _thread_key(thread_id)
        await self._require_joined(user_id, room_id)
        ordering = await self._ordering_in_room(room_id, event_id)
        await self._write(user_id, room_id, receipt_type, event_id, thread, ordering)

    async def read_markers(
        self,
        user_id: UserID,
        room_id: RoomID,
        fully_read: EventID | None,
        read: EventID | None,
        read_private: EventID | None,
    ) -> None:
        """POST /rooms/{roomId}/read_markers: every event is checked before anything is
        written, so a bad one changes nothing."""
        wanted = {FULLY_READ: fully_read, READ: read, READ_PRIVATE: read_private}
        for name, event_id in wanted.items():
            if event_id is not None:
                check_event_id(event_id, name)
        await self._require_joined(user_id, room_id)
        orderings = {
            name: await self._ordering_in_room(room_id, event_id)
            for name, event_id in wanted.items()
            if event_id is not None
        }
        if fully_read is not None:
            await self._move_fully_read(user_id, room_id, fully_read, orderings[FULLY_READ])
        for receipt_type in (READ, READ_PRIVATE):
            event_id = wanted[receipt_type]
            if event_id is not None:
                ordering = orderings[receipt_type]
                await self._write(user_id, room_id, receipt_type, event_id, UNTHREADED, ordering)

    async def for_sync(
        self, user_id: UserID, room_ids: Collection[RoomID], since: int, until: int
    ) -> dict[RoomID, dict[str, Any]]:
        """Per room with receipts written in (since, until] (since 0: all of them), the
        content of its `m.receipt` ephemeral event: {event_id: {type: {user_id: data}}}.
        Other users' private receipts are left out."""
        out: dict[RoomID, dict[str, Any]] = {}
        if since >= until or not room_ids:
            return out
        for r in await self._store.changed_in_rooms(user_id, room_ids, since, until):
            by_type = out.setdefault(r.room_id, {}).setdefault(r.event_id, {})
            by_type.setdefault(r.receipt_type, {})[r.user_id] = r.data
        return out

    async def _write(
        self,
        user_id: UserID,
        room_id: RoomID,
        receipt_type: str,
        event_id: EventID,
        thread: str,
        ordering: int,
    ) -> None:
        data: dict[str, Any] = {"ts": self._clock()}
        if thread != UNTHREADED:
            data["thread_id"] = thread
        private = receipt_type == READ_PRIVATE
        stored = False
        try:
            with self._streams.allocate() as stream_id:
                receipt = Receipt(room_id, receipt_type, user_id, thread, event_id, data, stream_id)
                stored = await self._store.advance(receipt, ordering)
        finally:
            # Announced even when nothing was stored: the position was in flight, and
            # receipts above it become visible to readers only once the stream passes it.
            self._notifier.notify(
                Stream.RECEIPTS,
                stream_id,
                visible=self._streams.current,
                rooms=(room_id,) if stored and not private else (),
                # Also under its writer: their unread counts moved (push.unread).
                users=(user_id,) if stored else (),
            )

    async def _move_fully_read(
        self, user_id: UserID, room_id: RoomID, event_id: EventID, ordering: int
    ) -> None:
        """Write the marker unless the current one is at or after `event_id`."""
        async with self._marker_lock(user_id, room_id):
            try:
                current = await self._account_data.get(user_id, room_id, FULLY_READ)
            except NotFound:
                current = {}
            current_id = current.get("event_id")
            if isinstance(current_id, str) and is_event_id(current_id):
                position = await self._store.event_position(EventID(current_id))
                if position is not None and position[1] >= ordering:
                    return
            await self._account_data.write(user_id, room_id, FULLY_READ, {"event_id": event_id})

    @contextlib.asynccontextmanager
    async def _marker_lock(self, user_id: UserID, room_id: RoomID) -> AsyncIterator[None]:
        """One marker update at a time per user and room (read, compare, write); the lock
        is dropped once nobody holds or waits for it."""
        key = (user_id, room_id)
        entry = self._marker_locks.get(key)
        if entry is None:
            entry = self._marker_locks[key] = _CountedLock()
        entry.users += 1
        try:
            async with entry.lock:
                yield
        finally:
            entry.users -= 1
            if entry.users == 0:
                del self._marker_locks[key]

    async def _require_joined(self, user_id: UserID, room_id: RoomID) -> None:
        membership = await self._rooms.membership(room_id, user_id)
        if membership is None or membership.membership != "join":
            raise Forbidden("You are not joined to this room")

    async def _ordering_in_room(self, room_id: RoomID, event_id: EventID) -> int:
        position = await self._store.event_position(event_id)
        if position is None or position[0] != room_id:
            raise NotFound(f"Event {event_id} not found in this room")
        return position[1]


class _CountedLock:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


def _thread_key(thread_id: str | None) -> str:
    """The stored thread key: "" unthreaded, "main", or a thread root's event ID."""
    if thread_id is None:
        return UNTHREADED
    if thread_id != MAIN_THREAD and not is_event_id(thread_id):
        raise InvalidParam("thread_id must be 'main' or an event ID")
    return thread_id
