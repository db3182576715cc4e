"""Cross-signing (spec: "Cross-signing"): POST /keys/device_signing/upload (a user's master,
self-signing and user-signing keys; the self-signing and user-signing keys signed by the
master key) and the cross-signing part of /keys/query. Uploaded signatures are checked in
signature_upload.py.

A change of cross-signing keys is a device-list change: the user's devices and everyone
sharing a room with them fetch the keys again."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from homeserver.device_lists import DeviceLists
from homeserver.e2e_signatures import ED25519_PREFIX, ed25519_public_key, signed_by
from homeserver.errors import Forbidden, InvalidParam, InvalidSignature, MissingParam, TooLarge
from homeserver.ids import UserID
from homeserver.storage.cross_signing import CrossSigningKey, CrossSigningStore, KeySignature
from homeserver.storage.devices import DeviceStore

MASTER, SELF_SIGNING, USER_SIGNING = "master", "self_signing", "user_signing"
BODY_FIELDS = {"master_key": MASTER, "self_signing_key": SELF_SIGNING, "user_signing_key": USER_SIGNING}
MAX_KEY_BYTES = 16 * 1024


@dataclass(frozen=True)
class CheckedUpload:
    """Checked keys of a device_signing/upload, and whether storing them needs UIA."""

    keys: tuple[CrossSigningKey, ...]
    needs_auth: bool


class CrossSigning:
    def __init__(self, store: CrossSigningStore, devices: DeviceStore, device_lists: DeviceLists) -> None:
        self._store = store
        self._devices = devices
        self._device_lists = device_lists

    async def check_upload(self, user_id: UserID, body: dict[str, Any]) -> CheckedUpload:
        """Check the keys (shape, owner, usage, signatures by the master key); UIA is needed
        unless the user has no master key yet or every key given is the stored one."""
        given = {
            usage: _parse_key(body.get(name), name, user_id, usage) for name, usage in BODY_FIELDS.items()
        }
        keys = {usage: key for usage, key in given.items() if key is not None}
        stored = {k.usage: k for k in await self._store.keys([user_id])}
        master = keys.get(MASTER) or stored.get(MASTER)
        for usage in (SELF_SIGNING, USER_SIGNING):
            if usage in keys:
                _check_signed_by_master(keys[usage], master)
        device_ids = {d.device_id for d in await self._devices.list_for(user_id)}
        if any(k.public_key in device_ids for k in keys.values()):
            raise Forbidden("A cross-signing key may not have a device's ID")
        unchanged = all(usage in stored and _same(stored[usage], key) for usage, key in keys.items())
        return CheckedUpload(tuple(keys.values()), needs_auth=MASTER in stored and not unchanged)

    async def store_upload(self, user_id: UserID, upload: CheckedUpload) -> None:
        stored = {k.usage: k for k in await self._store.keys([user_id])}
        if all(k.usage in stored and _same(stored[k.usage], k) for k in upload.keys):
            return  # a retried upload: nothing changes
        await self._store.store_keys(upload.keys)
        await self._device_lists.changed(user_id)

    async def add_to_query(self, requester: UserID, answer: dict[str, Any], user_ids: list[UserID]) -> None:
        """Add the queried users' cross-signing keys (the user-signing key only of the
        requester) and the uploaded signatures of their devices and master keys to a
        /keys/query answer. Signatures show when made by the key's owner or the requester."""
        masters: dict[str, Any] = {}
        self_signing: dict[str, Any] = {}
        user_signing: dict[str, Any] = {}
        master_ids: dict[tuple[str, str], dict[str, Any]] = {}
        for key in await self._store.keys(user_ids):
            obj = orjson.loads(key.key_json)
            if key.usage == MASTER:
                masters[key.user_id] = obj
                master_ids[(key.user_id, key.public_key)] = obj
            elif key.usage == SELF_SIGNING:
                self_signing[key.user_id] = obj
            elif key.user_id == requester:
                user_signing[key.user_id] = obj
        devices: dict[str, dict[str, Any]] = answer["device_keys"]
        for sig in await self._store.signatures_on(user_ids):
            if sig.signer_user_id not in (sig.target_user_id, requester):
                continue
            target = devices.get(sig.target_user_id, {}).get(sig.target_key) or master_ids.get(
                (sig.target_user_id, sig.target_key)
            )
            if target is not None:
                _merge_signature(target, sig)
        answer["master_keys"] = masters
        answer["self_signing_keys"] = self_signing
        answer["user_signing_keys"] = user_signing


def _parse_key(raw: object, name: str, user_id: UserID, usage: str) -> CrossSigningKey | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise InvalidParam(f"'{name}' must be an object")
    if raw.get("user_id") != user_id:
        raise InvalidParam(f"'{name}' must be a key of the requesting user")
    usages = raw.get("usage")
    if (
        not isinstance(usages, list)
        or usage not in usages
        or not all(u in BODY_FIELDS.values() for u in usages)
    ):
        raise InvalidParam(f"'{name}.usage' must hold '{usage}'")
    keys = raw.get("keys")
    if not isinstance(keys, dict) or len(keys) != 1:
        raise InvalidParam(f"'{name}.keys' must hold exactly one key")
    ((key_id, public_key),) = keys.items()
    if key_id != ED25519_PREFIX + str(public_key) or ed25519_public_key(public_key) is None:
        raise InvalidParam(f"'{name}.keys' must be 'ed25519:<key>': <key>, an ed25519 public key")
    signatures = raw.get("signatures", {})
    if not isinstance(signatures, dict) or not all(isinstance(s, dict) for s in signatures.values()):
        raise InvalidParam(f"'{name}.signatures' must be an object of objects")
    encoded = orjson.dumps(raw)
    if len(encoded) > MAX_KEY_BYTES:
        raise TooLarge(f"'{name}' may be at most {MAX_KEY_BYTES} bytes")
    return CrossSigningKey(user_id, usage, public_key, encoded.decode())


def _check_signed_by_master(key: CrossSigningKey, master: CrossSigningKey | None) -> None:
    if master is None:
        raise MissingParam("No master key is available to check the signature")
    public = ed25519_public_key(master.public_key)
    assert public is not None  # checked when it was stored
    key_id = ED25519_PREFIX + master.public_key
    if not signed_by(orjson.loads(key.key_json), key.user_id, key_id, public):
        raise InvalidSignature(f"The {key.usage} key is not signed by the master key")


def _same(a: CrossSigningKey, b: CrossSigningKey) -> bool:
    return a.public_key == b.public_key and bool(orjson.loads(a.key_json) == orjson.loads(b.key_json))


def _merge_signature(obj: dict[str, Any], sig: KeySignature) -> None:
    signatures = obj.get("signatures")
    if not isinstance(signatures, dict):
        signatures = obj["signatures"] = {}
    mine = signatures.get(sig.signer_user_id)
    if not isinstance(mine, dict):
        mine = signatures[sig.signer_user_id] = {}
    mine[sig.signer_key_id] = sig.signature
