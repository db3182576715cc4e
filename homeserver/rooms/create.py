"""POST /createRoom: the create event, then the creator's join, power levels, alias, the
preset's rules, initial state, name, topic and invites, in the spec's order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from homeserver.errors import BadJson, InvalidParam, RoomInUse, UnsupportedRoomVersion
from homeserver.events.model import Event
from homeserver.ids import RoomID, UserID, is_valid_room_alias
from homeserver.room_versions import DEFAULT_ROOM_VERSION, KNOWN_ROOM_VERSIONS, RoomVersion
from homeserver.rooms.membership import Memberships
from homeserver.rooms.send import CREATABLE_VERSIONS, Draft, EventPipeline
from homeserver.storage.rooms import RoomStore

PRESETS = ("private_chat", "trusted_private_chat", "public_chat")
MAX_INITIAL_STATE = 100
MAX_INVITES = 100


@dataclass(frozen=True)
class CreateRoomRequest:
    creator: UserID
    preset: str | None = None
    visibility: str = "private"
    room_alias_name: str | None = None
    name: str | None = None
    topic: str | None = None
    invite: Sequence[UserID] = ()
    is_direct: bool = False
    initial_state: Sequence[Mapping[str, Any]] = ()
    power_level_content_override: Mapping[str, Any] | None = None
    creation_content: Mapping[str, Any] = field(default_factory=dict)
    room_version: str | None = None


def default_power_levels(req: CreateRoomRequest, version: RoomVersion, preset: str) -> dict[str, Any]:
    users: dict[str, int] = {}
    if not version.creator_has_infinite_power:  # v12: creators are infinite and never listed
        users[req.creator] = 100
    if preset == "trusted_private_chat" and not version.creator_has_infinite_power:
        users.update({invitee: 100 for invitee in req.invite})
    return {
        "users": users,
        "users_default": 0,
        "events": {
            "m.room.name": 50,
            "m.room.power_levels": 100,
            "m.room.history_visibility": 100,
            "m.room.canonical_alias": 50,
            "m.room.avatar": 50,
            "m.room.tombstone": 150 if version.creator_has_infinite_power else 100,
            "m.room.server_acl": 100,
            "m.room.encryption": 100,
        },
        "events_default": 0,
        "state_default": 50,
        "ban": 50,
        "kick": 50,
        "redact": 50,
        "invite": 50 if preset == "public_chat" else 0,
        "notifications": {"room": 50},
    }


class RoomCreator:
    def __init__(
        self, pipeline: EventPipeline, memberships: Memberships, rooms: RoomStore, server_name: str
    ) -> None:
        self._pipeline = pipeline
        self._memberships = memberships
        self._rooms = rooms
        self._server_name = server_name

    def _version(self, requested: str | None) -> RoomVersion:
        if requested is None:
            return DEFAULT_ROOM_VERSION
        version = KNOWN_ROOM_VERSIONS.get(requested)
        if version is None or requested not in CREATABLE_VERSIONS:
            raise UnsupportedRoomVersion(f"Room version {requested[:32]!r} is not supported")
        return version

    async def create(self, req: CreateRoomRequest) -> RoomID:
        version = self._version(req.room_version)
        preset = req.preset or ("public_chat" if req.visibility == "public" else "private_chat")
        if preset not in PRESETS:
            raise InvalidParam(f"Unknown preset {preset[:64]!r}")
        if len(req.invite) > MAX_INVITES or len(req.initial_state) > MAX_INITIAL_STATE:
            raise InvalidParam("Too many invites or initial state events")
        alias = await self._check_alias(req.room_alias_name)
        initial = [_initial_state_event(e) for e in req.initial_state]

        creation = dict(req.creation_content)
        creation["room_version"] = version.identifier
        if not version.implicit_room_creator:
            creation["creator"] = req.creator
        if version.creator_has_infinite_power and preset == "trusted_private_chat" and req.invite:
            extra = [u for u in creation.get("additional_creators", []) if isinstance(u, str)]
            creation["additional_creators"] = sorted({*extra, *req.invite} - {req.creator})
        create = await self._pipeline.create_room(req.creator, version, creation)
        room_id = create.room_id

        async def state(event_type: str, content: Mapping[str, Any], state_key: str = "") -> Event:
            return await self._pipeline.send(Draft(room_id, req.creator, event_type, content, state_key))

        await self._memberships.join(room_id, req.creator)
        power_levels = default_power_levels(req, version, preset)
        power_levels.update(req.power_level_content_override or {})
        await state("m.room.power_levels", power_levels)
        if alias is not None:
            await self._rooms.create_alias(alias, room_id, req.creator)
            await state("m.room.canonical_alias", {"alias": alias})
        await state("m.room.join_rules", {"join_rule": "public" if preset == "public_chat" else "invite"})
        await state("m.room.history_visibility", {"history_visibility": "shared"})
        if preset != "public_chat":
            await state("m.room.guest_access", {"guest_access": "can_join"})
        for event_type, state_key, content in initial:
            await state(event_type, content, state_key)
        if req.name is not None:
            await state("m.room.name", {"name": req.name})
        if req.topic is not None:
            await state("m.room.topic", {"topic": req.topic})
        for invitee in req.invite:
            await self._memberships.invite(room_id, req.creator, invitee, is_direct=req.is_direct)
        if req.visibility == "public":
            await self._rooms.set_public(room_id, True)
        return room_id

    async def _check_alias(self, name: str | None) -> str | None:
        if name is None:
            return None
        alias = f"#{name}:{self._server_name}"
        if ":" in name or not is_valid_room_alias(alias) or any(c.isspace() for c in name):
            raise InvalidParam("Invalid room_alias_name")
        if await self._rooms.resolve_alias(alias) is not None:
            raise RoomInUse("Room alias already taken")
        return alias


def _initial_state_event(entry: Mapping[str, Any]) -> tuple[str, str, Mapping[str, Any]]:
    if not isinstance(entry, Mapping):
        raise BadJson("initial_state entries must be objects")
    event_type, state_key, content = entry.get("type"), entry.get("state_key", ""), entry.get("content")
    if not isinstance(event_type, str) or not isinstance(state_key, str) or not isinstance(content, dict):
        raise BadJson("initial_state entries need a string type, a string state_key and an object content")
    if event_type in ("m.room.create", "m.room.member"):
        raise BadJson(f"initial_state cannot contain {event_type}")
    return event_type, state_key, content
