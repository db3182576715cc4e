"""The reads /sync needs, each one query for all of a user's rooms (never one per room where
it can be helped)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Executable,
    Integer,
    Select,
    Subquery,
    bindparam,
    func,
    literal_column,
    select,
    union_all,
)
from sqlalchemy.exc import IntegrityError

from homeserver.errors import MatrixError
from homeserver.ids import EventID, RoomID, UserID
from homeserver.lru import Lru
from homeserver.storage.database import Database
from homeserver.storage.rooms import Membership, membership_from_row
from homeserver.storage.tables import event_txn_ids, events, room_memberships, sync_filters

BATCH = 500
MAX_CACHED_FILTERS = 10_000
UNION_CHUNK = 100  # rooms per UNION ALL statement (SQLite allows 500 terms)
HERO_SAMPLE = 51


@dataclass(frozen=True, slots=True)
class StreamEvent:
    event_id: EventID
    stream: int
    state_group: int | None


class SyncStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        # Per-room union statements by (kind, number of rooms): at most 2 * UNION_CHUNK.
        self._unions: dict[tuple[str, int], Executable] = {}

    async def rooms_with_events(self, room_ids: Sequence[RoomID], since: int, until: int) -> set[RoomID]:
        """Which of these rooms have events in (since, until]."""
        found: set[RoomID] = set()
        for i in range(0, len(room_ids), BATCH):
            rows = await self._db.fetch_all(
                select(events.c.room_id)
                .where(
                    events.c.room_id.in_(room_ids[i : i + BATCH]),
                    events.c.stream_ordering > since,
                    events.c.stream_ordering <= until,
                )
                .group_by(events.c.room_id)
            )
            found.update(RoomID(r.room_id) for r in rows)
        return found

    async def recent_events(
        self, room_id: RoomID, since: int | None, until: int, limit: int
    ) -> list[StreamEvent]:
        """The newest `limit` accepted events of the room in (since, until], oldest first."""
        c = events.c
        stmt = select(c.event_id, c.stream_ordering, c.state_group).where(
            c.room_id == room_id,
            c.stream_ordering <= until,
            c.outlier.is_(False),
            c.rejected_reason.is_(None),
        )
        if since is not None:
            stmt = stmt.where(c.stream_ordering > since)
        rows = await self._db.fetch_all(stmt.order_by(c.stream_ordering.desc()).limit(limit))
        return [StreamEvent(EventID(r.event_id), r.stream_ordering, r.state_group) for r in reversed(rows)]

    async def latest_events(
        self, room_ids: Sequence[RoomID], until: int, limit: int
    ) -> dict[RoomID, list[StreamEvent]]:
        """For each room, its newest `limit` accepted events at or before `until`, oldest first:
        one statement per chunk of rooms, each part an index range scan of one room."""
        out: dict[RoomID, list[StreamEvent]] = {r: [] for r in room_ids}
        for i in range(0, len(room_ids), UNION_CHUNK):
            chunk = room_ids[i : i + UNION_CHUNK]
            params: dict[str, Any] = {f"room_{n}": room_id for n, room_id in enumerate(chunk)}
            params.update(until=until, limit=limit)
            for r in await self._db.fetch_all(self._union("latest", _latest_part, len(chunk)), params):
                row = StreamEvent(EventID(r.event_id), r.stream_ordering, r.state_group)
                out[RoomID(r.room_id)].append(row)
        for rows in out.values():
            rows.sort(key=lambda row: row.stream)
        return out

    def _union(self, kind: str, part: Callable[[int], Subquery], rooms: int) -> Executable:
        """The union of `part` for this many rooms (bind parameters `room_0`...), built once:
        building and hashing a union of many parts costs more than running it."""
        stmt = self._unions.get((kind, rooms))
        if stmt is None:
            parts: list[Select[Any]] = [
                select(literal_column("*")).select_from(part(n)) for n in range(rooms)
            ]
            stmt = self._unions[(kind, rooms)] = union_all(*parts) if rooms > 1 else parts[0]
        return stmt

    async def state_group_at(self, room_id: RoomID, stream: int) -> int | None:
        """The state group after the room's last event at or before `stream`."""
        c = events.c
        value = await self._db.fetch_value(
            select(c.state_group)
            .where(c.room_id == room_id, c.stream_ordering <= stream, c.state_group.is_not(None))
            .order_by(c.stream_ordering.desc())
            .limit(1)
        )
        return int(value) if value is not None else None

    async def memberships(self, user_id: UserID, since: int | None = None) -> list[Membership]:
        """The user's memberships (changed after `since`, if given), forgotten rooms left out."""
        c = room_memberships.c
        stmt = select(room_memberships).where(c.user_id == user_id, c.forgotten.is_(False))
        if since is not None:
            stmt = stmt.where(c.stream_ordering > since)
        rows = await self._db.fetch_all(stmt)
        return [membership_from_row(r) for r in rows]

    async def joined_room_ids(self, user_id: UserID) -> list[RoomID]:
        c = room_memberships.c
        rows = await self._db.fetch_all(select(c.room_id).where(c.user_id == user_id, c.membership == "join"))
        return [RoomID(r.room_id) for r in rows]

    async def member_counts(self, room_ids: Collection[RoomID]) -> dict[RoomID, dict[str, int]]:
        c = room_memberships.c
        ids = list(room_ids)
        out: dict[RoomID, dict[str, int]] = {}
        for i in range(0, len(ids), BATCH):
            rows = await self._db.fetch_all(
                select(c.room_id, c.membership, func.count().label("n"))
                .where(c.room_id.in_(ids[i : i + BATCH]), c.membership.in_(["join", "invite"]))
                .group_by(c.room_id, c.membership)
            )
            for row in rows:
                out.setdefault(RoomID(row.room_id), {})[row.membership] = int(row.n)
        return out

    async def member_samples(self, room_ids: Sequence[RoomID]) -> dict[RoomID, list[tuple[UserID, str]]]:
        """Each room's first members by user ID with their membership: enough to pick the
        heroes (spec: "Calculating the display name for a room") for any one of them. One
        statement per chunk of rooms, each part an index range scan of one room."""
        out: dict[RoomID, list[tuple[UserID, str]]] = {r: [] for r in room_ids}
        for i in range(0, len(room_ids), UNION_CHUNK):
            chunk = room_ids[i : i + UNION_CHUNK]
            params: dict[str, Any] = {f"room_{n}": room_id for n, room_id in enumerate(chunk)}
            for r in await self._db.fetch_all(self._union("sample", _sample_part, len(chunk)), params):
                out[RoomID(r.room_id)].append((UserID(r.user_id), r.membership))
        for sample in out.values():
            sample.sort()
        return out

    async def transaction_ids(
        self, user_id: UserID, device_id: str, event_ids: Collection[EventID]
    ) -> dict[EventID, str]:
        """The client transaction IDs of the device's own events, for unsigned.transaction_id."""
        c = event_txn_ids.c
        ids = list(event_ids)
        out: dict[EventID, str] = {}
        for i in range(0, len(ids), BATCH):
            rows = await self._db.fetch_all(
                select(c.event_id, c.txn_id).where(
                    c.event_id.in_(ids[i : i + BATCH]), c.user_id == user_id, c.device_id == device_id
                )
            )
            out.update((EventID(r.event_id), r.txn_id) for r in rows if r.txn_id is not None)
        return out


def _latest_part(n: int) -> Subquery:
    """The newest events of the chunk's `n`th room (bind parameter `room_{n}`)."""
    c = events.c
    return (
        select(c.room_id, c.event_id, c.stream_ordering, c.state_group)
        .where(
            c.room_id == bindparam(f"room_{n}"),
            c.stream_ordering <= bindparam("until"),
            c.outlier.is_(False),
            c.rejected_reason.is_(None),
        )
        .order_by(c.stream_ordering.desc())
        .limit(bindparam("limit", type_=Integer))
        .subquery()
    )


def _sample_part(n: int) -> Subquery:
    """The first members of the chunk's `n`th room (bind parameter `room_{n}`)."""
    c = room_memberships.c
    return (
        select(c.room_id, c.user_id, c.membership)
        .where(c.room_id == bindparam(f"room_{n}"))
        .order_by(c.user_id)
        .limit(HERO_SAMPLE)
        .subquery()
    )


class FilterStore:
    """Filters never change once stored, so the ones in use are kept in memory: clients
    name their filter on every /sync."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._cache: Lru[tuple[UserID, int], str] = Lru(MAX_CACHED_FILTERS)

    async def create(self, user_id: UserID, filter_json: str) -> str:
        for _ in range(5):  # two concurrent uploads may pick the same number: the loser retries
            try:
                async with self._db.transaction() as conn:
                    last = (
                        await conn.execute(
                            select(func.max(sync_filters.c.filter_id)).where(
                                sync_filters.c.user_id == user_id
                            )
                        )
                    ).scalar()
                    filter_id = int(last or 0) + 1
                    await conn.execute(
                        sync_filters.insert().values(user_id=user_id, filter_id=filter_id, json=filter_json)
                    )
                return str(filter_id)
            except IntegrityError:
                continue
        raise MatrixError("Could not store the filter, try again")

    async def get(self, user_id: UserID, filter_id: str) -> str | None:
        if not filter_id.isascii() or not filter_id.isdigit() or len(filter_id) > 18:
            return None
        key = (user_id, int(filter_id))
        if (hit := self._cache.get(key)) is not None:
            return hit
        value = await self._db.fetch_value(
            select(sync_filters.c.json).where(
                sync_filters.c.user_id == user_id, sync_filters.c.filter_id == key[1]
            )
        )
        if value is None:
            return None
        self._cache.put(key, str(value))
        return str(value)
