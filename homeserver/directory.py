"""Room aliases and the room directory's visibility setting (spec: "Room aliases", "Published
room directory").

Who may do what follows Synapse where the spec leaves it open: creating an alias needs
membership of the room; deleting one needs to be its creator, a server admin, or a member able
to send m.room.canonical_alias; the same power (or admin) changes a room's visibility."""

from __future__ import annotations

import logging
from typing import Any

from homeserver.auth.power_levels import CREATE_KEY, POWER_LEVELS_KEY, may_send_state_in
from homeserver.errors import Forbidden, InvalidParam, MatrixError, NotFound
from homeserver.events.model import StateKey
from homeserver.ids import RoomID, UserID, is_valid_room_alias
from homeserver.rooms.send import Draft, EventPipeline
from homeserver.storage.directory import DirectoryStore
from homeserver.storage.events import EventStore
from homeserver.storage.rooms import RoomStore
from homeserver.storage.users import UserStore

log = logging.getLogger(__name__)

CANONICAL_ALIAS = "m.room.canonical_alias"
CANONICAL_ALIAS_KEY: StateKey = (CANONICAL_ALIAS, "")
HISTORY_KEY: StateKey = ("m.room.history_visibility", "")
VISIBILITIES = ("public", "private")


def parse_alias(value: str) -> str:
    """A room alias of the spec's grammar (400 M_INVALID_PARAM otherwise)."""
    if not is_valid_room_alias(value):
        raise InvalidParam("Room alias invalid")
    return value


class Directory:
    def __init__(
        self,
        rooms: RoomStore,
        events: EventStore,
        store: DirectoryStore,
        users: UserStore,
        pipeline: EventPipeline,
        server_name: str,
    ) -> None:
        self._rooms = rooms
        self._events = events
        self._store = store
        self._users = users
        self._pipeline = pipeline
        self._server_name = server_name

    def is_local(self, alias: str) -> bool:
        return alias.partition(":")[2] == self._server_name

    # Aliases

    async def create_alias(self, user_id: UserID, alias: str, room_id: RoomID) -> None:
        local = alias[1:].partition(":")[0]
        if not self.is_local(alias):
            raise InvalidParam("Room alias must be on this server")
        if not local or any(c.isspace() for c in local):
            raise InvalidParam("Room alias invalid")
        if not await self._rooms.exists(room_id):
            raise InvalidParam("Room does not exist")
        membership = await self._rooms.membership(room_id, user_id)
        if (membership is None or membership.membership != "join") and not await self._is_admin(user_id):
            raise Forbidden("You must be in the room to create an alias for it")
        await self._rooms.create_alias(alias, room_id, user_id)  # 409 when taken

    async def resolve_alias(self, alias: str) -> tuple[RoomID, list[str]]:
        """The room an alias names and servers to join it through (this one first). Aliases of
        other servers are not looked up over federation yet: they are unknown here."""
        room_id = await self._rooms.resolve_alias(alias) if self.is_local(alias) else None
        if room_id is None:
            raise NotFound(f"Room alias {alias} not found")
        others = await self._store.joined_servers(room_id) - {self._server_name}
        return room_id, [self._server_name, *sorted(others)]

    async def delete_alias(self, user_id: UserID, alias: str) -> None:
        found = await self._rooms.alias_creator(alias) if self.is_local(alias) else None
        if found is None:
            raise NotFound(f"Room alias {alias} not found")
        room_id, creator = found
        if creator != user_id and not await self.may_edit_directory(user_id, room_id):
            raise Forbidden("You don't have permission to delete the alias")
        if not await self._rooms.delete_alias(alias):
            raise NotFound(f"Room alias {alias} not found")  # deleted meanwhile
        await self._drop_from_canonical_alias(user_id, room_id, alias)

    async def _drop_from_canonical_alias(self, user_id: UserID, room_id: RoomID, alias: str) -> None:
        """Take a deleted alias out of the room's m.room.canonical_alias, if it is named there
        and the user may send that event (the alias is gone either way, as the spec advises)."""
        event = (await self._events.current_state_events(room_id, {CANONICAL_ALIAS_KEY})).get(
            CANONICAL_ALIAS_KEY
        )
        if event is None:
            return
        content: dict[str, Any] = dict(event.content)
        changed = content.get("alias") == alias
        if changed:
            del content["alias"]
        alt = content.get("alt_aliases")
        if isinstance(alt, list) and alias in alt:
            changed = True
            remaining = [a for a in alt if a != alias]
            if remaining:
                content["alt_aliases"] = remaining
            else:
                del content["alt_aliases"]
        if not changed:
            return
        try:
            await self._pipeline.send(Draft(room_id, user_id, CANONICAL_ALIAS, content, ""))
        except MatrixError as e:
            log.info("alias %s deleted; m.room.canonical_alias of %s left as it was: %s", alias, room_id, e)

    async def local_aliases(self, user_id: UserID, room_id: RoomID) -> list[str]:
        """The room's aliases on this server, for its members (or anyone, if world-readable)."""
        membership = await self._rooms.membership(room_id, user_id)
        if membership is None or membership.membership != "join":
            history = (await self._events.current_state_events(room_id, {HISTORY_KEY})).get(HISTORY_KEY)
            readable = history is not None and history.content.get("history_visibility") == "world_readable"
            if not readable and not await self._is_admin(user_id):
                raise Forbidden("You are not in this room")
        return await self._rooms.aliases_for_room(room_id)

    # Visibility in the published room directory

    async def visibility(self, room_id: RoomID) -> str:
        if not await self._rooms.exists(room_id):
            raise NotFound("Room not found")
        return "public" if await self._rooms.is_public(room_id) else "private"

    async def set_visibility(self, user_id: UserID, room_id: RoomID, visibility: str) -> None:
        if visibility not in VISIBILITIES:
            raise InvalidParam("visibility must be 'public' or 'private'")
        if not await self._rooms.exists(room_id):
            raise NotFound("Room not found")
        if not await self.may_edit_directory(user_id, room_id):
            raise Forbidden("You need to be a moderator of the room to change its directory entry")
        await self._rooms.set_public(room_id, visibility == "public")

    async def may_edit_directory(self, user_id: UserID, room_id: RoomID) -> bool:
        """Server admins, and joined members whose power level lets them send
        m.room.canonical_alias (room moderators, by default)."""
        if await self._is_admin(user_id):
            return True
        state = await self._events.current_state_events(
            room_id, {CREATE_KEY, POWER_LEVELS_KEY, ("m.room.member", user_id)}
        )
        member = state.get(("m.room.member", user_id))
        joined = member is not None and member.membership == "join"
        return joined and may_send_state_in(state, user_id, CANONICAL_ALIAS)

    async def _is_admin(self, user_id: UserID) -> bool:
        user = await self._users.get(user_id)
        return user is not None and user.is_admin
