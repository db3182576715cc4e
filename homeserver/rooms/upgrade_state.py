"""What a room upgrade carries over (spec: "Room Upgrades", server behaviour): the replacement
room's create content, the state copied into it, its power levels, the canonical alias of both
rooms, and the power levels that quieten the old room. Pure functions over the old room's
events; homeserver/rooms/upgrade.py sends the results."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any

from homeserver.auth.power_levels import LEVEL_DEFAULTS, parse_power_level, room_creators
from homeserver.canonicaljson import CANONICALJSON_MAX_INT
from homeserver.events.model import Event, StateKey
from homeserver.ids import EventID, UserID, is_valid_user_id
from homeserver.room_versions import RoomVersion
from homeserver.rooms.send import InitialEvent

# Synapse's list (power levels and the canonical alias are handled on their own). Pinned
# events are not copied: they name events of the old room, which the new one does not have.
TRANSFERRED_TYPES = (
    "m.room.join_rules",
    "m.room.name",
    "m.room.topic",
    "m.room.history_visibility",
    "m.room.guest_access",
    "m.room.avatar",
    "m.room.encryption",
    "m.room.server_acl",
)
SPACE_TYPES = ("m.space.child", "m.space.parent")  # copied when the room is a space
SPACE = "m.space"
LEVEL_SECTIONS = ("events", "notifications", "users")
MAX_LEVEL = CANONICALJSON_MAX_INT
ADMIN = 100
MODERATOR = 50


def is_space(create: Event) -> bool:
    return create.content.get("type") == SPACE


def creation_content(
    old_create: Event,
    version: RoomVersion,
    upgrader: UserID,
    last_event: EventID | None,
    additional_creators: Sequence[UserID],
) -> dict[str, Any]:
    """The replacement's m.room.create content: `predecessor` (with the last event the old
    room had, which the spec still asks for where known), the old room's `type` and
    `m.federate: false`, and the creators the version wants."""
    predecessor: dict[str, Any] = {"room_id": old_create.room_id}
    if last_event is not None:
        predecessor["event_id"] = last_event
    content: dict[str, Any] = {"room_version": version.identifier, "predecessor": predecessor}
    if not version.implicit_room_creator:
        content["creator"] = upgrader
    if version.creator_has_infinite_power and additional_creators:
        content["additional_creators"] = list(additional_creators)
    room_type = old_create.content.get("type")
    if isinstance(room_type, str):
        content["type"] = room_type
    if old_create.content.get("m.federate") is False:
        content["m.federate"] = False
    return content


def copied_state(create: Event, state: Mapping[StateKey, Event]) -> list[InitialEvent]:
    """The old room's transferable state, in `state` (which may hold more), as initial events:
    TRANSFERRED_TYPES, and for a space its non-empty m.space.* links (an empty one is a
    removed link)."""
    copied: list[InitialEvent] = []
    for event_type in TRANSFERRED_TYPES:
        event = state.get((event_type, ""))
        if event is not None:
            copied.append((event_type, "", event.content))
    if is_space(create):
        links = sorted(key for key in state if key[0] in SPACE_TYPES)
        copied.extend((t, k, state[(t, k)].content) for t, k in links if state[(t, k)].content)
    return copied


def normalised_power_levels(content: Mapping[str, Any], version: RoomVersion) -> dict[str, Any]:
    """Power levels content with every level an integer (strings and floats of older room
    versions parsed as the old room reads them, then kept within canonical JSON's range) and
    invalid entries dropped, so any creatable room version accepts it. Other keys are kept."""
    known = {*LEVEL_DEFAULTS, *LEVEL_SECTIONS}
    out: dict[str, Any] = {key: value for key, value in content.items() if key not in known}
    for name in LEVEL_DEFAULTS:
        level = _level(content.get(name), version)
        if level is not None:
            out[name] = level
    for section in LEVEL_SECTIONS:
        raw = content.get(section)
        if not isinstance(raw, dict):
            continue
        levels = {key: _level(value, version) for key, value in raw.items()}
        out[section] = {
            key: level
            for key, level in levels.items()
            if level is not None and (section != "users" or is_valid_user_id(key, historical=True))
        }
    return out


def _level(value: object, version: RoomVersion) -> int | None:
    level = parse_power_level(value, version)
    return None if level is None else max(-MAX_LEVEL, min(MAX_LEVEL, level))


def replacement_power_levels(
    old_power_levels: Event | None,
    old_create: Event,
    upgrader: UserID,
    version: RoomVersion,
    new_creators: Collection[str],
) -> dict[str, Any]:
    """The replacement room's power levels: the old room's, with the new room's creators
    taken out of `users` when they have infinite power there (the auth rules refuse them),
    and, going from a version with infinite creators to one without, the old room's creators
    listed at the room's highest level so that they keep their power."""
    if old_power_levels is None:
        content: dict[str, Any] = {}
    else:
        content = normalised_power_levels(old_power_levels.content, old_create.room_version)
    users: dict[str, int] = dict(content.get("users", {}))
    if version.creator_has_infinite_power:
        for creator in new_creators:
            users.pop(creator, None)
    else:
        creators: set[str] = set()
        if old_create.room_version.creator_has_infinite_power:
            creators.update(room_creators(old_create))
        if old_power_levels is None:
            creators.add(upgrader)  # without power levels the creator had 100
        top = highest_level(content)  # no one listed is above it
        users.update(dict.fromkeys(creators, top))
    content["users"] = users
    return content


def highest_level(content: Mapping[str, Any]) -> int:
    """The highest level normalised power levels name, and at least 100."""
    levels: list[int] = [value for name, value in content.items() if name in LEVEL_DEFAULTS]
    for section in LEVEL_SECTIONS:
        levels.extend(content.get(section, {}).values())
    return max([ADMIN, *levels])


def bootstrap_power_levels(final: Mapping[str, Any], upgrader: UserID) -> dict[str, Any]:
    """Power levels the upgrader sends the replacement's initial state and bans under, before
    `final` (the old room's) takes over: the upgrader above every level it names, so that
    each of those events passes the auth rules whatever the old room's levels were. Only
    needed where the creator has no infinite power; all of it is persisted at once."""
    users = dict(final.get("users", {}))
    users[upgrader] = min(highest_level(final) + 1, MAX_LEVEL)
    return {**final, "users": users}


def power_levels_events(
    final: Mapping[str, Any], upgrader: UserID, version: RoomVersion
) -> tuple[InitialEvent, InitialEvent | None]:
    """The power levels event to send right after the upgrader's join, and the one to send
    last (None when the first is already the final one)."""
    key = "m.room.power_levels"
    if version.creator_has_infinite_power:
        return (key, "", final), None
    return (key, "", bootstrap_power_levels(final, upgrader)), (key, "", final)


def ban_events(bans: Iterable[Event], skip: Collection[str]) -> list[InitialEvent]:
    """The old room's bans re-applied, content (the reason) and all, except of `skip` (the
    new room's creators, whom nobody can ban)."""
    return [
        ("m.room.member", ban.state_key, ban.content)
        for ban in sorted(bans, key=lambda e: e.state_key or "")
        if ban.state_key is not None and ban.state_key not in skip
    ]


def split_canonical_alias(
    content: Mapping[str, Any], is_local: Callable[[str], bool]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(replacement's content, old room's content): this server's aliases move with the room,
    the others stay where they were."""
    new: dict[str, Any] = {}
    old = dict(content)
    alias = content.get("alias")
    if isinstance(alias, str) and is_local(alias):
        new["alias"] = alias
        del old["alias"]
    alt = content.get("alt_aliases")
    if isinstance(alt, list):
        moved = [a for a in alt if isinstance(a, str) and is_local(a)]
        kept = [a for a in alt if not (isinstance(a, str) and is_local(a))]
        if moved:
            new["alt_aliases"] = moved
            if kept:
                old["alt_aliases"] = kept
            else:
                del old["alt_aliases"]
    return new, old


def restricted_power_levels(content: Mapping[str, Any]) -> dict[str, Any] | None:
    """Normalised power levels of the old room with sending events and inviting raised to
    max(50, users_default + 1) (spec: server behaviour 6), or None if both already are."""
    users_default: int = content.get("users_default", LEVEL_DEFAULTS["users_default"])
    restricted = min(max(MODERATOR, users_default + 1), MAX_LEVEL)
    out = dict(content)
    for name in ("events_default", "invite"):
        if out.get(name, LEVEL_DEFAULTS[name]) < restricted:
            out[name] = restricted
    return None if out == content else out
