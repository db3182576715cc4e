"""Send-to-device messages (spec: "Send-to-Device messaging"): one `device_inbox` row per
recipient device, numbered on the to-device stream, deleted once the device has synced past
it; and the transaction IDs that make PUT /sendToDevice idempotent.

The stream position must survive a restart even when every inbox is empty (a client's sync
token holds it; a new message numbered at or below it would be taken as already delivered).
So the row holding the highest stream ID is never deleted: once delivered it becomes a
marker, addressed to no device (user and device ""), and goes when a later row exists."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import orjson
from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update

from homeserver.storage.database import Database, WriteConnection
from homeserver.storage.dialect import upsert
from homeserver.storage.tables import device_inbox, devices, to_device_txns

BATCH = 500  # IDs per IN (...) and rows per INSERT
MARKER = ""  # user_id and device_id of the marker row


@dataclass(frozen=True)
class Delivery:
    """One message for one device; `content` is the encoded JSON object."""

    user_id: str
    device_id: str
    content: str


@dataclass(frozen=True)
class InboxMessage:
    stream_id: int
    sender: str
    type: str
    content: str  # a JSON object, as stored


@dataclass(frozen=True)
class TxnKey:
    user_id: str
    device_id: str
    txn_id: str


class ToDeviceStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def max_stream_id(self) -> int:
        return int(await self._db.fetch_value(select(func.max(device_inbox.c.stream_id))) or 0)

    async def devices_of(self, user_ids: Sequence[str]) -> dict[str, list[str]]:
        """The device IDs of each of these users (users without devices are absent)."""
        found: dict[str, list[str]] = {}
        for i in range(0, len(user_ids), BATCH):
            rows = await self._db.fetch_all(
                select(devices.c.user_id, devices.c.device_id).where(
                    devices.c.user_id.in_(user_ids[i : i + BATCH])
                )
            )
            for r in rows:
                found.setdefault(r.user_id, []).append(r.device_id)
        return found

    async def txn_seen(self, txn: TxnKey) -> bool:
        value = await self._db.fetch_value(select(to_device_txns.c.created_ts).where(*_txn_where(txn)))
        return value is not None

    async def deliver(
        self,
        txn: TxnKey,
        now: int,
        sender: str,
        event_type: str,
        deliveries: Sequence[Delivery],
        stream_ids: Sequence[int],
    ) -> bool:
        """Record the transaction and store each delivery under its stream ID, in one
        transaction; False (and nothing stored) if the transaction was already recorded."""
        async with self._db.transaction() as conn:
            claimed = await conn.execute(
                upsert(
                    self._db.dialect,
                    to_device_txns,
                    {
                        "user_id": txn.user_id,
                        "device_id": txn.device_id,
                        "txn_id": txn.txn_id,
                        "created_ts": now,
                    },
                    key=("user_id", "device_id", "txn_id"),
                    update=(),
                ).returning(to_device_txns.c.created_ts)
            )
            if claimed.first() is None:
                return False
            rows = [
                {
                    "stream_id": stream_id,
                    "user_id": d.user_id,
                    "device_id": d.device_id,
                    "sender": sender,
                    "type": event_type,
                    "content": d.content,
                }
                for d, stream_id in zip(deliveries, stream_ids, strict=True)
            ]
            for i in range(0, len(rows), BATCH):
                await conn.execute(device_inbox.insert(), rows[i : i + BATCH])
            return True

    async def pending(
        self, user_id: str, device_id: str, since: int, until: int, limit: int
    ) -> list[InboxMessage]:
        """The device's messages numbered in (since, until], oldest first, at most `limit`."""
        c = device_inbox.c
        rows = await self._db.fetch_all(
            select(c.stream_id, c.sender, c.type, c.content)
            .where(c.user_id == user_id, c.device_id == device_id, c.stream_id > since, c.stream_id <= until)
            .order_by(c.stream_id)
            .limit(limit)
        )
        return [InboxMessage(int(r.stream_id), r.sender, r.type, r.content) for r in rows]

    async def acknowledge(self, user_id: str, device_id: str, up_to: int) -> None:
        """The device has received its messages numbered up to `up_to`: delete them. A read
        first, so that a sync with nothing to delete takes no write lock."""
        c = device_inbox.c
        mine = and_(c.user_id == user_id, c.device_id == device_id)
        found = await self._db.fetch_value(select(c.stream_id).where(mine, c.stream_id <= up_to).limit(1))
        if found is None:
            return
        async with self._db.transaction() as conn:
            await _delete_keeping_top(conn, and_(mine, c.stream_id <= up_to))


async def delete_inboxes_in(conn: WriteConnection, user_id: str, device_ids: Collection[str] | None) -> None:
    """Delete the inboxes of devices being deleted (all of the user's when `device_ids` is
    None) and the transaction IDs they sent, inside the deleting transaction."""
    inbox = device_inbox.c.user_id == user_id
    txns = to_device_txns.c.user_id == user_id
    if device_ids is not None:
        inbox = and_(inbox, device_inbox.c.device_id.in_(list(device_ids)))
        txns = and_(txns, to_device_txns.c.device_id.in_(list(device_ids)))
    await _delete_keeping_top(conn, inbox)
    await conn.execute(delete(to_device_txns).where(txns))


async def _delete_keeping_top(conn: WriteConnection, rows: ColumnElement[bool]) -> None:
    """Delete `rows` of the inbox, and older markers; the row with the highest stream ID, if
    among them, becomes the marker instead (see the module docstring)."""
    c = device_inbox.c
    top = select(func.max(c.stream_id)).scalar_subquery()
    await conn.execute(
        delete(device_inbox).where(
            c.stream_id < top, or_(rows, and_(c.user_id == MARKER, c.device_id == MARKER))
        )
    )
    await conn.execute(
        update(device_inbox)
        .where(rows)
        .values(user_id=MARKER, device_id=MARKER, sender=MARKER, type=MARKER, content=_EMPTY)
    )


def _txn_where(txn: TxnKey) -> tuple[ColumnElement[bool], ...]:
    c = to_device_txns.c
    return (c.user_id == txn.user_id, c.device_id == txn.device_id, c.txn_id == txn.txn_id)


_EMPTY = orjson.dumps({}).decode()
