"""The authorization rules for room versions 1-12 (spec: rooms/v*.md, "Authorisation rules").

`check_auth_rules` runs the rules against a state map; `check_auth_events_list` runs the rules
that are about the event's own `auth_events` list (duplicates, unexpected entries), which a
state map cannot express; `check_against_auth_events` does both for the check "passes the
authorization rules based on the event's auth events". Every version difference is a flag
on `RoomVersion`. Signatures (incl. v8+ `join_authorised_via_users_server`) are checked
elsewhere, before these rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from homeserver.auth.errors import AuthError
from homeserver.auth.membership import (
    JOIN_RULES_KEY,
    MEMBER,
    THIRD_PARTY_INVITE,
    check_member_event,
    current_membership,
)
from homeserver.auth.power_levels import (
    CREATE_KEY,
    POWER_LEVELS_KEY,
    check_power_levels_event,
    event_send_level,
    named_level,
    power_level_in_state,
)
from homeserver.events.model import Event, StateKey
from homeserver.ids import is_valid_user_id
from homeserver.room_versions import KNOWN_ROOM_VERSIONS, RoomVersion

__all__ = [
    "AuthError",
    "auth_types_for_event",
    "check_against_auth_events",
    "check_auth_events_list",
    "check_auth_rules",
]

CREATE: Final = "m.room.create"


def auth_types_for_event(
    event_type: str, sender: str, state_key: str | None, content: Mapping[str, Any], version: RoomVersion
) -> set[tuple[str, str]]:
    """The auth events selection algorithm (server-server API): the state keys an event's
    auth_events must come from. Without m.room.create when the room version implies it."""
    if event_type == CREATE:
        return set()
    keys = {POWER_LEVELS_KEY, (MEMBER, sender)}
    if not version.create_event_not_in_auth_events:
        keys.add(CREATE_KEY)
    if event_type == MEMBER and state_key is not None:
        keys.add((MEMBER, state_key))
        membership = content.get("membership")
        if membership in ("join", "invite", "knock"):
            keys.add(JOIN_RULES_KEY)
        if membership == "invite" and "third_party_invite" in content:
            invite = content["third_party_invite"]
            signed = invite.get("signed") if isinstance(invite, dict) else None
            token = signed.get("token") if isinstance(signed, dict) else None
            if isinstance(token, str):
                keys.add((THIRD_PARTY_INVITE, token))
        if membership == "join" and version.restricted_join_rule:
            via = content.get("join_authorised_via_users_server")
            if isinstance(via, str):
                keys.add((MEMBER, via))
    return keys


def check_auth_rules(event: Event, auth_events: Mapping[tuple[str, str], Event]) -> None:
    """Raise AuthError if `event` fails the room version's authorization rules given the state
    `auth_events` (keyed by (type, state_key)); the room version comes from event.room_version.
    For v12, the create event is passed in auth_events under ("m.room.create", "") even though it
    is not listed in the event's auth_events.

    Only the entries the auth events selection names for this event are consulted (a full
    state map may be passed); any of those that is rejected fails the event."""
    if event.type == CREATE:
        _check_create(event)
        return
    version = event.room_version
    wanted = _selection(event) | {CREATE_KEY}
    state = {key: auth_events[key] for key in wanted if key in auth_events}
    _check_auth_state(event, state)
    create = state[CREATE_KEY]
    if create.content.get("m.federate") is False and _domain(event.sender) != _domain(create.sender):
        raise AuthError("room is not federated")
    if version.special_case_aliases_auth and event.type == "m.room.aliases":
        _check_aliases(event)
        return
    if event.type == MEMBER:
        check_member_event(event, state)
        return
    if current_membership(state, event.sender) != "join":
        raise AuthError("sender is not joined")
    sender_level = power_level_in_state(state, event.sender, version)
    power_levels = state.get(POWER_LEVELS_KEY)
    if event.type == THIRD_PARTY_INVITE:
        if sender_level < named_level(power_levels, "invite", version):
            raise AuthError("sender cannot invite")
        return
    required = event_send_level(
        event.type, is_state=event.is_state, power_levels=power_levels, version=version
    )
    if required > sender_level:
        raise AuthError("sender power level too low for event")
    state_key = event.pdu.get("state_key")
    if isinstance(state_key, str) and state_key.startswith("@") and state_key != event.sender:
        raise AuthError("state_key is another user's ID")
    if event.type == "m.room.power_levels":
        check_power_levels_event(event, current=power_levels, create=create, sender_level=sender_level)
    if version.special_case_redaction_auth and event.type == "m.room.redaction":
        if sender_level >= named_level(power_levels, "redact", version):
            return
        redacts = event.redacts
        if redacts is None or _domain(redacts) != _domain(event.event_id):
            raise AuthError("sender cannot redact")


def check_auth_events_list(event: Event, auth_events: Sequence[Event]) -> None:
    """The rules about the event's own auth_events list: no duplicate (type, state_key), only
    entries the auth events selection allows (v12: never m.room.create), none rejected, the
    create event present (before v12), all in the event's room and listed by the event."""
    if event.type == CREATE:
        return
    keys = [entry.key if entry.is_state else None for entry in auth_events]
    state_keys = [key for key in keys if key is not None]
    if len(set(state_keys)) != len(state_keys):
        raise AuthError("duplicate auth event")
    wanted = _selection(event)
    listed = set(event.auth_event_ids)
    if any(key not in wanted for key in keys) or any(e.event_id not in listed for e in auth_events):
        raise AuthError("unexpected auth event")
    if any(entry.rejected_reason is not None for entry in auth_events):
        raise AuthError("rejected auth event")
    if not event.room_version.create_event_not_in_auth_events and CREATE_KEY not in keys:
        raise AuthError("no create event in auth events")
    if any(entry.pdu.get("room_id") != event.pdu.get("room_id") for entry in auth_events):
        raise AuthError("auth event in a different room")


def check_against_auth_events(
    event: Event, auth_events: Sequence[Event], create: Event | None = None
) -> None:
    """The check "passes the authorization rules based on the event's auth events": the list
    rules, then the rules against the state they form. From v12 pass the room's `create`
    event, which auth_events does not list."""
    check_auth_events_list(event, auth_events)
    state = {entry.key: entry for entry in auth_events}
    if create is not None and event.room_version.create_event_not_in_auth_events:
        state[CREATE_KEY] = create
    check_auth_rules(event, state)


def _selection(event: Event) -> set[StateKey]:
    return auth_types_for_event(event.type, event.sender, event.state_key, event.content, event.room_version)


def _domain(identifier: str) -> str:
    return identifier.partition(":")[2]


def _check_create(event: Event) -> None:
    version = event.room_version
    content = event.content
    if event.pdu.get("prev_events"):
        raise AuthError("create event has prev_events")
    if version.room_id_is_create_event_hash:
        if "room_id" in event.pdu:
            raise AuthError("create event has a room_id")
    elif _domain(str(event.pdu.get("room_id", ""))) != _domain(event.sender):
        raise AuthError("room_id domain does not match sender")
    room_version = content.get("room_version", "1")
    if not isinstance(room_version, str) or room_version not in KNOWN_ROOM_VERSIONS:
        raise AuthError("unknown room version")
    if version.creator_has_infinite_power and "additional_creators" in content:
        extra = content["additional_creators"]
        if not isinstance(extra, list) or not all(
            isinstance(user, str) and is_valid_user_id(user, historical=True) for user in extra
        ):
            raise AuthError("invalid additional_creators")
    if not version.implicit_room_creator and "creator" not in content:
        raise AuthError("create event has no creator")


def _check_auth_state(event: Event, state: Mapping[StateKey, Event]) -> None:
    """The room_id rule (v12) and the auth_events rules a state map can express."""
    version = event.room_version
    create = state.get(CREATE_KEY)
    room_id = event.pdu.get("room_id")
    if version.room_id_is_create_event_hash and (
        create is None or room_id != "!" + create.event_id.removeprefix("$")
    ):
        raise AuthError("room_id is not the create event's ID")
    if any(entry.rejected_reason is not None for entry in state.values()):
        raise AuthError("rejected auth event")
    if create is None:
        raise AuthError("no create event in auth events")
    for entry in state.values():
        if entry is create and version.room_id_is_create_event_hash:
            continue  # a v12 create event has no room_id: it defines it
        if entry.pdu.get("room_id") != room_id:
            raise AuthError("auth event in a different room")


def _check_aliases(event: Event) -> None:
    state_key = event.pdu.get("state_key")
    if state_key is None:
        raise AuthError("aliases event has no state_key")
    if _domain(event.sender) != state_key:
        raise AuthError("aliases state_key does not match sender domain")
