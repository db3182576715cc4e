"""The full-text index of room events (spec: "Server Side Search").

One row per searchable event, keyed by its stream ordering: an FTS5 virtual table on SQLite
(`rowid` = stream ordering), a table with a `tsvector` column and a GIN index on PostgreSQL.
Rows are written by `update_search_index`, called from `EventStore._persist` in the event's own
transaction; the same call deletes the row of an event being redacted, so redacted text is
never found again. The statements that differ between the two databases are the functions
prefixed `_sqlite_` / `_pg_` below, chosen by `_for(dialect)`; the queries built on them are
shared."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import reduce
from typing import TYPE_CHECKING, Any, Literal

import orjson
from sqlalchemy import (
    ColumnElement,
    Delete,
    Insert,
    Join,
    Select,
    TableClause,
    and_,
    bindparam,
    column,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    table,
)
from sqlalchemy.engine import Connection

from homeserver.events.model import Event
from homeserver.fulltext import Group, Phrase, SearchQuery, index_text
from homeserver.ids import EventID, RoomID, UserID
from homeserver.storage.database import Database
from homeserver.storage.tables import events

if TYPE_CHECKING:
    from homeserver.storage.events import EventToPersist

Order = Literal["rank", "recent"]

# Which key of which event type is indexed (spec: "room_events").
BODY, NAME, TOPIC = "content.body", "content.name", "content.topic"
ALL_KEYS = (BODY, NAME, TOPIC)
KEY_OF_TYPE = {"m.room.message": BODY, "m.room.name": NAME, "m.room.topic": TOPIC}

TABLE = "event_search"
# What the migration creates besides the table itself (FTS5's shadow tables).
FTS5_SHADOW_TABLES = frozenset(
    f"{TABLE}_{suffix}" for suffix in ("data", "idx", "content", "docsize", "config")
)


def index_tables(dialect: str) -> frozenset[str]:
    """The tables the search index consists of: outside `tables.metadata`, because the two
    databases store it differently."""
    return frozenset({TABLE}) | (FTS5_SHADOW_TABLES if dialect == "sqlite" else frozenset())


# The entry of one event


def search_entry(event_type: str, is_state: bool, content: Mapping[str, Any]) -> tuple[str, str] | None:
    """(key, text) to index for an event, or None if it has nothing searchable."""
    key = KEY_OF_TYPE.get(event_type)
    if key is None or is_state == (key == BODY):  # messages are not state; names and topics are
        return None
    field = key.removeprefix("content.")
    texts = [content.get(field)]
    if key == TOPIC:  # the text/plain representations of m.topic count too (spec v1.15)
        topic = content.get("m.topic")
        reps = topic.get("m.text") if isinstance(topic, dict) else None
        for rep in reps if isinstance(reps, list) else []:
            if isinstance(rep, dict) and rep.get("mimetype", "text/plain") == "text/plain":
                texts.append(rep.get("body"))
    text = index_text(" ".join(dict.fromkeys(t for t in texts if isinstance(t, str))))
    return (key, text) if text else None


def event_entry(event: Event) -> tuple[str, str] | None:
    if event.rejected_reason is not None:
        return None
    return search_entry(event.type, event.is_state, event.content)


def update_search_index(conn: Connection, dialect: str, items: Sequence[EventToPersist]) -> None:
    """Index the new events that have searchable text (one statement for all of them) and
    drop the events they redact."""
    rows = [_row(item.stream_ordering, *entry) for item in items if (entry := event_entry(item.event))]
    if rows:
        conn.execute(_for(dialect).insert, rows)
    for item in items:
        if item.prune is not None:
            conn.execute(_for(dialect).delete(item.prune[0]))


def _row(stream_ordering: int, key: str, text: str) -> dict[str, Any]:
    """The parameters of a dialect's `insert` for one event."""
    return {"p_position": stream_ordering, "p_key": key, "p_text": text}


def index_existing_events(conn: Connection, batch: int = 1000) -> None:
    """Index every searchable event already stored (for the migration that adds the index)."""
    dialect, after = _for(conn.dialect.name), -1
    while True:
        rows = conn.execute(
            select(events.c.stream_ordering, events.c.type, events.c.json)
            .where(
                events.c.stream_ordering > after,
                events.c.type.in_(list(KEY_OF_TYPE)),
                events.c.rejected_reason.is_(None),
                events.c.redacted_by.is_(None),
                events.c.outlier.is_(False),
            )
            .order_by(events.c.stream_ordering)
            .limit(batch)
        ).all()
        entries = []
        for row in rows:
            pdu = orjson.loads(row.json)
            content = pdu.get("content")
            entry = search_entry(row.type, "state_key" in pdu, content if isinstance(content, dict) else {})
            if entry is not None:
                entries.append(_row(row.stream_ordering, *entry))
        if entries:
            conn.execute(dialect.insert, entries)
        if len(rows) < batch:
            return
        after = rows[-1].stream_ordering


# Dialects


@dataclass(frozen=True)
class _Dialect:
    """The statements that differ between SQLite (FTS5) and PostgreSQL (tsvector)."""

    table: TableClause
    position: ColumnElement[Any]  # the stream ordering of an index row
    insert: Insert  # executed with `_row` parameters, one set per event
    delete: Callable[[EventID], Delete]  # the row of this event
    matches: Callable[[SearchQuery], ColumnElement[bool]]  # the WHERE clause
    rank: Callable[[SearchQuery], ColumnElement[float]]  # relevance, higher is better


_FTS = table(TABLE, column("rowid"), column("value"), column("key"))
_PG = table(TABLE, column("stream_ordering"), column("key"), column("vector"))
_PG_CONFIG: ColumnElement[Any] = literal_column(
    "'simple'"
)  # no stemming, no stop words: see homeserver/fulltext.py


def _stream_of(event_id: EventID) -> Any:
    return select(events.c.stream_ordering).where(events.c.event_id == event_id).scalar_subquery()


_SQLITE_INSERT = insert(_FTS).values(
    rowid=bindparam("p_position"), value=bindparam("p_text"), key=bindparam("p_key")
)


def _sqlite_delete(event_id: EventID) -> Delete:
    return delete(_FTS).where(_FTS.c.rowid == _stream_of(event_id))


def _fts5_phrase(phrase: Phrase) -> str:
    return '"' + " ".join(phrase).replace('"', '""') + '"'


def fts5_match(query: SearchQuery) -> str:
    """The FTS5 MATCH expression of a parsed query: every phrase double-quoted."""

    def group(g: Group) -> str:
        expr = "(" + " AND ".join(_fts5_phrase(p) for p in g.include) + ")"
        for phrase in g.exclude:
            expr = f"({expr} NOT {_fts5_phrase(phrase)})"
        return expr

    return " OR ".join(group(g) for g in query.groups)


def _sqlite_matches(query: SearchQuery) -> ColumnElement[bool]:
    return literal_column(TABLE).bool_op("MATCH")(bindparam("match", fts5_match(query)))


def _sqlite_rank(query: SearchQuery) -> ColumnElement[float]:
    return -func.bm25(literal_column(TABLE))  # bm25: lower is better


_PG_INSERT = insert(_PG).values(
    stream_ordering=bindparam("p_position"),
    key=bindparam("p_key"),
    vector=func.to_tsvector(_PG_CONFIG, bindparam("p_text")),
)


def _pg_delete(event_id: EventID) -> Delete:
    return delete(_PG).where(_PG.c.stream_ordering == _stream_of(event_id))


def pg_tsquery(query: SearchQuery) -> ColumnElement[Any]:
    """The tsquery of a parsed query, composed from phraseto_tsquery of each phrase (bound
    parameters, never text parsed by to_tsquery)."""

    def phrase(p: Phrase) -> ColumnElement[Any]:
        return func.phraseto_tsquery(_PG_CONFIG, " ".join(p))

    def group(g: Group) -> ColumnElement[Any]:
        expr = reduce(func.tsquery_and, (phrase(p) for p in g.include))
        for p in g.exclude:
            expr = func.tsquery_and(expr, func.tsquery_not(phrase(p)))
        return expr

    return reduce(func.tsquery_or, (group(g) for g in query.groups))


def _pg_matches(query: SearchQuery) -> ColumnElement[bool]:
    return _PG.c.vector.bool_op("@@")(pg_tsquery(query))


def _pg_rank(query: SearchQuery) -> ColumnElement[float]:
    return func.ts_rank(_PG.c.vector, pg_tsquery(query))


_DIALECTS = {
    "sqlite": _Dialect(_FTS, _FTS.c.rowid, _SQLITE_INSERT, _sqlite_delete, _sqlite_matches, _sqlite_rank),
    "postgresql": _Dialect(_PG, _PG.c.stream_ordering, _PG_INSERT, _pg_delete, _pg_matches, _pg_rank),
}


def _for(dialect: str) -> _Dialect:
    return _DIALECTS[dialect]


# Searching


@dataclass(frozen=True)
class SearchScope:
    """Where to search: rooms, keys and senders (None: any sender)."""

    room_ids: Collection[RoomID]
    keys: Collection[str] = ALL_KEYS
    senders: Collection[UserID] | None = None
    not_senders: Collection[UserID] = ()

    @property
    def is_empty(self) -> bool:
        return not self.room_ids or not self.keys or (self.senders is not None and not self.senders)


@dataclass(frozen=True)
class Cursor:
    """A point in the results of a search, in either order: (rank, stream ordering) of a hit.
    The same cursor continues the search within any narrower scope (one room, one sender)."""

    stream_ordering: int
    rank: float


@dataclass(frozen=True)
class SearchHit:
    event_id: EventID
    room_id: RoomID
    sender: UserID
    stream_ordering: int
    depth: int
    rank: float

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.stream_ordering, self.rank)


class SearchStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._dialect = _for(db.dialect)

    def _matching(self, query: SearchQuery, scope: SearchScope) -> tuple[Join, list[ColumnElement[bool]]]:
        d = self._dialect
        joined = d.table.join(events, events.c.stream_ordering == d.position)
        where = [
            d.matches(query),
            d.table.c.key.in_(list(scope.keys)),
            events.c.room_id.in_(list(scope.room_ids)),
        ]
        if scope.senders is not None:
            where.append(events.c.sender.in_(list(scope.senders)))
        if scope.not_senders:
            where.append(events.c.sender.not_in(list(scope.not_senders)))
        return joined, where

    async def search(
        self, query: SearchQuery, scope: SearchScope, order: Order, after: Cursor | None, limit: int
    ) -> list[SearchHit]:
        """Up to `limit` matches in `order` ("recent": newest first; "rank": most relevant
        first, then newest), strictly after the `after` cursor of a previous call's last hit."""
        if query.is_empty or scope.is_empty or limit <= 0:
            return []
        joined, where = self._matching(query, scope)
        rank = self._dialect.rank(query)
        stmt: Select[Any] = (
            select(
                events.c.event_id,
                events.c.room_id,
                events.c.sender,
                events.c.stream_ordering,
                events.c.depth,
                rank.label("rank"),
            )
            .select_from(joined)
            .where(*where)
        )
        stream = events.c.stream_ordering
        if order == "recent":
            if after is not None:
                stmt = stmt.where(stream < after.stream_ordering)
            stmt = stmt.order_by(stream.desc())
        else:
            if after is not None:
                stmt = stmt.where(
                    or_(rank < after.rank, and_(rank == after.rank, stream < after.stream_ordering))
                )
            stmt = stmt.order_by(rank.desc(), stream.desc())
        rows = await self._db.fetch_all(stmt.limit(limit))
        return [
            SearchHit(
                EventID(r.event_id),
                RoomID(r.room_id),
                UserID(r.sender),
                r.stream_ordering,
                r.depth,
                float(r.rank),
            )
            for r in rows
        ]

    async def count(self, query: SearchQuery, scope: SearchScope) -> int:
        """How many indexed events match (before visibility rules: an estimate, as the spec
        allows)."""
        if query.is_empty or scope.is_empty:
            return 0
        joined, where = self._matching(query, scope)
        return int(await self._db.fetch_value(select(func.count()).select_from(joined).where(*where)) or 0)

    async def indexed(self, stream_orderings: Sequence[int]) -> set[int]:
        """Which of these events have an index row (for tests and checks)."""
        d = self._dialect
        rows = await self._db.fetch_all(select(d.position).where(d.position.in_(list(stream_orderings))))
        return {int(r[0]) for r in rows}
