"""POST /createRoom: the create event, then the creator's join, power levels, alias, the
preset's rules, initial state, name, topic and invites, in the spec's order, all persisted
together (a refused event leaves no half-made room behind)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from homeserver.errors import BadJson, InvalidParam, RoomInUse, UnsupportedRoomVersion
from homeserver.ids import RoomID, UserID, is_valid_room_alias, is_valid_user_id
from homeserver.room_versions import DEFAULT_ROOM_VERSION, KNOWN_ROOM_VERSIONS, RoomVersion
from homeserver.rooms.membership import Memberships
from homeserver.rooms.send import CREATABLE_VERSIONS, EventPipeline, InitialEvent, NewRoomOptions
from homeserver.storage.rooms import AliasInUse, RoomStore

PRESETS = ("private_chat", "trusted_private_chat", "public_chat")
MAX_INITIAL_STATE = 100
MAX_INVITES = 100
POWER_LEVELS = "m.room.power_levels"
MEMBER = "m.room.member"


def creatable_version(identifier: str) -> RoomVersion:
    """The room version new rooms (createRoom, upgrades) may have; M_UNSUPPORTED_ROOM_VERSION
    for one unknown or read-only here."""
    version = KNOWN_ROOM_VERSIONS.get(identifier)
    if version is None or identifier not in CREATABLE_VERSIONS:
        raise UnsupportedRoomVersion(f"Room version {identifier[:32]!r} is not supported")
    return version


@dataclass(frozen=True)
class Preset:
    join_rule: str
    history_visibility: str
    guest_access: str | None  # None: no event (absent means forbidden)
    invite_level: int
    invitees_are_admins: bool


PRESET_RULES = {
    "private_chat": Preset("invite", "shared", "can_join", 0, False),
    "trusted_private_chat": Preset("invite", "shared", "can_join", 0, True),
    "public_chat": Preset("public", "shared", None, 50, False),
}


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


def default_power_levels(req: CreateRoomRequest, version: RoomVersion, preset: Preset) -> dict[str, Any]:
    users: dict[str, int] = {}
    if not version.creator_has_infinite_power:  # v12: creators are infinite and never listed
        users[req.creator] = 100
        if preset.invitees_are_admins:
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
            # v12: above state_default and every admin, so only creators can upgrade the room
            "m.room.tombstone": 150 if version.creator_has_infinite_power else 100,
            "m.room.server_acl": 100,
            "m.room.encryption": 100,
        },
        "events_default": 0,
        "state_default": 50,
        "ban": 50,
        "kick": 50,
        "redact": 50,
        "invite": preset.invite_level,
        "notifications": {"room": 50},
    }


class RoomCreator:
    def __init__(
        self,
        pipeline: EventPipeline,
        memberships: Memberships,
        rooms: RoomStore,
        server_name: str,
        default_version: RoomVersion = DEFAULT_ROOM_VERSION,
    ) -> None:
        self._default_version = default_version
        self._pipeline = pipeline
        self._memberships = memberships
        self._rooms = rooms
        self._server_name = server_name

    def _version(self, requested: str | None) -> RoomVersion:
        return self._default_version if requested is None else creatable_version(requested)

    async def create(self, req: CreateRoomRequest) -> RoomID:
        """Check the whole request, then create the room in one go."""
        version = self._version(req.room_version)
        preset_name = req.preset or ("public_chat" if req.visibility == "public" else "private_chat")
        preset = PRESET_RULES.get(preset_name)
        if preset is None:
            raise BadJson(f"Unknown preset {preset_name[:64]!r}")
        if len(req.invite) > MAX_INVITES or len(req.initial_state) > MAX_INITIAL_STATE:
            raise InvalidParam("Too many invites or initial state events")
        if req.creator in req.invite:
            raise InvalidParam("You cannot invite yourself")
        invitees = list(dict.fromkeys(req.invite))
        alias = await self._check_alias(req.room_alias_name)
        initial: dict[tuple[str, str], Mapping[str, Any]] = {}
        for entry in req.initial_state:
            event_type, state_key, content = _initial_state_event(entry)
            initial[(event_type, state_key)] = content  # a later entry for the same key wins
        creation = self._creation_content(req, version, preset, invitees)

        events: list[InitialEvent] = []

        def add(event_type: str, content: Mapping[str, Any], state_key: str = "") -> None:
            events.append((event_type, state_key, content))

        profile = await self._memberships.profile_content(req.creator)
        add(MEMBER, {"membership": "join", **profile}, req.creator)
        power_levels = initial.pop((POWER_LEVELS, ""), None)
        if power_levels is None:  # initial_state's power levels replace the default and the override
            power_levels = default_power_levels(req, version, preset)
            power_levels.update(req.power_level_content_override or {})
        add(POWER_LEVELS, power_levels)
        if alias is not None and ("m.room.canonical_alias", "") not in initial:
            add("m.room.canonical_alias", {"alias": alias})
        preset_state: list[tuple[str, dict[str, Any]]] = [
            ("m.room.join_rules", {"join_rule": preset.join_rule}),
            ("m.room.history_visibility", {"history_visibility": preset.history_visibility}),
        ]
        if preset.guest_access is not None:
            preset_state.append(("m.room.guest_access", {"guest_access": preset.guest_access}))
        for event_type, content in preset_state:
            if (event_type, "") not in initial:  # initial_state takes precedence over the preset
                add(event_type, content)
        for (event_type, state_key), content in initial.items():
            add(event_type, content, state_key)
        if req.name is not None:
            add("m.room.name", {"name": req.name})
        if req.topic is not None:
            add(
                "m.room.topic",
                {"topic": req.topic, "m.topic": {"m.text": [{"body": req.topic, "mimetype": "text/plain"}]}},
            )
        for invitee in invitees:
            content = {"membership": "invite", **await self._memberships.profile_content(invitee)}
            if req.is_direct:
                content["is_direct"] = True
            add(MEMBER, content, invitee)

        options = NewRoomOptions(alias=alias, is_public=req.visibility == "public")
        try:
            created = await self._pipeline.create_room(
                req.creator, version, creation, events, new_room=options
            )
        except AliasInUse:
            raise RoomInUse("Room alias already taken") from None
        return created[0].room_id

    @staticmethod
    def _creation_content(
        req: CreateRoomRequest, version: RoomVersion, preset: Preset, invitees: Sequence[UserID]
    ) -> dict[str, Any]:
        creation = dict(req.creation_content)
        creation["room_version"] = version.identifier
        if version.implicit_room_creator:
            creation.pop("creator", None)  # the sender is the creator; the server owns this key
        else:
            creation["creator"] = req.creator
        extra = creation.get("additional_creators")
        if extra is not None and (
            not isinstance(extra, list)
            or not all(isinstance(u, str) and is_valid_user_id(u, historical=True) for u in extra)
        ):
            raise BadJson("creation_content.additional_creators must be a list of user IDs")
        if version.creator_has_infinite_power and preset.invitees_are_admins and invitees:
            creation["additional_creators"] = sorted({*(extra or []), *invitees} - {req.creator})
        return creation

    async def _check_alias(self, name: str | None) -> str | None:
        if name is None:
            return None
        alias = f"#{name}:{self._server_name}"
        if not name or ":" in name or not is_valid_room_alias(alias) or any(c.isspace() for c in name):
            raise InvalidParam("Invalid room_alias_name")
        if await self._rooms.resolve_alias(alias) is not None:
            raise RoomInUse("Room alias already taken")
        return alias


def _initial_state_event(entry: object) -> tuple[str, str, Mapping[str, Any]]:
    if not isinstance(entry, Mapping):
        raise BadJson("initial_state entries must be objects")
    event_type, state_key, content = entry.get("type"), entry.get("state_key", ""), entry.get("content")
    if not isinstance(event_type, str) or not isinstance(state_key, str) or not isinstance(content, dict):
        raise BadJson("initial_state entries need a string type, a string state_key and an object content")
    if event_type in ("m.room.create", MEMBER):
        raise BadJson(f"initial_state cannot contain {event_type}")
    return event_type, state_key, content
