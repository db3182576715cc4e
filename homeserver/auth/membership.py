"""The auth rules for m.room.member events (room v1-5 rule 5, v6-11 rule 4, v12 rule 5).

`state` is the filtered auth state keyed by (type, state_key), already checked for rejected
entries by `homeserver.auth.rules`. The v8+ rule that a `join_authorised_via_users_server`
join must be signed by that user's server is a signature check, done with the others.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from homeserver.auth.errors import AuthError
from homeserver.auth.power_levels import (
    CREATE_KEY,
    POWER_LEVELS_KEY,
    PowerLevel,
    named_level,
    original_creator,
    power_level_in_state,
)
from homeserver.auth.third_party_invite import third_party_invite_public_keys, verify_third_party_signed
from homeserver.events.model import Event, StateKey

MEMBER: Final = "m.room.member"
JOIN_RULES_KEY: Final[StateKey] = ("m.room.join_rules", "")
THIRD_PARTY_INVITE: Final = "m.room.third_party_invite"


def current_membership(state: Mapping[StateKey, Event], user_id: str) -> str | None:
    """The user's membership in `state`, or None if they have no member event."""
    member = state.get((MEMBER, user_id))
    return member.membership if member is not None else None


def join_rule(state: Mapping[StateKey, Event]) -> str:
    """The room's join rule. Without an m.room.join_rules event a room is invite-only (as in the
    reference implementations: the spec names no default)."""
    event = state.get(JOIN_RULES_KEY)
    rule = event.content.get("join_rule") if event is not None else "invite"
    return rule if isinstance(rule, str) else ""


def check_member_event(event: Event, state: Mapping[StateKey, Event]) -> None:
    """Raise AuthError unless the membership change in `event` is allowed."""
    target = event.state_key
    membership = event.membership
    if target is None or membership is None:
        raise AuthError("member event has no state_key or membership")
    if membership == "join":
        _check_join(event, target, state)
    elif membership == "invite":
        _check_invite(event, target, state)
    elif membership == "leave":
        _check_leave(event, target, state)
    elif membership == "ban":
        _check_ban(event, target, state)
    elif membership == "knock" and event.room_version.knock_join_rule:
        _check_knock(event, target, state)
    else:
        raise AuthError("unknown membership")


def _level(state: Mapping[StateKey, Event], event: Event, user_id: str) -> PowerLevel:
    return power_level_in_state(state, user_id, event.room_version)


def _required(state: Mapping[StateKey, Event], event: Event, name: str) -> int:
    return named_level(state.get(POWER_LEVELS_KEY), name, event.room_version)


def _check_join(event: Event, target: str, state: Mapping[StateKey, Event]) -> None:
    version = event.room_version
    create = state.get(CREATE_KEY)
    if (
        create is not None
        and event.prev_event_ids == [create.event_id]
        and target == original_creator(create)
    ):
        return  # the creator's first join
    if event.sender != target:
        raise AuthError("sender does not match state_key")
    membership = current_membership(state, event.sender)
    if membership == "ban":
        raise AuthError("sender is banned")
    rule = join_rule(state)
    if rule == "invite" or (rule == "knock" and version.knock_join_rule):
        if membership in ("invite", "join"):
            return
        raise AuthError("sender is not invited")
    if (rule == "restricted" and version.restricted_join_rule) or (
        rule == "knock_restricted" and version.knock_restricted_join_rule
    ):
        if membership in ("join", "invite"):
            return
        authoriser = event.content.get("join_authorised_via_users_server")
        if not isinstance(authoriser, str):
            raise AuthError("join is not authorised by a member")
        if current_membership(state, authoriser) != "join":
            raise AuthError("join authoriser is not joined")
        if _level(state, event, authoriser) < _required(state, event, "invite"):
            raise AuthError("join authoriser cannot invite")
        return
    if rule == "public":
        return
    raise AuthError("join rule does not allow joining")


def _check_invite(event: Event, target: str, state: Mapping[StateKey, Event]) -> None:
    if "third_party_invite" in event.content:
        _check_third_party_invite(event, target, state)
        return
    if current_membership(state, event.sender) != "join":
        raise AuthError("sender is not joined")
    if current_membership(state, target) in ("join", "ban"):
        raise AuthError("target is joined or banned")
    if _level(state, event, event.sender) < _required(state, event, "invite"):
        raise AuthError("sender cannot invite")


def _check_third_party_invite(event: Event, target: str, state: Mapping[StateKey, Event]) -> None:
    if current_membership(state, target) == "ban":
        raise AuthError("target is banned")
    invite = event.content["third_party_invite"]
    signed = invite.get("signed") if isinstance(invite, dict) else None
    if not isinstance(signed, dict):
        raise AuthError("third_party_invite has no signed")
    mxid, token = signed.get("mxid"), signed.get("token")
    if not isinstance(mxid, str) or not isinstance(token, str):
        raise AuthError("signed has no mxid or token")
    if mxid != target:
        raise AuthError("mxid does not match state_key")
    tpi_event = state.get((THIRD_PARTY_INVITE, token))
    if tpi_event is None:
        raise AuthError("no third party invite for token")
    if tpi_event.sender != event.sender:
        raise AuthError("sender does not match third party invite sender")
    if not verify_third_party_signed(signed, third_party_invite_public_keys(tpi_event.content)):
        raise AuthError("invalid third party invite signature")


def _check_leave(event: Event, target: str, state: Mapping[StateKey, Event]) -> None:
    sender_membership = current_membership(state, event.sender)
    if event.sender == target:
        may_leave = ("invite", "join", "knock") if event.room_version.knock_join_rule else ("invite", "join")
        if sender_membership in may_leave:
            return
        raise AuthError("sender cannot leave")
    if sender_membership != "join":
        raise AuthError("sender is not joined")
    sender_level = _level(state, event, event.sender)
    if current_membership(state, target) == "ban" and sender_level < _required(state, event, "ban"):
        raise AuthError("sender cannot unban")
    if sender_level >= _required(state, event, "kick") and _level(state, event, target) < sender_level:
        return
    raise AuthError("sender cannot kick")


def _check_ban(event: Event, target: str, state: Mapping[StateKey, Event]) -> None:
    if current_membership(state, event.sender) != "join":
        raise AuthError("sender is not joined")
    sender_level = _level(state, event, event.sender)
    if sender_level >= _required(state, event, "ban") and _level(state, event, target) < sender_level:
        return
    raise AuthError("sender cannot ban")


def _check_knock(event: Event, target: str, state: Mapping[StateKey, Event]) -> None:
    rule = join_rule(state)
    if not (
        rule == "knock" or (rule == "knock_restricted" and event.room_version.knock_restricted_join_rule)
    ):
        raise AuthError("join rule does not allow knocking")
    if event.sender != target:
        raise AuthError("sender does not match state_key")
    if current_membership(state, event.sender) in ("ban", "invite", "join"):
        raise AuthError("sender cannot knock")
