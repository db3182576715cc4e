"""Auth rules: the first events of a room, create events, m.federate, aliases, redactions
and the generic rules for non-member events (auth_events and the v12 room ID in
test_auth_rules_auth_events.py, membership in test_auth_rules_members.py, power levels in
test_auth_power_levels.py)."""

from __future__ import annotations

from typing import Any

import pytest

from homeserver.auth.rules import check_auth_rules
from homeserver.room_versions import V1, V3, V6, V10, V11, V12, RoomVersion
from tests.homeserver.eventbuilder import (
    ALICE,
    ALL,
    ALL_VERSIONS,
    BOB,
    CAROL,
    Room,
    auth_failure,
    make_event,
    standard_room,
    version_id,
    with_flag,
)

# --- the first events of a room -------------------------------------------------------------


@pytest.mark.parametrize("version", [V1, V6, V10, V11, V12], ids=version_id)
def test_first_events_of_a_room(version: RoomVersion) -> None:
    room = standard_room(version)  # every step runs check_auth_rules
    assert set(room.state) == {
        ("m.room.create", ""),
        ("m.room.member", ALICE),
        ("m.room.power_levels", ""),
        ("m.room.join_rules", ""),
    }


@ALL
def test_creator_may_set_state_before_power_levels(version: RoomVersion) -> None:
    room = Room(version)
    room.set_member(ALICE, "join")
    room.send("m.room.join_rules", ALICE, {"join_rule": "public"}, state_key="")
    room.set_member(BOB, "join")
    topic = room.event("m.room.topic", BOB, {"topic": "hi"}, state_key="")
    assert auth_failure(topic, room.state) == "sender power level too low for event"


@ALL
def test_first_join_by_someone_else_is_refused(version: RoomVersion) -> None:
    room = Room(version)
    join = room.member(BOB, "join")
    assert auth_failure(join, room.state) == "sender is not invited"  # no join rules: invite-only


@ALL
def test_creator_join_must_follow_create_directly(version: RoomVersion) -> None:
    room = Room(version)
    join = room.event("m.room.member", ALICE, {"membership": "join"}, state_key=ALICE, prev=["$other:a.test"])
    assert auth_failure(join, room.state) == "sender is not invited"


# --- m.room.create --------------------------------------------------------------------------


def create_event(version: RoomVersion, content: dict[str, Any], **overrides: Any) -> Any:
    fields: dict[str, Any] = {
        "event_id": "$create:a.test",
        "type": "m.room.create",
        "sender": ALICE,
        "state_key": "",
        "room_id": None if version.room_id_is_create_event_hash else "!r:a.test",
    }
    fields.update(overrides)
    base = {"room_version": version.identifier}
    if not version.implicit_room_creator:
        base["creator"] = ALICE
    return make_event(version, content={**base, **content}, **fields)


def create_failure(event: Any) -> str:
    return auth_failure(event, {})


@ALL
def test_create_event_allowed(version: RoomVersion) -> None:
    check_auth_rules(create_event(version, {}), {})


@ALL
def test_create_with_prev_events(version: RoomVersion) -> None:
    event = create_event(version, {}, prev_events=["$x:a.test"])
    assert create_failure(event) == "create event has prev_events"


@with_flag("room_id_is_create_event_hash", False)
def test_create_room_id_domain_must_match_sender(version: RoomVersion) -> None:
    assert (
        create_failure(create_event(version, {}, room_id="!r:b.test"))
        == "room_id domain does not match sender"
    )


@with_flag("room_id_is_create_event_hash")
def test_v12_create_with_room_id_rejected(version: RoomVersion) -> None:
    assert create_failure(create_event(version, {}, room_id="!r:a.test")) == "create event has a room_id"


@ALL
@pytest.mark.parametrize("room_version", ["99", 11, None])
def test_create_with_unknown_room_version(version: RoomVersion, room_version: Any) -> None:
    event = create_event(version, {"room_version": room_version})
    assert create_failure(event) == "unknown room version"


@pytest.mark.parametrize("version", ALL_VERSIONS, ids=version_id)
def test_create_without_creator(version: RoomVersion) -> None:
    event = make_event(
        version, event_id="$c:a.test", type="m.room.create", sender=ALICE, state_key="",
        room_id=None if version.room_id_is_create_event_hash else "!r:a.test", content={},
    )  # fmt: skip
    if version.implicit_room_creator:
        check_auth_rules(event, {})
    else:
        assert create_failure(event) == "create event has no creator"


@pytest.mark.parametrize(
    "additional", ["@bob:b.test", [1], ["bob"], ["@bob:b.test", None], {"@bob:b.test": 1}]
)
def test_v12_additional_creators_of_wrong_type(additional: Any) -> None:
    event = create_event(V12, {"additional_creators": additional})
    assert create_failure(event) == "invalid additional_creators"


def test_v12_additional_creators_valid() -> None:
    check_auth_rules(create_event(V12, {"additional_creators": [BOB, CAROL]}), {})


@with_flag("creator_has_infinite_power", False)
def test_additional_creators_ignored_before_v12(version: RoomVersion) -> None:
    check_auth_rules(create_event(version, {"additional_creators": "nonsense"}), {})


# --- m.federate -----------------------------------------------------------------------------


@ALL
def test_unfederated_room_refuses_other_servers(version: RoomVersion) -> None:
    room = Room(version, create_content={"m.federate": False})
    room.set_member(ALICE, "join")
    room.send("m.room.join_rules", ALICE, {"join_rule": "public"}, state_key="")
    room.set_member(CAROL, "join")  # same server as the creator
    assert auth_failure(room.member(BOB, "join"), room.state) == "room is not federated"


# --- the generic rules ----------------------------------------------------------------------


@ALL
def test_sender_not_joined(version: RoomVersion) -> None:
    room = standard_room(version)
    assert auth_failure(room.event("m.room.message", BOB, {}), room.state) == "sender is not joined"
    room.set_member(ALICE, "invite", BOB)
    assert auth_failure(room.event("m.room.message", BOB, {}), room.state) == "sender is not joined"
    room.set_member(BOB, "join")
    check_auth_rules(room.event("m.room.message", BOB, {}), room.state)


@ALL
def test_state_event_below_state_default(version: RoomVersion) -> None:
    room = standard_room(version)
    room.set_member(BOB, "join")
    topic = room.event("m.room.topic", BOB, {"topic": "x"}, state_key="")
    assert auth_failure(topic, room.state) == "sender power level too low for event"
    check_auth_rules(room.event("m.room.message", BOB, {"body": "x"}), room.state)


@ALL
def test_event_levels_override_defaults(version: RoomVersion) -> None:
    room = standard_room(version, events={"m.room.topic": 0, "m.room.message": 10})
    room.set_member(BOB, "join")
    check_auth_rules(room.event("m.room.topic", BOB, {"topic": "x"}, state_key=""), room.state)
    message = room.event("m.room.message", BOB, {"body": "x"})
    assert auth_failure(message, room.state) == "sender power level too low for event"


@ALL
def test_state_key_of_another_user(version: RoomVersion) -> None:
    room = standard_room(version, events={"org.example.status": 0})
    room.set_member(BOB, "join")
    theirs = room.event("org.example.status", BOB, {}, state_key=ALICE)
    assert auth_failure(theirs, room.state) == "state_key is another user's ID"
    check_auth_rules(room.event("org.example.status", BOB, {}, state_key=BOB), room.state)


@ALL
def test_third_party_invite_event_needs_invite_level(version: RoomVersion) -> None:
    room = standard_room(version, invite=0)
    room.set_member(BOB, "join")
    # state_default (50) does not apply: only the invite level does
    check_auth_rules(room.event("m.room.third_party_invite", BOB, {}, state_key="tok"), room.state)
    room = standard_room(version, invite=50)
    room.set_member(BOB, "join")
    event = room.event("m.room.third_party_invite", BOB, {}, state_key="tok")
    assert auth_failure(event, room.state) == "sender cannot invite"


# --- m.room.aliases (v1-5 special case) -----------------------------------------------------


@with_flag("special_case_aliases_auth")
def test_aliases_special_case(version: RoomVersion) -> None:
    room = standard_room(version)
    # BOB is not in the room; the special case only looks at the state_key
    check_auth_rules(room.event("m.room.aliases", BOB, {"aliases": []}, state_key="b.test"), room.state)
    wrong = room.event("m.room.aliases", BOB, {"aliases": []}, state_key="a.test")
    assert auth_failure(wrong, room.state) == "aliases state_key does not match sender domain"
    no_key = room.event("m.room.aliases", BOB, {"aliases": []})
    assert auth_failure(no_key, room.state) == "aliases event has no state_key"


@with_flag("special_case_aliases_auth", False)
def test_aliases_are_ordinary_state_from_v6(version: RoomVersion) -> None:
    room = standard_room(version)
    event = room.event("m.room.aliases", BOB, {"aliases": []}, state_key="b.test")
    assert auth_failure(event, room.state) == "sender is not joined"
    room.set_member(BOB, "join")
    event = room.event("m.room.aliases", BOB, {"aliases": []}, state_key="b.test")
    assert auth_failure(event, room.state) == "sender power level too low for event"


# --- m.room.redaction -----------------------------------------------------------------------


@with_flag("special_case_redaction_auth")
def test_redaction_rule_v1_v2(version: RoomVersion) -> None:
    room = standard_room(version)
    room.set_member(BOB, "join")
    other = room.event("m.room.redaction", BOB, {}, redacts="$1:a.test", event_id="$r1:b.test")
    assert auth_failure(other, room.state) == "sender cannot redact"
    own = room.event("m.room.redaction", BOB, {}, redacts="$2:b.test", event_id="$r2:b.test")
    check_auth_rules(own, room.state)
    by_admin = room.event("m.room.redaction", ALICE, {}, redacts="$3:b.test", event_id="$r3:a.test")
    check_auth_rules(by_admin, room.state)


@with_flag("special_case_redaction_auth", False)
def test_redaction_ignores_redact_level_from_v3(version: RoomVersion) -> None:
    room = standard_room(version)
    room.set_member(BOB, "join")
    # the same event IDs the v1-2 rule refuses (BOB below the redact level, other domain)
    redaction = room.event("m.room.redaction", BOB, {}, redacts="$1:a.test", event_id="$r1:b.test")
    check_auth_rules(redaction, room.state)


@ALL
def test_redaction_event_level(version: RoomVersion) -> None:
    room = standard_room(version, events={"m.room.redaction": 50})
    room.set_member(BOB, "join")
    redaction = room.event("m.room.redaction", BOB, {}, redacts="$x:b.test", event_id="$r:b.test")
    assert auth_failure(redaction, room.state) == "sender power level too low for event"


def test_v3_is_first_version_without_redaction_rule() -> None:
    assert V1.special_case_redaction_auth and not V3.special_case_redaction_auth
