"""Power levels: the helpers (levels, defaults, creators) and the auth rule for
m.room.power_levels events per room version."""

from __future__ import annotations

import math
from typing import Any

import pytest

from homeserver.auth.power_levels import (
    INFINITE_POWER,
    LEVEL_DEFAULTS,
    event_send_level,
    named_level,
    notification_level,
    parse_power_level,
    room_creators,
    user_power_level,
)
from homeserver.auth.rules import check_auth_rules
from homeserver.room_versions import V1, V5, V6, V9, V10, V11, V12, RoomVersion
from tests.homeserver.eventbuilder import (
    ALICE,
    ALL,
    BOB,
    CAROL,
    DAVE,
    Room,
    auth_failure,
    standard_room,
    version_id,
    with_flag,
)

# --- parsing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "version", "expected"),
    [
        (50, V10, 50),
        (-3, V12, -3),
        ("50", V9, 50),
        (" +0050 ", V1, 50),
        ("-7", V9, -7),
        ("50", V10, None),
        ("5.0", V9, None),
        ("fifty", V1, None),
        (50.7, V5, 50),
        (50.7, V6, None),
        (math.inf, V1, None),
        (True, V1, None),
        (None, V1, None),
        ([50], V1, None),
    ],
)
def test_parse_power_level(value: Any, version: RoomVersion, expected: int | None) -> None:
    assert parse_power_level(value, version) == expected


# --- levels and defaults --------------------------------------------------------------------


@ALL
def test_levels_without_power_levels_event(version: RoomVersion) -> None:
    room = Room(version)
    creator = user_power_level(ALICE, create=room.create, power_levels=None, version=version)
    assert creator == (INFINITE_POWER if version.creator_has_infinite_power else 100)
    assert user_power_level(BOB, create=room.create, power_levels=None, version=version) == 0
    assert event_send_level("m.room.topic", is_state=True, power_levels=None, version=version) == 50
    assert event_send_level("m.room.message", is_state=False, power_levels=None, version=version) == 0
    assert {name: named_level(None, name, version) for name in LEVEL_DEFAULTS} == {
        "users_default": 0, "events_default": 0, "state_default": 50,
        "ban": 50, "kick": 50, "redact": 50, "invite": 0,
    }  # fmt: skip
    assert notification_level("room", power_levels=None, version=version) == 50


@ALL
def test_levels_from_power_levels_event(version: RoomVersion) -> None:
    room = standard_room(version, users={BOB: 30}, users_default=5, events={"m.room.topic": 20}, kick=7)
    pl = room.state[("m.room.power_levels", "")]
    assert user_power_level(BOB, create=room.create, power_levels=pl, version=version) == 30
    assert user_power_level(DAVE, create=room.create, power_levels=pl, version=version) == 5
    assert event_send_level("m.room.topic", is_state=True, power_levels=pl, version=version) == 20
    assert event_send_level("m.room.name", is_state=True, power_levels=pl, version=version) == 50
    assert named_level(pl, "kick", version) == 7


def test_room_creators() -> None:
    assert room_creators(Room(V10).create) == {ALICE}
    assert room_creators(Room(V11).create) == {ALICE}
    v11 = Room(V11, create_content={"additional_creators": [BOB]})
    assert room_creators(v11.create) == {ALICE}
    v12 = Room(V12, create_content={"additional_creators": [BOB]})
    assert room_creators(v12.create) == {ALICE, BOB}


def test_v10_creator_is_content_creator_not_sender() -> None:
    room = Room(V10, creator=ALICE, create_content={"creator": CAROL})
    assert user_power_level(CAROL, create=room.create, power_levels=None, version=V10) == 100
    assert user_power_level(ALICE, create=room.create, power_levels=None, version=V10) == 0


def test_v12_power_levels_event_cannot_demote_a_creator() -> None:
    room = standard_room(V12, users_default=-10)
    pl = room.state[("m.room.power_levels", "")]
    assert user_power_level(ALICE, create=room.create, power_levels=pl, version=V12) == INFINITE_POWER
    assert user_power_level(BOB, create=room.create, power_levels=pl, version=V12) == -10
    room.send(
        "m.room.power_levels", ALICE, {"ban": 10**9, "events": {"m.room.power_levels": 10**9}}, state_key=""
    )
    room.send("m.room.power_levels", ALICE, {"users": {BOB: 10**9}}, state_key="")


# --- the m.room.power_levels auth rule ------------------------------------------------------


def pl_event(room: Room, sender: str, content: dict[str, Any]) -> Any:
    return room.event("m.room.power_levels", sender, content, state_key="")


def moderated_room(version: RoomVersion, **extra: Any) -> Room:
    """BOB is a moderator (50), CAROL too (50), DAVE a plain member."""
    room = standard_room(version, users={BOB: 50, CAROL: 50}, **extra)
    for user in (BOB, CAROL, DAVE):
        room.set_member(user, "join")
    return room


def bob_changes(room: Room, **changes: Any) -> Any:
    content = {**room.state[("m.room.power_levels", "")].content, **changes}
    return pl_event(room, BOB, content)


@ALL
def test_initial_power_levels_need_no_comparison(version: RoomVersion) -> None:
    room = Room(version)
    room.set_member(ALICE, "join")
    check_auth_rules(pl_event(room, ALICE, {"users": {BOB: 10**6}, "ban": 10**6}), room.state)


@ALL
def test_power_levels_event_needs_its_send_level(version: RoomVersion) -> None:
    room = moderated_room(version, events={"m.room.power_levels": 100})
    assert auth_failure(bob_changes(room, ban=40), room.state) == "sender power level too low for event"


BASE_EVENTS = {"m.room.topic": 100, "m.room.power_levels": 50}


@ALL
@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"ban": 40}, None),
        ({"kick": 60}, "power level change above sender level"),
        ({"state_default": 49}, "power level change above sender level"),  # current 100 > 50
        ({"events": {**BASE_EVENTS, "m.room.name": 50}}, None),
        ({"events": {**BASE_EVENTS, "m.room.name": 51}}, "power level change above sender level"),
        ({"events": {"m.room.power_levels": 50}}, "power level change above sender level"),  # removes 100
        ({"users": {BOB: 50, CAROL: 40}}, "cannot change level of user at or above sender level"),
        ({"users": {BOB: 50, CAROL: 50, DAVE: 50}}, None),
        ({"users": {BOB: 50, CAROL: 50, DAVE: 51}}, "cannot grant level above sender level"),
        ({"users": {BOB: 10, CAROL: 50}}, None),  # lowering oneself
        ({"users": {BOB: 51, CAROL: 50}}, "cannot grant level above sender level"),
    ],
)
def test_power_levels_changes(version: RoomVersion, changes: dict[str, Any], reason: str | None) -> None:
    room = moderated_room(version, state_default=100, events=BASE_EVENTS)
    if not version.creator_has_infinite_power:
        changes = {**changes, "users": {ALICE: 100, **changes["users"]}} if "users" in changes else changes
    event = bob_changes(room, **changes)
    if reason is None:
        check_auth_rules(event, room.state)
    else:
        assert auth_failure(event, room.state) == reason


@ALL
def test_users_must_be_valid_user_ids(version: RoomVersion) -> None:
    room = moderated_room(version)
    event = pl_event(room, ALICE, {"users": {"not-a-user": 10}})
    assert auth_failure(event, room.state) == "invalid users in power levels"
    event = pl_event(room, ALICE, {"users": ["@bob:b.test"]})
    assert auth_failure(event, room.state) == "invalid users in power levels"


@ALL
@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ({"users": {BOB: "50"}}, "invalid users in power levels"),
        ({"ban": "50"}, "invalid power level value"),
        ({"events": {"m.room.topic": "50"}}, "invalid power level value"),
    ],
)
def test_string_power_levels(version: RoomVersion, content: dict[str, Any], reason: str) -> None:
    room = moderated_room(version)
    if not version.creator_has_infinite_power:
        content = {
            "users": {ALICE: 100, **content.get("users", {})},
            **{k: v for k, v in content.items() if k != "users"},
        }
    event = pl_event(room, ALICE, content)
    if version.integer_power_levels:
        assert auth_failure(event, room.state) == reason
    else:
        room.send_event(event)
        assert user_power_level(BOB, create=room.create, power_levels=event, version=version) == (
            50 if "users" in content and BOB in content["users"] else 0
        )


def test_string_power_levels_v9_accepted_v10_refused() -> None:
    for version, ok in ((V9, True), (V10, False)):
        room = Room(version)
        room.set_member(ALICE, "join")
        event = pl_event(room, ALICE, {"users": {ALICE: "100"}, "state_default": " 50 "})
        if ok:
            check_auth_rules(event, room.state)
        else:  # the named levels are checked before users
            assert auth_failure(event, room.state) == "invalid power level value"


@with_flag("integer_power_levels")
def test_events_must_be_an_object_from_v10(version: RoomVersion) -> None:
    room = moderated_room(version)
    event = pl_event(room, ALICE, {"events": ["m.room.topic"]})
    assert auth_failure(event, room.state) == "invalid power level value"


@pytest.mark.parametrize(("version", "accepted"), [(V5, True), (V6, False)], ids=["v5", "v6"])
def test_float_power_levels(version: RoomVersion, accepted: bool) -> None:
    room = moderated_room(version)
    event = pl_event(room, ALICE, {"users": {ALICE: 100, BOB: 50.5}})
    if accepted:
        room.send_event(event)
        assert user_power_level(BOB, create=room.create, power_levels=event, version=version) == 50
    else:
        assert auth_failure(event, room.state) == "invalid users in power levels"


@ALL
def test_notifications_power(version: RoomVersion) -> None:
    room = moderated_room(version, notifications={"room": 100})
    raise_room = bob_changes(room, notifications={"room": 20})  # current 100 > BOB's 50
    add_key = bob_changes(room, notifications={"room": 100, "custom": 60})
    if version.limit_notifications_power_levels:
        assert auth_failure(raise_room, room.state) == "power level change above sender level"
        assert auth_failure(add_key, room.state) == "power level change above sender level"
    else:
        check_auth_rules(raise_room, room.state)
        check_auth_rules(add_key, room.state)
    assert (
        notification_level("room", power_levels=room.state[("m.room.power_levels", "")], version=version)
        == 100
    )


@with_flag("limit_notifications_power_levels")
def test_notifications_must_be_levels_from_v6(version: RoomVersion) -> None:
    room = moderated_room(version)
    assert (
        auth_failure(bob_changes(room, notifications={"room": "x"}), room.state)
        == "invalid power level value"
    )


# --- v12 creators ---------------------------------------------------------------------------


def test_v12_creator_cannot_be_listed_in_users() -> None:
    room = Room(V12, create_content={"additional_creators": [DAVE]})
    room.set_member(ALICE, "join")
    initial = pl_event(room, ALICE, {"users": {ALICE: 100}})
    assert auth_failure(initial, room.state) == "room creator in power levels users"
    additional = pl_event(room, ALICE, {"users": {DAVE: 100}})
    assert auth_failure(additional, room.state) == "room creator in power levels users"
    room.send_event(pl_event(room, ALICE, {"users": {BOB: 100}}))
    room.send("m.room.join_rules", ALICE, {"join_rule": "public"}, state_key="")
    room.set_member(BOB, "join")
    demote = pl_event(room, BOB, {"users": {BOB: 100, ALICE: 0}})
    assert auth_failure(demote, room.state) == "room creator in power levels users"


@pytest.mark.parametrize("version", [V11, V12], ids=version_id)
def test_creator_listed_in_users_before_v12(version: RoomVersion) -> None:
    room = Room(version)
    room.set_member(ALICE, "join")
    event = pl_event(room, ALICE, {"users": {ALICE: 100}})
    if version.creator_has_infinite_power:
        assert auth_failure(event, room.state) == "room creator in power levels users"
    else:
        check_auth_rules(event, room.state)


def test_v11_creator_can_be_demoted_by_power_levels() -> None:
    room = standard_room(V11, users={BOB: 100})
    room.set_member(BOB, "join")
    room.send_event(pl_event(room, ALICE, {"users": {BOB: 100, ALICE: 10}}))
    pl = room.state[("m.room.power_levels", "")]
    assert user_power_level(ALICE, create=room.create, power_levels=pl, version=V11) == 10
    assert auth_failure(room.member(ALICE, "ban", BOB), room.state) == "sender cannot ban"
