"""Profiles (spec: "Profiles"): a user's display name and avatar, and their propagation.

A change is carried into every room the user is joined to as a new m.room.member event (join,
with the new displayname and avatar_url) through the event pipeline, as the spec's "Events on
change of profile information" asks. A room where that event cannot be sent is logged and
skipped; the others still get it. Limits as Synapse: 256 characters for a display name, 1000
for an avatar URL, which must be an mxc:// URI."""

from __future__ import annotations

import logging
import re
from typing import Any

from homeserver.errors import InvalidParam, MatrixError, NotFound
from homeserver.ids import RoomID, UserID, is_valid_server_name, user_id_server
from homeserver.rooms.send import Draft, EventPipeline
from homeserver.storage.events import EventStore
from homeserver.storage.rooms import RoomStore
from homeserver.storage.users import Profile, ProfileStore

log = logging.getLogger(__name__)

MAX_DISPLAYNAME = 256
MAX_AVATAR_URL = 1000
_MXC = re.compile(r"mxc://(?P<server>[^/]+)/[A-Za-z0-9_-]+")


def valid_mxc_uri(value: str) -> bool:
    match = _MXC.fullmatch(value)
    return match is not None and is_valid_server_name(match["server"])


class Profiles:
    def __init__(
        self,
        profiles: ProfileStore,
        rooms: RoomStore,
        events: EventStore,
        pipeline: EventPipeline,
        server_name: str,
    ) -> None:
        self._profiles = profiles
        self._rooms = rooms
        self._events = events
        self._pipeline = pipeline
        self._server_name = server_name

    async def get(self, user_id: UserID) -> Profile:
        """A local user's profile. Remote profiles are not fetched over federation yet."""
        profile = await self._profiles.get(user_id) if self._is_local(user_id) else None
        if profile is None:
            raise NotFound("Profile not found")
        return profile

    async def set_displayname(self, user_id: UserID, displayname: str) -> list[RoomID]:
        """Set (an empty string: unset) the display name; returns the rooms updated."""
        value = displayname.strip() or None
        if value is not None and (len(value) > MAX_DISPLAYNAME or "\x00" in value):
            raise InvalidParam(f"displayname must be at most {MAX_DISPLAYNAME} characters, without NUL")
        if not self._is_local(user_id) or not await self._profiles.set_displayname(user_id, value):
            raise NotFound("Profile not found")
        return await self.propagate(user_id)

    async def set_avatar_url(self, user_id: UserID, avatar_url: str) -> list[RoomID]:
        """Set (an empty string: unset) the avatar URL; returns the rooms updated."""
        value = avatar_url or None
        if value is not None and (len(value) > MAX_AVATAR_URL or not valid_mxc_uri(value)):
            raise InvalidParam(f"avatar_url must be an mxc:// URI of at most {MAX_AVATAR_URL} characters")
        if not self._is_local(user_id) or not await self._profiles.set_avatar_url(user_id, value):
            raise NotFound("Profile not found")
        return await self.propagate(user_id)

    async def propagate(self, user_id: UserID) -> list[RoomID]:
        """Send a member event with the current profile into each room the user is joined to
        whose member event shows something else. The current member events are read in one
        batch; each room's new event goes through the pipeline under that room's lock."""
        profile = await self._profiles.get(user_id)
        if profile is None:
            return []
        joined = await self._rooms.rooms_for_user(user_id)
        current = await self._events.get_events([m.event_id for m in joined])
        wanted = _profile_content(profile)
        updated: list[RoomID] = []
        for membership in sorted(joined, key=lambda m: m.room_id):
            event = current.get(membership.event_id)
            if event is not None and all(event.content.get(k) == wanted.get(k) for k in PROFILE_KEYS):
                continue
            draft = Draft(
                membership.room_id, user_id, "m.room.member", {"membership": "join", **wanted}, user_id
            )
            try:
                await self._pipeline.send(draft)
            except MatrixError as e:
                log.warning("profile of %s not updated in %s: %s", user_id, membership.room_id, e.message)
                continue
            except Exception:  # one broken room must not keep the others stale
                log.exception("profile of %s not updated in %s", user_id, membership.room_id)
                continue
            updated.append(membership.room_id)
        return updated

    def _is_local(self, user_id: str) -> bool:
        return user_id_server(user_id) == self._server_name


PROFILE_KEYS = ("displayname", "avatar_url")


def _profile_content(profile: Profile) -> dict[str, Any]:
    content: dict[str, Any] = {}
    if profile.displayname is not None:
        content["displayname"] = profile.displayname
    if profile.avatar_url is not None:
        content["avatar_url"] = profile.avatar_url
    return content
