"""Event format validation (room versions, "Event format"; client-server API, "Size limits").

`validate_pdu` checks a PDU in the federation format against its room version: required keys
and their types, the size limits, the depth range and, for versions with
`strict_canonicaljson`, the canonical JSON value model. A failing event raises
`EventFormatError` whose message names the problem; over federation such an event is dropped.

Call it on the complete event, hashes and signatures included: the 64 KiB limit covers them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from homeserver.canonicaljson import (
    CANONICALJSON_MAX_INT,
    CanonicalJsonError,
    check_value_limits,
    encode_canonical_lenient,
    encode_checked,
)
from homeserver.ids import MAX_ID_BYTES, is_valid_room_id, is_valid_user_id
from homeserver.room_versions import EventFormat, RoomVersion

__all__ = [
    "MAX_AUTH_EVENTS",
    "MAX_DEPTH",
    "MAX_DEPTH_STRICT",
    "MAX_KEY_BYTES",
    "MAX_PDU_SIZE",
    "MAX_PREV_EVENTS",
    "EventFormatError",
    "validate_pdu",
]

MAX_PDU_SIZE: Final = 65536
MAX_KEY_BYTES: Final = 255  # type and state_key
MAX_AUTH_EVENTS: Final = 10
MAX_PREV_EVENTS: Final = 20
MAX_DEPTH: Final = 2**63 - 1  # room versions 1-5
MAX_DEPTH_STRICT: Final = CANONICALJSON_MAX_INT  # room versions with strict canonical JSON


class EventFormatError(ValueError):
    """The event does not have its room version's format, or breaks a size limit."""


class EventTooLarge(EventFormatError):
    """The event is over the 64 KiB limit as canonical JSON."""


def _utf8_len(text: str) -> int:
    # Only non-ASCII text can be longer in bytes than in characters.
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _string(pdu: Mapping[str, Any], key: str, *, required: bool, max_bytes: int | None = None) -> None:
    if key not in pdu:
        if required:
            raise EventFormatError(f"missing required key: {key}")
        return
    value = pdu[key]
    if not isinstance(value, str):
        raise EventFormatError(f"{key} must be a string")
    if max_bytes is not None and _utf8_len(value) > max_bytes:
        raise EventFormatError(f"{key} is longer than {max_bytes} bytes")


def _integer(pdu: Mapping[str, Any], key: str) -> int:
    if key not in pdu:
        raise EventFormatError(f"missing required key: {key}")
    value = pdu[key]
    if type(value) is not int:
        raise EventFormatError(f"{key} must be an integer")
    return value


def _object(pdu: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    if key not in pdu:
        raise EventFormatError(f"missing required key: {key}")
    value = pdu[key]
    if not isinstance(value, Mapping):
        raise EventFormatError(f"{key} must be an object")
    return value


def _check_event_id_ref(value: object, key: str) -> None:
    if not isinstance(value, str):
        raise EventFormatError(f"{key} must hold event IDs (strings)")
    if _utf8_len(value) > MAX_ID_BYTES:
        raise EventFormatError(f"an event ID in {key} is longer than {MAX_ID_BYTES} bytes")


def _check_refs(pdu: Mapping[str, Any], key: str, limit: int, event_format: EventFormat) -> None:
    if key not in pdu:
        raise EventFormatError(f"missing required key: {key}")
    refs = pdu[key]
    if not isinstance(refs, list):
        raise EventFormatError(f"{key} must be an array")
    if len(refs) > limit:
        raise EventFormatError(f"too many {key}: {len(refs)} (limit {limit})")
    if event_format is not EventFormat.V1:
        for ref in refs:
            _check_event_id_ref(ref, key)
        return
    for ref in refs:  # [event_id, {"sha256": reference hash}]
        if not isinstance(ref, list) or len(ref) != 2:
            raise EventFormatError(f"{key} entries must be [event_id, hashes] pairs")
        _check_event_id_ref(ref[0], key)
        hashes = ref[1]
        if not isinstance(hashes, Mapping) or not isinstance(hashes.get("sha256"), str):
            raise EventFormatError(f"{key} entries must carry a sha256 reference hash")


def _check_hashes_and_signatures(pdu: Mapping[str, Any]) -> None:
    if not isinstance(_object(pdu, "hashes").get("sha256"), str):
        raise EventFormatError("hashes.sha256 must be a string")
    for server, by_key in _object(pdu, "signatures").items():
        if not isinstance(by_key, Mapping) or not all(isinstance(sig, str) for sig in by_key.values()):
            raise EventFormatError(f"signatures.{server} must map key IDs to strings")


def _check_room_id(pdu: Mapping[str, Any], version: RoomVersion) -> None:
    is_create = pdu.get("type") == "m.room.create"
    # v12: the create event has no room_id (its ID is the room ID); the auth rules reject one.
    required = not (version.room_id_is_create_event_hash and is_create)
    _string(pdu, "room_id", required=required, max_bytes=MAX_ID_BYTES)
    room_id = pdu.get("room_id")
    if isinstance(room_id, str) and not is_valid_room_id(room_id):
        raise EventFormatError("room_id is not a valid room ID")


def _check_size_and_values(pdu: Mapping[str, Any], version: RoomVersion) -> None:
    try:
        if version.strict_canonicaljson:
            check_value_limits(pdu)  # the message names the offending value
            encoded = encode_checked(pdu)
        else:
            encoded = encode_canonical_lenient(pdu)
    except CanonicalJsonError as exc:
        raise EventFormatError(f"event is not canonical JSON: {exc}") from None
    if len(encoded) > MAX_PDU_SIZE:
        raise EventTooLarge(f"event is too large: {len(encoded)} bytes (limit {MAX_PDU_SIZE})")


def validate_pdu(pdu: Mapping[str, Any], version: RoomVersion) -> None:
    """Raise `EventFormatError` unless `pdu` is a well-formed event of room version `version`
    within the size limits (64 KiB as canonical JSON; IDs, `type` and `state_key` at most 255
    bytes; at most 10 `auth_events` and 20 `prev_events`; 0 <= depth <= 2**63-1, or 2**53-1
    for strict canonical JSON versions, whose values must also be in canonical JSON's model)."""
    if not isinstance(pdu, Mapping):
        raise EventFormatError("an event must be a JSON object")
    _string(pdu, "type", required=True, max_bytes=MAX_KEY_BYTES)
    _string(pdu, "state_key", required=False, max_bytes=MAX_KEY_BYTES)
    _string(pdu, "sender", required=True, max_bytes=MAX_ID_BYTES)
    if not is_valid_user_id(pdu["sender"], historical=True):
        raise EventFormatError("sender is not a valid user ID")
    _check_room_id(pdu, version)
    _string(pdu, "event_id", required=version.event_format is EventFormat.V1, max_bytes=MAX_ID_BYTES)
    if not version.updated_redaction_rules:
        _string(pdu, "redacts", required=False, max_bytes=MAX_ID_BYTES)
    _integer(pdu, "origin_server_ts")
    depth = _integer(pdu, "depth")
    max_depth = MAX_DEPTH_STRICT if version.strict_canonicaljson else MAX_DEPTH
    if not 0 <= depth <= max_depth:
        raise EventFormatError(f"depth out of range: {depth} (must be 0..{max_depth})")
    _object(pdu, "content")
    if "unsigned" in pdu:
        _object(pdu, "unsigned")
    _check_hashes_and_signatures(pdu)
    _check_refs(pdu, "auth_events", MAX_AUTH_EVENTS, version.event_format)
    _check_refs(pdu, "prev_events", MAX_PREV_EVENTS, version.event_format)
    _check_size_and_values(pdu, version)
