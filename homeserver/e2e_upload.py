"""Checks of a POST /keys/upload body (spec: "Key management API"): device keys name the
uploading user and device and are signed by the device's own ed25519 key; signed one-time
and fallback keys (objects, e.g. signed_curve25519) are signed by that key too; every size
and count is bounded. A body that fails any check is refused whole."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from homeserver.e2e_signatures import ED25519_PREFIX, device_ed25519, signed_by
from homeserver.errors import InvalidParam, InvalidSignature, TooLarge
from homeserver.ids import DeviceID, UserID
from homeserver.storage.e2e_keys import OneTimeKey

# libolm keeps at most 100 one-time keys and vodozemac 50, and clients upload up to half of
# that at once; fallback keys are one per algorithm.
MAX_KEYS = 100  # one-time or fallback keys per upload
MAX_KEY_BYTES = 16 * 1024  # one encoded key or device-keys object
MAX_ID = 255  # bytes of an algorithm name or a key ID
MAX_ALGORITHMS = 32
MAX_DEVICE_KEYS = 32  # entries of device_keys.keys


@dataclass(frozen=True)
class CheckedDeviceKeys:
    key_json: str
    ed25519: bytes


def check_device_keys(raw: object, user_id: UserID, device_id: DeviceID) -> CheckedDeviceKeys | None:
    """The device keys, checked to name the uploader and to carry a valid self-signature."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise InvalidParam("'device_keys' must be an object")
    if raw.get("user_id") != user_id or raw.get("device_id") != device_id:
        raise InvalidParam("'device_keys' must name the requesting user and device")
    algorithms, keys, signatures = raw.get("algorithms"), raw.get("keys"), raw.get("signatures")
    if not isinstance(algorithms, list) or not all(isinstance(a, str) and short_id(a) for a in algorithms):
        raise InvalidParam("'device_keys.algorithms' must be a list of strings")
    if not isinstance(keys, dict) or not all(isinstance(k, str) and short_id(k) for k in keys.values()):
        raise InvalidParam("'device_keys.keys' must be an object of strings")
    if not isinstance(signatures, dict) or not all(isinstance(s, dict) for s in signatures.values()):
        raise InvalidParam("'device_keys.signatures' must be an object of objects")
    if len(algorithms) > MAX_ALGORITHMS or len(keys) > MAX_DEVICE_KEYS:
        raise TooLarge("Too many algorithms or keys in 'device_keys'")
    ed25519 = device_ed25519(raw, device_id)
    if ed25519 is None:
        raise InvalidParam(f"'device_keys.keys' must hold the device's key 'ed25519:{device_id}'")
    if not signed_by(raw, user_id, ED25519_PREFIX + device_id, ed25519):
        raise InvalidSignature("The device keys are not signed by the device's ed25519 key")
    return CheckedDeviceKeys(_encode(raw, "device_keys"), ed25519)


def check_keys(raw: object, name: str) -> list[OneTimeKey]:
    """{"algorithm:key_id": key} as uploaded; a key is a string or an object."""
    if raw is None:
        return []
    if not isinstance(raw, dict):
        raise InvalidParam(f"'{name}' must be an object")
    if len(raw) > MAX_KEYS:
        raise TooLarge(f"At most {MAX_KEYS} keys may be uploaded at once in '{name}'")
    parsed: list[OneTimeKey] = []
    for full_id, key in raw.items():
        algorithm, _, key_id = full_id.partition(":")
        if not algorithm or not key_id or not short_id(algorithm) or not short_id(key_id):
            raise InvalidParam(f"Key IDs in '{name}' must be 'algorithm:key_id'")
        if isinstance(key, dict):
            if not isinstance(key.get("key"), str) or not isinstance(key.get("signatures"), dict):
                raise InvalidParam(f"A signed key in '{name}' needs 'key' and 'signatures'")
        elif not isinstance(key, str):
            raise InvalidParam(f"Each key in '{name}' must be a string or an object")
        parsed.append(OneTimeKey(algorithm, key_id, _encode(key, name)))
    return parsed


def check_key_signatures(
    keys: list[OneTimeKey], user_id: UserID, device_id: DeviceID, ed25519: bytes | None
) -> None:
    """Signed keys (objects) must be signed by the device, whose ed25519 key is `ed25519`
    (None when the device has uploaded no device keys yet)."""
    for key in keys:
        value: Any = orjson.loads(key.key_json)
        if not isinstance(value, dict):
            continue
        if ed25519 is None:
            raise InvalidParam("Signed keys need the device's keys uploaded first (or with them)")
        if not signed_by(value, user_id, ED25519_PREFIX + device_id, ed25519):
            raise InvalidSignature(f"Key {key.algorithm}:{key.key_id} is not signed by the device")


def short_id(value: str) -> bool:
    return "\x00" not in value and 0 < len(value.encode()) <= MAX_ID


def _encode(value: object, name: str) -> str:
    encoded = orjson.dumps(value)
    if len(encoded) > MAX_KEY_BYTES:
        raise TooLarge(f"A key in '{name}' may be at most {MAX_KEY_BYTES} bytes")
    return encoded.decode()
