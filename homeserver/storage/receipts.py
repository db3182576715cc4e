"""Read receipts (Client-Server API, "Receipts"): the latest receipt of each user per room,
receipt type and thread; thread_id "" is an unthreaded receipt. Every write records the
receipts stream position it was made at, so sync asks what changed in its rooms between two
positions with one query per batch of rooms."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import and_, func, or_, select, update

from homeserver.ids import EventID, RoomID, UserID
from homeserver.storage.database import Database, WriteConnection
from homeserver.storage.dialect import upsert
from homeserver.storage.push import advance_read_position
from homeserver.storage.tables import events, receipts

UNTHREADED = ""
PRIVATE_READ = "m.read.private"
READ_TYPES = frozenset({"m.read", PRIVATE_READ})
BATCH = 500  # rooms per IN (...) clause


@dataclass(frozen=True)
class Receipt:
    room_id: RoomID
    receipt_type: str
    user_id: UserID
    thread_id: str  # "" for an unthreaded receipt
    event_id: EventID
    data: dict[str, Any]  # {"ts": ..., "thread_id"?: ...}: what clients see under the user ID
    stream_id: int


class ReceiptStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def event_position(self, event_id: EventID) -> tuple[RoomID, int] | None:
        """The room and stream ordering of an event in a room's timeline (not an outlier, not
        rejected); None if there is no such event."""
        c = events.c
        row = await self._db.fetch_one(
            select(c.room_id, c.stream_ordering).where(
                c.event_id == event_id, c.outlier.is_(False), c.rejected_reason.is_(None)
            )
        )
        return (RoomID(row.room_id), int(row.stream_ordering)) if row else None

    async def advance(self, receipt: Receipt, event_ordering: int) -> bool:
        """Store `receipt` unless the user's current receipt of that type and thread points at
        an event at or after `event_ordering` (the stream ordering of `receipt.event_id`).
        True if it was stored. Safe against concurrent writers: the conditional UPDATE locks
        the row, and an INSERT that loses a race retries as an UPDATE."""
        async with self._db.transaction() as conn:
            stored = await self._store(conn, receipt, event_ordering)
            if stored and receipt.receipt_type in READ_TYPES:  # unread counts move with it
                await advance_read_position(
                    conn,
                    receipt.user_id,
                    receipt.room_id,
                    receipt.thread_id,
                    event_ordering,
                )
            return stored

    async def _store(self, conn: WriteConnection, receipt: Receipt, event_ordering: int) -> bool:
        if await self._move_forward(conn, receipt, event_ordering):
            return True
        values = {
            "room_id": receipt.room_id,
            "receipt_type": receipt.receipt_type,
            "user_id": receipt.user_id,
            "thread_id": receipt.thread_id,
            "event_id": receipt.event_id,
            "data": _encode(receipt.data),
            "stream_id": receipt.stream_id,
        }
        key = ("room_id", "receipt_type", "user_id", "thread_id")
        inserted = await conn.execute(upsert(self._db.dialect, receipts, values, key=key, update=()))
        if inserted.rowcount > 0:
            return True
        return await self._move_forward(conn, receipt, event_ordering)

    async def _move_forward(self, conn: WriteConnection, receipt: Receipt, event_ordering: int) -> bool:
        r = receipts.c
        current_ordering = (
            select(events.c.stream_ordering).where(events.c.event_id == r.event_id).scalar_subquery()
        )
        result = await conn.execute(
            update(receipts)
            .where(
                r.room_id == receipt.room_id,
                r.receipt_type == receipt.receipt_type,
                r.user_id == receipt.user_id,
                r.thread_id == receipt.thread_id,
                func.coalesce(current_ordering, -1) < event_ordering,
            )
            .values(event_id=receipt.event_id, data=_encode(receipt.data), stream_id=receipt.stream_id)
        )
        return result.rowcount > 0

    async def get(
        self, room_id: RoomID, receipt_type: str, user_id: UserID, thread_id: str = UNTHREADED
    ) -> Receipt | None:
        r = receipts.c
        row = await self._db.fetch_one(
            select(receipts).where(
                r.room_id == room_id,
                r.receipt_type == receipt_type,
                r.user_id == user_id,
                r.thread_id == thread_id,
            )
        )
        return _receipt(row) if row else None

    async def changed_in_rooms(
        self, viewer: UserID, room_ids: Collection[RoomID], since: int, until: int
    ) -> list[Receipt]:
        """Receipts written in (since, until] in `room_ids`, oldest first, without other
        users' private receipts. One query per BATCH rooms."""
        r = receipts.c
        visible = or_(r.receipt_type != PRIVATE_READ, r.user_id == viewer)
        rooms = sorted(room_ids)
        out: list[Receipt] = []
        for i in range(0, len(rooms), BATCH):
            rows = await self._db.fetch_all(
                select(receipts)
                .where(
                    r.room_id.in_(rooms[i : i + BATCH]),
                    and_(r.stream_id > since, r.stream_id <= until),
                    visible,
                )
                .order_by(r.stream_id)
            )
            out.extend(_receipt(row) for row in rows)
        out.sort(key=lambda receipt: receipt.stream_id)
        return out

    async def max_stream_id(self) -> int:
        return int(await self._db.fetch_value(select(func.max(receipts.c.stream_id))) or 0)


def _receipt(row: Any) -> Receipt:
    data = orjson.loads(row.data)
    return Receipt(
        RoomID(row.room_id),
        row.receipt_type,
        UserID(row.user_id),
        row.thread_id,
        EventID(row.event_id),
        data if isinstance(data, dict) else {},
        int(row.stream_id),
    )


def _encode(data: dict[str, Any]) -> str:
    return orjson.dumps(data).decode()
