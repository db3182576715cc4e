"""Membership changes by local users: join, invite, leave, kick, ban, unban, knock, forget.

Each is one member event through the pipeline; the auth rules decide whether it is allowed."""

from __future__ import annotations

from typing import Any

from homeserver.auth.membership import join_rule
from homeserver.auth.power_levels import CREATE_KEY, POWER_LEVELS_KEY, named_level, power_level_in_state
from homeserver.errors import Forbidden, NotFound, Unknown
from homeserver.events.model import Event
from homeserver.ids import RoomID, UserID, user_id_server
from homeserver.rooms.send import Draft, EventPipeline
from homeserver.storage.events import EventStore, TxnKey
from homeserver.storage.rooms import Membership, RoomStore
from homeserver.storage.users import ProfileStore

MEMBER = "m.room.member"
MAX_REASON = 1024


class Memberships:
    def __init__(
        self,
        pipeline: EventPipeline,
        events: EventStore,
        rooms: RoomStore,
        profiles: ProfileStore,
        server_name: str,
    ) -> None:
        self._pipeline = pipeline
        self._events = events
        self._rooms = rooms
        self._profiles = profiles
        self._server_name = server_name

    async def profile_content(self, user_id: UserID) -> dict[str, Any]:
        profile = await self._profiles.get(user_id)
        content: dict[str, Any] = {}
        if profile is not None:
            if profile.displayname is not None:
                content["displayname"] = profile.displayname
            if profile.avatar_url is not None:
                content["avatar_url"] = profile.avatar_url
        return content

    async def _send(
        self,
        room_id: RoomID,
        sender: UserID,
        target: UserID,
        membership: str,
        extra: dict[str, Any] | None = None,
        reason: str | None = None,
        txn: TxnKey | None = None,
    ) -> Event:
        if not await self._rooms.exists(room_id):
            raise NotFound("Unknown room")
        content: dict[str, Any] = {"membership": membership, **(extra or {})}
        if reason:
            content["reason"] = reason[:MAX_REASON]
        draft = Draft(room_id=room_id, sender=sender, type=MEMBER, content=content, state_key=target, txn=txn)
        return await self._pipeline.send(draft)

    async def join(self, room_id: RoomID, user_id: UserID, reason: str | None = None) -> Event:
        current = await self._rooms.membership(room_id, user_id)
        if current is not None and current.membership == "join":
            event = await self._events.get_event(current.event_id)
            if event is not None:
                return event  # joining twice is a no-op (spec: idempotent)
        extra = await self.profile_content(user_id)
        via = await self._authorising_user(room_id, user_id, current)
        if via is not None:
            extra["join_authorised_via_users_server"] = via
        return await self._send(room_id, user_id, user_id, "join", extra, reason)

    async def _authorising_user(
        self, room_id: RoomID, user_id: UserID, current: Membership | None
    ) -> UserID | None:
        """For restricted rooms: a local member able to invite, who vouches that the joiner
        meets an allow condition (membership of one of the listed rooms)."""
        state = await self._events.current_state_events(
            room_id, {CREATE_KEY, POWER_LEVELS_KEY, ("m.room.join_rules", "")}
        )
        rule = join_rule(state)
        if rule not in ("restricted", "knock_restricted"):
            return None
        if current is not None and current.membership in ("join", "invite"):
            return None  # invited users join without an authorising server
        allowed = state.get(("m.room.join_rules", ""))
        allow = allowed.content.get("allow") if allowed is not None else None
        if not isinstance(allow, list):
            allow = []
        rooms = [
            a.get("room_id") for a in allow if isinstance(a, dict) and a.get("type") == "m.room_membership"
        ]
        memberships = await self._rooms.rooms_for_user(user_id)
        if not {m.room_id for m in memberships} & {r for r in rooms if isinstance(r, str)}:
            raise Forbidden("You do not meet the conditions to join this room")
        version = state[CREATE_KEY].room_version
        invite_level = named_level(state.get(POWER_LEVELS_KEY), "invite", version)
        for member in await self._rooms.members(room_id, ["join"]):
            if user_id_server(member.user_id) != self._server_name:
                continue
            if power_level_in_state(state, member.user_id, version) >= invite_level:
                return member.user_id
        raise Forbidden("No member of this server can authorise your join")

    async def invite(
        self,
        room_id: RoomID,
        sender: UserID,
        target: UserID,
        reason: str | None = None,
        is_direct: bool = False,
    ) -> Event:
        current = await self._rooms.membership(room_id, target)
        if current is not None and current.membership in ("join", "ban"):
            raise Forbidden(f"User is already {'in the room' if current.membership == 'join' else 'banned'}")
        extra = await self.profile_content(target)
        if is_direct:
            extra["is_direct"] = True
        return await self._send(room_id, sender, target, "invite", extra, reason)

    async def leave(self, room_id: RoomID, user_id: UserID, reason: str | None = None) -> Event:
        current = await self._rooms.membership(room_id, user_id)
        if current is None or current.membership in ("leave", "ban"):
            raise Forbidden("You are not in this room")
        return await self._send(room_id, user_id, user_id, "leave", None, reason)

    async def kick(self, room_id: RoomID, sender: UserID, target: UserID, reason: str | None = None) -> Event:
        current = await self._rooms.membership(room_id, target)
        if current is None or current.membership not in ("join", "invite", "knock"):
            raise Forbidden("The user is not in the room")
        return await self._send(room_id, sender, target, "leave", None, reason)

    async def ban(self, room_id: RoomID, sender: UserID, target: UserID, reason: str | None = None) -> Event:
        return await self._send(room_id, sender, target, "ban", None, reason)

    async def unban(
        self, room_id: RoomID, sender: UserID, target: UserID, reason: str | None = None
    ) -> Event:
        current = await self._rooms.membership(room_id, target)
        if current is None or current.membership != "ban":
            raise Forbidden("The user is not banned")
        return await self._send(room_id, sender, target, "leave", None, reason)

    async def knock(self, room_id: RoomID, user_id: UserID, reason: str | None = None) -> Event:
        extra = await self.profile_content(user_id)
        return await self._send(room_id, user_id, user_id, "knock", extra, reason)

    async def forget(self, room_id: RoomID, user_id: UserID) -> None:
        current = await self._rooms.membership(room_id, user_id)
        if current is not None and current.membership in ("join", "invite", "knock"):
            raise Unknown(f"User {user_id} is in room {room_id}: leave it before forgetting it")
        if current is None:
            raise NotFound("You have never been in this room")
        await self._rooms.forget(room_id, user_id)
