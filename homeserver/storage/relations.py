"""The relations index: which events are children of which (event_relations), and the thread
index (event_threads).

Both are written only inside EventStore's persist transaction: `index_relation` for every new
event, `unindex_relation` when an event is redacted (a redacted child no longer relates to
anything). Reads never take a lock."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, and_, case, delete, exists, func, literal, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ColumnElement, Select

from homeserver.events.model import Event
from homeserver.events.relations import ANNOTATION, MAX_KEY_CHARS, REFERENCE, REPLACE, THREAD, relation_of
from homeserver.ids import EventID, RoomID, UserID
from homeserver.storage.database import Database
from homeserver.storage.events import TopologicalPosition
from homeserver.storage.tables import event_relations, event_threads, events

BATCH = 500  # IDs per IN (...) clause
RELS = event_relations.c
THREADS = event_threads.c
# Aliases built once: building them per query makes columns in reference cycles, garbage
# left for the collector's full passes (one /messages page built two).
_TOP, _BELOW = event_relations.alias("top"), event_relations.alias("below")
_CHILD, _PARENT, _ROOT = events.alias("child"), events.alias("parent"), events.alias("root")


# Writing (inside the event's transaction)


def index_relation(conn: Connection, event: Event, stream_ordering: int) -> None:
    """Record the event's relation to its parent, if it has a valid one; a thread reply also
    updates its thread's count and latest reply."""
    if event.rejected_reason is not None:
        return
    relation = relation_of(event)
    if relation is None:
        return
    key = relation.key if relation.key is not None and len(relation.key) <= MAX_KEY_CHARS else None
    conn.execute(
        event_relations.insert().values(
            event_id=event.event_id,
            relates_to_id=relation.parent_id,
            rel_type=relation.rel_type,
            room_id=event.room_id,
            sender=event.sender,
            type=event.type,
            depth=event.depth,
            stream_ordering=stream_ordering,
            aggregation_key=key,
        )
    )
    if relation.rel_type == THREAD:
        position = TopologicalPosition(event.depth, stream_ordering)
        _add_to_thread(conn, event.room_id, relation.parent_id, event.event_id, position)


def unindex_relation(conn: Connection, event_id: EventID) -> None:
    """Forget a redacted event's relation; a thread reply leaves its thread's count, and the
    thread its latest reply (or the index, once no reply is left)."""
    row = (
        conn.execute(select(RELS.relates_to_id, RELS.rel_type, RELS.room_id).where(RELS.event_id == event_id))
    ).first()
    if row is None:
        return
    conn.execute(delete(event_relations).where(RELS.event_id == event_id))
    if row.rel_type == THREAD:
        _remove_from_thread(conn, RoomID(row.room_id), EventID(row.relates_to_id))


def _add_to_thread(
    conn: Connection, room_id: RoomID, root: EventID, reply: EventID, position: TopologicalPosition
) -> None:
    newer = or_(
        THREADS.latest_depth < position.depth,
        and_(THREADS.latest_depth == position.depth, THREADS.latest_stream_ordering < position.stream),
    )
    result = conn.execute(
        update(event_threads)
        .where(THREADS.thread_id == root, THREADS.room_id == room_id)
        .values(
            reply_count=THREADS.reply_count + 1,
            latest_event_id=case((newer, reply), else_=THREADS.latest_event_id),
            latest_depth=case((newer, position.depth), else_=THREADS.latest_depth),
            latest_stream_ordering=case((newer, position.stream), else_=THREADS.latest_stream_ordering),
        )
    )
    if result.rowcount == 0:
        conn.execute(
            event_threads.insert().values(
                thread_id=root,
                room_id=room_id,
                latest_event_id=reply,
                latest_depth=position.depth,
                latest_stream_ordering=position.stream,
                reply_count=1,
            )
        )


def _remove_from_thread(conn: Connection, room_id: RoomID, root: EventID) -> None:
    where = (THREADS.thread_id == root, THREADS.room_id == room_id)
    latest = (
        conn.execute(
            _thread_replies(room_id, root).order_by(RELS.depth.desc(), RELS.stream_ordering.desc()).limit(1)
        )
    ).first()
    if latest is None:
        conn.execute(delete(event_threads).where(*where))
        return
    conn.execute(
        update(event_threads)
        .where(*where)
        .values(
            reply_count=THREADS.reply_count - 1,
            latest_event_id=latest.event_id,
            latest_depth=latest.depth,
            latest_stream_ordering=latest.stream_ordering,
        )
    )


def _thread_replies(room_id: RoomID, root: EventID) -> Select[tuple[str, int, int]]:
    return select(RELS.event_id, RELS.depth, RELS.stream_ordering).where(
        RELS.relates_to_id == root, RELS.rel_type == THREAD, RELS.room_id == room_id
    )


# Reading


@dataclass(frozen=True)
class ThreadSummary:
    thread_id: EventID
    room_id: RoomID
    count: int
    latest_event_id: EventID
    latest: TopologicalPosition


@dataclass(frozen=True)
class ChildRelation:
    """A relation of the kinds the server aggregates besides threads (m.replace,
    m.reference), with what choosing the latest valid edit needs."""

    parent_id: EventID
    event_id: EventID
    rel_type: str
    sender: UserID
    origin_server_ts: int
    parent_redacted: bool


class RelationStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def children(
        self,
        parent_id: EventID,
        room_id: RoomID,
        *,
        rel_type: str | None,
        event_type: str | None,
        levels: int,
        start: TopologicalPosition | None,
        stop: TopologicalPosition | None,
        backwards: bool,
        limit: int,
    ) -> list[tuple[EventID, TopologicalPosition]]:
        """Children of the parent in the room, in topological order strictly after (backwards:
        before) `start` and not reaching `stop`. With `levels` > 1, children of children too,
        down to that many relations from the parent; the rel_type and event type filters
        apply at every level, so a child reached only through a non-matching one is left out."""

        def matching(table: Any) -> list[ColumnElement[bool]]:
            conditions = [table.c.room_id == room_id]
            if rel_type is not None:
                conditions.append(table.c.rel_type == rel_type)
            if event_type is not None:
                conditions.append(table.c.type == event_type)
            return conditions

        if levels > 1:
            top, below = _TOP, _BELOW
            tree = (
                select(top.c.event_id, literal(1).label("level"))
                .where(top.c.relates_to_id == parent_id, *matching(top))
                .cte("related", recursive=True)
            )
            tree = tree.union_all(
                select(below.c.event_id, tree.c.level + 1)
                .join(tree, below.c.relates_to_id == tree.c.event_id)
                .where(tree.c.level < levels, *matching(below))
            )
            stmt = select(RELS.event_id, RELS.depth, RELS.stream_ordering).join(
                tree, tree.c.event_id == RELS.event_id
            )
        else:
            stmt = select(RELS.event_id, RELS.depth, RELS.stream_ordering).where(
                RELS.relates_to_id == parent_id, *matching(event_relations)
            )
        columns = stmt.selected_columns
        depth, stream = columns.depth, columns.stream_ordering
        if start is not None:
            stmt = stmt.where(_beyond(depth, stream, start, backwards))
        if stop is not None:
            stmt = stmt.where(_beyond(depth, stream, stop, not backwards))
        order = (depth.desc(), stream.desc()) if backwards else (depth, stream)
        rows = await self._db.fetch_all(stmt.order_by(*order).limit(limit))
        return [(EventID(r.event_id), TopologicalPosition(r.depth, r.stream_ordering)) for r in rows]

    async def thread_summaries(self, root_ids: Collection[EventID]) -> list[ThreadSummary]:
        out: list[ThreadSummary] = []
        for chunk in _batches(root_ids):
            rows = await self._db.fetch_all(select(event_threads).where(THREADS.thread_id.in_(chunk)))
            out.extend(_summary(r) for r in rows)
        return out

    async def thread_summaries_without(
        self, root_ids: Collection[EventID], senders: Collection[UserID]
    ) -> list[ThreadSummary]:
        """Thread summaries counted from the replies themselves, leaving out these senders'
        (a user's ignored users); a thread with no other reply has none."""
        count = func.count().over(partition_by=(RELS.relates_to_id, RELS.room_id))
        rank = func.row_number().over(
            partition_by=(RELS.relates_to_id, RELS.room_id),
            order_by=(RELS.depth.desc(), RELS.stream_ordering.desc()),
        )
        out: list[ThreadSummary] = []
        for chunk in _batches(root_ids):
            replies = (
                select(
                    RELS.relates_to_id,
                    RELS.room_id,
                    RELS.event_id,
                    RELS.depth,
                    RELS.stream_ordering,
                    count.label("replies"),
                    rank.label("rank"),
                )
                .where(
                    RELS.relates_to_id.in_(chunk), RELS.rel_type == THREAD, RELS.sender.not_in(list(senders))
                )
                .subquery()
            )
            rows = await self._db.fetch_all(select(replies).where(replies.c.rank == 1))
            out.extend(
                ThreadSummary(
                    EventID(r.relates_to_id),
                    RoomID(r.room_id),
                    int(r.replies),
                    EventID(r.event_id),
                    TopologicalPosition(r.depth, r.stream_ordering),
                )
                for r in rows
            )
        return out

    async def participated(self, root_ids: Collection[EventID], user_id: UserID) -> set[EventID]:
        """The roots among these that the user replied to in their thread."""
        found: set[EventID] = set()
        for chunk in _batches(root_ids):
            rows = await self._db.fetch_all(
                select(RELS.relates_to_id)
                .where(RELS.relates_to_id.in_(chunk), RELS.sender == user_id, RELS.rel_type == THREAD)
                .distinct()
            )
            found.update(EventID(r.relates_to_id) for r in rows)
        return found

    async def edits_and_references(self, parent_ids: Collection[EventID]) -> list[ChildRelation]:
        """m.replace children sent by the parent's sender with the parent's type in its room,
        and m.reference children in the parent's room, in topological order."""
        child, parent = _CHILD, _PARENT
        out: list[ChildRelation] = []
        for chunk in _batches(parent_ids):
            rows = await self._db.fetch_all(
                select(
                    RELS.relates_to_id,
                    RELS.event_id,
                    RELS.rel_type,
                    RELS.sender,
                    child.c.origin_server_ts,
                    parent.c.redacted_by,
                )
                .join(child, child.c.event_id == RELS.event_id)
                .join(parent, parent.c.event_id == RELS.relates_to_id)
                .where(
                    RELS.relates_to_id.in_(chunk),
                    RELS.room_id == parent.c.room_id,
                    or_(
                        RELS.rel_type == REFERENCE,
                        and_(
                            RELS.rel_type == REPLACE,
                            RELS.sender == parent.c.sender,
                            RELS.type == parent.c.type,
                        ),
                    ),
                )
                .order_by(RELS.depth, RELS.stream_ordering)
            )
            out.extend(
                ChildRelation(
                    EventID(r.relates_to_id),
                    EventID(r.event_id),
                    r.rel_type,
                    UserID(r.sender),
                    r.origin_server_ts,
                    r.redacted_by is not None,
                )
                for r in rows
            )
        return out

    async def has_annotation(self, parent_id: EventID, sender: UserID, event_type: str, key: str) -> bool:
        """Whether the sender already annotated the parent with this event type and key (and
        has not redacted it)."""
        return bool(
            await self._db.fetch_value(
                select(
                    exists().where(
                        RELS.relates_to_id == parent_id,
                        RELS.sender == sender,
                        RELS.rel_type == ANNOTATION,
                        RELS.type == event_type,
                        RELS.aggregation_key == key,
                    )
                )
            )
        )

    async def is_parent(self, event_id: EventID) -> bool:
        """Whether any event relates to this one."""
        return bool(await self._db.fetch_value(select(exists().where(RELS.relates_to_id == event_id))))

    async def threads(
        self,
        room_id: RoomID,
        *,
        before: TopologicalPosition | None,
        participant: UserID | None,
        limit: int,
    ) -> list[ThreadSummary]:
        """The room's threads, latest activity first, whose latest reply is before `before`;
        with `participant`, only threads whose root they sent or in which they replied."""
        root = _ROOT
        stmt = (
            select(event_threads)
            .join(root, and_(root.c.event_id == THREADS.thread_id, root.c.room_id == THREADS.room_id))
            .where(THREADS.room_id == room_id)
        )
        if before is not None:
            stmt = stmt.where(_beyond(THREADS.latest_depth, THREADS.latest_stream_ordering, before, True))
        if participant is not None:
            replied = exists().where(
                RELS.relates_to_id == THREADS.thread_id, RELS.sender == participant, RELS.rel_type == THREAD
            )
            stmt = stmt.where(or_(root.c.sender == participant, replied))
        rows = await self._db.fetch_all(
            stmt.order_by(THREADS.latest_depth.desc(), THREADS.latest_stream_ordering.desc()).limit(limit)
        )
        return [_summary(r) for r in rows]


def _beyond(
    depth: ColumnElement[int], stream: ColumnElement[int], position: TopologicalPosition, backwards: bool
) -> ColumnElement[bool]:
    """(depth, stream) strictly before `position` (backwards) or strictly after it."""
    if backwards:
        return or_(depth < position.depth, and_(depth == position.depth, stream < position.stream))
    return or_(depth > position.depth, and_(depth == position.depth, stream > position.stream))


def _summary(r: Row[Any]) -> ThreadSummary:
    return ThreadSummary(
        EventID(r.thread_id),
        RoomID(r.room_id),
        int(r.reply_count),
        EventID(r.latest_event_id),
        TopologicalPosition(r.latest_depth, r.latest_stream_ordering),
    )


def _batches(ids: Collection[EventID]) -> list[Sequence[EventID]]:
    items = list(ids)
    return [items[i : i + BATCH] for i in range(0, len(items), BATCH)]
