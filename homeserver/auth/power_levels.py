"""Power levels: reading levels out of `m.room.power_levels` (with the defaults that apply when
a key or the whole event is absent), room creators, and the auth rule for changing the power
levels (room v1-9 rule 10, v10-11 rule 9, v12 rule 10).

A power level is an `int`, except that room creators in v12 have `INFINITE_POWER`, a float
infinity that compares above every int. Values in events are parsed per room version:
strings holding an integer before v10, floats (truncated) before v6 strict canonical JSON.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Final, TypeAlias

from homeserver.auth.errors import AuthError
from homeserver.events.model import Event, StateKey
from homeserver.ids import is_valid_user_id
from homeserver.room_versions import RoomVersion

PowerLevel: TypeAlias = int | float  # a float only for INFINITE_POWER
INFINITE_POWER: Final[float] = math.inf

CREATE_KEY: Final[StateKey] = ("m.room.create", "")
POWER_LEVELS_KEY: Final[StateKey] = ("m.room.power_levels", "")

# Defaults for keys missing from m.room.power_levels, or when there is no such event.
LEVEL_DEFAULTS: Final[Mapping[str, int]] = {
    "users_default": 0,
    "events_default": 0,
    "state_default": 50,
    "ban": 50,
    "kick": 50,
    "redact": 50,
    "invite": 0,
}
NOTIFICATION_DEFAULT: Final = 50  # `notifications.room`, and any other notification key
# Before v12, without m.room.power_levels the creator has 100 and everybody else users_default.
CREATOR_LEVEL_WITHOUT_POWER_LEVELS: Final = 100

_STRING_INT = re.compile(r"\s*[+-]?[0-9]+\s*")


def parse_power_level(value: object, version: RoomVersion) -> int | None:
    """The integer a power level value stands for in this room version, or None if invalid."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and not version.strict_canonicaljson:
        return int(value) if math.isfinite(value) else None
    if isinstance(value, str) and not version.integer_power_levels and _STRING_INT.fullmatch(value):
        return int(value)
    return None


def original_creator(create: Event) -> str | None:
    """The creator named by the create event: `content.creator` before v11, the sender after."""
    if create.room_version.implicit_room_creator:
        return create.sender
    creator = create.content.get("creator")
    return creator if isinstance(creator, str) else None


def room_creators(create: Event) -> frozenset[str]:
    """The room's creators: from v12 the sender plus `additional_creators`."""
    creators = set()
    creator = original_creator(create)
    if creator is not None:
        creators.add(creator)
    if create.room_version.creator_has_infinite_power:
        extra = create.content.get("additional_creators")
        if isinstance(extra, list):
            creators.update(user for user in extra if isinstance(user, str))
    return frozenset(creators)


def named_level(power_levels: Event | None, name: str, version: RoomVersion) -> int:
    """One of LEVEL_DEFAULTS' keys (`ban`, `invite`, `state_default`, ...), defaults applied."""
    content = power_levels.content if power_levels is not None else {}
    level = parse_power_level(content.get(name), version)
    return LEVEL_DEFAULTS[name] if level is None else level


def user_power_level(
    user_id: str, *, create: Event | None, power_levels: Event | None, version: RoomVersion
) -> PowerLevel:
    """A user's power level given the room's create and power levels events."""
    if create is not None and version.creator_has_infinite_power and user_id in room_creators(create):
        return INFINITE_POWER
    if power_levels is not None:
        users = power_levels.content.get("users")
        if isinstance(users, dict) and user_id in users:
            level = parse_power_level(users[user_id], version)
            if level is not None:
                return level
        return named_level(power_levels, "users_default", version)
    if create is not None and user_id == original_creator(create):
        return CREATOR_LEVEL_WITHOUT_POWER_LEVELS
    return LEVEL_DEFAULTS["users_default"]


def power_level_in_state(state: Mapping[StateKey, Event], user_id: str, version: RoomVersion) -> PowerLevel:
    """`user_power_level` looked up in a state map keyed by (type, state_key)."""
    return user_power_level(
        user_id, create=state.get(CREATE_KEY), power_levels=state.get(POWER_LEVELS_KEY), version=version
    )


def event_send_level(
    event_type: str, *, is_state: bool, power_levels: Event | None, version: RoomVersion
) -> int:
    """The *required power level* to send an event of this type."""
    if power_levels is not None:
        events = power_levels.content.get("events")
        if isinstance(events, dict) and event_type in events:
            level = parse_power_level(events[event_type], version)
            if level is not None:
                return level
    return named_level(power_levels, "state_default" if is_state else "events_default", version)


def may_send_state_in(state: Mapping[StateKey, Event], user_id: str, event_type: str) -> bool:
    """Whether `user_id`'s power level, by the create and power levels events in `state`,
    reaches what a state event of `event_type` needs (False without a create event)."""
    create = state.get(CREATE_KEY)
    if create is None:
        return False
    version = create.room_version
    needed = event_send_level(
        event_type, is_state=True, power_levels=state.get(POWER_LEVELS_KEY), version=version
    )
    return power_level_in_state(state, user_id, version) >= needed


def notification_level(key: str, *, power_levels: Event | None, version: RoomVersion) -> int:
    """The level needed to trigger a notification of this kind (`room` for @room)."""
    if power_levels is not None:
        notifications = power_levels.content.get("notifications")
        if isinstance(notifications, dict) and key in notifications:
            level = parse_power_level(notifications[key], version)
            if level is not None:
                return level
    return NOTIFICATION_DEFAULT


def check_power_levels_event(
    event: Event, *, current: Event | None, create: Event | None, sender_level: PowerLevel
) -> None:
    """The auth rule for an m.room.power_levels event, given the current one (if any)."""
    version = event.room_version
    content = event.content
    _validate_content(content, version)
    if version.creator_has_infinite_power and create is not None:
        users = content.get("users", {})
        if room_creators(create) & users.keys():
            raise AuthError("room creator in power levels users")
    if current is None:
        return
    old = current.content
    for name in LEVEL_DEFAULTS:
        before = parse_power_level(old.get(name), version)
        after = parse_power_level(content.get(name), version)
        if before != after and _above(sender_level, before, after):
            raise AuthError("power level change above sender level")
    sections = ["events"] + (["notifications"] if version.limit_notifications_power_levels else [])
    for section in sections:
        before_map, after_map = _levels(old, section, version), _levels(content, section, version)
        for key in before_map.keys() | after_map.keys():
            before, after = before_map.get(key), after_map.get(key)
            if before != after and _above(sender_level, before, after):
                raise AuthError("power level change above sender level")
    before_users, after_users = _levels(old, "users", version), _levels(content, "users", version)
    for user in before_users.keys() | after_users.keys():
        before, after = before_users.get(user), after_users.get(user)
        if before == after:
            continue
        if user != event.sender and before is not None and before >= sender_level:
            raise AuthError("cannot change level of user at or above sender level")
        if after is not None and after > sender_level:
            raise AuthError("cannot grant level above sender level")


def _above(sender_level: PowerLevel, *levels: int | None) -> bool:
    return any(level is not None and level > sender_level for level in levels)


def _levels(content: Mapping[str, Any], section: str, version: RoomVersion) -> dict[str, int]:
    """A section (`events`, `notifications`, `users`) as parsed levels; invalid entries dropped."""
    raw = content.get(section)
    if not isinstance(raw, dict):
        return {}
    parsed = {key: parse_power_level(value, version) for key, value in raw.items()}
    return {key: level for key, level in parsed.items() if level is not None}


def power_levels_content_error(content: Mapping[str, Any], version: RoomVersion) -> str | None:
    """Why this m.room.power_levels content is malformed for the room version, or None."""
    try:
        _validate_content(content, version)
    except AuthError as e:
        return e.reason
    return None


def _validate_content(content: Mapping[str, Any], version: RoomVersion) -> None:
    """Every level must be valid for the room version (v10+: integers only) and `users` must map
    valid user IDs to levels. Before v10 the spec only names `users`; other invalid values
    cannot be compared with the sender's level, so they are refused too."""
    for name in LEVEL_DEFAULTS:
        if name in content and parse_power_level(content[name], version) is None:
            raise AuthError("invalid power level value")
    sections = ["events"] + (["notifications"] if version.limit_notifications_power_levels else [])
    for section in sections:
        if section not in content:
            continue
        levels = content[section]
        if not isinstance(levels, dict) or any(
            parse_power_level(level, version) is None for level in levels.values()
        ):
            raise AuthError("invalid power level value")
    users = content.get("users", {})
    if not isinstance(users, dict):
        raise AuthError("invalid users in power levels")
    for user_id, level in users.items():
        if not is_valid_user_id(user_id, historical=True) or parse_power_level(level, version) is None:
            raise AuthError("invalid users in power levels")
