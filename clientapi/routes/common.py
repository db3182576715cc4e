"""Path parameters shared by the room routes, validated once."""

from __future__ import annotations

from aiohttp import web

from homeserver.errors import InvalidParam
from homeserver.ids import EventID, RoomID, UserID, is_valid_room_id, is_valid_user_id

MAX_TXN_ID = 255
MAX_EVENT_TYPE = 255


def room_id_param(request: web.Request, name: str = "room_id") -> RoomID:
    value = request.match_info[name]
    if not is_valid_room_id(value):
        raise InvalidParam("Invalid room ID")
    return RoomID(value)


def event_id_param(request: web.Request, name: str = "event_id") -> EventID:
    value = request.match_info[name]
    if not value.startswith("$") or len(value.encode()) > 255:
        raise InvalidParam("Invalid event ID")
    return EventID(value)


def user_id_value(value: object, name: str = "user_id") -> UserID:
    if not isinstance(value, str) or not is_valid_user_id(value, historical=True):
        raise InvalidParam(f"'{name}' must be a valid user ID")
    return UserID(value)


def short_param(request: web.Request, name: str, limit: int) -> str:
    value = request.match_info[name]
    if not value or len(value.encode()) > limit:
        raise InvalidParam(f"Invalid {name}")
    return value
