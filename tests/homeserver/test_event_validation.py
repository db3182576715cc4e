"""Event format validation: required keys and types per room version, and the size limits."""

from __future__ import annotations

from typing import Any

import pytest

from homeserver.canonicaljson import canonical_size
from homeserver.crypto.event_signing import hash_sign_and_id
from homeserver.crypto.keys import SigningKey
from homeserver.events.validation import MAX_PDU_SIZE, EventFormatError, validate_pdu
from homeserver.room_versions import KNOWN_ROOM_VERSIONS, V1, V2, V3, V4, V5, V6, V11, V12, RoomVersion

ALL_VERSIONS = list(KNOWN_ROOM_VERSIONS.values())
KEY = SigningKey(version="t", seed=b"\x03" * 32)


def pdu_for(version: RoomVersion, **changes: Any) -> dict[str, Any]:
    """A valid, signed m.room.message PDU for `version`, with `changes` applied (None deletes)."""
    if version.event_format.name == "V1":
        refs: list[Any] = [["$prev:example.org", {"sha256": "a" * 43}]]
        auth: list[Any] = [["$create:example.org", {"sha256": "b" * 43}]]
    else:
        refs, auth = ["$" + "p" * 43], ["$" + "a" * 43, "$" + "b" * 43]
    pdu: dict[str, Any] = {
        "type": "m.room.message",
        "room_id": "!room:example.org",
        "sender": "@alice:example.org",
        "origin": "example.org",
        "origin_server_ts": 1_700_000_000_000,
        "depth": 10,
        "content": {"msgtype": "m.text", "body": "hi"},
        "prev_events": refs,
        "auth_events": auth,
        "unsigned": {"age": 4},
    }
    _, signed = hash_sign_and_id(pdu, version, "example.org", KEY)
    for key, value in changes.items():
        if value is None:
            signed.pop(key, None)
        else:
            signed[key] = value
    return signed


def refused(pdu: dict[str, Any], version: RoomVersion, message: str) -> None:
    with pytest.raises(EventFormatError, match=message):
        validate_pdu(pdu, version)


def test_valid_events_pass_for_every_version() -> None:
    for version in ALL_VERSIONS:
        validate_pdu(pdu_for(version), version)
        validate_pdu(pdu_for(version, state_key="", type="m.room.topic"), version)


def test_v1_requires_event_id_and_pairs() -> None:
    refused(pdu_for(V1, event_id=None), V1, "missing required key: event_id")
    refused(
        pdu_for(V2, prev_events=["$a:example.org"]),
        V2,
        r"prev_events entries must be \[event_id, hashes\] pairs",
    )
    refused(pdu_for(V1, auth_events=[["$a:example.org", {}]]), V1, "auth_events entries must carry a sha256")
    refused(
        pdu_for(V3, prev_events=[["$a", {"sha256": "x"}]]), V3, r"prev_events must hold event IDs \(strings\)"
    )
    validate_pdu(pdu_for(V4, event_id=None), V4)


REQUIRED = ["type", "sender", "room_id", "origin_server_ts", "depth", "content", "hashes", "signatures"]


@pytest.mark.parametrize("key", [*REQUIRED, "auth_events", "prev_events"])
def test_required_keys(key: str) -> None:
    for version in (V1, V4, V11, V12):
        refused(pdu_for(version, **{key: None}), version, f"missing required key: {key}")


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("type", 5, "type must be a string"),
        ("state_key", ["x"], "state_key must be a string"),
        ("sender", "alice", "sender is not a valid user ID"),
        ("room_id", "room:example.org", "room_id is not a valid room ID"),
        ("origin_server_ts", "1", "origin_server_ts must be an integer"),
        ("depth", True, "depth must be an integer"),
        ("content", [], "content must be an object"),
        ("unsigned", "x", "unsigned must be an object"),
        ("hashes", {"sha1": "x"}, "hashes.sha256 must be a string"),
        ("signatures", {"example.org": "sig"}, "signatures.example.org must map key IDs to strings"),
        ("auth_events", "$a", "auth_events must be an array"),
        ("redacts", 5, "redacts must be a string"),
    ],
)
def test_wrong_types(key: str, value: Any, message: str) -> None:
    refused(pdu_for(V6, **{key: value}), V6, message)


def test_size_limit_of_the_whole_event() -> None:
    for version in (V1, V6, V12):
        base = pdu_for(version)
        overhead = len(repr(base))  # a generous estimate; the filler makes up the rest
        almost = pdu_for(version, content={"body": "x" * (MAX_PDU_SIZE - overhead - 200)})
        validate_pdu(almost, version)
        over = pdu_for(version, content={"body": "x" * MAX_PDU_SIZE})
        refused(over, version, r"event is too large: \d+ bytes \(limit 65536\)")


def test_size_limit_is_exact_and_counts_utf8_bytes() -> None:
    pdu = pdu_for(V12, content={"body": ""})
    room = MAX_PDU_SIZE - canonical_size(pdu)
    pdu["content"]["body"] = "é" * (room // 2)  # two bytes each
    assert canonical_size(pdu) in (MAX_PDU_SIZE, MAX_PDU_SIZE - 1)
    validate_pdu(pdu, V12)
    pdu["content"]["body"] += "éé"
    refused(pdu, V12, "event is too large")


@pytest.mark.parametrize("key", ["type", "state_key"])
def test_type_and_state_key_at_most_255_bytes(key: str) -> None:
    validate_pdu(pdu_for(V11, **{key: "t" * 255}), V11)
    refused(pdu_for(V11, **{key: "t" * 256}), V11, f"{key} is longer than 255 bytes")
    # 128 characters but 256 bytes: bytes count, not characters
    refused(pdu_for(V11, **{key: "é" * 128}), V11, f"{key} is longer than 255 bytes")


def test_ids_at_most_255_bytes() -> None:
    long_user = "@" + "a" * 242 + ":example.org"  # 255 bytes
    validate_pdu(pdu_for(V11, sender=long_user), V11)
    refused(pdu_for(V11, sender="@a" + long_user[1:]), V11, "sender is longer than 255 bytes")
    refused(pdu_for(V11, room_id="!" + "r" * 255), V11, "room_id is longer than 255 bytes")
    refused(pdu_for(V1, event_id="$" + "e" * 243 + ":example.org"), V1, "event_id is longer than 255 bytes")
    refused(
        pdu_for(V11, prev_events=["$" + "e" * 255]),
        V11,
        "an event ID in prev_events is longer than 255 bytes",
    )


def test_at_most_10_auth_events_and_20_prev_events() -> None:
    for version in (V1, V4, V12):
        sample = pdu_for(version)
        prev, auth = sample["prev_events"][0], sample["auth_events"][0]
        validate_pdu(pdu_for(version, auth_events=[auth] * 10, prev_events=[prev] * 20), version)
        refused(pdu_for(version, auth_events=[auth] * 11), version, r"too many auth_events: 11 \(limit 10\)")
        refused(pdu_for(version, prev_events=[prev] * 21), version, r"too many prev_events: 21 \(limit 20\)")


def test_depth_bounds() -> None:
    validate_pdu(pdu_for(V5, depth=0), V5)
    validate_pdu(pdu_for(V5, depth=2**63 - 1), V5)
    refused(pdu_for(V5, depth=-1), V5, "depth out of range: -1")
    refused(pdu_for(V5, depth=2**63), V5, "depth out of range")
    # from v6 canonical JSON caps integers, depth included
    validate_pdu(pdu_for(V6, depth=2**53 - 1), V6)
    refused(pdu_for(V6, depth=2**53), V6, "depth out of range")


def test_strict_canonical_json_from_v6() -> None:
    floaty = {"body": "x", "n": 1.5}
    big = {"body": "x", "n": 2**53}
    for version in (V1, V5):
        validate_pdu(pdu_for(version, content=floaty), version)
        validate_pdu(pdu_for(version, content=big), version)
    for version in (V6, V11, V12):
        refused(
            pdu_for(version, content=floaty), version, r"not canonical JSON: float not allowed at content\.n"
        )
        refused(
            pdu_for(version, content=big), version, r"not canonical JSON: integer out of range at content\.n"
        )
        refused(pdu_for(version, origin_server_ts=2**60), version, "integer out of range at origin_server_ts")


def test_v12_create_event_has_no_room_id() -> None:
    create = pdu_for(V12, type="m.room.create", state_key="", room_id=None, content={"room_version": "12"})
    create["prev_events"], create["auth_events"] = [], []
    validate_pdu(create, V12)
    refused(pdu_for(V12, room_id=None), V12, "missing required key: room_id")  # other events need one
    refused({**create}, V11, "missing required key: room_id")
    validate_pdu(pdu_for(V12, room_id="!" + "h" * 43), V12)  # domain-less room IDs


def test_not_an_object() -> None:
    with pytest.raises(EventFormatError, match="must be a JSON object"):
        validate_pdu([], V12)  # type: ignore[arg-type]
