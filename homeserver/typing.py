"""Typing notifications (spec module "Typing Notifications"): ephemeral, so in memory only.

Per room, the users typing and when each stops. One timer per room fires at the earliest
expiry; a room's typing set changing (someone starts, stops, times out or leaves) bumps a
serial, the typing stream position, and wakes the room's sync waiters. Sync asks for the
rooms that changed after the position it last saw and gets their current typing users.

The serial restarts with the process (nothing is stored), so a sync token may carry a
typing position above the current one: `for_sync` treats it as a fresh start."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from typing import Protocol

from homeserver.errors import Forbidden, InvalidParam
from homeserver.events.model import Event
from homeserver.ids import RoomID, UserID
from homeserver.notifier import Notifier, Stream
from homeserver.storage.rooms import RoomStore

DEFAULT_TIMEOUT_MS = 30_000
MAX_TIMEOUT_MS = 120_000


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Timers(Protocol):
    """A clock in seconds and callbacks at a time on it; the event loop is one."""

    def time(self) -> float: ...

    def call_at(self, when: float, callback: Callable[[], object]) -> TimerHandle: ...


class Typing:
    def __init__(self, rooms: RoomStore, notifier: Notifier, timers: Timers | None = None) -> None:
        self._rooms = rooms
        self._notifier = notifier
        self._timers_override = timers
        # Never behind what this process already announced.
        self._serial = notifier.positions[Stream.TYPING]
        self._typing: dict[RoomID, dict[UserID, float]] = {}  # room -> user -> expiry time
        self._changed_at: dict[RoomID, int] = {}  # room -> serial of its last change
        self._scheduled: dict[RoomID, tuple[float, TimerHandle]] = {}  # room -> its timer

    @property
    def position(self) -> int:
        return self._serial

    @property
    def _timers(self) -> Timers:
        return self._timers_override or asyncio.get_running_loop()

    async def set_typing(
        self, user_id: UserID, room_id: RoomID, typing: bool, timeout_ms: int | None
    ) -> None:
        """PUT /rooms/{roomId}/typing/{userId}. The timeout defaults to 30 s and is capped
        at 120 s."""
        if timeout_ms is not None and timeout_ms < 0:
            raise InvalidParam("timeout must not be negative")
        membership = await self._rooms.membership(room_id, user_id)
        if membership is None or membership.membership != "join":
            raise Forbidden("You are not joined to this room")
        if typing:
            timeout = DEFAULT_TIMEOUT_MS if timeout_ms is None else min(timeout_ms, MAX_TIMEOUT_MS)
            self._start(user_id, room_id, self._timers.time() + timeout / 1000)
        else:
            self._stop(user_id, room_id)

    def for_sync(self, room_ids: Collection[RoomID], since: int) -> dict[RoomID, list[UserID]]:
        """For each of `room_ids` whose typing set changed after `since`, who types now (an
        empty list says everyone stopped). `since` 0, or a position from before a restart:
        the rooms where someone types now."""
        if since > self._serial:
            since = 0
        if since == 0:
            return {r: list(self._typing[r]) for r in _among(room_ids, self._typing)}
        return {
            r: list(self._typing.get(r, ()))
            for r in _among(room_ids, self._changed_at)
            if self._changed_at[r] > since
        }

    def on_event(self, event: Event, _position: int, _txn: object = None) -> None:
        """A notifier listener: whoever leaves a room stops typing in it."""
        if event.type == "m.room.member" and event.state_key and event.membership != "join":
            self._stop(UserID(event.state_key), event.room_id)

    def _start(self, user_id: UserID, room_id: RoomID, expiry: float) -> None:
        users = self._typing.setdefault(room_id, {})
        started = user_id not in users
        users[user_id] = expiry
        self._schedule(room_id, expiry)
        if started:
            self._changed(room_id)

    def _stop(self, user_id: UserID, room_id: RoomID) -> None:
        users = self._typing.get(room_id)
        if users is None or user_id not in users:
            return
        del users[user_id]
        if not users:
            self._forget(room_id)
        self._changed(room_id)

    def _schedule(self, room_id: RoomID, when: float) -> None:
        """Make sure the room's timer fires no later than `when`."""
        scheduled = self._scheduled.get(room_id)
        if scheduled is not None:
            if scheduled[0] <= when:
                return
            scheduled[1].cancel()
        handle = self._timers.call_at(when, lambda: self._expire(room_id, when))
        self._scheduled[room_id] = (when, handle)

    def _expire(self, room_id: RoomID, when: float) -> None:
        """The room's timer: drop whoever's time is up, then wait for the next expiry."""
        self._scheduled.pop(room_id, None)
        users = self._typing.get(room_id)
        if not users:
            return
        # A timer may fire a hair before its time by the clock; it is due all the same.
        now = max(self._timers.time(), when)
        expired = [user for user, expiry in users.items() if expiry <= now]
        for user in expired:
            del users[user]
        if users:
            self._schedule(room_id, min(users.values()))
        else:
            self._forget(room_id)
        if expired:
            self._changed(room_id)

    def _forget(self, room_id: RoomID) -> None:
        del self._typing[room_id]
        scheduled = self._scheduled.pop(room_id, None)
        if scheduled is not None:
            scheduled[1].cancel()

    def _changed(self, room_id: RoomID) -> None:
        self._serial += 1
        self._changed_at[room_id] = self._serial
        self._notifier.notify(Stream.TYPING, self._serial, rooms=(room_id,))


def _among(room_ids: Collection[RoomID], known: Collection[RoomID]) -> list[RoomID]:
    """The rooms of `room_ids` that are in `known`, walking the smaller of the two."""
    if len(known) < len(room_ids):
        wanted = room_ids if isinstance(room_ids, set | frozenset) else set(room_ids)
        return [r for r in known if r in wanted]
    return [r for r in room_ids if r in known]
