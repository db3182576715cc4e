"""Mutual rooms (Client-Server API: GET /_matrix/client/v1/mutual_rooms): the rooms the
requester and another user are both joined to, a page at a time.

The `from` token is stateless (any process can continue): the last room ID of the previous
page, bound to the two users. Rooms are in room ID order, so a room joined after the first page
appears only if its ID sorts after the pages already read (the spec allows leaving it out)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import orjson

from homeserver.errors import InvalidParam
from homeserver.ids import RoomID, UserID, is_valid_room_id
from homeserver.page_tokens import decode_page_token, encode_page_token
from homeserver.storage.mutual_rooms import MutualRoomStore

TOKEN_VERSION = 1
MAX_TOKEN_LENGTH = 1000  # ours are under 400 characters


@dataclass(frozen=True)
class MutualRoomsPage:
    joined: list[RoomID]
    count: int
    next_batch: str | None


class MutualRooms:
    def __init__(self, store: MutualRoomStore) -> None:
        self._store = store

    async def page(
        self, user_id: UserID, other: UserID, from_token: str | None, limit: int
    ) -> MutualRoomsPage:
        if other == user_id:
            raise InvalidParam("user_id must be another user's ID")
        after = _parse_token(from_token, user_id, other) if from_token is not None else None
        page = await self._store.page(user_id, other, after, limit)
        next_batch = _token(user_id, other, page.room_ids[-1]) if page.more else None
        return MutualRoomsPage(page.room_ids, page.total, next_batch)


def _binding(user_id: UserID, other: UserID) -> str:
    return hashlib.sha256(orjson.dumps([user_id, other])).hexdigest()[:32]


def _token(user_id: UserID, other: UserID, last: RoomID) -> str:
    return encode_page_token([TOKEN_VERSION, _binding(user_id, other), last])


def _parse_token(token: str, user_id: UserID, other: UserID) -> str:
    """The last room ID of the previous page; M_INVALID_PARAM for a token that is not ours or
    was issued for another pair of users."""
    decoded = decode_page_token(token) if 0 < len(token) <= MAX_TOKEN_LENGTH else None
    if (
        not isinstance(decoded, list)
        or len(decoded) != 3
        or decoded[0] != TOKEN_VERSION
        or decoded[1] != _binding(user_id, other)
        or not isinstance(decoded[2], str)
        or not is_valid_room_id(decoded[2])
    ):
        raise InvalidParam("Invalid or expired pagination token")
    return decoded[2]
