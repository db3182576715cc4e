"""Cross-signing keys and the signatures uploaded for keys (spec: "Cross-signing"): a user's
master, self-signing and user-signing key (the newest of each), and signatures of devices and
master keys made by cross-signing keys or devices, kept apart from the keys they sign."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import and_, delete, or_, select

from homeserver.storage.database import Database, WriteConnection
from homeserver.storage.dialect import upsert
from homeserver.storage.tables import e2e_cross_signing_keys, e2e_cross_signing_signatures

BATCH = 500


@dataclass(frozen=True)
class CrossSigningKey:
    user_id: str
    usage: str  # master | self_signing | user_signing
    public_key: str  # unpadded Base64, as in its key ID
    key_json: str


@dataclass(frozen=True)
class KeySignature:
    """`signer_user_id`'s key `signer_key_id` signed `target_key` (a device ID or a master
    public key) of `target_user_id`."""

    target_user_id: str
    target_key: str
    signer_user_id: str
    signer_key_id: str
    signature: str


async def delete_signatures_in(
    conn: WriteConnection, user_id: str, device_ids: Collection[str] | None
) -> None:
    """Signatures of and by devices being deleted (all of the user's devices when None),
    inside the deleting transaction. Signatures of master keys stay with them."""
    s = e2e_cross_signing_signatures.c
    if device_ids is None:
        of, by = s.target_user_id == user_id, s.signer_user_id == user_id
        await conn.execute(delete(e2e_cross_signing_signatures).where(or_(of, by)))
        return
    ids = list(device_ids)
    of = and_(s.target_user_id == user_id, s.target_key.in_(ids))
    by = and_(s.signer_user_id == user_id, s.signer_key_id.in_([f"ed25519:{d}" for d in ids]))
    await conn.execute(delete(e2e_cross_signing_signatures).where(or_(of, by)))


async def delete_cross_signing_keys_in(conn: WriteConnection, user_id: str) -> None:
    await conn.execute(delete(e2e_cross_signing_keys).where(e2e_cross_signing_keys.c.user_id == user_id))


class CrossSigningStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def keys(self, user_ids: Sequence[str]) -> list[CrossSigningKey]:
        c = e2e_cross_signing_keys.c
        found: list[CrossSigningKey] = []
        for start in range(0, len(user_ids), BATCH):
            rows = await self._db.fetch_all(
                select(c.user_id, c.usage, c.public_key, c.key_json).where(
                    c.user_id.in_(list(user_ids[start : start + BATCH]))
                )
            )
            found.extend(CrossSigningKey(r.user_id, r.usage, r.public_key, r.key_json) for r in rows)
        return found

    async def store_keys(self, keys: Sequence[CrossSigningKey]) -> None:
        """Replace the user's keys of these usages, at once."""
        async with self._db.transaction() as conn:
            for key in keys:
                await conn.execute(
                    upsert(
                        self._db.dialect,
                        e2e_cross_signing_keys,
                        key.__dict__,
                        key=("user_id", "usage"),
                        update=("public_key", "key_json"),
                    )
                )

    async def signatures_on(self, user_ids: Sequence[str]) -> list[KeySignature]:
        """Every uploaded signature of these users' devices and master keys."""
        s = e2e_cross_signing_signatures.c
        found: list[KeySignature] = []
        for start in range(0, len(user_ids), BATCH):
            rows = await self._db.fetch_all(
                select(s.target_user_id, s.target_key, s.signer_user_id, s.signer_key_id, s.signature).where(
                    s.target_user_id.in_(list(user_ids[start : start + BATCH]))
                )
            )
            found.extend(
                KeySignature(r.target_user_id, r.target_key, r.signer_user_id, r.signer_key_id, r.signature)
                for r in rows
            )
        return found

    async def add_signatures(self, signatures: Sequence[KeySignature]) -> None:
        async with self._db.transaction() as conn:
            for signature in signatures:
                await conn.execute(
                    upsert(
                        self._db.dialect,
                        e2e_cross_signing_signatures,
                        signature.__dict__,
                        key=("target_user_id", "target_key", "signer_user_id", "signer_key_id"),
                        update=("signature",),
                    )
                )
