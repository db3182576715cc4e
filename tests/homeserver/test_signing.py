"""Signing JSON, event hashes, event signatures and event IDs: the spec's vectors first, then
the properties (any change to a signed object or event is detected)."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from homeserver.canonicaljson import CanonicalJsonError
from homeserver.crypto.event_signing import (
    add_hashes_and_signature,
    hash_sign_and_id,
    verify_event_signature,
)
from homeserver.crypto.hashes import (
    check_content_hash,
    compute_content_hash,
    compute_event_id,
    compute_reference_hash,
    room_id_from_create_event_id,
)
from homeserver.crypto.keys import SigningKey
from homeserver.crypto.signing import (
    SignatureError,
    add_signature,
    decode_verify_key,
    sign_json,
    verify_signed_json,
)
from homeserver.crypto.unpadded_base64 import decode_base64, encode_base64, encode_base64_urlsafe
from homeserver.events.redaction import redact
from homeserver.ids import EventID
from homeserver.room_versions import KNOWN_ROOM_VERSIONS, V1, V2, V3, V4, V5, V6, V10, V11, V12, RoomVersion
from tests.homeserver.spec_vectors import load_vectors

ALL_VERSIONS = list(KNOWN_ROOM_VERSIONS.values())


def vector_key(data: dict[str, Any]) -> SigningKey:
    assert data["key_id"] == "ed25519:1"
    return SigningKey(
        version=data["key_id"].split(":", 1)[1], seed=decode_base64(data["signing_key_seed_base64"])
    )


def reference_canonical(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def message(room_id: str = "!r:example.org", **extra: Any) -> dict[str, Any]:
    return {
        "type": "m.room.message",
        "room_id": room_id,
        "sender": "@alice:example.org",
        "origin_server_ts": 1_700_000_000_000,
        "depth": 7,
        "content": {"msgtype": "m.text", "body": "hello"},
        "prev_events": ["$prev"],
        "auth_events": ["$create", "$pl", "$member"],
        "unsigned": {"transaction_id": "t1"},
        **extra,
    }


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.generate()


# --- the spec's vectors -------------------------------------------------------------------


def test_spec_json_signing_vectors() -> None:
    data = load_vectors("json_signing.json")
    key = vector_key(data)
    for index, case in enumerate(data["cases"]):
        original = copy.deepcopy(case["input"])
        signed = sign_json(case["input"], data["server_name"], key)
        assert signed == case["expected"], f"case {index}"
        assert case["input"] == original  # not modified
        verify_signed_json(case["expected"], data["server_name"], data["key_id"], key.verify_key)


def test_spec_event_signing_vectors() -> None:
    # The vectors predate room version 11: they keep `origin` through redaction, as v1-v10 do.
    data = load_vectors("event_signing.json")
    key = vector_key(data)
    for version in ALL_VERSIONS:
        if version.updated_redaction_rules:
            continue
        for index, case in enumerate(data["cases"]):
            signed = add_hashes_and_signature(case["input"], version, data["server_name"], key)
            assert signed == case["expected"], f"room version {version.identifier}, case {index}"
            assert check_content_hash(case["expected"], version)
            verify_event_signature(
                case["expected"], version, data["server_name"], data["key_id"], key.verify_key
            )


def test_spec_event_vectors_content_hash_is_sha256_of_canonical_json() -> None:
    data = load_vectors("event_signing.json")
    for case in data["cases"]:
        stripped = {k: v for k, v in case["input"].items() if k not in ("unsigned", "signatures", "hashes")}
        expected = case["expected"]["hashes"]["sha256"]
        assert encode_base64(hashlib.sha256(reference_canonical(stripped)).digest()) == expected
        assert encode_base64(compute_content_hash(case["input"], V1)) == expected


# --- signing JSON -------------------------------------------------------------------------


def test_sign_json_keeps_other_signatures_and_unsigned(key: SigningKey) -> None:
    obj = {"a": 1, "unsigned": {"age": 3}, "signatures": {"other.org": {"ed25519:z": "sig"}}}
    signed = sign_json(obj, "example.org", key)
    assert signed["unsigned"] == {"age": 3}
    assert signed["signatures"]["other.org"] == {"ed25519:z": "sig"}
    assert set(signed["signatures"]["example.org"]) == {key.key_id}
    assert obj["signatures"] == {"other.org": {"ed25519:z": "sig"}}  # input untouched
    # unsigned and other signatures are not covered: changing them keeps ours valid
    changed = {**signed, "unsigned": {"age": 999}}
    changed["signatures"] = {**signed["signatures"], "third.org": {"ed25519:q": "x"}}
    verify_signed_json(changed, "example.org", key.key_id, key.verify_key)


def test_second_key_adds_beside_the_first(key: SigningKey) -> None:
    other = SigningKey.generate()
    signed = sign_json(sign_json({"a": 1}, "example.org", key), "example.org", other)
    assert set(signed["signatures"]["example.org"]) == {key.key_id, other.key_id}
    verify_signed_json(signed, "example.org", key.key_id, key.verify_key)
    verify_signed_json(signed, "example.org", other.key_id, other.public_key)


def test_verify_failures(key: SigningKey) -> None:
    signed = sign_json({"a": 1}, "example.org", key)
    with pytest.raises(SignatureError, match=r"no signature from other\.org"):
        verify_signed_json(signed, "other.org", key.key_id, key.verify_key)
    with pytest.raises(SignatureError, match=r"no signature from example\.org with key ed25519:nope"):
        verify_signed_json(signed, "example.org", "ed25519:nope", key.verify_key)
    with pytest.raises(SignatureError, match="unsupported signing algorithm"):
        verify_signed_json(signed, "example.org", "curve25519:1", key.verify_key)
    with pytest.raises(SignatureError, match="invalid signature"):
        verify_signed_json(signed, "example.org", key.key_id, SigningKey.generate().verify_key)
    broken = add_signature(signed, "example.org", key.key_id, "not base64!")
    with pytest.raises(SignatureError, match="not base64"):
        verify_signed_json(broken, "example.org", key.key_id, key.verify_key)
    short = add_signature(signed, "example.org", key.key_id, encode_base64(b"x" * 10))
    with pytest.raises(SignatureError, match="invalid signature"):
        verify_signed_json(short, "example.org", key.key_id, key.verify_key)


def test_sign_json_refuses_non_canonical_values(key: SigningKey) -> None:
    with pytest.raises(CanonicalJsonError):
        sign_json({"a": 1.5}, "example.org", key)


def test_decode_verify_key(key: SigningKey) -> None:
    assert bytes(decode_verify_key(key.public_key_base64)) == key.public_key
    with pytest.raises(SignatureError):
        decode_verify_key("AAAA")
    with pytest.raises(SignatureError):
        decode_verify_key("???")


# --- hashes and event IDs -----------------------------------------------------------------


def test_event_id_formats(key: SigningKey) -> None:
    for version in ALL_VERSIONS:
        event_id, signed = hash_sign_and_id(message(), version, "example.org", key)
        assert compute_event_id(signed, version) == event_id
        if version in (V1, V2):
            assert event_id.startswith("$") and event_id.endswith(":example.org")
            assert signed["event_id"] == event_id
        else:
            assert "event_id" not in signed
            digest = compute_reference_hash(signed, version)
            encode = encode_base64 if version is V3 else encode_base64_urlsafe
            assert event_id == "$" + encode(digest)
            assert len(event_id) == 44


def test_reference_hash_matches_an_independent_computation(key: SigningKey) -> None:
    for version in (V3, V4, V11, V12):
        event_id, signed = hash_sign_and_id(message(depth=123), version, "example.org", key)
        stripped = {k: v for k, v in redact(signed, version).items() if k not in ("signatures", "unsigned")}
        digest = hashlib.sha256(reference_canonical(stripped)).digest()
        alphabet = encode_base64 if version is V3 else encode_base64_urlsafe
        assert event_id == "$" + alphabet(digest)


def test_v3_uses_standard_and_v4_urlsafe_alphabet(key: SigningKey) -> None:
    seen_v3: set[str] = set()
    seen_v4: set[str] = set()
    for depth in range(40):  # 40 random hashes: '+/' resp. '-_' are all but certain to show up
        seen_v3 |= set(hash_sign_and_id(message(depth=depth), V3, "example.org", key)[0])
        seen_v4 |= set(hash_sign_and_id(message(depth=depth), V4, "example.org", key)[0])
    assert not seen_v3 & set("-_") and seen_v3 & set("+/")
    assert not seen_v4 & set("+/") and seen_v4 & set("-_")


def test_v1_keeps_a_given_event_id(key: SigningKey) -> None:
    event_id, signed = hash_sign_and_id(message(event_id="$mine:example.org"), V1, "example.org", key)
    assert event_id == "$mine:example.org" == signed["event_id"]
    with pytest.raises(ValueError, match="carry their event_id"):
        compute_event_id(message(), V1)


def test_v12_create_event_room_id(key: SigningKey) -> None:
    create = {
        "type": "m.room.create",
        "state_key": "",
        "sender": "@alice:example.org",
        "origin_server_ts": 1,
        "depth": 1,
        "content": {"room_version": "12"},
        "prev_events": [],
        "auth_events": [],
    }
    event_id, signed = hash_sign_and_id(create, V12, "example.org", key)
    room_id = room_id_from_create_event_id(event_id)
    assert room_id == "!" + event_id[1:]
    assert room_id == "!" + encode_base64_urlsafe(compute_reference_hash(signed, V12))
    assert "room_id" not in signed
    with pytest.raises(ValueError):
        room_id_from_create_event_id(EventID("!notanevent"))


def test_hash_sign_and_id_leaves_input_alone(key: SigningKey) -> None:
    pdu = message(signatures={"other.org": {"ed25519:o": "sig"}})
    before = copy.deepcopy(pdu)
    _, signed = hash_sign_and_id(pdu, V12, "example.org", key)
    assert pdu == before
    assert signed["signatures"]["other.org"] == {"ed25519:o": "sig"}
    assert signed["unsigned"] == {"transaction_id": "t1"}


def test_signature_survives_redaction(key: SigningKey) -> None:
    for version in ALL_VERSIONS:
        event_id, signed = hash_sign_and_id(message(), version, "example.org", key)
        redacted = redact(signed, version)
        verify_event_signature(redacted, version, "example.org", key.key_id, key.verify_key)
        assert compute_event_id(redacted, version) == event_id
        assert not check_content_hash(redacted, version)  # the redacted copy fails the hash check


def test_strict_versions_refuse_floats_older_ones_hash_them(key: SigningKey) -> None:
    pdu = message(content={"body": "x", "n": 1.5, "big": 2**60})
    with pytest.raises(CanonicalJsonError):
        hash_sign_and_id(pdu, V6, "example.org", key)
    _, signed = hash_sign_and_id(pdu, V5, "example.org", key)
    assert check_content_hash(signed, V5)
    stripped = {k: v for k, v in signed.items() if k not in ("unsigned", "signatures", "hashes")}
    assert signed["hashes"]["sha256"] == encode_base64(hashlib.sha256(reference_canonical(stripped)).digest())
    verify_event_signature(signed, V5, "example.org", key.key_id, key.verify_key)


def test_check_content_hash_malformed() -> None:
    assert not check_content_hash(message(), V10)
    assert not check_content_hash(message(hashes={"sha256": "@@@"}), V10)
    assert not check_content_hash(message(hashes={"sha256": 5}), V10)
    assert not check_content_hash(message(hashes={"sha256": "AAAA"}, content={"x": 1.5}), V10)


# --- properties: any change is detected ---------------------------------------------------

json_leaf = st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=10)
json_value = st.recursive(
    json_leaf,
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=5), kids, max_size=3),
    max_leaves=12,
)
json_objects = st.dictionaries(st.text(max_size=8), json_value, max_size=6)


def _mutations(obj: dict[str, Any], new_key: str, new_value: Any) -> list[dict[str, Any]]:
    """Copies of `obj` each differing in one covered place."""
    changed = []
    for key, value in obj.items():
        if key in ("signatures", "unsigned"):
            continue
        flipped = copy.deepcopy(obj)
        flipped[key] = {"flipped": value} if value != {"flipped": value} else None
        changed.append(flipped)
    if new_key not in obj:
        changed.append({**copy.deepcopy(obj), new_key: new_value})
    return changed


@given(json_objects, st.text(min_size=1, max_size=8), json_value)
def test_any_change_to_signed_json_fails_verification(
    obj: dict[str, Any], new_key: str, new_value: Any
) -> None:
    key = SigningKey(version="p", seed=b"\x01" * 32)
    signed = sign_json(obj, "example.org", key)
    verify_signed_json(signed, "example.org", key.key_id, key.verify_key)
    for changed in _mutations(signed, new_key, new_value):
        with pytest.raises(SignatureError):
            verify_signed_json(changed, "example.org", key.key_id, key.verify_key)


def _event_is_authentic(pdu: dict[str, Any], version: RoomVersion, key: SigningKey) -> bool:
    try:
        verify_event_signature(pdu, version, "example.org", key.key_id, key.verify_key)
    except SignatureError:
        return False
    return check_content_hash(pdu, version)


@given(
    json_objects,
    st.sampled_from(["content", "top"]),
    st.text(min_size=1, max_size=8),
    json_value,
    st.sampled_from(ALL_VERSIONS),
)
def test_any_change_to_a_signed_event_is_detected(
    content: dict[str, Any], where: str, new_key: str, new_value: Any, version: RoomVersion
) -> None:
    key = SigningKey(version="p", seed=b"\x02" * 32)
    _, signed = hash_sign_and_id(message(content=content), version, "example.org", key)
    assert _event_is_authentic(signed, version, key)
    if where == "content":
        targets = [{**signed, "content": changed} for changed in _mutations(content, new_key, new_value)]
    else:
        targets = _mutations(signed, new_key, new_value)
    assert targets
    for changed in targets:
        assert changed != signed
        assert not _event_is_authentic(changed, version, key)
