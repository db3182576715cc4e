"""Push outcomes (spec: "Push Notifications", "Receipts"): what notifies each local user, for
unread counts and GET /notifications.

Most local members of a room get the same outcome for an event, so a plan (`PushPlan`) stores
it once, in `push_events`, for every local member joined at the time except the sender; a
member whose outcome differs has a row of their own in `push_user_actions` (see tables.py).
A message costs one row however many members the room has. Both are written in the event's
own transaction (`write_push_plans`, called by the event store).

Read state is a position per user, room and thread (`push_read_positions`), moved forward by
read receipts in the receipt's transaction (`advance_read_position`) and, unthreaded, to the
user's join when they join. Unread notifications are the rows after those positions in the
user's joined rooms, found through (room, stream) and (user, notify, room, stream) ranges that
start at the position, so counting never visits what was read. A redaction deletes its
target's rows; rows of a user's own past their read position (or in a room they left) are
deleted after the retention period (`delete_read_before`)."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import (
    BindParameter,
    Connection,
    Select,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.dml import Insert

from homeserver.events.model import Event
from homeserver.ids import EventID, RoomID, UserID
from homeserver.storage.database import Database, WriteConnection
from homeserver.storage.dialect import dialect_insert
from homeserver.storage.tables import (
    events,
    push_events,
    push_read_positions,
    push_user_actions,
    room_memberships,
)

UNTHREADED = ""  # a receipt that clears every thread
MAIN_THREAD = "main"
SCAN_WINDOW: Final = 2000  # push_events rows one GET /notifications page looks through at most


@dataclass(frozen=True)
class Outcome:
    """A notification: whether it highlights, and the matching rule's actions as JSON."""

    highlight: bool
    actions: str


@dataclass(frozen=True)
class UserOutcome:
    """A user's outcome where it differs from the event's common one (None: not notified)."""

    user_id: UserID
    outcome: Outcome | None


@dataclass(frozen=True)
class PushPlan:
    """Whom an event notifies: `common` for each of `members` (the local members joined when
    it was sent, without its sender and without the users in `own`), and each user in `own`
    their own outcome. `joined`: a local user whose join this event is (their unthreaded read
    position starts here, so nothing from before counts for them); `left`: one whose leave (or
    ban) it is (everything up to here is read)."""

    thread_id: str  # "main" or the thread root's event ID
    common: Outcome | None = None
    members: tuple[UserID, ...] = ()
    own: tuple[UserOutcome, ...] = ()
    joined: UserID | None = None
    left: UserID | None = None

    def notified(self) -> Iterator[tuple[UserID, Outcome]]:
        """Each notified user with their outcome."""
        common = self.common
        if common is not None:
            for user_id in self.members:
                yield user_id, common
        for user in self.own:
            if user.outcome is not None:
                yield user.user_id, user.outcome


@dataclass(frozen=True)
class UnreadRow:
    """Unread notifications in one room and thread; a row with thread_id "" and no
    notifications only says how far the read saw the room's rows."""

    room_id: RoomID
    thread_id: str
    notifications: int
    highlights: int
    max_stream: int  # of the rows seen


@dataclass(frozen=True)
class NotificationRow:
    event_id: EventID
    room_id: RoomID
    stream_ordering: int
    actions: str
    read: bool


# Writing


def write_push_plans(conn: Connection, planned: Sequence[tuple[Event, int, PushPlan]]) -> None:
    """The rows of the plans of events (with their stream orderings): a statement per table
    with anything to write, and one per join."""
    ts = int(time.time() * 1000)  # when stored: the retention period runs from here
    common = [
        _common_row(event, stream, plan, plan.common, ts)
        for event, stream, plan in planned
        if plan.common is not None and plan.members
    ]
    if common:
        conn.execute(push_events.insert(), common)
    own = [_own_row(event, stream, plan, user, ts) for event, stream, plan in planned for user in plan.own]
    if own:
        conn.execute(push_user_actions.insert(), own)
    dialect = conn.dialect.name
    for event, stream, plan in planned:
        for user_id, edge in ((plan.joined, "joined_at"), (plan.left, "left_at")):
            if user_id is not None:
                conn.execute(_advance(dialect, user_id, event.room_id, UNTHREADED, stream, edge=edge))


def _common_row(event: Event, stream: int, plan: PushPlan, outcome: Outcome, ts: int) -> dict[str, Any]:
    return {
        "stream_ordering": stream,
        "event_id": event.event_id,
        "room_id": event.room_id,
        "sender": event.sender,
        "thread_id": plan.thread_id,
        "highlight": outcome.highlight,
        "actions": outcome.actions,
        "ts": ts,
    }


def _own_row(event: Event, stream: int, plan: PushPlan, user: UserOutcome, ts: int) -> dict[str, Any]:
    outcome = user.outcome
    return {
        "user_id": user.user_id,
        "stream_ordering": stream,
        "event_id": event.event_id,
        "room_id": event.room_id,
        "thread_id": plan.thread_id,
        "notify": outcome is not None,
        "highlight": outcome is not None and outcome.highlight,
        "actions": outcome.actions if outcome is not None else "[]",
        "ts": ts,
    }


def _greatest(dialect: str, *values: Any) -> ColumnElement[Any]:
    """The largest of the values (none NULL): max() with several arguments on SQLite."""
    return func.greatest(*values) if dialect == "postgresql" else func.max(*values)


def _advance(
    dialect: str, user_id: UserID, room_id: RoomID, thread_id: str, stream: int, *, edge: str | None = None
) -> Any:
    """Move a read position forward to `stream` (never back); `edge`: "joined_at" or
    "left_at" when it is the user's join or leave, remembered for GET /notifications."""
    values: dict[str, Any] = {
        "user_id": user_id,
        "room_id": room_id,
        "thread_id": thread_id,
        "stream_ordering": stream,
    }
    if edge is not None:
        values[edge] = stream
    return _advance_template(dialect, edge).values(values)


@functools.cache
def _advance_template(dialect: str, edge: str | None) -> Insert:
    """_advance's statement without its values, built once: its `excluded` alias, built per
    statement, would leave columns in reference cycles for the collector."""
    stmt = dialect_insert(dialect)(push_read_positions)
    current = push_read_positions.c.stream_ordering
    changes: dict[str, Any] = {"stream_ordering": _greatest(dialect, current, stmt.excluded.stream_ordering)}
    if edge is not None:
        changes[edge] = stmt.excluded[edge]
    return stmt.on_conflict_do_update(index_elements=["user_id", "room_id", "thread_id"], set_=changes)


async def advance_read_position(
    conn: WriteConnection, user_id: UserID, room_id: RoomID, thread_id: str, stream: int
) -> None:
    """The user has read the room (or the thread) up to `stream`. A receipt for an older
    event moves nothing back."""
    await conn.execute(_advance(conn.dialect.name, user_id, room_id, thread_id, stream))


def forget_redacted(conn: Connection, event_id: EventID) -> None:
    """A redacted event notifies nobody any more."""
    for statement in forget_redacted_statements(event_id):
        conn.execute(statement)


def forget_redacted_statements(event_id: EventID) -> list[Any]:
    """The redacted event's rows, found by its stream ordering."""
    stream = select(events.c.stream_ordering).where(events.c.event_id == event_id).scalar_subquery()
    p, x = push_events.c, push_user_actions.c
    return [
        delete(push_events).where(p.stream_ordering == stream, p.event_id == event_id),
        delete(push_user_actions).where(x.stream_ordering == stream, x.event_id == event_id),
    ]


# Reading


def _positions(user_id: Any, room_id: Any, thread_id: Any) -> Any:
    """The read position row of a user, room and thread (to LEFT JOIN)."""
    r = push_read_positions.alias()
    return r, and_(r.c.user_id == user_id, r.c.room_id == room_id, r.c.thread_id == thread_id)


def unread_statement(user_id: UserID | BindParameter[str]) -> Any:
    """The user's unread notifications per joined room and thread: the event rows after their
    read positions (not sent by them, without a row of their own), then their own rows after
    them; per joined room, how far the rows it could see go. UnreadRow's columns; a (room,
    thread) may come twice (event rows and own rows), to be added up."""
    m = room_memberships.c
    p, x = push_events.c, push_user_actions.c
    since, since_on = _positions(m.user_id, m.room_id, UNTHREADED)
    start = func.coalesce(since.c.stream_ordering, 0)
    joined = (m.user_id == user_id, m.membership == "join")
    thread, thread_on = _positions(m.user_id, p.room_id, p.thread_id)
    from_events = (
        select(p.room_id, p.thread_id, *_counted(p.highlight, p.stream_ordering))
        .select_from(
            room_memberships.outerjoin(since, since_on)
            .join(push_events, and_(p.room_id == m.room_id, p.stream_ordering > start))
            .outerjoin(thread, thread_on)
        )
        .where(
            *joined,
            p.stream_ordering > func.coalesce(thread.c.stream_ordering, 0),
            p.sender != m.user_id,
            ~exists().where(x.user_id == m.user_id, x.stream_ordering == p.stream_ordering),
        )
        .group_by(p.room_id, p.thread_id)
    )
    own_thread, own_thread_on = _positions(m.user_id, x.room_id, x.thread_id)
    from_own = (
        select(x.room_id, x.thread_id, *_counted(x.highlight, x.stream_ordering))
        .select_from(
            room_memberships.outerjoin(since, since_on)
            .join(
                push_user_actions,
                and_(
                    x.user_id == m.user_id,
                    x.notify.is_(True),
                    x.room_id == m.room_id,
                    x.stream_ordering > start,
                ),
            )
            .outerjoin(own_thread, own_thread_on)
        )
        .where(*joined, x.stream_ordering > func.coalesce(own_thread.c.stream_ordering, 0))
        .group_by(x.room_id, x.thread_id)
    )
    return union_all(from_events, from_own, *_seen(user_id))


def _counted(highlight: Any, stream: Any) -> tuple[Any, ...]:
    return (
        func.count(stream).label("n"),
        func.sum(case((highlight, 1), else_=0)).label("h"),
        func.max(stream).label("top"),
    )


def _seen(user_id: UserID | BindParameter[str]) -> tuple[Select[Any], Select[Any]]:
    """Per joined room, the highest rows the user could be notified by: the room's last event
    row, and their own last notifying row there (the one statement's snapshot saw both)."""
    m = room_memberships.c
    p, x = push_events.c, push_user_actions.c
    last_event = select(func.max(p.stream_ordering)).where(p.room_id == m.room_id).scalar_subquery()
    last_own = (
        select(func.max(x.stream_ordering))
        .where(x.user_id == m.user_id, x.notify.is_(True), x.room_id == m.room_id)
        .scalar_subquery()
    )
    return tuple(  # type: ignore[return-value]
        select(
            m.room_id,
            literal(UNTHREADED).label("thread_id"),
            literal(0).label("n"),
            literal(0).label("h"),
            func.coalesce(last, 0).label("top"),
        ).where(m.user_id == user_id, m.membership == "join")
        for last in (last_event, last_own)
    )


# Built once (its aliases, built per call, would leave cyclic garbage): run with `user_id`.
_UNREAD = unread_statement(bindparam("user_id"))


class PushActionStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def unread(self, user_id: UserID) -> list[UnreadRow]:
        """The user's unread notifications per joined room and thread, and per joined room
        how far the rows the read saw go (so that an event committed while it ran is counted
        exactly once: by the read or afterwards). One statement, so one snapshot."""
        rows = await self._db.fetch_all(_UNREAD, {"user_id": user_id})
        totals: dict[tuple[RoomID, str], list[int]] = {}
        for r in rows:
            if not r.top:
                continue  # a joined room without rows
            counted = totals.setdefault((RoomID(r.room_id), r.thread_id), [0, 0, 0])
            counted[0] += int(r.n)
            counted[1] += int(r.h or 0)
            counted[2] = max(counted[2], int(r.top))
        return [UnreadRow(room, thread, n, h, top) for (room, thread), (n, h, top) in totals.items()]

    async def notifications(
        self, user_id: UserID, before: int | None, limit: int, only_highlight: bool
    ) -> tuple[list[NotificationRow], int | None]:
        """The user's notifications below stream ordering `before`, newest first, at most
        `limit`; and where to go on from (None: nothing older). Looks through at most
        SCAN_WINDOW event rows, so a page may hold fewer than `limit` and still go on."""
        upper = before if before is not None else 2**62
        floor = await self._db.fetch_one(
            select(push_events.c.stream_ordering)
            .where(push_events.c.stream_ordering < upper)
            .order_by(push_events.c.stream_ordering.desc())
            .offset(SCAN_WINDOW - 1)
            .limit(1)
        )
        lowest = int(floor.stream_ordering) if floor is not None else 0
        rows = await self._db.fetch_all(
            _notifications_statement(user_id, lowest, upper, limit, only_highlight)
        )
        found = [
            NotificationRow(
                EventID(r.event_id), RoomID(r.room_id), int(r.stream_ordering), r.actions, bool(r.read)
            )
            for r in rows
        ]
        if len(found) == limit:
            return found, found[-1].stream_ordering
        return found, lowest if floor is not None else None

    async def delete_read_before(self, ts: int, batch: int) -> int:
        """Delete up to `batch` of the users' own notifications stored before `ts` (ms) that
        are read (or in a room they left), oldest first; how many went. Unread ones stay: they
        count. Event rows stay too: one per event, kept like the events."""
        return await self._db.execute(delete_read_statement(ts, batch))


def _notifications_statement(
    user_id: UserID, lowest: int, upper: int, limit: int, only_highlight: bool
) -> Any:
    """Event rows in [lowest, upper) of the user's rooms from their join on (to their leave in
    rooms they left; not sent by them, without a row of their own) and their own notifying
    rows, newest first, with whether their read positions cover them."""
    m = room_memberships.c
    p, x = push_events.c, push_user_actions.c
    since, since_on = _positions(m.user_id, m.room_id, UNTHREADED)
    thread, thread_on = _positions(m.user_id, p.room_id, p.thread_id)
    from_events = (
        select(*_listed(p, since, thread))
        .select_from(
            room_memberships.outerjoin(since, since_on)
            .join(
                push_events,
                and_(
                    p.room_id == m.room_id,
                    p.stream_ordering >= lowest,
                    p.stream_ordering < upper,
                    p.stream_ordering > func.coalesce(since.c.joined_at, 0),
                ),
            )
            .outerjoin(thread, thread_on)
        )
        .where(
            m.user_id == user_id,
            or_(m.membership == "join", p.stream_ordering <= func.coalesce(since.c.left_at, 0)),
            p.sender != m.user_id,
            ~exists().where(x.user_id == m.user_id, x.stream_ordering == p.stream_ordering),
        )
    )
    own_since, own_since_on = _positions(x.user_id, x.room_id, UNTHREADED)
    own_thread, own_thread_on = _positions(x.user_id, x.room_id, x.thread_id)
    from_own = (
        select(*_listed(x, own_since, own_thread))
        .select_from(
            push_user_actions.outerjoin(own_since, own_since_on).outerjoin(own_thread, own_thread_on)
        )
        .where(
            x.user_id == user_id,
            x.notify.is_(True),
            x.stream_ordering >= lowest,
            x.stream_ordering < upper,
        )
    )
    if only_highlight:
        from_events = from_events.where(p.highlight.is_(True))
        from_own = from_own.where(x.highlight.is_(True))
    both = union_all(from_events, from_own).subquery()
    return select(both).order_by(both.c.stream_ordering.desc()).limit(limit)


def _listed(rows: Any, since: Any, thread: Any) -> tuple[Any, ...]:
    """NotificationRow's columns of push_events or push_user_actions rows."""
    return (
        rows.event_id,
        rows.room_id,
        rows.stream_ordering,
        rows.actions,
        _read(rows.stream_ordering, since, thread).label("read"),
    )


def _read(stream: Any, since: Any, thread: Any) -> Any:
    return or_(
        stream <= func.coalesce(since.c.stream_ordering, 0),
        stream <= func.coalesce(thread.c.stream_ordering, 0),
    )


def delete_read_statement(ts: int, batch: int) -> Any:
    """The oldest `batch` of the users' own notifications stored before `ts` that their read
    positions cover or that are in rooms they are not joined to, found through ts; only those
    of events without a common row (with one, the common row would become theirs: it goes
    when the event's does)."""
    x = push_user_actions.c
    m = room_memberships.c
    since, since_on = _positions(x.user_id, x.room_id, UNTHREADED)
    thread, thread_on = _positions(x.user_id, x.room_id, x.thread_id)
    still_joined = exists().where(m.user_id == x.user_id, m.room_id == x.room_id, m.membership == "join")
    old = (
        select(x.user_id, x.stream_ordering)
        .select_from(push_user_actions.outerjoin(since, since_on).outerjoin(thread, thread_on))
        .where(
            x.ts < ts,
            x.notify.is_(True),
            or_(_read(x.stream_ordering, since, thread), ~still_joined),
            ~exists().where(push_events.c.stream_ordering == x.stream_ordering),
        )
        .order_by(x.ts)
        .limit(batch)
    )
    return delete(push_user_actions).where(tuple_(x.user_id, x.stream_ordering).in_(old))
