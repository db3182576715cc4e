"""Event hashes and event IDs (server-server API, "Signing Events"; room versions, "Event IDs").

- content hash: sha256 of the canonical JSON of the event without `unsigned`, `signatures` and
  `hashes`; stored as `hashes.sha256` (unpadded Base64).
- reference hash: sha256 of the canonical JSON of the *redacted* event without `signatures`
  and `unsigned`. The event ID from room version 3 on is `$` + its unpadded Base64 (standard
  alphabet in v3, URL-safe from v4); in v1/v2 the event ID is chosen by the sender and lives in
  the event. From v12 the room ID is the create event's ID with the sigil `!`.

Room versions with `strict_canonicaljson` are hashed with the strict encoder (floats and big
integers refused with `CanonicalJsonError`); older ones with the lenient one.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from typing import Any, Final

from homeserver.canonicaljson import (
    CanonicalJsonError,
    check_value_limits,
    encode_canonical_lenient,
    encode_checked,
    is_strict_value,
)
from homeserver.crypto.unpadded_base64 import Base64Error, decode_base64, encode_base64, encode_base64_urlsafe
from homeserver.events.redaction import redact
from homeserver.ids import EventID, RoomID
from homeserver.room_versions import EventFormat, RoomVersion

__all__ = [
    "check_content_hash",
    "compute_content_hash",
    "compute_event_id",
    "compute_reference_hash",
    "content_hash_input",
    "encoder_for",
    "event_id_from_reference_hash",
    "reference_hash_input",
    "room_id_from_create_event_id",
]

_NOT_IN_CONTENT_HASH: Final = frozenset({"unsigned", "signatures", "hashes"})
_NOT_IN_REFERENCE_HASH: Final = frozenset({"unsigned", "signatures"})

Encoder = Callable[[object], bytes]


def encoder_for(value: object, version: RoomVersion) -> Encoder:
    """The canonical encoder for `value` and the parts of it, after one walk over it: strict
    versions refuse values outside the model (`CanonicalJsonError`); older versions fall back
    to the lenient encoder only when the value needs it."""
    if version.strict_canonicaljson:
        check_value_limits(value)
        return encode_checked
    return encode_checked if is_strict_value(value) else encode_canonical_lenient


def content_hash_input(pdu: Mapping[str, Any], encode: Encoder) -> bytes:
    """The canonical bytes the content hash covers: the event without `unsigned`,
    `signatures` and `hashes`."""
    return encode({key: value for key, value in pdu.items() if key not in _NOT_IN_CONTENT_HASH})


def compute_content_hash(pdu: Mapping[str, Any], version: RoomVersion) -> bytes:
    """The raw sha256 content hash of `pdu` (32 bytes)."""
    return hashlib.sha256(content_hash_input(pdu, encoder_for(pdu, version))).digest()


def check_content_hash(pdu: Mapping[str, Any], version: RoomVersion) -> bool:
    """True if `hashes.sha256` of `pdu` matches its content (false if absent or malformed; the
    spec then has the receiver use the redacted copy)."""
    hashes = pdu.get("hashes")
    expected = hashes.get("sha256") if isinstance(hashes, Mapping) else None
    if not isinstance(expected, str):
        return False
    try:
        claimed = decode_base64(expected)
        actual = compute_content_hash(pdu, version)
    except (Base64Error, CanonicalJsonError):
        return False
    return hmac.compare_digest(claimed, actual)


def reference_hash_input(redacted: Mapping[str, Any], encode: Encoder) -> bytes:
    """The canonical bytes the reference hash covers, from an already redacted event. They are
    also the bytes the event's signature covers."""
    return encode({key: value for key, value in redacted.items() if key not in _NOT_IN_REFERENCE_HASH})


def compute_reference_hash(pdu: Mapping[str, Any], version: RoomVersion) -> bytes:
    """The raw sha256 reference hash of `pdu` (32 bytes)."""
    redacted = redact(pdu, version)
    return hashlib.sha256(reference_hash_input(redacted, encoder_for(redacted, version))).digest()


def event_id_from_reference_hash(reference_hash: bytes, version: RoomVersion) -> EventID:
    """`$` + the hash in the version's Base64 flavour (versions whose event IDs are hashes)."""
    if version.event_format is EventFormat.V2:
        return EventID("$" + encode_base64(reference_hash))
    if version.event_format is EventFormat.V3:
        return EventID("$" + encode_base64_urlsafe(reference_hash))
    raise ValueError(f"event IDs of room version {version.identifier} are not hashes")


def compute_event_id(pdu: Mapping[str, Any], version: RoomVersion) -> EventID:
    """The event ID of `pdu`: its `event_id` key in room versions 1 and 2, its reference hash
    from version 3 on. Raises `ValueError` if a v1/v2 event has no string `event_id`."""
    if version.event_format is EventFormat.V1:
        event_id = pdu.get("event_id")
        if not isinstance(event_id, str):
            raise ValueError("events of room versions 1 and 2 carry their event_id")
        return EventID(event_id)
    return event_id_from_reference_hash(compute_reference_hash(pdu, version), version)


def room_id_from_create_event_id(event_id: EventID) -> RoomID:
    """The room ID of a room whose ID is its create event's hash (v12): the event ID with `!`."""
    if not event_id.startswith("$"):
        raise ValueError(f"not an event ID: {event_id!r}")
    return RoomID("!" + event_id[1:])
