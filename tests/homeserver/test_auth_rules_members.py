"""Auth rules for m.room.member: joins under each join rule, invites, leaves, kicks, bans,
knocks, restricted joins and third-party invites, per room version."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from nacl.signing import SigningKey

from homeserver.auth.rules import check_auth_rules
from homeserver.room_versions import V11, V12, RoomVersion
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
    versions,
    with_flag,
)

# --- malformed and unknown ------------------------------------------------------------------


@ALL
def test_member_event_without_membership(version: RoomVersion) -> None:
    room = standard_room(version)
    event = room.event("m.room.member", BOB, {}, state_key=BOB)
    assert auth_failure(event, room.state) == "member event has no state_key or membership"
    event = room.event("m.room.member", BOB, {"membership": "join"})
    assert auth_failure(event, room.state) == "member event has no state_key or membership"


@ALL
def test_unknown_membership(version: RoomVersion) -> None:
    room = standard_room(version)
    assert auth_failure(room.member(BOB, "dance"), room.state) == "unknown membership"


# --- joins ----------------------------------------------------------------------------------


@ALL
def test_join_public_room(version: RoomVersion) -> None:
    room = standard_room(version, "public")
    check_auth_rules(room.member(BOB, "join"), room.state)
    other = room.member(BOB, "join", CAROL)
    assert auth_failure(other, room.state) == "sender does not match state_key"


@ALL
def test_join_invite_room(version: RoomVersion) -> None:
    room = standard_room(version, "invite")
    assert auth_failure(room.member(BOB, "join"), room.state) == "sender is not invited"
    room.set_member(ALICE, "invite", BOB)
    check_auth_rules(room.member(BOB, "join"), room.state)


@ALL
def test_banned_user_cannot_join(version: RoomVersion) -> None:
    room = standard_room(version, "public")
    room.set_member(ALICE, "ban", BOB)
    assert auth_failure(room.member(BOB, "join"), room.state) == "sender is banned"


@with_flag("knock_join_rule")
def test_join_knock_room_needs_invite(version: RoomVersion) -> None:
    room = standard_room(version, "knock")
    assert auth_failure(room.member(BOB, "join"), room.state) == "sender is not invited"
    room.set_member(ALICE, "invite", BOB)
    check_auth_rules(room.member(BOB, "join"), room.state)


@with_flag("knock_join_rule", False)
def test_knock_join_rule_unknown_before_v7(version: RoomVersion) -> None:
    room = standard_room(version, "knock")
    room.set_member(ALICE, "invite", BOB)
    assert auth_failure(room.member(BOB, "join"), room.state) == "join rule does not allow joining"


@ALL
@pytest.mark.parametrize("rule", ["private", "nonsense"])
def test_join_under_other_join_rules(version: RoomVersion, rule: str) -> None:
    room = standard_room(version, rule)
    assert auth_failure(room.member(BOB, "join"), room.state) == "join rule does not allow joining"


# --- restricted and knock_restricted joins --------------------------------------------------


def restricted_room(version: RoomVersion, rule: str, **power_levels: Any) -> Room:
    room = standard_room(version, rule, users={CAROL: 50}, **power_levels)
    room.force_member(CAROL, "join")  # (before v8/v10 the rule is unknown: invited users cannot join)
    return room


@with_flag("restricted_join_rule")
def test_restricted_join(version: RoomVersion) -> None:
    _check_restricted(version, "restricted")


@with_flag("knock_restricted_join_rule")
def test_knock_restricted_join(version: RoomVersion) -> None:
    _check_restricted(version, "knock_restricted")


def _check_restricted(version: RoomVersion, rule: str) -> None:
    room = restricted_room(version, rule, invite=50)
    via = {"join_authorised_via_users_server": CAROL}
    check_auth_rules(room.member(BOB, "join", **via), room.state)
    assert auth_failure(room.member(BOB, "join"), room.state) == "join is not authorised by a member"
    not_joined = room.member(BOB, "join", join_authorised_via_users_server=DAVE)
    assert auth_failure(not_joined, room.state) == "join authoriser is not joined"
    weak = restricted_room(version, rule, invite=60)
    assert auth_failure(weak.member(BOB, "join", **via), weak.state) == "join authoriser cannot invite"
    room.set_member(CAROL, "invite", BOB)
    check_auth_rules(room.member(BOB, "join"), room.state)  # an invite is enough


@with_flag("restricted_join_rule", False)
def test_restricted_refused_before_v8(version: RoomVersion) -> None:
    room = restricted_room(version, "restricted")
    join = room.member(BOB, "join", join_authorised_via_users_server=CAROL)
    assert auth_failure(join, room.state) == "join rule does not allow joining"
    room.set_member(ALICE, "invite", BOB)
    assert auth_failure(room.member(BOB, "join"), room.state) == "join rule does not allow joining"


@pytest.mark.parametrize(
    "version", versions(lambda v: v.restricted_join_rule and not v.knock_restricted_join_rule), ids=version_id
)
def test_knock_restricted_refused_before_v10(version: RoomVersion) -> None:
    room = restricted_room(version, "knock_restricted")
    join = room.member(BOB, "join", join_authorised_via_users_server=CAROL)
    assert auth_failure(join, room.state) == "join rule does not allow joining"
    room.set_member(ALICE, "invite", BOB)
    assert auth_failure(room.member(BOB, "join"), room.state) == "join rule does not allow joining"
    assert auth_failure(room.member(BOB, "knock"), room.state) == "join rule does not allow knocking"


# --- knocks ---------------------------------------------------------------------------------


@with_flag("knock_join_rule", False)
def test_knock_refused_before_v7(version: RoomVersion) -> None:
    room = standard_room(version, "knock")
    assert auth_failure(room.member(BOB, "knock"), room.state) == "unknown membership"


@with_flag("knock_join_rule")
def test_knock(version: RoomVersion) -> None:
    room = standard_room(version, "knock")
    check_auth_rules(room.member(BOB, "knock"), room.state)
    assert auth_failure(room.member(BOB, "knock", CAROL), room.state) == "sender does not match state_key"
    public = standard_room(version, "public")
    assert auth_failure(public.member(BOB, "knock"), public.state) == "join rule does not allow knocking"


@with_flag("knock_join_rule")
@pytest.mark.parametrize("membership", ["ban", "invite", "join"])
def test_knock_from_ban_invite_or_join(version: RoomVersion, membership: str) -> None:
    room = standard_room(version, "knock")
    room.force_member(BOB, membership)
    assert auth_failure(room.member(BOB, "knock"), room.state) == "sender cannot knock"


@with_flag("knock_restricted_join_rule")
def test_knock_on_knock_restricted(version: RoomVersion) -> None:
    room = standard_room(version, "knock_restricted")
    check_auth_rules(room.member(BOB, "knock"), room.state)


@with_flag("knock_join_rule")
def test_rescind_knock(version: RoomVersion) -> None:
    room = standard_room(version, "knock")
    room.set_member(BOB, "knock")
    check_auth_rules(room.member(BOB, "leave"), room.state)


@with_flag("knock_join_rule", False)
def test_leave_from_knock_before_v7(version: RoomVersion) -> None:
    room = standard_room(version, "invite")
    room.force_member(BOB, "knock")
    assert auth_failure(room.member(BOB, "leave"), room.state) == "sender cannot leave"


# --- invites --------------------------------------------------------------------------------


@ALL
def test_invites(version: RoomVersion) -> None:
    room = standard_room(version, "invite", invite=50)
    check_auth_rules(room.member(ALICE, "invite", BOB), room.state)
    assert auth_failure(room.member(CAROL, "invite", BOB), room.state) == "sender is not joined"
    room.set_member(ALICE, "invite", CAROL)
    room.set_member(CAROL, "join")
    assert auth_failure(room.member(CAROL, "invite", BOB), room.state) == "sender cannot invite"
    assert auth_failure(room.member(ALICE, "invite", CAROL), room.state) == "target is joined or banned"
    room.set_member(ALICE, "ban", DAVE)
    assert auth_failure(room.member(ALICE, "invite", DAVE), room.state) == "target is joined or banned"


@ALL
def test_invite_at_default_invite_level(version: RoomVersion) -> None:
    room = standard_room(version, "public")
    room.set_member(CAROL, "join")
    check_auth_rules(room.member(CAROL, "invite", BOB), room.state)


# --- leaving, kicks and bans ----------------------------------------------------------------


@ALL
def test_leave(version: RoomVersion) -> None:
    room = standard_room(version, "invite")
    assert auth_failure(room.member(BOB, "leave"), room.state) == "sender cannot leave"
    room.set_member(ALICE, "invite", BOB)
    check_auth_rules(room.member(BOB, "leave"), room.state)  # rejecting the invite
    room.set_member(BOB, "join")
    check_auth_rules(room.member(BOB, "leave"), room.state)
    room.set_member(ALICE, "ban", BOB)
    assert auth_failure(room.member(BOB, "leave"), room.state) == "sender cannot leave"


@ALL
def test_kicks(version: RoomVersion) -> None:
    room = standard_room(version, "public", users={BOB: 50, CAROL: 50})
    for user in (BOB, CAROL, DAVE):
        room.set_member(user, "join")
    check_auth_rules(room.member(BOB, "leave", DAVE), room.state)
    assert auth_failure(room.member(BOB, "leave", CAROL), room.state) == "sender cannot kick"  # equal
    assert auth_failure(room.member(DAVE, "leave", BOB), room.state) == "sender cannot kick"  # too low
    room.set_member(DAVE, "leave")
    assert auth_failure(room.member(DAVE, "leave", BOB), room.state) == "sender is not joined"


@ALL
def test_unban_needs_ban_level(version: RoomVersion) -> None:
    room = standard_room(version, "public", users={BOB: 60}, ban=75)
    room.set_member(BOB, "join")
    room.set_member(ALICE, "ban", DAVE)
    assert auth_failure(room.member(BOB, "leave", DAVE), room.state) == "sender cannot unban"
    check_auth_rules(room.member(ALICE, "leave", DAVE), room.state)


@ALL
def test_bans(version: RoomVersion) -> None:
    room = standard_room(version, "public", users={BOB: 50, CAROL: 50})
    for user in (BOB, CAROL, DAVE):
        room.set_member(user, "join")
    check_auth_rules(room.member(BOB, "ban", DAVE), room.state)
    check_auth_rules(room.member(BOB, "ban", "@stranger:d.test"), room.state)  # need not be a member
    assert auth_failure(room.member(BOB, "ban", CAROL), room.state) == "sender cannot ban"
    assert auth_failure(room.member(DAVE, "ban", BOB), room.state) == "sender cannot ban"
    room.set_member(DAVE, "leave")
    assert auth_failure(room.member(DAVE, "ban", BOB), room.state) == "sender is not joined"


@pytest.mark.parametrize("version", [V11, V12], ids=version_id)
def test_creator_power_against_a_100_user(version: RoomVersion) -> None:
    room = standard_room(version, "public", users={BOB: 100})
    room.set_member(BOB, "join")
    kick_bob, ban_alice = room.member(ALICE, "leave", BOB), room.member(BOB, "ban", ALICE)
    assert auth_failure(ban_alice, room.state) == "sender cannot ban"
    if version.creator_has_infinite_power:
        check_auth_rules(kick_bob, room.state)  # infinite > 100
    else:
        assert auth_failure(kick_bob, room.state) == "sender cannot kick"  # 100 == 100


def test_v12_additional_creator_has_infinite_power() -> None:
    room = Room(V12, create_content={"additional_creators": [DAVE]})
    room.set_member(ALICE, "join")
    room.send("m.room.power_levels", ALICE, {"users": {BOB: 1000}}, state_key="")
    room.send("m.room.join_rules", ALICE, {"join_rule": "public"}, state_key="")
    room.set_member(DAVE, "join")
    room.set_member(BOB, "join")
    check_auth_rules(room.member(DAVE, "ban", BOB), room.state)
    assert auth_failure(room.member(BOB, "ban", DAVE), room.state) == "sender cannot ban"
    assert auth_failure(room.member(DAVE, "ban", ALICE), room.state) == "sender cannot ban"  # inf == inf


# --- third-party invites --------------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def signed_block(key: SigningKey, mxid: str = BOB, token: str = "tok") -> dict[str, Any]:
    signed: dict[str, Any] = {"mxid": mxid, "sender": ALICE, "token": token}
    message = json.dumps(signed, sort_keys=True, separators=(",", ":")).encode()
    signed["signatures"] = {"id.test": {"ed25519:0": b64(key.sign(message).signature)}}
    return signed


def tpi_room(version: RoomVersion, key: SigningKey, *, listed: bool = False) -> Room:
    room = standard_room(version, "invite", users={CAROL: 50})
    room.set_member(ALICE, "invite", CAROL)
    room.set_member(CAROL, "join")
    public_key = b64(bytes(key.verify_key))
    content = (
        {"public_keys": [{"public_key": public_key}], "public_key": b64(b"x" * 32)}
        if listed
        else {"public_key": public_key}
    )
    room.send("m.room.third_party_invite", ALICE, {"display_name": "b…", **content}, state_key="tok")
    return room


def tpi_member(room: Room, signed: Any, sender: str = ALICE, target: str = BOB) -> Any:
    invite = {"display_name": "b…", "signed": signed} if signed is not None else {"display_name": "b…"}
    return room.member(sender, "invite", target, third_party_invite=invite)


@ALL
@pytest.mark.parametrize("listed", [False, True], ids=["public_key", "public_keys"])
def test_third_party_invite_valid_signature(version: RoomVersion, listed: bool) -> None:
    key = SigningKey.generate()
    room = tpi_room(version, key, listed=listed)
    check_auth_rules(tpi_member(room, signed_block(key)), room.state)


@ALL
def test_third_party_invite_invalid_signature(version: RoomVersion) -> None:
    key = SigningKey.generate()
    room = tpi_room(version, key)
    forged = signed_block(SigningKey.generate())
    assert auth_failure(tpi_member(room, forged), room.state) == "invalid third party invite signature"
    tampered = signed_block(key)
    tampered["sender"] = CAROL
    assert auth_failure(tpi_member(room, tampered), room.state) == "invalid third party invite signature"


@ALL
def test_third_party_invite_rules(version: RoomVersion) -> None:
    key = SigningKey.generate()
    room = tpi_room(version, key)
    good = signed_block(key)
    assert auth_failure(tpi_member(room, None), room.state) == "third_party_invite has no signed"
    no_token = {k: v for k, v in good.items() if k != "token"}
    assert auth_failure(tpi_member(room, no_token), room.state) == "signed has no mxid or token"
    for_dave = signed_block(key, mxid=DAVE)
    assert auth_failure(tpi_member(room, for_dave), room.state) == "mxid does not match state_key"
    other_token = signed_block(key, token="other")
    assert auth_failure(tpi_member(room, other_token), room.state) == "no third party invite for token"
    by_carol = tpi_member(room, good, sender=CAROL)
    assert auth_failure(by_carol, room.state) == "sender does not match third party invite sender"
    room.set_member(ALICE, "ban", BOB)
    assert auth_failure(tpi_member(room, good), room.state) == "target is banned"
