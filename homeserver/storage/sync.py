"""The reads /sync needs, each one query for all of a user's rooms (never one per room where
it can be helped)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, literal_column, select, union_all
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


@dataclass(frozen=True)
class StreamEvent:
    event_id: EventID
    stream: int
    state_group: int | None


class SyncStore:
    def __init__(self, db: Database) -> None:
        self._db = db

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
        c = events.c
        out: dict[RoomID, list[StreamEvent]] = {r: [] for r in room_ids}
        for i in range(0, len(room_ids), UNION_CHUNK):
            parts: list[Select[Any]] = [
                select(literal_column("*")).select_from(
                    select(c.room_id, c.event_id, c.stream_ordering, c.state_group)
                    .where(
                        c.room_id == room_id,
                        c.stream_ordering <= until,
                        c.outlier.is_(False),
                        c.rejected_reason.is_(None),
                    )
                    .order_by(c.stream_ordering.desc())
                    .limit(limit)
                    .subquery()
                )
                for room_id in room_ids[i : i + UNION_CHUNK]
            ]
            stmt = union_all(*parts) if len(parts) > 1 else parts[0]
            for r in await self._db.fetch_all(stmt):
                row = StreamEvent(EventID(r.event_id), r.stream_ordering, r.state_group)
                out[RoomID(r.room_id)].append(row)
        for rows in out.values():
            rows.sort(key=lambda row: row.stream)
        return out

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

    async def member_sample(self, room_id: RoomID) -> list[tuple[UserID, str]]:
        """The room's first members by user ID with their membership: enough to pick the
        heroes (spec: "Calculating the display name for a room") for any one of them."""
        c = room_memberships.c
        rows = await self._db.fetch_all(
            select(c.user_id, c.membership).where(c.room_id == room_id).order_by(c.user_id).limit(HERO_SAMPLE)
        )
        return [(UserID(r.user_id), r.membership) for r in rows]

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
