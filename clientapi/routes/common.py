"""Path and query parameters shared by the room routes, validated once; the rate limit of
the routes that make events."""

from __future__ import annotations

import orjson
from aiohttp import web

from clientapi.request import check_depth
from homeserver.appkeys import PIPELINE, RATE_LIMITER, ROOMS
from homeserver.errors import BadJson, InvalidParam, MissingParam, NotFound
from homeserver.filters import RoomEventFilter
from homeserver.ids import EventID, RoomID, UserID, is_valid_room_alias, is_valid_room_id, is_valid_user_id
from homeserver.storage.events import TxnKey

MAX_TXN_ID = 255
MAX_EVENT_TYPE = 255


def limit_events(app: web.Application, user_id: UserID, txn: TxnKey | None = None) -> None:
    """The per-user rate limit of the events a client makes (sends, state, redactions, new
    and upgraded rooms; Synapse's rc_message): M_LIMIT_EXCEEDED past it. A repeat of a
    transaction the pipeline knows makes no event, so it is answered, not counted."""
    if txn is None or not app[PIPELINE].knows(txn):
        app[RATE_LIMITER].check("message", user_id)


def room_id_param(request: web.Request, name: str = "room_id") -> RoomID:
    return room_id_value(request.match_info[name])


async def room_id_or_alias(request: web.Request) -> RoomID:
    """The `room_id_or_alias` path parameter as a room ID: an alias is resolved (404 if unknown)."""
    value = request.match_info["room_id_or_alias"]
    if value.startswith("#"):
        if not is_valid_room_alias(value):
            raise InvalidParam("Invalid room alias")
        room_id = await request.app[ROOMS].resolve_alias(value)
        if room_id is None:
            raise NotFound("Room alias not found")
        return room_id
    if not is_valid_room_id(value):
        raise InvalidParam("Invalid room ID or alias")
    return RoomID(value)


def room_id_value(value: str) -> RoomID:
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


def path_param(request: web.Request, name: str, default: str | None = None) -> str:
    """A path parameter as given, but never with NUL: no Matrix string holds one, and
    PostgreSQL refuses it in text (a 400 here, not a 500 from the database)."""
    value = request.match_info.get(name, default)
    if value is None:
        raise MissingParam(f"Missing path parameter '{name}'")
    if "\x00" in value:
        raise InvalidParam(f"{name} contains a NUL character")
    return value


def short_param(request: web.Request, name: str, limit: int) -> str:
    return short_value(path_param(request, name), name, limit)


def short_value(value: str, name: str, limit: int) -> str:
    """A non-empty string of at most `limit` bytes without NUL (an event type, a txn ID)."""
    if "\x00" in value:
        raise InvalidParam(f"{name} contains a NUL character")
    if not value or len(value.encode()) > limit:
        raise InvalidParam(f"Invalid {name}")
    return value


def room_event_filter_param(request: web.Request, name: str = "filter") -> RoomEventFilter:
    """A RoomEventFilter given inline as JSON in the query string."""
    raw = request.query.get(name)
    if raw is None:
        return RoomEventFilter()
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadJson(f"{name} is not valid JSON") from None
    check_depth(data, raw)
    return RoomEventFilter.from_json(data)


def int_query_param(request: web.Request, name: str, default: int | None = None) -> int:
    """An integer query parameter: M_MISSING_PARAM without a default, M_INVALID_PARAM if it is
    not a base-10 integer that fits in 64 bits."""
    raw = request.query.get(name)
    if raw is None:
        if default is None:
            raise MissingParam(f"Missing query parameter '{name}'")
        return default
    stripped = raw[1:] if raw.startswith("-") else raw
    if not (
        stripped.isascii() and stripped.isdigit() and len(stripped) <= 19 and -(2**63) <= int(raw) < 2**63
    ):
        raise InvalidParam(f"'{name}' must be an integer")
    return int(raw)
