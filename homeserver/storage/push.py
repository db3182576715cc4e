"""Push actions and read positions (spec: "Push Notifications", "Receipts"): what notifies
each local user, and how far they have read, for unread counts and GET /notifications.

Push actions are written in the event's own transaction (`insert_push_actions`, called by the
event store); read positions in the receipt's (`advance_read_position`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, case, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from homeserver.ids import EventID, RoomID, UserID
from homeserver.storage.database import Database
from homeserver.storage.dialect import upsert
from homeserver.storage.tables import event_push_actions, push_read_positions, room_memberships

UNTHREADED = ""  # a read position that clears every thread
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
    room_id: RoomID
    thread_id: str
    notifications: int
    highlights: int
    max_stream: int  # of the unread rows counted


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
    }


async def advance_read_position(
    conn: AsyncConnection, dialect: str, user_id: UserID, room_id: RoomID, thread_id: str, stream: int
) -> None:
    """Move the user's read position in the room (and thread) up to `stream`, never back."""
    p = push_read_positions.c
    moved = await conn.execute(
        update(push_read_positions)
        .where(
            p.user_id == user_id, p.room_id == room_id, p.thread_id == thread_id, p.stream_ordering < stream
        )
        .values(stream_ordering=stream)
    )
    if moved.rowcount == 0:
        values = {"user_id": user_id, "room_id": room_id, "thread_id": thread_id, "stream_ordering": stream}
        key = ("user_id", "room_id", "thread_id")
        await conn.execute(upsert(dialect, push_read_positions, values, key=key, update=()))


_ALL = push_read_positions.alias("read_all")
_THREAD = push_read_positions.alias("read_thread")


def _unread_from() -> Any:
    """event_push_actions with the user's read positions beside each row: unthreaded and
    the row's thread."""
    a = event_push_actions.c
    return event_push_actions.outerjoin(
        _ALL,
        and_(_ALL.c.user_id == a.user_id, _ALL.c.room_id == a.room_id, _ALL.c.thread_id == UNTHREADED),
    ).outerjoin(
        _THREAD,
        and_(
            _THREAD.c.user_id == a.user_id, _THREAD.c.room_id == a.room_id, _THREAD.c.thread_id == a.thread_id
        ),
    )


def _is_unread() -> Any:
    a = event_push_actions.c
    return and_(
        a.stream_ordering > func.coalesce(_ALL.c.stream_ordering, literal(0)),
        a.stream_ordering > func.coalesce(_THREAD.c.stream_ordering, literal(0)),
    )


class PushActionStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def unread(self, user_id: UserID) -> list[UnreadRow]:
        """The user's unread notifications per joined room and thread: per room, the push
        actions above the unthreaded read position (a range of the index on user, room,
        stream ordering; read ones are not visited), less those below their thread's."""
        a, m = event_push_actions.c, room_memberships.c
        rooms = room_memberships.outerjoin(
            _ALL,
            and_(_ALL.c.user_id == m.user_id, _ALL.c.room_id == m.room_id, _ALL.c.thread_id == UNTHREADED),
        )
        unread = and_(
            a.user_id == m.user_id,
            a.room_id == m.room_id,
            a.stream_ordering > func.coalesce(_ALL.c.stream_ordering, literal(0)),
        )
        thread_read = and_(
            _THREAD.c.user_id == a.user_id, _THREAD.c.room_id == a.room_id, _THREAD.c.thread_id == a.thread_id
        )
        stmt = (
            select(
                a.room_id,
                a.thread_id,
                func.count().label("n"),
                func.sum(case((a.highlight, 1), else_=0)).label("h"),
                func.max(a.stream_ordering).label("top"),
            )
            .select_from(rooms.join(event_push_actions, unread).outerjoin(_THREAD, thread_read))
            .where(
                m.user_id == user_id,
                m.membership == "join",
                a.stream_ordering > func.coalesce(_THREAD.c.stream_ordering, literal(0)),
            )
            .group_by(a.room_id, a.thread_id)
        )
        rows = await self._db.fetch_all(stmt)
        return [UnreadRow(RoomID(r.room_id), r.thread_id, int(r.n), int(r.h or 0), int(r.top)) for r in rows]

    async def notifications(
        self, user_id: UserID, before: int | None, limit: int, only_highlight: bool
    ) -> list[NotificationRow]:
        """The user's notifications, newest first, below stream ordering `before`."""
        a = event_push_actions.c
        stmt = (
            select(a.event_id, a.room_id, a.stream_ordering, a.actions, _is_unread().label("unread"))
            .select_from(_unread_from())
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
            NotificationRow(
                EventID(r.event_id), RoomID(r.room_id), int(r.stream_ordering), r.actions, not r.unread
            )
            for r in rows
        ]
