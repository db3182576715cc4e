"""Auth rules about the event's auth_events (duplicates, unexpected entries, rejected
entries, other rooms), the v12 room ID rule and the auth events selection."""

from __future__ import annotations

from typing import Any

import pytest

from homeserver.auth.rules import (
    AuthError,
    auth_types_for_event,
    check_against_auth_events,
    check_auth_events_list,
    check_auth_rules,
)
from homeserver.room_versions import V1, V6, V10, V11, V12, RoomVersion
from tests.homeserver.eventbuilder import (
    ALICE,
    ALL,
    BOB,
    CAROL,
    Room,
    auth_failure,
    make_event,
    standard_room,
    version_id,
    with_flag,
)

# --- v12: room_id is the create event's ID --------------------------------------------------


def test_v12_room_id_must_be_create_event_id() -> None:
    room = standard_room(V12)
    assert room.room_id == "!" + room.create.event_id[1:]
    stray = make_event(
        V12, event_id="$m", type="m.room.message", sender=ALICE, room_id="!someotherroom",
        prev_events=room.latest, content={"body": "x"},
    )  # fmt: skip
    assert auth_failure(stray, room.state) == "room_id is not the create event's ID"


@ALL
def test_missing_create_event(version: RoomVersion) -> None:
    room = standard_room(version)
    message = room.event("m.room.message", ALICE, {"body": "x"})
    state = {key: event for key, event in room.state.items() if key != ("m.room.create", "")}
    expected = (
        "room_id is not the create event's ID"
        if version.room_id_is_create_event_hash
        else "no create event in auth events"
    )
    assert auth_failure(message, state) == expected


# --- auth_events ----------------------------------------------------------------------------


def auth_list(room: Room, keys: list[tuple[str, str]]) -> list[Any]:
    return [room.state[key] for key in keys]


@ALL
def test_auth_events_list_accepted(version: RoomVersion) -> None:
    room = standard_room(version)
    message = room.event("m.room.message", ALICE, {"body": "x"})
    listed = [room.state[key] for key in room.state if key[0] != "m.room.join_rules"]
    if version.create_event_not_in_auth_events:
        listed = [e for e in listed if e.type != "m.room.create"]
    check_against_auth_events(message, listed, create=room.create)


@ALL
def test_auth_events_duplicate_type_and_state_key(version: RoomVersion) -> None:
    room = standard_room(version)
    old_pl = room.state[("m.room.power_levels", "")]
    room.send("m.room.power_levels", ALICE, {"users": dict(old_pl.content["users"])}, state_key="")
    new_pl = room.state[("m.room.power_levels", "")]
    entries = [old_pl, new_pl, room.state[("m.room.member", ALICE)]]
    message = room.event("m.room.message", ALICE, {}, auth=[e.event_id for e in entries])
    with pytest.raises(AuthError) as info:
        check_auth_events_list(message, entries)
    assert info.value.reason == "duplicate auth event"


@ALL
def test_auth_events_wrong_type(version: RoomVersion) -> None:
    room = standard_room(version)
    keys = [("m.room.power_levels", ""), ("m.room.member", ALICE), ("m.room.join_rules", "")]
    entries = auth_list(room, keys)
    message = room.event("m.room.message", ALICE, {}, auth=[e.event_id for e in entries])
    with pytest.raises(AuthError) as info:
        check_auth_events_list(message, entries)
    assert info.value.reason == "unexpected auth event"


def test_v12_create_event_must_not_be_in_auth_events() -> None:
    room = standard_room(V12)
    entries = auth_list(room, [("m.room.create", ""), ("m.room.member", ALICE)])
    message = room.event("m.room.message", ALICE, {}, auth=[e.event_id for e in entries])
    with pytest.raises(AuthError) as info:
        check_auth_events_list(message, entries)
    assert info.value.reason == "unexpected auth event"


@with_flag("create_event_not_in_auth_events", False)
def test_auth_events_without_create(version: RoomVersion) -> None:
    room = standard_room(version)
    entries = auth_list(room, [("m.room.member", ALICE)])
    message = room.event("m.room.message", ALICE, {}, auth=[e.event_id for e in entries])
    with pytest.raises(AuthError) as info:
        check_auth_events_list(message, entries)
    assert info.value.reason == "no create event in auth events"


@ALL
def test_rejected_entry_in_auth_events_list(version: RoomVersion) -> None:
    room = standard_room(version)
    bad = room.event("m.room.power_levels", ALICE, {"users": {}}, state_key="", rejected_reason="auth")
    room.state[bad.key] = bad
    entries = [e for key, e in room.state.items() if key[0] != "m.room.join_rules"]
    if version.create_event_not_in_auth_events:
        entries = [e for e in entries if e.type != "m.room.create"]
    message = room.event("m.room.message", ALICE, {}, auth=[e.event_id for e in entries])
    with pytest.raises(AuthError) as info:
        check_auth_events_list(message, entries)
    assert info.value.reason == "rejected auth event"


@ALL
@pytest.mark.parametrize(
    "key", [("m.room.power_levels", ""), ("m.room.member", ALICE), ("m.room.create", "")]
)
def test_rejected_entry_in_auth_state(version: RoomVersion, key: tuple[str, str]) -> None:
    room = standard_room(version)
    message = room.event("m.room.message", ALICE, {"body": "x"})
    check_auth_rules(message, room.state)
    original = room.state[key]
    state = dict(room.state)
    state[key] = make_event(
        version, event_id=original.event_id, type=original.type, sender=original.sender,
        content=original.content, state_key=original.state_key, rejected_reason="failed auth",
        room_id=original.pdu.get("room_id"),
    )  # fmt: skip
    assert auth_failure(message, state) == "rejected auth event"


@ALL
def test_auth_event_from_another_room(version: RoomVersion) -> None:
    room = standard_room(version)
    message = room.event("m.room.message", ALICE, {"body": "x"})
    member = room.state[("m.room.member", ALICE)]
    foreign = make_event(
        version, event_id=member.event_id, type="m.room.member", sender=ALICE, state_key=ALICE,
        content={"membership": "join"}, room_id="!elsewhere:a.test",
    )  # fmt: skip
    state = {**room.state, foreign.key: foreign}
    assert auth_failure(message, state) == "auth event in a different room"


@ALL
def test_auth_state_entries_outside_the_selection_are_ignored(version: RoomVersion) -> None:
    room = standard_room(version)
    unrelated = room.event("m.room.topic", CAROL, {}, state_key="", rejected_reason="whatever")
    message = room.event("m.room.message", ALICE, {"body": "x"})
    check_auth_rules(message, {**room.state, unrelated.key: unrelated})


@pytest.mark.parametrize(
    ("version", "membership", "expected"),
    [
        (V1, "join", {"create", "pl", "sender", "target", "join_rules"}),
        (V12, "join", {"pl", "sender", "target", "join_rules", "via"}),
        (V6, "leave", {"create", "pl", "sender", "target"}),
        (V6, "knock", {"create", "pl", "sender", "target", "join_rules"}),
        (V10, "invite", {"create", "pl", "sender", "target", "join_rules", "tpi"}),
        (V10, "join", {"create", "pl", "sender", "target", "join_rules", "via"}),
        (V6, "join", {"create", "pl", "sender", "target", "join_rules"}),  # no restricted rooms
    ],
)
def test_auth_types_for_member_events(version: RoomVersion, membership: str, expected: set[str]) -> None:
    names = {
        "create": ("m.room.create", ""),
        "pl": ("m.room.power_levels", ""),
        "sender": ("m.room.member", ALICE),
        "target": ("m.room.member", BOB),
        "join_rules": ("m.room.join_rules", ""),
        "tpi": ("m.room.third_party_invite", "tok"),
        "via": ("m.room.member", CAROL),
    }
    content = {
        "membership": membership,
        "third_party_invite": {"signed": {"token": "tok"}},
        "join_authorised_via_users_server": CAROL,
    }
    assert auth_types_for_event("m.room.member", ALICE, BOB, content, version) == {names[n] for n in expected}


@pytest.mark.parametrize("version", [V1, V11, V12], ids=version_id)
def test_auth_types_for_create_and_messages(version: RoomVersion) -> None:
    assert auth_types_for_event("m.room.create", ALICE, "", {}, version) == set()
    expected = {("m.room.power_levels", ""), ("m.room.member", ALICE)}
    if not version.create_event_not_in_auth_events:
        expected.add(("m.room.create", ""))
    assert auth_types_for_event("m.room.message", ALICE, None, {}, version) == expected
