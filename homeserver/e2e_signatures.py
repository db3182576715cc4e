"""Signatures on end-to-end encryption keys (spec: "End-to-End Encryption", "Signing JSON"):
device keys, signed one-time keys and cross-signing keys carry ed25519 signatures under
`signatures[user_id]["ed25519:<device ID or public key>"]`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeserver.crypto.signing import SignatureError, decode_verify_key, verify_signed_json

ED25519_PREFIX = "ed25519:"


def ed25519_public_key(value: object) -> bytes | None:
    """The raw 32-byte key of an unpadded Base64 ed25519 public key, None if it is not one."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        return bytes(decode_verify_key(value))
    except SignatureError:
        return None


def signed_by(obj: Mapping[str, Any], user_id: str, key_id: str, public_key: bytes) -> bool:
    """Whether `obj` carries a valid signature of `user_id` made with `key_id` (e.g.
    "ed25519:DEVICEID") whose public key is `public_key`."""
    try:
        verify_signed_json(obj, user_id, key_id, public_key)
    except SignatureError:
        return False
    return True


def signature_of(obj: Mapping[str, Any], user_id: str, key_id: str) -> str | None:
    """The signature string stored under signatures[user_id][key_id], if any."""
    signatures = obj.get("signatures")
    mine = signatures.get(user_id) if isinstance(signatures, Mapping) else None
    value = mine.get(key_id) if isinstance(mine, Mapping) else None
    return value if isinstance(value, str) else None


def device_ed25519(device_keys: Mapping[str, Any], device_id: str) -> bytes | None:
    """The device's ed25519 identity key from its device-keys object."""
    keys = device_keys.get("keys")
    return ed25519_public_key(keys.get(ED25519_PREFIX + device_id)) if isinstance(keys, Mapping) else None


def without_signatures(obj: Mapping[str, Any]) -> dict[str, Any]:
    """What a signature covers, for comparing a re-sent key with the stored one."""
    return {k: v for k, v in obj.items() if k not in ("signatures", "unsigned")}
