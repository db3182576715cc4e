"""Hashing and signing outgoing events, checking the signatures of received ones
(server-server API, "Signing Events").

Outgoing: content hash into `hashes.sha256`, then the redacted event is signed and the
signature copied onto the full event. The signed bytes are exactly the reference hash's input,
so the event ID comes from the same encoding at the cost of one more sha256.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from typing import Any, Final

import nacl.signing

from homeserver.crypto.hashes import (
    content_hash_input,
    encoder_for,
    event_id_from_reference_hash,
)
from homeserver.crypto.signing import Signer, add_signature, verify_signed_json
from homeserver.crypto.unpadded_base64 import encode_base64
from homeserver.events.redaction import redact
from homeserver.ids import EventID
from homeserver.room_versions import EventFormat, RoomVersion

__all__ = [
    "add_hashes_and_signature",
    "hash_sign_and_id",
    "new_v1_event_id",
    "verify_event_signature",
]

_OPAQUE_ID_BYTES: Final = 18


def new_v1_event_id(server_name: str) -> EventID:
    """A fresh `$opaque:server` event ID for room versions 1 and 2."""
    return EventID(f"${secrets.token_urlsafe(_OPAQUE_ID_BYTES)}:{server_name}")


def _hash_and_sign(
    pdu: Mapping[str, Any], version: RoomVersion, server_name: str, key: Signer
) -> tuple[dict[str, Any], bytes]:
    encode = encoder_for(pdu, version)  # the one walk over the event
    content_hash = encode_base64(hashlib.sha256(content_hash_input(pdu, encode)).digest())
    hashes = pdu.get("hashes")
    new_hashes = dict(hashes) if isinstance(hashes, Mapping) else {}
    new_hashes["sha256"] = content_hash
    event = {**pdu, "hashes": new_hashes}
    redacted = redact(event, version)  # a fresh dict without `unsigned`: trimmed in place
    redacted.pop("signatures", None)
    signed_bytes = encode(redacted)  # = reference_hash_input(redact(event))
    signature = encode_base64(key.sign(signed_bytes))
    if "signatures" not in pdu:  # the common case: nobody has signed yet
        event["signatures"] = {server_name: {key.key_id: signature}}
        return event, signed_bytes
    return add_signature(event, server_name, key.key_id, signature), signed_bytes


def add_hashes_and_signature(
    pdu: Mapping[str, Any], version: RoomVersion, server_name: str, key: Signer
) -> dict[str, Any]:
    """A copy of `pdu` with `hashes.sha256` set and signed by `server_name` with `key`; other
    servers' signatures and `unsigned` are kept. Raises `CanonicalJsonError` if the event is
    not canonical JSON (strictly so for versions with `strict_canonicaljson`)."""
    return _hash_and_sign(pdu, version, server_name, key)[0]


def hash_sign_and_id(
    pdu: Mapping[str, Any], version: RoomVersion, server_name: str, key: Signer
) -> tuple[EventID, dict[str, Any]]:
    """Hash and sign a new event and compute its event ID; returns (event_id, signed pdu).

    Room versions 1 and 2: the event ID lives in the event; one is generated
    (`$random:server_name`) when `pdu` has none. Later versions: the ID is the reference hash
    and is not put in the event. For a v12 `m.room.create` event the room ID is
    `room_id_from_create_event_id(event_id)`."""
    if version.event_format is EventFormat.V1:
        event_id = pdu.get("event_id")
        if not isinstance(event_id, str):
            event_id = new_v1_event_id(server_name)
            pdu = {**pdu, "event_id": event_id}
        signed, _ = _hash_and_sign(pdu, version, server_name, key)
        return EventID(event_id), signed
    signed, signed_bytes = _hash_and_sign(pdu, version, server_name, key)
    return event_id_from_reference_hash(hashlib.sha256(signed_bytes).digest(), version), signed


def verify_event_signature(
    pdu: Mapping[str, Any],
    version: RoomVersion,
    server_name: str,
    key_id: str,
    verify_key: nacl.signing.VerifyKey | bytes,
) -> None:
    """Check `server_name`'s signature with `key_id` on the redacted form of `pdu` (so it holds
    for the full event and for a redacted copy). Raises `SignatureError`."""
    verify_signed_json(redact(pdu, version), server_name, key_id, verify_key)
