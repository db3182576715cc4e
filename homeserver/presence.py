"""Presence (spec: "Presence"): what users set, what /sync marks, and what others may see.

The stored row holds the state as last set and the last active time. Two things follow from
the time at read time rather than being written: a user who is "online" but inactive for
IDLE_AFTER_MS reads as "unavailable" (the spec's idle timeout), and `currently_active` is true
only while the last activity is under CURRENTLY_ACTIVE_MS old.

Each sync marks its user active (`user_active`), but writes only when the state changes or
the stored activity time is over REFRESH_AFTER_MS old, so a busy client costs a dictionary
lookup per sync and one write a minute. A sweep every minute (`mark_idle`) writes the idle
users as "unavailable", so that those who watch them are told. Presence goes to the user and
to those who share a joined room with them.

A user is "offline" when no client of theirs is syncing (the spec: "not connected to an event
stream"): each /sync request and each WebSocket counts while it lasts (`syncing`), and the
sweep (`mark_offline`) writes "offline" for those whose last one ended OFFLINE_AFTER_MS ago,
as Synapse does 30 s after the last sync. Syncs are counted in this process; a row left
online by a process that went away (a restart) is written offline once its activity time is
STALE_AFTER_MS old and its user is not syncing here."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from homeserver.clock import now_ms
from homeserver.errors import Forbidden, InvalidParam, NotFound
from homeserver.ids import UserID, user_id_server
from homeserver.lru import Lru
from homeserver.notifier import Notifier, Stream
from homeserver.storage.presence import PresenceRow, PresenceStore
from homeserver.storage.rooms import RoomStore
from homeserver.storage.streams import StreamIdGenerator
from homeserver.storage.users import UserStore

ONLINE, UNAVAILABLE, OFFLINE = "online", "unavailable", "offline"
PRESENCE_STATES = (ONLINE, UNAVAILABLE, OFFLINE)
IDLE_AFTER_MS = 5 * 60 * 1000
CURRENTLY_ACTIVE_MS = 60 * 1000
REFRESH_AFTER_MS = 60 * 1000
OFFLINE_AFTER_MS = 30 * 1000
STALE_AFTER_MS = 10 * 60 * 1000
IDLE_SWEEP_BATCH = 1000
MAX_STATUS_MSG_BYTES = 1024

Clock = Callable[[], int]


MAX_REMEMBERED_USERS = 100_000


class Presence:
    def __init__(
        self,
        store: PresenceStore,
        rooms: RoomStore,
        users: UserStore,
        notifier: Notifier,
        streams: StreamIdGenerator,
        server_name: str,
        clock: Clock = now_ms,
    ) -> None:
        self._store = store
        self._rooms = rooms
        self._users = users
        self._notifier = notifier
        self._streams = streams
        self._server_name = server_name
        self.clock = clock  # milliseconds; tests replace it to move time
        # The row this process last read or wrote per user: /sync calls user_active on every
        # request, and most of those only need to see that nothing is due.
        self._last: Lru[UserID, PresenceRow | None] = Lru(MAX_REMEMBERED_USERS)
        self._syncs: dict[UserID, int] = {}  # syncs and sockets in flight, per user
        self._sync_ended: dict[UserID, int] = {}  # when the last one ended (none in flight)

    @property
    def position(self) -> int:
        """The presence stream position below which every write is committed."""
        return self._streams.current

    # Writes

    async def set_state(self, user_id: UserID, state: str, status_msg: str | None) -> None:
        """PUT /presence: the user sets their state and status message (None clears it).
        Setting "online" counts as activity."""
        check_state(state)
        if status_msg is not None and (
            len(status_msg.encode("utf-8", "surrogatepass")) > MAX_STATUS_MSG_BYTES or "\x00" in status_msg
        ):
            raise InvalidParam(f"status_msg must be at most {MAX_STATUS_MSG_BYTES} bytes, without NUL")
        now = self.clock()
        old = await self._store.get(user_id)
        last_active = now if state == ONLINE or old is None else old.last_active_ts
        await self._write(user_id, state, status_msg, last_active, now)

    async def user_active(self, user_id: UserID, set_presence: str) -> None:
        """A /sync from the user with its `set_presence`: "online" marks them online and
        active, "unavailable" marks them idle, "offline" leaves their presence alone (the
        spec: the client is then not marked online by syncing)."""
        check_state(set_presence)
        if set_presence == OFFLINE:
            return
        now = self.clock()
        old = await self._last_row(user_id)
        status_msg = old.status_msg if old else None
        if set_presence == ONLINE:
            if old is not None and old.state == ONLINE:
                if now - old.last_active_ts >= REFRESH_AFTER_MS:
                    await self._touch(old, now)
                return
            await self._write(user_id, ONLINE, status_msg, now, now)
        elif old is None or _effective_state(old, now) != UNAVAILABLE:
            await self._write(user_id, UNAVAILABLE, status_msg, old.last_active_ts if old else now, now)

    @contextmanager
    def syncing(self, user_id: UserID, set_presence: str) -> Iterator[None]:
        """While a /sync request or a WebSocket of the user lasts. A client syncing with
        `set_presence=offline` does not keep them online."""
        counted = self.sync_started(user_id, set_presence)
        try:
            yield
        finally:
            if counted:
                self.sync_ended(user_id)

    def sync_started(self, user_id: UserID, set_presence: str) -> bool:
        """`syncing` without a generator and its context manager, for what lasts long (an
        open WebSocket: ~0.4 KiB less per socket) or runs for every delivery (a long-poll).
        True if counted: then call `sync_ended`."""
        if set_presence == OFFLINE:
            return False
        self._syncs[user_id] = self._syncs.get(user_id, 0) + 1
        self._sync_ended.pop(user_id, None)
        return True

    def sync_ended(self, user_id: UserID) -> None:
        left = self._syncs[user_id] - 1
        if left:
            self._syncs[user_id] = left
        else:
            del self._syncs[user_id]
            self._sync_ended[user_id] = self.clock()

    async def mark_offline(self) -> int:
        """Write "offline" for users whose last sync here ended OFFLINE_AFTER_MS ago, and for
        rows left online or unavailable with no activity for STALE_AFTER_MS by a user not
        syncing here. Returns how many were marked."""
        now = self.clock()
        gone = [u for u, ended in self._sync_ended.items() if now - ended >= OFFLINE_AFTER_MS]
        for user_id in gone:
            del self._sync_ended[user_id]
        rows = await self._store.get_many(gone)
        rows += await self._store.stale(now - STALE_AFTER_MS, IDLE_SWEEP_BATCH)
        marked = 0
        for row in {r.user_id: r for r in rows}.values():
            if row.state != OFFLINE and row.user_id not in self._syncs:
                await self._write(row.user_id, OFFLINE, row.status_msg, row.last_active_ts, now)
                marked += 1
        return marked

    async def sweep(self) -> None:
        """The minutely job: idle users to "unavailable", users gone to "offline"."""
        await self.mark_idle()
        await self.mark_offline()

    async def mark_idle(self) -> int:
        """Write "unavailable" for users stored as online but inactive for IDLE_AFTER_MS (they
        already read as such; this tells their watchers). Returns how many were marked."""
        now = self.clock()
        idle = await self._store.gone_idle(now - IDLE_AFTER_MS, IDLE_SWEEP_BATCH)
        for row in idle:
            await self._write(row.user_id, UNAVAILABLE, row.status_msg, row.last_active_ts, now)
        return len(idle)

    async def _last_row(self, user_id: UserID) -> PresenceRow | None:
        if user_id in self._last:  # None too: known to have no row
            return self._last.get(user_id)
        row = await self._store.get(user_id)
        self._last.put(user_id, row)
        return row

    async def _touch(self, old: PresenceRow, now: int) -> None:
        """Still online: keep the activity time fresh without a stream position or wake-ups.
        (Each one woke everybody in the user's rooms: with N users in a room, N writes a
        minute woke N listeners each.) Watchers read last_active_ago from the time anyway."""
        row = replace(old, last_active_ts=now, currently_active=True)
        await self._store.touch(row.user_id, now)
        self._last.put(row.user_id, row)

    async def _write(
        self, user_id: UserID, state: str, status_msg: str | None, last_active: int, now: int
    ) -> None:
        active = state == ONLINE and now - last_active < CURRENTLY_ACTIVE_MS
        with self._streams.allocate() as stream_id:
            row = PresenceRow(user_id, state, status_msg, last_active, active, stream_id)
            await self._store.put(row)
        self._last.put(user_id, row)
        rooms = [m.room_id for m in await self._rooms.rooms_for_user(user_id)]
        self._notifier.notify(
            Stream.PRESENCE, stream_id, visible=self._streams.current, users=(user_id,), rooms=rooms
        )

    # Reads

    async def get(self, requester: UserID, user_id: UserID) -> dict[str, Any]:
        """GET /presence: the user's own, or that of a user who shares a joined room with the
        requester (M_FORBIDDEN otherwise); M_NOT_FOUND for a local user who does not exist."""
        if user_id_server(user_id) == self._server_name and not await self._users.exists(user_id):
            raise NotFound("No such user")
        if user_id != requester and not await self._store.shares_room(requester, user_id):
            raise Forbidden("You are not allowed to see their presence")
        row = await self._store.get(user_id)
        if row is None:
            return {"presence": OFFLINE, "currently_active": False}
        return presence_content(row, self.clock())

    async def for_sync(self, user_id: UserID, since: int, until: int) -> list[dict[str, Any]]:
        """m.presence events for the presence written in (since, until] by `user_id` and by
        those who share a joined room with them, as of now."""
        now = self.clock()
        return [
            {"type": "m.presence", "sender": row.user_id, "content": presence_content(row, now)}
            for row in await self._store.changed_for(user_id, since, until)
        ]


def check_state(state: str) -> None:
    if state not in PRESENCE_STATES:
        raise InvalidParam(f"presence must be one of {', '.join(PRESENCE_STATES)}")


def presence_content(row: PresenceRow, now: int) -> dict[str, Any]:
    """The content of an m.presence event (and the GET answer) for a row, at time `now`."""
    state = _effective_state(row, now)
    ago = max(now - row.last_active_ts, 0)
    content: dict[str, Any] = {
        "presence": state,
        "last_active_ago": ago,
        "currently_active": state == ONLINE and ago < CURRENTLY_ACTIVE_MS,
    }
    if row.status_msg is not None:
        content["status_msg"] = row.status_msg
    return content


def _effective_state(row: PresenceRow, now: int) -> str:
    if row.state == ONLINE and now - row.last_active_ts >= IDLE_AFTER_MS:
        return UNAVAILABLE
    return row.state
