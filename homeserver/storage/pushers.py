"""Pushers (spec: "Push Notifications", POST /pushers/set): per user, keyed by (app_id, pushkey)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import and_, delete, not_, select

from homeserver.ids import UserID
from homeserver.storage.database import Database
from homeserver.storage.dialect import upsert
from homeserver.storage.tables import devices, pushers

_FIELDS = (
    "kind",
    "app_display_name",
    "device_display_name",
    "profile_tag",
    "lang",
    "data",
    "device_id",
    "pushkey_ts",
)


@dataclass(frozen=True)
class Pusher:
    user_id: UserID
    app_id: str
    pushkey: str
    kind: str
    app_display_name: str
    device_display_name: str
    profile_tag: str | None
    lang: str
    data: dict[str, Any]
    device_id: str | None
    pushkey_ts: int

    def json(self) -> dict[str, Any]:
        """As GET /pushers shows it."""
        out: dict[str, Any] = {
            "pushkey": self.pushkey,
            "kind": self.kind,
            "app_id": self.app_id,
            "app_display_name": self.app_display_name,
            "device_display_name": self.device_display_name,
            "lang": self.lang,
            "data": self.data,
        }
        if self.profile_tag is not None:
            out["profile_tag"] = self.profile_tag
        return out


class PusherStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def for_user(self, user_id: UserID) -> list[Pusher]:
        p = pushers.c
        rows = await self._db.fetch_all(
            select(pushers).where(p.user_id == user_id).order_by(p.app_id, p.pushkey)
        )
        return [_pusher(r) for r in rows]

    async def users_with_pushers(self) -> set[UserID]:
        rows = await self._db.fetch_all(select(pushers.c.user_id).distinct())
        return {UserID(r[0]) for r in rows}

    async def set(self, pusher: Pusher, *, append: bool) -> None:
        """Add or replace the user's pusher; unless `append`, the same (app_id, pushkey) of
        other users goes (spec: `append`)."""
        p = pushers.c
        values = {
            "user_id": pusher.user_id,
            "app_id": pusher.app_id,
            "pushkey": pusher.pushkey,
            "kind": pusher.kind,
            "app_display_name": pusher.app_display_name,
            "device_display_name": pusher.device_display_name,
            "profile_tag": pusher.profile_tag,
            "lang": pusher.lang,
            "data": orjson.dumps(pusher.data).decode(),
            "device_id": pusher.device_id,
            "pushkey_ts": pusher.pushkey_ts,
        }
        async with self._db.transaction() as conn:
            if not append:
                await conn.execute(
                    delete(pushers).where(
                        p.app_id == pusher.app_id, p.pushkey == pusher.pushkey, p.user_id != pusher.user_id
                    )
                )
            key = ("user_id", "app_id", "pushkey")
            await conn.execute(upsert(self._db.dialect, pushers, values, key=key, update=_FIELDS))

    async def delete(self, user_id: UserID, app_id: str, pushkey: str) -> bool:
        p = pushers.c
        deleted = await self._db.execute(
            delete(pushers).where(p.user_id == user_id, p.app_id == app_id, p.pushkey == pushkey)
        )
        return deleted > 0

    async def delete_rejected(self, app_id: str, pushkey: str) -> None:
        """A gateway refused the pushkey: every pusher with it goes."""
        p = pushers.c
        await self._db.execute(delete(pushers).where(p.app_id == app_id, p.pushkey == pushkey))

    async def delete_without_device(self, user_id: UserID) -> int:
        """The user's pushers whose device (the access token that made them) is gone."""
        p, d = pushers.c, devices.c
        alive = select(d.device_id).where(d.user_id == user_id)
        return await self._db.execute(
            delete(pushers).where(
                and_(p.user_id == user_id, p.device_id.is_not(None), not_(p.device_id.in_(alive)))
            )
        )


def _pusher(row: Any) -> Pusher:
    data = orjson.loads(row.data)
    return Pusher(
        UserID(row.user_id),
        row.app_id,
        row.pushkey,
        row.kind,
        row.app_display_name,
        row.device_display_name,
        row.profile_tag,
        row.lang,
        data if isinstance(data, dict) else {},
        row.device_id,
        int(row.pushkey_ts),
    )
