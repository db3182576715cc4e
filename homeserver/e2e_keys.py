"""End-to-end encryption key management (spec: "End-to-End Encryption", "Key management
API"): POST /keys/upload, /keys/query and /keys/claim, and the one-time key counts and
unused fallback key algorithms that /sync reports to each device.

Local users only for now: users of other servers are left out of query and claim answers
until federation carries them (Server-Server API: /user/keys/query, /user/keys/claim).
The checks of an upload are in e2e_upload.py; cross-signing keys in cross_signing.py."""

from __future__ import annotations

from typing import Any

import orjson

from homeserver.cross_signing import CrossSigning
from homeserver.device_lists import DeviceLists
from homeserver.e2e_signatures import device_ed25519
from homeserver.e2e_upload import check_device_keys, check_key_signatures, check_keys, short_id
from homeserver.errors import InvalidParam, MissingParam, TooLarge
from homeserver.ids import DeviceID, UserID, is_valid_user_id, user_id_server
from homeserver.lru import Lru
from homeserver.storage.e2e_keys import Claim, E2eKeyStore, KeyUpload

MAX_USERS = 1000  # users per query or claim
MAX_DEVICES = 1000  # devices per user in a query; claims in all
# Clients take a missing signed_curve25519 count for "unknown" and upload nothing: the
# count is always given, as other servers do.
ALWAYS_COUNTED = "signed_curve25519"


MAX_CACHED_COUNTS = 50_000


class E2eKeys:
    def __init__(
        self, store: E2eKeyStore, device_lists: DeviceLists, cross_signing: CrossSigning, server_name: str
    ) -> None:
        self._store = store
        self._device_lists = device_lists
        self._cross_signing = cross_signing
        self._server_name = server_name
        # /sync reports these on every response; uploads and claims in this process are the
        # only writers (one writer process, as for the stream positions), so they invalidate.
        self._counts: Lru[tuple[UserID, DeviceID], tuple[dict[str, int], list[str]]] = Lru(MAX_CACHED_COUNTS)
        self._changes = 0  # a read that overlapped a change must not be cached

    async def upload(self, user_id: UserID, device_id: DeviceID, body: dict[str, Any]) -> dict[str, Any]:
        """POST /keys/upload: check the whole body, store it at once, answer the counts."""
        device_keys = check_device_keys(body.get("device_keys"), user_id, device_id)
        one_time_keys = check_keys(body.get("one_time_keys"), "one_time_keys")
        fallback_keys = check_keys(body.get("fallback_keys"), "fallback_keys")
        if len({k.algorithm for k in fallback_keys}) < len(fallback_keys):
            raise InvalidParam("At most one fallback key per algorithm")
        if one_time_keys or fallback_keys:
            ed25519 = device_keys.ed25519 if device_keys else await self._stored_ed25519(user_id, device_id)
            check_key_signatures([*one_time_keys, *fallback_keys], user_id, device_id, ed25519)
        upload = KeyUpload(device_keys.key_json if device_keys else None, one_time_keys, fallback_keys)
        self._forget_counts([(user_id, device_id)])
        device_keys_changed = await self._store.upload(user_id, device_id, upload)
        self._forget_counts([(user_id, device_id)])  # also drops reads that overlapped the write
        if device_keys_changed:
            await self._device_lists.changed(user_id)
        counts, _ = await self.counts(user_id, device_id)
        return {"one_time_key_counts": counts}

    async def _stored_ed25519(self, user_id: UserID, device_id: DeviceID) -> bytes | None:
        stored = await self._store.device_keys_of(user_id, device_id)
        return device_ed25519(orjson.loads(stored), device_id) if stored is not None else None

    async def counts(self, user_id: UserID, device_id: DeviceID) -> tuple[dict[str, int], list[str]]:
        """For /sync: the device's one-time key count per algorithm (signed_curve25519
        always present) and the algorithms of its unused fallback keys, sorted."""
        key = (user_id, device_id)
        hit = self._counts.get(key)
        if hit is None:
            changes = self._changes
            counts = {ALWAYS_COUNTED: 0, **await self._store.one_time_key_counts(user_id, device_id)}
            hit = (counts, await self._store.unused_fallback_algorithms(user_id, device_id))
            if changes != self._changes:
                return dict(hit[0]), list(hit[1])
            self._counts.put(key, hit)
        return dict(hit[0]), list(hit[1])

    def _forget_counts(self, devices: list[tuple[UserID, DeviceID]]) -> None:
        self._changes += 1
        for device in devices:
            self._counts.pop(device)

    async def query(self, requester: UserID, body: dict[str, Any]) -> dict[str, Any]:
        """POST /keys/query: the device keys of the devices asked for (every device of a user
        given an empty list), each with unsigned.device_display_name, and the users'
        cross-signing keys."""
        wanted = _query(body.get("device_keys"))
        local = [u for u in wanted if user_id_server(u) == self._server_name]
        answer: dict[str, dict[str, Any]] = {u: {} for u in local}
        for found in await self._store.device_keys(local):
            devices = wanted[found.user_id]
            if devices and found.device_id not in devices:
                continue
            keys = orjson.loads(found.key_json)
            if found.display_name is not None:
                unsigned = keys.get("unsigned")
                keys["unsigned"] = {
                    **(unsigned if isinstance(unsigned, dict) else {}),
                    "device_display_name": found.display_name,
                }
            answer[found.user_id][found.device_id] = keys
        result: dict[str, Any] = {"device_keys": answer, "failures": {}}
        await self._cross_signing.add_to_query(requester, result, local)
        return result

    async def claim(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /keys/claim: one key per device asked for, a one-time key while any is left,
        else the fallback key."""
        claims = [
            c for c in _claims(body.get("one_time_keys")) if user_id_server(c.user_id) == self._server_name
        ]
        answer: dict[str, dict[str, dict[str, Any]]] = {}
        self._forget_counts([(c.user_id, c.device_id) for c in claims])
        claimed_keys = await self._store.claim(claims)
        self._forget_counts([(c.user_id, c.device_id) for c in claims])
        for claimed in claimed_keys:
            key = claimed.key
            answer.setdefault(claimed.user_id, {})[claimed.device_id] = {
                f"{key.algorithm}:{key.key_id}": orjson.loads(key.key_json)
            }
        return {"one_time_keys": answer, "failures": {}}


def _query(raw: object) -> dict[UserID, list[str]]:
    if raw is None:
        raise MissingParam("Missing parameter 'device_keys'")
    if not isinstance(raw, dict):
        raise InvalidParam("'device_keys' must be an object of user IDs")
    if len(raw) > MAX_USERS:
        raise TooLarge(f"At most {MAX_USERS} users may be queried at once")
    wanted: dict[UserID, list[str]] = {}
    for user_id, device_ids in raw.items():
        if not is_valid_user_id(user_id, historical=True):
            raise InvalidParam(f"{user_id[:300]!r} in 'device_keys' is not a user ID")
        if not isinstance(device_ids, list) or not all(isinstance(d, str) for d in device_ids):
            raise InvalidParam(f"The devices of {user_id} must be a list of device IDs")
        if len(device_ids) > MAX_DEVICES:
            raise TooLarge(f"At most {MAX_DEVICES} devices of a user may be queried at once")
        wanted[UserID(user_id)] = device_ids
    return wanted


def _claims(raw: object) -> list[Claim]:
    if raw is None:
        raise MissingParam("Missing parameter 'one_time_keys'")
    if not isinstance(raw, dict):
        raise InvalidParam("'one_time_keys' must be an object of user IDs")
    if len(raw) > MAX_USERS:
        raise TooLarge(f"At most {MAX_USERS} users may be claimed from at once")
    claims: list[Claim] = []
    for user_id, by_device in raw.items():
        if not is_valid_user_id(user_id, historical=True):
            raise InvalidParam(f"{user_id[:300]!r} in 'one_time_keys' is not a user ID")
        if not isinstance(by_device, dict):
            raise InvalidParam(f"The claims for {user_id} must be an object of device IDs")
        for device_id, algorithm in by_device.items():
            if not isinstance(algorithm, str) or not short_id(algorithm) or not short_id(device_id):
                raise InvalidParam("Each claim must name a device and an algorithm")
            claims.append(Claim(UserID(user_id), DeviceID(device_id), algorithm))
        if len(claims) > MAX_DEVICES:
            raise TooLarge(f"At most {MAX_DEVICES} keys may be claimed at once")
    return claims
