"""Verifying the `signed` block of a third-party invite against the public keys of the
room's `m.room.third_party_invite` event (ed25519 via pynacl).

Kept self-contained (tiny canonical JSON and unpadded base64 helpers) so the auth rules do not
depend on the signing module."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from typing import Any

from nacl.exceptions import CryptoError
from nacl.signing import VerifyKey


def third_party_invite_public_keys(content: Mapping[str, Any]) -> list[str]:
    """The keys of an m.room.third_party_invite: `public_key` and each `public_keys[].public_key`."""
    keys: list[str] = []
    single = content.get("public_key")
    if isinstance(single, str):
        keys.append(single)
    listed = content.get("public_keys")
    if isinstance(listed, list):
        for entry in listed:
            if isinstance(entry, dict) and isinstance(entry.get("public_key"), str):
                keys.append(entry["public_key"])
    return keys


def verify_third_party_signed(signed: Mapping[str, Any], public_keys: Iterable[str]) -> bool:
    """True if any ed25519 signature in `signed.signatures` verifies with any of the keys."""
    signatures = signed.get("signatures")
    if not isinstance(signatures, dict):
        return False
    message = _canonical_json({k: v for k, v in signed.items() if k not in ("signatures", "unsigned")})
    if message is None:
        return False
    candidates = [
        signature
        for block in signatures.values()
        if isinstance(block, dict)
        for key_id, signature in block.items()
        if key_id.startswith("ed25519:") and isinstance(signature, str)
    ]
    for public_key in public_keys:
        key_bytes = decode_unpadded_base64(public_key)
        if key_bytes is None or len(key_bytes) != 32:
            continue
        verify_key = VerifyKey(key_bytes)
        for signature in candidates:
            signature_bytes = decode_unpadded_base64(signature)
            if signature_bytes is None:
                continue
            try:
                verify_key.verify(message, signature_bytes)
            except (CryptoError, ValueError, TypeError):
                continue
            return True
    return False


def decode_unpadded_base64(value: str) -> bytes | None:
    """Standard or URL-safe base64, padding optional; None if it is not base64."""
    padded = value + "=" * (-len(value) % 4)
    altchars = b"-_" if ("-" in value or "_" in value) else None
    try:
        return base64.b64decode(padded, altchars=altchars, validate=True)
    except (binascii.Error, ValueError):
        return None


def _canonical_json(value: Mapping[str, Any]) -> bytes | None:
    try:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        return None
    return text.encode("utf-8")
