"""End-to-end encryption keys (spec: "End-to-End Encryption"): each device's identity keys,
its one-time keys (each claimed once, then gone) and its fallback key per algorithm (handed
out when no one-time key is left, kept and marked used).

Keys are kept as the JSON the client uploaded, encoded once; a conflict is judged on the
decoded values, so the same keys sent with another key order are the same keys."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import and_, delete, func, select, update

from homeserver.e2e_signatures import device_ed25519
from homeserver.errors import InvalidParam, TooLarge
from homeserver.ids import DeviceID, UserID
from homeserver.storage.cross_signing import delete_cross_signing_keys_in, delete_signatures_in
from homeserver.storage.database import Database, WriteConnection
from homeserver.storage.dialect import upsert
from homeserver.storage.key_backup import delete_backups_in
from homeserver.storage.tables import devices, e2e_device_keys, e2e_fallback_keys, e2e_one_time_keys

BATCH = 500  # IDs per IN (...)
MAX_STORED_ONE_TIME_KEYS = 1000  # per device: what an attacker may pile up


@dataclass(frozen=True)
class OneTimeKey:
    """A one-time or fallback key: `key_json` is the key (a string or a signed object), encoded."""

    algorithm: str
    key_id: str
    key_json: str


@dataclass(frozen=True)
class KeyUpload:
    """A checked POST /keys/upload body; `device_keys` encoded, None when not given."""

    device_keys: str | None
    one_time_keys: Sequence[OneTimeKey]
    fallback_keys: Sequence[OneTimeKey]


@dataclass(frozen=True)
class DeviceKeys:
    user_id: UserID
    device_id: DeviceID
    key_json: str
    display_name: str | None


@dataclass(frozen=True)
class Claim:
    user_id: UserID
    device_id: DeviceID
    algorithm: str


@dataclass(frozen=True)
class Claimed:
    user_id: UserID
    device_id: DeviceID
    key: OneTimeKey


async def delete_keys_in(conn: WriteConnection, user_id: str, device_ids: Collection[str] | None) -> None:
    """Delete the keys of devices being deleted, inside the deleting transaction. With
    `device_ids` None (the account is deactivated) every device's, and all the user's
    cross-signing keys and key backups."""
    for table in (e2e_device_keys, e2e_one_time_keys, e2e_fallback_keys):
        cond = table.c.user_id == user_id
        if device_ids is not None:
            cond = and_(cond, table.c.device_id.in_(list(device_ids)))
        await conn.execute(delete(table).where(cond))
    await delete_signatures_in(conn, user_id, device_ids)
    if device_ids is None:  # the account goes: its cross-signing keys and key backups too
        await delete_cross_signing_keys_in(conn, user_id)
        await delete_backups_in(conn, user_id)


class E2eKeyStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def upload(self, user_id: UserID, device_id: DeviceID, upload: KeyUpload) -> bool:
        """Store the keys in one transaction; raises InvalidParam (storing nothing) when the
        device's ed25519 key changes or a one-time key ID is already stored with other
        content. True when the device keys are new or changed."""
        async with self._db.transaction() as conn:
            new_device_keys = False
            if upload.device_keys is not None:
                new_device_keys = await _store_device_keys(
                    conn, self._db.dialect, user_id, device_id, upload.device_keys
                )
            if upload.one_time_keys:
                await _store_one_time_keys(conn, user_id, device_id, upload.one_time_keys)
            for key in upload.fallback_keys:
                await _store_fallback_key(conn, user_id, device_id, key)
            return new_device_keys

    async def one_time_key_counts(self, user_id: UserID, device_id: DeviceID) -> dict[str, int]:
        t = e2e_one_time_keys.c
        rows = await self._db.fetch_all(
            select(t.algorithm, func.count().label("n"))
            .where(t.user_id == user_id, t.device_id == device_id)
            .group_by(t.algorithm)
        )
        return {r.algorithm: int(r.n) for r in rows}

    async def unused_fallback_algorithms(self, user_id: UserID, device_id: DeviceID) -> list[str]:
        t = e2e_fallback_keys.c
        rows = await self._db.fetch_all(
            select(t.algorithm)
            .where(t.user_id == user_id, t.device_id == device_id, t.used.is_(False))
            .order_by(t.algorithm)
        )
        return [r.algorithm for r in rows]

    async def device_keys(self, user_ids: Sequence[str]) -> list[DeviceKeys]:
        """The device keys of every device of these users, with the devices' display names."""
        k, d = e2e_device_keys.c, devices.c
        found: list[DeviceKeys] = []
        for start in range(0, len(user_ids), BATCH):
            rows = await self._db.fetch_all(
                select(k.user_id, k.device_id, k.key_json, d.display_name)
                .select_from(
                    e2e_device_keys.join(devices, and_(d.user_id == k.user_id, d.device_id == k.device_id))
                )
                .where(k.user_id.in_(list(user_ids[start : start + BATCH])))
                .order_by(k.user_id, k.device_id)
            )
            found.extend(
                DeviceKeys(UserID(r.user_id), DeviceID(r.device_id), r.key_json, r.display_name) for r in rows
            )
        return found

    async def device_keys_of(self, user_id: UserID, device_id: DeviceID) -> str | None:
        t = e2e_device_keys.c
        value = await self._db.fetch_value(
            select(t.key_json).where(t.user_id == user_id, t.device_id == device_id)
        )
        return str(value) if value is not None else None

    async def claim(self, claims: Sequence[Claim]) -> list[Claimed]:
        """Take one one-time key of each (device, algorithm), else its fallback key (marked
        used), all in one transaction. Claims of devices with neither are left out."""
        async with self._db.transaction() as conn:
            claimed: list[Claimed] = []
            for claim in claims:
                key = await _take_one_time_key(conn, claim) or await _use_fallback_key(conn, claim)
                if key is not None:
                    claimed.append(Claimed(claim.user_id, claim.device_id, key))
            return claimed


async def _store_device_keys(
    conn: WriteConnection, dialect: str, user_id: str, device_id: str, key_json: str
) -> bool:
    """Store or replace the device keys; True when they changed. A device keeps its ed25519
    identity key for life: keys naming another one are refused."""
    t = e2e_device_keys.c
    where = (t.user_id == user_id, t.device_id == device_id)
    row = (await conn.execute(select(t.key_json).where(*where))).first()
    if row is None:  # (a concurrent first upload of the same device may have won: no error)
        values = {"user_id": user_id, "device_id": device_id, "key_json": key_json}
        await conn.execute(upsert(dialect, e2e_device_keys, values, key=("user_id", "device_id"), update=()))
        return True
    if _same(row.key_json, key_json):
        return False
    if device_ed25519(orjson.loads(row.key_json), device_id) != device_ed25519(
        orjson.loads(key_json), device_id
    ):
        raise InvalidParam("The ed25519 key of an existing device cannot change")
    await conn.execute(update(e2e_device_keys).where(*where).values(key_json=key_json))
    return True


async def _store_one_time_keys(
    conn: WriteConnection, user_id: str, device_id: str, keys: Sequence[OneTimeKey]
) -> None:
    """Insert the keys not stored yet; an ID stored with the same key is ignored, with another
    key refused."""
    t = e2e_one_time_keys.c
    stored: dict[tuple[str, str], str] = {}
    for start in range(0, len(keys), BATCH):
        key_ids = sorted({k.key_id for k in keys[start : start + BATCH]})
        rows = await conn.execute(
            select(t.algorithm, t.key_id, t.key_json).where(
                t.user_id == user_id, t.device_id == device_id, t.key_id.in_(key_ids)
            )
        )
        stored.update({(r.algorithm, r.key_id): r.key_json for r in rows})
    new: list[Mapping[str, Any]] = []
    for key in keys:
        old = stored.get((key.algorithm, key.key_id))
        if old is None:
            new.append({"user_id": user_id, "device_id": device_id, **key.__dict__})
        elif not _same(old, key.key_json):
            raise InvalidParam(f"One-time key {key.algorithm}:{key.key_id} already exists with another value")
    if new:
        held = await conn.scalar(
            select(func.count())
            .select_from(e2e_one_time_keys)
            .where(t.user_id == user_id, t.device_id == device_id)
        )
        if int(held or 0) + len(new) > MAX_STORED_ONE_TIME_KEYS:
            raise TooLarge(f"A device may hold at most {MAX_STORED_ONE_TIME_KEYS} unclaimed one-time keys")
    for start in range(0, len(new), BATCH):
        await conn.execute(e2e_one_time_keys.insert(), list(new[start : start + BATCH]))


async def _store_fallback_key(conn: WriteConnection, user_id: str, device_id: str, key: OneTimeKey) -> None:
    """Replace the device's fallback key of this algorithm by an unused one; the same key
    uploaded again keeps its state."""
    t = e2e_fallback_keys.c
    where = (t.user_id == user_id, t.device_id == device_id, t.algorithm == key.algorithm)
    row = (await conn.execute(select(t.key_id, t.key_json).where(*where))).first()
    if row is not None and row.key_id == key.key_id and _same(row.key_json, key.key_json):
        return
    await conn.execute(delete(e2e_fallback_keys).where(*where))
    await conn.execute(
        e2e_fallback_keys.insert().values(user_id=user_id, device_id=device_id, used=False, **key.__dict__)
    )


async def _take_one_time_key(conn: WriteConnection, claim: Claim) -> OneTimeKey | None:
    t = e2e_one_time_keys.c
    mine = (t.user_id == claim.user_id, t.device_id == claim.device_id, t.algorithm == claim.algorithm)
    # On PostgreSQL, concurrent claims skip each other's rows (SQLite serialises writers and
    # renders no FOR UPDATE).
    row = (
        await conn.execute(
            select(t.key_id, t.key_json)
            .where(*mine)
            .order_by(t.key_id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
    ).first()
    if row is None:
        return None
    await conn.execute(delete(e2e_one_time_keys).where(*mine, t.key_id == row.key_id))
    return OneTimeKey(claim.algorithm, row.key_id, row.key_json)


async def _use_fallback_key(conn: WriteConnection, claim: Claim) -> OneTimeKey | None:
    t = e2e_fallback_keys.c
    mine = (t.user_id == claim.user_id, t.device_id == claim.device_id, t.algorithm == claim.algorithm)
    row = (await conn.execute(select(t.key_id, t.key_json).where(*mine))).first()
    if row is None:
        return None
    await conn.execute(update(e2e_fallback_keys).where(*mine).values(used=True))
    return OneTimeKey(claim.algorithm, row.key_id, row.key_json)


def _same(stored: str, given: str) -> bool:
    return bool(orjson.loads(stored) == orjson.loads(given))
