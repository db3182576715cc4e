"""Account data as the client API sees it (spec modules "Client Config", "Room Tagging",
"Direct Messaging", "Ignoring Users"): what clients may write, tags kept in the room's `m.tag`
entry, and the ignored-user list that hides events from the timeline."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from homeserver.errors import BadJson, Forbidden, InvalidParam, MatrixError, NotFound, TooLarge
from homeserver.ids import RoomID, UserID, is_valid_user_id
from homeserver.notifier import Notifier
from homeserver.storage.account_data import AccountDataStore, Content
from homeserver.storage.rooms import RoomStore
from homeserver.storage.streams import StreamIdGenerator

# Types the server manages: clients read them here, but write them through their own APIs.
SERVER_MANAGED = frozenset({"m.fully_read", "m.push_rules"})
TAG = "m.tag"
IGNORED_USER_LIST = "m.ignored_user_list"
MAX_CONTENT_BYTES = 256 * 1024
MAX_TAG_BYTES = 255  # spec: "The name of a tag MUST NOT exceed 255 bytes"


class ServerManagedType(MatrixError):
    """Spec: 405 M_BAD_JSON for account data types the server controls."""

    status, errcode = 405, "M_BAD_JSON"


class AccountData:
    def __init__(
        self, store: AccountDataStore, rooms: RoomStore, notifier: Notifier, streams: StreamIdGenerator
    ) -> None:
        self._store = store
        self._rooms = rooms
        self._notifier = notifier
        self.streams = streams

    async def get(self, user_id: UserID, room_id: RoomID | None, data_type: str) -> Content:
        content = await self._store.get(user_id, room_id, data_type)
        if content is None:
            raise NotFound("Room account data not found" if room_id else "Account data not found")
        return content

    async def set_by_client(
        self, user_id: UserID, room_id: RoomID | None, data_type: str, content: Content
    ) -> None:
        if data_type in SERVER_MANAGED:
            raise ServerManagedType(f"Cannot set {data_type} through this API")
        if room_id is not None:
            await self._require_membership(user_id, room_id)
        elif data_type == IGNORED_USER_LIST:
            _check_ignored_user_list(content)
        _check_size(content)
        await self.write(user_id, room_id, data_type, content)

    async def write(self, user_id: UserID, room_id: RoomID | None, data_type: str, content: Content) -> None:
        """Store an entry without the client checks (for server-managed types too: read
        markers, push rules) and tell sync about it."""
        with self.streams.allocate() as stream_id:
            await self._store.put(user_id, room_id, data_type, content, stream_id)
        self._notifier.on_account_data(user_id, stream_id, visible=self.streams.current)

    # Tags: the room's `m.tag` entry, {"tags": {tag: {"order": 0.5, ...}}}

    async def tags(self, user_id: UserID, room_id: RoomID) -> dict[str, Any]:
        return _tags_of(await self._store.get(user_id, room_id, TAG))

    async def add_tag(self, user_id: UserID, room_id: RoomID, tag: str, info: Content) -> None:
        _check_tag_name(tag)
        order = info.get("order")
        if order is not None and (
            isinstance(order, bool) or not isinstance(order, int | float) or not 0 <= order <= 1
        ):
            raise InvalidParam("'order' must be a number between 0 and 1")
        await self._require_membership(user_id, room_id)

        def change(content: Content | None) -> Content:
            new = dict(content or {})
            new["tags"] = {**_tags_of(content), tag: info}
            _check_size(new)
            return new

        await self._modify_tags(user_id, room_id, change)

    async def remove_tag(self, user_id: UserID, room_id: RoomID, tag: str) -> None:
        _check_tag_name(tag)
        if tag not in await self.tags(user_id, room_id):
            return  # nothing to change, nothing for sync to send

        def change(content: Content | None) -> Content:
            new = dict(content or {})
            new["tags"] = {k: v for k, v in _tags_of(content).items() if k != tag}
            return new

        await self._modify_tags(user_id, room_id, change)

    async def _modify_tags(
        self, user_id: UserID, room_id: RoomID, change: Callable[[Content | None], Content]
    ) -> None:
        with self.streams.allocate() as stream_id:
            await self._store.modify(user_id, room_id, TAG, change, stream_id)
        self._notifier.on_account_data(user_id, stream_id, visible=self.streams.current)

    # Ignored users

    async def ignored_users(self, user_id: UserID) -> frozenset[UserID]:
        """Whom the user ignores (never themselves), from `m.ignored_user_list`."""
        content = await self._store.get(user_id, None, IGNORED_USER_LIST)
        ignored = content.get("ignored_users") if content else None
        if not isinstance(ignored, dict):
            return frozenset()
        return frozenset(UserID(u) for u in ignored if u != user_id)

    async def _require_membership(self, user_id: UserID, room_id: RoomID) -> None:
        """Per-room data only for rooms the user is or was in (as Synapse does for tags)."""
        if not await self._rooms.exists(room_id):
            raise NotFound("Room not found")
        if await self._rooms.membership(room_id, user_id) is None:
            raise Forbidden("You have no membership in this room")


def _tags_of(content: Content | None) -> dict[str, Any]:
    tags = content.get("tags") if content else None
    return dict(tags) if isinstance(tags, dict) else {}


def _check_tag_name(tag: str) -> None:
    if not tag or len(tag.encode("utf-8", "surrogatepass")) > MAX_TAG_BYTES:
        raise InvalidParam(f"A tag must be 1 to {MAX_TAG_BYTES} bytes long")


def _check_size(content: Content) -> None:
    if len(orjson.dumps(content)) > MAX_CONTENT_BYTES:
        raise TooLarge(f"Account data must not exceed {MAX_CONTENT_BYTES} bytes")


def _check_ignored_user_list(content: Content) -> None:
    """Spec: `ignored_users` (required) maps user IDs to objects."""
    ignored = content.get("ignored_users")
    if not isinstance(ignored, dict):
        raise BadJson("'ignored_users' must be an object mapping user IDs to objects")
    for user_id, value in ignored.items():
        if not is_valid_user_id(user_id, historical=True):
            raise BadJson(f"{user_id!r} in 'ignored_users' is not a user ID")
        if not isinstance(value, dict):
            raise BadJson("Each entry of 'ignored_users' must be an object")
