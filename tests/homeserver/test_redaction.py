"""The redaction algorithm, version by version, and its idempotence."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from homeserver.events.redaction import redact, with_redacted_because
from homeserver.room_versions import KNOWN_ROOM_VERSIONS, V1, V5, V6, V7, V8, V9, V10, V11, V12, RoomVersion

ALL_VERSIONS = list(KNOWN_ROOM_VERSIONS.values())
PRE_V11 = [v for v in ALL_VERSIONS if not v.updated_redaction_rules]


def event(event_type: str, content: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "event_id": "$e:example.org",
        "type": event_type,
        "room_id": "!r:example.org",
        "sender": "@a:example.org",
        "state_key": "",
        "content": content,
        "hashes": {"sha256": "abc"},
        "signatures": {"example.org": {"ed25519:1": "sig"}},
        "depth": 3,
        "prev_events": ["$p"],
        "prev_state": [],
        "auth_events": ["$a"],
        "origin": "example.org",
        "origin_server_ts": 1000,
        "membership": "join",
        "unsigned": {"age": 5, "redacted_because": {}},
        "extra_top_level": "dropped",
        **extra,
    }


def test_top_level_keys_before_v11() -> None:
    for version in PRE_V11:
        redacted = redact(event("m.room.message", {"body": "hi"}), version)
        assert set(redacted) == {
            "event_id", "type", "room_id", "sender", "state_key", "content", "hashes", "signatures",
            "depth", "prev_events", "prev_state", "auth_events", "origin", "origin_server_ts", "membership",
        }, version.identifier  # fmt: skip
        assert redacted["content"] == {}


def test_top_level_keys_from_v11() -> None:
    for version in (V11, V12):
        redacted = redact(event("m.room.message", {"body": "hi"}), version)
        assert "origin" not in redacted and "membership" not in redacted and "prev_state" not in redacted
        assert set(redacted) == {
            "event_id", "type", "room_id", "sender", "state_key", "content", "hashes", "signatures",
            "depth", "prev_events", "auth_events", "origin_server_ts",
        }  # fmt: skip


def test_unsigned_is_dropped_and_content_always_present() -> None:
    for version in ALL_VERSIONS:
        redacted = redact({"type": "m.room.message", "unsigned": {"age": 1}}, version)
        assert redacted == {"type": "m.room.message", "content": {}}
        assert redact({"type": "x", "content": "not an object"}, version)["content"] == {}


MEMBER = {
    "membership": "join",
    "displayname": "Alice",
    "avatar_url": "mxc://x/y",
    "join_authorised_via_users_server": "@admin:example.org",
    "third_party_invite": {"display_name": "a***@e", "signed": {"mxid": "@a:example.org", "token": "t"}},
}


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        (V1, {"membership": "join"}),
        (V8, {"membership": "join"}),  # v8's omission, fixed in v9
        (V9, {"membership": "join", "join_authorised_via_users_server": "@admin:example.org"}),
        (V10, {"membership": "join", "join_authorised_via_users_server": "@admin:example.org"}),
        (
            V11,
            {
                "membership": "join",
                "join_authorised_via_users_server": "@admin:example.org",
                "third_party_invite": {"signed": {"mxid": "@a:example.org", "token": "t"}},
            },
        ),
    ],
)
def test_member_content(version: RoomVersion, expected: dict[str, Any]) -> None:
    assert redact(event("m.room.member", MEMBER), version)["content"] == expected


def test_member_third_party_invite_without_signed_v11() -> None:
    content = {"membership": "invite", "third_party_invite": {"display_name": "x"}}
    assert redact(event("m.room.member", content), V11)["content"] == {
        "membership": "invite",
        "third_party_invite": {},
    }
    content = {"membership": "invite", "third_party_invite": "not an object"}
    assert redact(event("m.room.member", content), V11)["content"] == {"membership": "invite"}


def test_create_content() -> None:
    content = {"creator": "@a:example.org", "room_version": "1", "m.federate": False, "predecessor": {}}
    for version in PRE_V11:
        assert redact(event("m.room.create", content), version)["content"] == {"creator": "@a:example.org"}
    v12_content = {"room_version": "12", "additional_creators": ["@b:example.org"], "type": "m.space"}
    assert redact(event("m.room.create", v12_content), V12)["content"] == v12_content
    assert redact(event("m.room.create", content), V11)["content"] == content


def test_join_rules_content() -> None:
    content = {"join_rule": "restricted", "allow": [{"type": "m.room_membership", "room_id": "!s"}], "x": 1}
    for version in (V1, V5, V6, V7):
        assert redact(event("m.room.join_rules", content), version)["content"] == {"join_rule": "restricted"}
    for version in (V8, V9, V10, V11, V12):
        assert redact(event("m.room.join_rules", content), version)["content"] == {
            "join_rule": "restricted",
            "allow": content["allow"],
        }


def test_power_levels_content() -> None:
    kept = {
        "ban": 50, "events": {"m.room.name": 100}, "events_default": 0, "kick": 50, "redact": 50,
        "state_default": 50, "users": {"@a:example.org": 100}, "users_default": 0,
    }  # fmt: skip
    content = {**kept, "invite": 0, "notifications": {"room": 50}, "historical": 100}
    for version in PRE_V11:
        assert redact(event("m.room.power_levels", content), version)["content"] == kept
    for version in (V11, V12):
        assert redact(event("m.room.power_levels", content), version)["content"] == {**kept, "invite": 0}


def test_aliases_only_v1_to_v5() -> None:
    content = {"aliases": ["#a:example.org"]}
    for version in ALL_VERSIONS:
        expected = content if version.special_case_aliases_auth else {}
        assert redact(event("m.room.aliases", content), version)["content"] == expected, version.identifier
    assert V5.special_case_aliases_auth and not V6.special_case_aliases_auth


def test_history_visibility_content() -> None:
    for version in ALL_VERSIONS:
        redacted = redact(
            event("m.room.history_visibility", {"history_visibility": "shared", "x": 1}), version
        )
        assert redacted["content"] == {"history_visibility": "shared"}


def test_redaction_event() -> None:
    pdu = event("m.room.redaction", {"redacts": "$target", "reason": "spam"}, redacts="$target")
    for version in PRE_V11:
        redacted = redact(pdu, version)
        assert "redacts" not in redacted  # top-level redacts was never protected
        assert redacted["content"] == {}
    for version in (V11, V12):
        redacted = redact(pdu, version)
        assert redacted["content"] == {"redacts": "$target"}
        assert "redacts" not in redacted


def test_input_not_modified() -> None:
    pdu = event("m.room.member", MEMBER)
    before = copy.deepcopy(pdu)
    for version in ALL_VERSIONS:
        redact(pdu, version)
    assert pdu == before


def test_with_redacted_because() -> None:
    redaction = {"type": "m.room.redaction", "content": {"redacts": "$e"}}
    redacted = redact(event("m.room.message", {"body": "x"}), V11)
    served = with_redacted_because(redacted, redaction)
    assert served["unsigned"] == {"redacted_because": redaction}
    assert "unsigned" not in redacted


json_leaf = st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=5)
json_value = st.recursive(
    json_leaf,
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=5), kids, max_size=3),
    max_leaves=10,
)
interesting_keys = st.sampled_from(
    ["membership", "join_authorised_via_users_server", "third_party_invite", "creator", "join_rule", "allow",
     "ban", "invite", "users", "aliases", "history_visibility", "redacts", "signed", "body"]
)  # fmt: skip
contents = st.dictionaries(
    interesting_keys | st.text(max_size=5), json_value | st.dictionaries(interesting_keys, json_value)
)
event_types = st.sampled_from(
    ["m.room.member", "m.room.create", "m.room.join_rules", "m.room.power_levels", "m.room.aliases",
     "m.room.history_visibility", "m.room.redaction", "m.room.message", "m.room.topic"]
)  # fmt: skip
top_level = st.dictionaries(
    st.sampled_from(
        ["origin", "membership", "prev_state", "unsigned", "redacts", "age_ts", "event_id", "depth"]
    )
    | st.text(max_size=5),
    json_value,
)


@given(event_types, contents, top_level, st.sampled_from(ALL_VERSIONS))
def test_redaction_is_idempotent(
    event_type: str, content: dict[str, Any], extra: dict[str, Any], version: RoomVersion
) -> None:
    pdu = {**extra, "type": event_type, "content": content}
    once = redact(pdu, version)
    assert redact(once, version) == once
    assert "unsigned" not in once
    assert set(once) <= set(pdu) | {"content"}
