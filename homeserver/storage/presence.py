"""Presence (spec: "Presence"): one row per user with the state as last written and the
presence stream position of that write. Idleness is not stored: it follows from
`last_active_ts` at read time (homeserver/presence.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import BigInteger, ColumnElement, Row, String, bindparam, func, literal, or_, select, update

from homeserver.ids import UserID
from homeserver.storage.database import Database
from homeserver.storage.dialect import upsert
from homeserver.storage.shared_rooms import shares_joined_room
from homeserver.storage.tables import presence


@dataclass(frozen=True)
class PresenceRow:
    user_id: UserID
    state: str  # "online", "unavailable" or "offline", as set
    status_msg: str | None
    last_active_ts: int
    currently_active: bool  # as of the write
    stream_id: int


class PresenceStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, user_id: str) -> PresenceRow | None:
        row = await self._db.fetch_one(select(presence).where(presence.c.user_id == user_id))
        return _row(row) if row else None

    async def put(self, row: PresenceRow) -> None:
        await self._db.execute(
            upsert(
                self._db.dialect,
                presence,
                {
                    "user_id": row.user_id,
                    "state": row.state,
                    "status_msg": row.status_msg,
                    "last_active_ts": row.last_active_ts,
                    "currently_active": row.currently_active,
                    "stream_id": row.stream_id,
                },
                key=("user_id",),
                update=("state", "status_msg", "last_active_ts", "currently_active", "stream_id"),
            )
        )

    async def touch(self, user_id: str, last_active_ts: int) -> None:
        """Move the activity time only (no new stream position)."""
        await self._db.execute(
            update(presence)
            .where(presence.c.user_id == user_id)
            .values(last_active_ts=last_active_ts, currently_active=True)
        )

    async def gone_idle(self, active_before: int, limit: int) -> list[PresenceRow]:
        """Users stored as online whose last activity is older than `active_before`."""
        c = presence.c
        return await self._rows(c.state == "online", c.last_active_ts < active_before, limit=limit)

    async def get_many(self, user_ids: list[UserID]) -> list[PresenceRow]:
        return await self._rows(presence.c.user_id.in_(user_ids)) if user_ids else []

    async def stale(self, active_before: int, limit: int) -> list[PresenceRow]:
        """Users stored as online or unavailable whose last activity was at `active_before` or before."""
        c = presence.c
        return await self._rows(
            c.state.in_(("online", "unavailable")), c.last_active_ts <= active_before, limit=limit
        )

    async def _rows(self, *where: ColumnElement[bool], limit: int | None = None) -> list[PresenceRow]:
        rows = await self._db.fetch_all(select(presence).where(*where).limit(limit))
        return [_row(r) for r in rows]

    async def max_stream_id(self) -> int:
        return int(await self._db.fetch_value(select(func.max(presence.c.stream_id))) or 0)

    async def shares_room(self, user_id: str, other: str) -> bool:
        """Whether the two users are joined to at least one common room."""
        found = await self._db.fetch_value(
            select(literal(1)).where(shares_joined_room(user_id, literal(other)))
        )
        return found is not None

    async def changed_for(self, user_id: str, since: int, until: int) -> list[PresenceRow]:
        """The rows written in (since, until] of `user_id` and of the users who share a
        joined room with them: one query over the presence stream index (built once: every
        sync asks it)."""
        rows = await self._db.fetch_all(_CHANGED_FOR, {"user_id": user_id, "since": since, "until": until})
        return [_row(r) for r in rows]


_USER: Final = bindparam("user_id", type_=String)
_CHANGED_FOR: Final = (
    select(presence)
    .where(
        presence.c.stream_id > bindparam("since", type_=BigInteger),
        presence.c.stream_id <= bindparam("until", type_=BigInteger),
        or_(presence.c.user_id == _USER, shares_joined_room(_USER, presence.c.user_id)),
    )
    .order_by(presence.c.stream_id)
)


def _row(row: Row[Any]) -> PresenceRow:
    m = row._mapping
    return PresenceRow(
        user_id=UserID(m["user_id"]),
        state=m["state"],
        status_msg=m["status_msg"],
        last_active_ts=int(m["last_active_ts"]),
        currently_active=bool(m["currently_active"]),
        stream_id=int(m["stream_id"]),
    )
