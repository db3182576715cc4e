"""POST /keys/signatures/upload (spec: "Cross-signing"): a user publishes signatures of
- their own devices, made by their self-signing key;
- their own master key, made by their devices;
- other users' master keys, made by their user-signing key.
Each signed object must be the stored key (signatures aside) and each signature must verify;
what fails is reported per key in `failures`, the rest is stored."""

from __future__ import annotations

from typing import Any

import orjson

from homeserver.cross_signing import MASTER, SELF_SIGNING, USER_SIGNING
from homeserver.device_lists import DeviceLists
from homeserver.e2e_signatures import (
    ED25519_PREFIX,
    device_ed25519,
    ed25519_public_key,
    signature_of,
    signed_by,
    without_signatures,
)
from homeserver.errors import InvalidParam, InvalidSignature, MatrixError, MissingParam, NotFound, TooLarge
from homeserver.ids import UserID, is_valid_user_id
from homeserver.storage.cross_signing import CrossSigningKey, CrossSigningStore, KeySignature
from homeserver.storage.e2e_keys import E2eKeyStore

MAX_OBJECTS = 1000  # signed objects per request


class SignatureUpload:
    def __init__(self, store: CrossSigningStore, keys: E2eKeyStore, device_lists: DeviceLists) -> None:
        self._store = store
        self._keys = keys
        self._device_lists = device_lists

    async def upload(self, user_id: UserID, body: dict[str, Any]) -> dict[str, Any]:
        objects = _objects(body)
        users = sorted({target for target, _, _ in objects} | {user_id})
        cross = {(k.user_id, k.usage): k for k in await self._store.keys(users)}
        devices: dict[str, dict[str, Any]] = {
            d.device_id: orjson.loads(d.key_json) for d in await self._keys.device_keys([user_id])
        }
        checker = _Checker(user_id, cross, devices)
        failures: dict[str, dict[str, Any]] = {}
        accepted: list[KeySignature] = []
        for target, key_id, obj in objects:
            try:
                accepted.extend(checker.check(target, key_id, obj))
            except MatrixError as failure:
                failures.setdefault(target, {})[key_id] = failure.to_json()
        if accepted:
            await self._store.add_signatures(accepted)
            await self._device_lists.changed(user_id)
        return {"failures": failures}


class _Checker:
    def __init__(
        self,
        user_id: UserID,
        cross: dict[tuple[str, str], CrossSigningKey],
        devices: dict[str, dict[str, Any]],
    ) -> None:
        self._user_id = user_id
        self._cross = cross
        self._devices = devices

    def check(self, target: str, key_id: str, obj: Any) -> list[KeySignature]:
        """The new signatures `obj` carries for the target key; raises the failure to report."""
        if not isinstance(obj, dict):
            raise InvalidParam("A signed key must be an object")
        master = self._cross.get((target, MASTER))
        if target == self._user_id and key_id in self._devices:
            return [self._signed_with(self._devices[key_id], target, key_id, obj, SELF_SIGNING)]
        if master is not None and key_id == master.public_key:
            stored = orjson.loads(master.key_json)
            if target == self._user_id:
                return self._signed_by_devices(stored, key_id, obj)
            return [self._signed_with(stored, target, key_id, obj, USER_SIGNING)]
        raise NotFound("Unknown key")

    def _signed_with(
        self, stored: dict[str, Any], target: str, key_id: str, obj: dict[str, Any], usage: str
    ) -> KeySignature:
        """A signature by the requester's self-signing or user-signing key."""
        _check_same(stored, obj)
        signer = self._cross.get((self._user_id, usage))
        if signer is None:
            raise MissingParam(f"No {usage.replace('_', '-')} key to check the signature with")
        signer_key_id = ED25519_PREFIX + signer.public_key
        public = ed25519_public_key(signer.public_key)
        signature = signature_of(obj, self._user_id, signer_key_id)
        if public is None or signature is None or not signed_by(obj, self._user_id, signer_key_id, public):
            raise InvalidSignature("Invalid signature")
        return KeySignature(target, key_id, self._user_id, signer_key_id, signature)

    def _signed_by_devices(
        self, stored: dict[str, Any], key_id: str, obj: dict[str, Any]
    ) -> list[KeySignature]:
        """Signatures of the requester's master key by their devices; all must verify."""
        _check_same(stored, obj)
        signatures = obj.get("signatures")
        mine = signatures.get(self._user_id) if isinstance(signatures, dict) else None
        if not isinstance(mine, dict):
            raise InvalidSignature("No signature by the user")
        found: list[KeySignature] = []
        for signer_key_id, signature in mine.items():
            device_id = signer_key_id.removeprefix(ED25519_PREFIX)
            if signer_key_id == ED25519_PREFIX + key_id or signature == signature_of(
                stored, self._user_id, signer_key_id
            ):
                continue  # the master key's own signature, or one already stored with it
            device = self._devices.get(device_id) if signer_key_id.startswith(ED25519_PREFIX) else None
            public = device_ed25519(device, device_id) if device is not None else None
            if public is None or not isinstance(signature, str):
                raise InvalidSignature(f"Unknown signing key {signer_key_id[:300]}")
            if not signed_by(obj, self._user_id, signer_key_id, public):
                raise InvalidSignature("Invalid signature")
            found.append(KeySignature(self._user_id, key_id, self._user_id, signer_key_id, signature))
        if not found:
            raise InvalidSignature("No new signature by a device of the user")
        return found


def _check_same(stored: dict[str, Any], obj: dict[str, Any]) -> None:
    if without_signatures(stored) != without_signatures(obj):
        raise InvalidParam("The signed object does not match the stored key")


def _objects(body: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """(target user, key ID, signed object) of the body; its shape is checked whole."""
    objects: list[tuple[str, str, Any]] = []
    for target, by_key in body.items():
        if not is_valid_user_id(target, historical=True):
            raise InvalidParam(f"{target[:300]!r} is not a user ID")
        if not isinstance(by_key, dict):
            raise InvalidParam(f"The keys of {target} must be an object of key IDs")
        objects.extend((target, key_id, obj) for key_id, obj in by_key.items())
        if len(objects) > MAX_OBJECTS:
            raise TooLarge(f"At most {MAX_OBJECTS} keys may be signed at once")
    return objects
