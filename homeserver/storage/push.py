"""Push actions (spec: "Push Notifications", "Receipts"): what notifies each local user, and
whether they have read it, for unread counts and GET /notifications.

Push actions are written in the event's own transaction (`insert_push_actions`, called by the
event store); a read receipt marks the rows up to its event read in the receipt's transaction
(`advance_read_position`). Unread rows are found through (user, read, room, stream), so
counting visits only unread rows, never a user's history. A redaction deletes its target's
rows; leaving a room marks the user's rows there read; read rows older than the retention
period are deleted in batches (`PushActionStore.delete_read_before`)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, case, delete, func, literal, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncConnection

from homeserver.ids import EventID, RoomID, UserID
from homeserver.storage.database import Database
from homeserver.storage.tables import event_push_actions, events, room_memberships

UNTHREADED = ""  # a receipt that clears every thread
MAIN_THREAD = "main"


@dataclass(frozen=True)
class PushAction:
    """A notification for `user_id` of the event it is persisted with."""

    user_id: UserID
    thread_id: str  # "main" or the thread root's event ID
    highlight: bool
    actions: str  # the matching rule's actions, JSON


@dataclass(frozen=True)
class UnreadRow:
    """Unread notifications in one room and thread; a row with thread_id "" and no
    notifications only says how far the read saw the room's read rows."""

    room_id: RoomID
    thread_id: str
    notifications: int
    highlights: int
    max_stream: int  # of the rows counted (read ones for a "" row)


@dataclass(frozen=True)
class NotificationRow:
    event_id: EventID
    room_id: RoomID
    stream_ordering: int
    actions: str
    read: bool


def insert_push_actions(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Rows of `event_push_actions` (see `push_action_row`), in one statement."""
    if rows:
        conn.execute(event_push_actions.insert(), list(rows))


def push_action_row(action: PushAction, event_id: EventID, room_id: RoomID, stream: int) -> dict[str, Any]:
    return {
        "user_id": action.user_id,
        "event_id": event_id,
        "room_id": room_id,
        "stream_ordering": stream,
        "thread_id": action.thread_id,
        "highlight": action.highlight,
        "actions": action.actions,
        "read": False,
        "ts": int(time.time() * 1000),  # when it was stored: the retention period runs from here
    }


def mark_read_statement(user_id: UserID, room_id: RoomID, thread_id: str, stream: int) -> Any:
    """The user's unread rows in the room up to `stream`, in one thread ("main", a root) or,
    for an unthreaded receipt, all: a range of (user, read, room, stream)."""
    a = event_push_actions.c
    where = [a.user_id == user_id, a.room_id == room_id, a.read.is_(False), a.stream_ordering <= stream]
    if thread_id != UNTHREADED:
        where.append(a.thread_id == thread_id)
    return update(event_push_actions).where(*where).values(read=True)


async def advance_read_position(
    conn: AsyncConnection, user_id: UserID, room_id: RoomID, thread_id: str, stream: int
) -> None:
    """Mark the user's notifications in the room (and thread) up to `stream` read. Rows are
    only ever marked read, so a receipt for an older event moves nothing back."""
    await conn.execute(mark_read_statement(user_id, room_id, thread_id, stream))


def mark_room_read(conn: Connection, user_id: UserID, room_id: RoomID) -> None:
    """The user left the room (or was banned): nothing in it counts as unread any more, and
    the rows become old read rows that the retention sweep deletes."""
    conn.execute(mark_read_statement(user_id, room_id, UNTHREADED, 2**62))


def forget_redacted(conn: Connection, event_id: EventID) -> None:
    """A redacted event notifies nobody any more."""
    conn.execute(forget_redacted_statement(event_id))


def unread_statement(user_id: UserID) -> Any:
    """The user's unread rows counted per joined room and thread (an index range of
    (user, read=false, room) per room), then per joined room its highest read row (the end
    of the (user, read=true, room) range): UnreadRow's columns, `top` NULL for a room
    without such rows."""
    a, m = event_push_actions.c, room_memberships.c
    joined = (m.user_id == user_id, m.membership == "join")
    counted = (
        select(
            a.room_id,
            a.thread_id,
            func.count(a.stream_ordering).label("n"),
            func.sum(case((a.highlight, 1), else_=0)).label("h"),
            func.max(a.stream_ordering).label("top"),
        )
        .select_from(  # LEFT JOIN: SQLite keeps the rooms outside even without statistics
            room_memberships.outerjoin(
                event_push_actions,
                (a.user_id == m.user_id) & (a.room_id == m.room_id) & a.read.is_(False),
            )
        )
        .where(*joined)
        .group_by(a.room_id, a.thread_id)
    )
    read = event_push_actions.alias("read_rows").c
    seen_top = (
        select(func.max(read.stream_ordering))
        .where(read.user_id == m.user_id, read.room_id == m.room_id, read.read.is_(True))
        .scalar_subquery()
    )
    seen_rows = select(
        m.room_id,
        literal(UNTHREADED).label("thread_id"),
        literal(0).label("n"),
        literal(0).label("h"),
        seen_top.label("top"),
    ).where(*joined)
    return union_all(counted, seen_rows)


class PushActionStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def unread(self, user_id: UserID) -> list[UnreadRow]:
        """The user's unread notifications per joined room and thread, and per joined room the
        highest read row (so that a push action marked read before its writer reported it is
        not counted again). One statement, so both parts are one snapshot; per room, index
        ranges of (user, read, room, stream) hold exactly the rows wanted."""
        rows = await self._db.fetch_all(unread_statement(user_id))
        return [
            UnreadRow(RoomID(r.room_id), r.thread_id, int(r.n), int(r.h or 0), int(r.top))
            for r in rows
            if r.top is not None  # a joined room without unread (or read) rows
        ]

    async def notifications(
        self, user_id: UserID, before: int | None, limit: int, only_highlight: bool
    ) -> list[NotificationRow]:
        """The user's notifications, newest first, below stream ordering `before`."""
        a = event_push_actions.c
        stmt = (
            select(a.event_id, a.room_id, a.stream_ordering, a.actions, a.read)
            .where(a.user_id == user_id)
            .order_by(a.stream_ordering.desc())
            .limit(limit)
        )
        if before is not None:
            stmt = stmt.where(a.stream_ordering < before)
        if only_highlight:
            stmt = stmt.where(a.highlight.is_(True))
        rows = await self._db.fetch_all(stmt)
        return [
            NotificationRow(EventID(r.event_id), RoomID(r.room_id), int(r.stream_ordering), r.actions, r.read)
            for r in rows
        ]

    async def delete_read_before(self, ts: int, batch: int) -> int:
        """Delete about `batch` read rows stored before `ts` (ms), oldest first; how many went.
        Unread rows stay: they are the unread counts."""
        return await self._db.execute(delete_read_statement(ts, batch))


def delete_read_statement(ts: int, batch: int) -> Any:
    """A range of (read, ts) up to the ts of the batch's last row: one event's rows share a
    ts, so a batch may run over by the rest of that event's rows."""
    a = event_push_actions.c
    old = (a.read.is_(True), a.ts < ts)
    last = select(a.ts).where(*old).order_by(a.ts).offset(batch - 1).limit(1).scalar_subquery()
    return delete(event_push_actions).where(*old, a.ts <= func.coalesce(last, ts))


def forget_redacted_statement(event_id: EventID) -> Any:
    """The redacted event's rows, found by its stream ordering."""
    a = event_push_actions.c
    stream = select(events.c.stream_ordering).where(events.c.event_id == event_id).scalar_subquery()
    return delete(event_push_actions).where(a.stream_ordering == stream, a.event_id == event_id)
