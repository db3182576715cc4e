"""Devices and the tokens that belong to them (access token JTIs, hashed refresh tokens)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Row, and_, delete, func, select, update

from homeserver.ids import DeviceID, UserID
from homeserver.storage.database import Database, WriteConnection
from homeserver.storage.dialect import upsert
from homeserver.storage.e2e_keys import delete_keys_in
from homeserver.storage.tables import access_tokens, devices, refresh_tokens
from homeserver.storage.to_device import delete_inboxes_in


@dataclass(frozen=True)
class Device:
    user_id: UserID
    device_id: DeviceID
    display_name: str | None
    last_seen_ts: int | None
    last_seen_ip: str | None


@dataclass(frozen=True)
class AccessTokenRecord:
    jti: str
    user_id: UserID
    device_id: DeviceID
    created_ts: int
    expires_ts: int | None
    # The refresh token this access token was issued for, until the token is first used.
    refresh_parent: str | None = None


@dataclass(frozen=True)
class NewSession:
    """What a login or registration creates: a device (or reuses it) and its tokens."""

    device_id: DeviceID
    display_name: str | None
    access: AccessTokenRecord
    refresh_token_hash: str | None


async def insert_session(conn: WriteConnection, dialect: str, session: NewSession) -> None:
    """Create the device if new (keeping an existing display name unless one is given),
    revoke the device's old tokens, and store the new ones."""
    user_id, device_id = session.access.user_id, session.device_id
    update_cols = ["display_name"] if session.display_name is not None else []
    await conn.execute(
        upsert(
            dialect,
            devices,
            {
                "user_id": user_id,
                "device_id": device_id,
                "display_name": session.display_name,
                "created_ts": session.access.created_ts,
            },
            key=("user_id", "device_id"),
            update=update_cols,
        )
    )
    await _delete_tokens(conn, user_id, [device_id])
    await _insert_tokens(conn, session)


async def _insert_tokens(conn: WriteConnection, session: NewSession) -> None:
    await conn.execute(access_tokens.insert().values(**session.access.__dict__))
    if session.refresh_token_hash is not None:
        await conn.execute(
            refresh_tokens.insert().values(
                token_hash=session.refresh_token_hash,
                user_id=session.access.user_id,
                device_id=session.device_id,
                created_ts=session.access.created_ts,
                parent_hash=session.access.refresh_parent,
            )
        )


async def _delete_tokens(conn: WriteConnection, user_id: str, device_ids: Collection[str] | None) -> None:
    for table in (access_tokens, refresh_tokens):
        cond = table.c.user_id == user_id
        if device_ids is not None:
            cond = and_(cond, table.c.device_id.in_(list(device_ids)))
        await conn.execute(delete(table).where(cond))


async def delete_devices_in(
    conn: WriteConnection, user_id: str, device_ids: Collection[str] | None
) -> list[DeviceID]:
    """Delete devices (all of the user's when `device_ids` is None), their tokens, their
    send-to-device inboxes and their end-to-end encryption keys."""
    cond = devices.c.user_id == user_id
    if device_ids is not None:
        cond = and_(cond, devices.c.device_id.in_(list(device_ids)))
    rows = (await conn.execute(select(devices.c.device_id).where(cond))).all()
    await conn.execute(delete(devices).where(cond))
    await _delete_tokens(conn, user_id, device_ids)
    await delete_inboxes_in(conn, user_id, device_ids)
    await delete_keys_in(conn, user_id, device_ids)
    return [DeviceID(r.device_id) for r in rows]


class DeviceStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, user_id: UserID, device_id: DeviceID) -> Device | None:
        row = await self._db.fetch_one(
            select(devices).where(devices.c.user_id == user_id, devices.c.device_id == device_id)
        )
        return _device(row) if row else None

    async def list_for(self, user_id: UserID) -> list[Device]:
        rows = await self._db.fetch_all(
            select(devices).where(devices.c.user_id == user_id).order_by(devices.c.device_id)
        )
        return [_device(r) for r in rows]

    async def count(self, user_id: UserID) -> int:
        value = await self._db.fetch_value(
            select(func.count()).select_from(devices).where(devices.c.user_id == user_id)
        )
        return int(value or 0)

    async def set_display_name(self, user_id: UserID, device_id: DeviceID, name: str | None) -> bool:
        changed = await self._db.execute(
            update(devices)
            .where(devices.c.user_id == user_id, devices.c.device_id == device_id)
            .values(display_name=name)
        )
        return changed > 0

    async def start_session(self, session: NewSession) -> None:
        async with self._db.transaction() as conn:
            await insert_session(conn, self._db.dialect, session)

    async def delete(self, user_id: UserID, device_ids: Collection[str] | None) -> list[DeviceID]:
        async with self._db.transaction() as conn:
            return await delete_devices_in(conn, user_id, device_ids)

    async def record_last_seen(
        self, user_id: UserID, device_id: DeviceID, ts: int, ip: str | None, user_agent: str | None
    ) -> None:
        await self._db.execute(
            update(devices)
            .where(devices.c.user_id == user_id, devices.c.device_id == device_id)
            .values(last_seen_ts=ts, last_seen_ip=ip, last_seen_user_agent=(user_agent or "")[:512])
        )

    # Tokens

    async def get_access_token(self, jti: str) -> AccessTokenRecord | None:
        row = await self._db.fetch_one(select(access_tokens).where(access_tokens.c.jti == jti))
        if row is None:
            return None
        return AccessTokenRecord(
            jti=row.jti,
            user_id=UserID(row.user_id),
            device_id=DeviceID(row.device_id),
            created_ts=row.created_ts,
            expires_ts=row.expires_ts,
            refresh_parent=row.refresh_parent,
        )

    async def revoke_access_token(self, jti: str) -> None:
        await self._db.execute(delete(access_tokens).where(access_tokens.c.jti == jti))

    async def jtis_for(self, user_id: UserID, device_ids: Collection[str] | None = None) -> list[str]:
        cond = access_tokens.c.user_id == user_id
        if device_ids is not None:
            cond = and_(cond, access_tokens.c.device_id.in_(list(device_ids)))
        rows = await self._db.fetch_all(select(access_tokens.c.jti).where(cond))
        return [r.jti for r in rows]

    async def rotate_refresh_token(self, old_hash: str, session: NewSession) -> bool:
        """Issue a new session for a refresh token of this device. The old refresh token stays
        valid until the new access or refresh token is first used (spec: a client that lost
        the response can refresh again; the newest pair then replaces the unused one). The
        device's previous access tokens go at once, which the spec allows."""
        user_id, device_id = session.access.user_id, session.device_id
        async with self._db.transaction() as conn:
            found = await conn.execute(  # the row lock serialises concurrent refreshes (PostgreSQL)
                select(refresh_tokens.c.token_hash)
                .where(
                    refresh_tokens.c.token_hash == old_hash,
                    refresh_tokens.c.user_id == user_id,
                    refresh_tokens.c.device_id == device_id,
                )
                .with_for_update()
            )
            if found.first() is None:
                return False
            mine = and_(access_tokens.c.user_id == user_id, access_tokens.c.device_id == device_id)
            await conn.execute(delete(access_tokens).where(mine))
            await conn.execute(
                delete(refresh_tokens).where(
                    refresh_tokens.c.user_id == user_id,
                    refresh_tokens.c.device_id == device_id,
                    refresh_tokens.c.token_hash != old_hash,
                )
            )
            await _insert_tokens(
                conn, replace(session, access=replace(session.access, refresh_parent=old_hash))
            )
            return True

    async def first_use(self, record: AccessTokenRecord) -> None:
        """The first use of an access token issued by /refresh revokes the refresh token it
        replaced."""
        async with self._db.transaction() as conn:
            await conn.execute(
                delete(refresh_tokens).where(refresh_tokens.c.token_hash == record.refresh_parent)
            )
            await conn.execute(
                update(access_tokens).where(access_tokens.c.jti == record.jti).values(refresh_parent=None)
            )

    async def refresh_token_owner(self, token_hash: str) -> tuple[UserID, DeviceID] | None:
        row = await self._db.fetch_one(
            select(refresh_tokens.c.user_id, refresh_tokens.c.device_id).where(
                refresh_tokens.c.token_hash == token_hash
            )
        )
        return (UserID(row.user_id), DeviceID(row.device_id)) if row else None


def _device(row: Row[Any]) -> Device:
    m = row._mapping
    return Device(
        user_id=UserID(m["user_id"]),
        device_id=DeviceID(m["device_id"]),
        display_name=m["display_name"],
        last_seen_ts=m["last_seen_ts"],
        last_seen_ip=m["last_seen_ip"],
    )
